//go:build js && wasm

package main

import (
	"errors"
	"fmt"
	"syscall/js"
	"time"
	"unsafe"

	"nnst/wasm/jsutil"
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

// floatsOf copies a Float32Array (as its buffer) into Go, straight into
// the floats (an image at a print size is tens of MB).
func floatsOf(v js.Value) []float32 {
	u := global.Get("Uint8Array").New(v)
	f := make([]float32, u.Get("length").Int()/4)
	js.CopyBytesToGo(floatBytes(f), u)
	return f
}

// nextFrame lets the browser render and handle events.
func nextFrame() { time.Sleep(16 * time.Millisecond) }

// await and jsError are the shared promise helpers (wasm/jsutil).
var (
	await   = jsutil.Await
	jsError = jsutil.Error
)

// postTo posts m to target (a Worker, or the worker's own scope),
// transferring its buffers (a typed array's by its ArrayBuffer).
func postTo(target js.Value, m message) {
	o, bufs := encode(m)
	var transfer []any
	for _, b := range bufs {
		v, ok := b.(js.Value)
		if !ok || !v.Truthy() {
			continue
		}
		if ab := v.Get("buffer"); ab.Type() == js.TypeObject {
			v = ab
		}
		transfer = append(transfer, v)
	}
	target.Call("postMessage", o, transfer)
}

// received reads the message of a message event.
func received(ev js.Value) (message, error) {
	o, ok := fromJS(ev.Get("data")).(map[string]any)
	if !ok {
		return nil, errors.New("a message that is not an object")
	}
	return decode(o)
}

// fromJS turns a structured-cloned value into Go: plain objects into maps,
// numbers, strings and booleans into theirs, null and undefined into nil;
// anything else (buffers, typed arrays) stays a js.Value.
func fromJS(v js.Value) any {
	switch v.Type() {
	case js.TypeNumber:
		return v.Float()
	case js.TypeString:
		return v.String()
	case js.TypeBoolean:
		return v.Bool()
	case js.TypeObject:
		object := global.Get("Object")
		if p := object.Call("getPrototypeOf", v); !p.IsNull() && !p.Equal(object.Get("prototype")) {
			return v
		}
		keys := object.Call("keys", v)
		o := make(map[string]any, keys.Length())
		for i := range keys.Length() {
			k := keys.Index(i).String()
			o[k] = fromJS(v.Get(k))
		}
		return o
	}
	return nil
}

// logf writes a line to the console.
func logf(format string, a ...any) {
	global.Get("console").Call("log", "nnst: "+fmt.Sprintf(format, a...))
}
