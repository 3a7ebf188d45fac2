//go:build js && wasm

package main

import (
	"nnst/wasm/jsutil"
	"syscall/js"
	"time"
	"unsafe"
)

var global = js.Global()

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// bytesOf copies an ArrayBuffer or typed array into Go.
func bytesOf(v js.Value) []byte {
	u := global.Get("Uint8Array").New(v)
	b := make([]byte, u.Get("length").Int())
	js.CopyBytesToGo(b, u)
	return b
}

// uint8Array copies b into a new Uint8Array.
func uint8Array(b []byte) js.Value {
	u := global.Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

// floatBytes views a float32 slice as bytes (little-endian in wasm).
func floatBytes(f []float32) []byte {
	if len(f) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), 4*len(f))
}

// floatsOf copies a Float32Array (as its buffer) into Go.
func floatsOf(v js.Value) []float32 {
	b := bytesOf(v)
	f := make([]float32, len(b)/4)
	copy(floatBytes(f), b)
	return f
}

// nextFrame lets the browser render and handle events.
func nextFrame() { time.Sleep(16 * time.Millisecond) }

// await and jsError are the shared promise helpers (wasm/jsutil).
var (
	await   = jsutil.Await
	jsError = jsutil.Error
)
