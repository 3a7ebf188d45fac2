//go:build !(js && wasm)

package main

import (
	"fmt"
	"os"
)

// The app runs in a browser (GOOS=js GOARCH=wasm, `make site`). Built
// natively, only its pure parts are of use: their tests.
func main() {
	fmt.Fprintln(os.Stderr, "the nnst web app runs in a browser: build it with GOOS=js GOARCH=wasm (make site)")
	os.Exit(2)
}
