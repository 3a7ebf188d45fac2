//go:build js && wasm

package main

import (
	"errors"
	"syscall/js"
	"time"
	"unsafe"
)

var global = js.Global()

// await blocks the calling goroutine (never a JS callback) until p settles.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	var then, catch js.Func
	then = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg0(args)}
		return nil
	})
	catch = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: jsError(arg0(args))}
		return nil
	})
	p.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// jsError turns a thrown JS value into a Go error.
func jsError(v js.Value) error {
	if v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString {
		return errors.New(v.Get("message").String())
	}
	return errors.New(v.Call("toString").String())
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
