//go:build js && wasm

// Command app is the nnst web app. The same binary runs the page (when a
// document exists) and the compute worker (in a dedicated Web Worker).
package main

import (
	"strconv"
	"syscall/js"
)

// modelVersion names the model's cache; the build sets it from the file hash.
var modelVersion = "dev"

// modelURL is the model's address relative to the page. index.html names
// it in <meta name="nnst-model">, so `nnst dist` can rewrite it to the
// content-hashed name.
var modelURL = "models/vgg19.safetensors"

// modelBytes is the model's size (index.html's data-bytes), for the
// progress bar when the server sends it compressed; 0 when unknown.
var modelBytes float64

func main() {
	if global.Get("document").IsUndefined() {
		runWorker()
	} else {
		if m := global.Get("document").Call("querySelector", `meta[name="nnst-model"]`); m.Truthy() {
			if u := m.Call("getAttribute", "content"); u.Type() == js.TypeString && u.String() != "" {
				modelURL = u.String()
			}
			if n, err := strconv.ParseFloat(m.Call("getAttribute", "data-bytes").String(), 64); err == nil && n > 0 {
				modelBytes = n
			}
		}
		runPage()
	}
	select {}
}
