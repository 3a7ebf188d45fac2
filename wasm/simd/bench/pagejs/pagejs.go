//go:build js && wasm

// Package pagejs holds the small fetch and promise helpers the benchmark
// pages share.
package pagejs

import (
	"fmt"
	"nnst/wasm/jsutil"
	"syscall/js"
)

// FetchBytes gets url as bytes.
func FetchBytes(url string) ([]byte, error) {
	resp, err := Await(js.Global().Call("fetch", url))
	if err != nil {
		return nil, err
	}
	if !resp.Get("ok").Bool() {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.Get("status").Int())
	}
	buf, err := Await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	u8 := js.Global().Get("Uint8Array").New(buf)
	b := make([]byte, u8.Length())
	js.CopyBytesToGo(b, u8)
	return b, nil
}

// Promise runs f in a goroutine and returns a JS promise of its result.
func Promise(f func() (any, error)) js.Value {
	var fn js.Func
	fn = js.FuncOf(func(_ js.Value, a []js.Value) any {
		resolve, reject := a[0], a[1]
		go func() {
			defer fn.Release()
			v, err := f()
			if err != nil {
				reject.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	return js.Global().Get("Promise").New(fn)
}

// Await is the shared promise helper (wasm/jsutil).
var Await = jsutil.Await
