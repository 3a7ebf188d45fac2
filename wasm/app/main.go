//go:build js && wasm

// Command app is the nnst web app. The same binary runs the page (when a
// document exists) and the compute worker (in a dedicated Web Worker).
package main

// modelVersion names the model's cache; the build sets it from the file hash.
var modelVersion = "dev"

const modelURL = "models/vgg19.safetensors"

func main() {
	if global.Get("document").IsUndefined() {
		runWorker()
	} else {
		runPage()
	}
	select {}
}
