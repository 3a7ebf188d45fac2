//go:build js && wasm

// The Go side of make bench-webgpu-ort: it exposes window.nnstBench for
// static/webgpu.js to time VGG forward passes with the WebGPU backend.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall/js"
	"time"

	"nnst/core/model"
	"nnst/core/tensor"
	"nnst/wasm/webgpu"
)

var (
	be *webgpu.Backend
	m  *model.Model
)

// fetchBytes gets url as bytes.
func fetchBytes(url string) ([]byte, error) {
	resp, err := await(js.Global().Call("fetch", url))
	if err != nil {
		return nil, err
	}
	if !resp.Get("ok").Bool() {
		return nil, fmt.Errorf("%s: HTTP %d", url, resp.Get("status").Int())
	}
	buf, err := await(resp.Call("arrayBuffer"))
	if err != nil {
		return nil, err
	}
	u8 := js.Global().Get("Uint8Array").New(buf)
	b := make([]byte, u8.Length())
	js.CopyBytesToGo(b, u8)
	return b, nil
}

func await(p js.Value) (js.Value, error) {
	type res struct {
		v   js.Value
		err error
	}
	ch := make(chan res, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any { ch <- res{v: a[0]}; return nil })
	bad := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- res{err: errors.New(a[0].Call("toString").String())}
		return nil
	})
	defer ok.Release()
	defer bad.Release()
	p.Call("then", ok, bad)
	r := <-ch
	return r.v, r.err
}

// promise runs f in a goroutine and returns a JS promise of its result.
func promise(f func() (any, error)) js.Value {
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

// setup opens the device and loads the model; it returns the adapter's name.
func setup(modelURL string) (any, error) {
	b, err := fetchBytes(modelURL)
	if err != nil {
		return nil, err
	}
	if m, err = model.Read(b); err != nil {
		return nil, err
	}
	if be, err = webgpu.New(context.Background()); err != nil {
		return nil, err
	}
	if err := be.LoadModel(m); err != nil {
		return nil, err
	}
	return be.Name(), nil
}

// forward times reps passes at size x size px, each from the upload to
// the download of the last tap (so the queued GPU work is included); it
// returns seconds.
func forward(size, reps int) ([]any, error) {
	r := rand.New(rand.NewPCG(uint64(size), 1))
	img := tensor.New(3, size, size)
	for i := range img.Data {
		img.Data[i] = r.Float32()
	}
	var times []any
	for i := 0; i < reps; i++ {
		t0 := time.Now()
		x := be.Upload(img)
		tr := be.Forward(x, false)
		out, err := be.Download(tr.Taps[len(tr.Taps)-1])
		if err != nil {
			return nil, err
		}
		el := time.Since(t0).Seconds()
		be.Release(tr)
		be.Free(x)
		if want := size / 8; out.H != want || out.W != want {
			return nil, fmt.Errorf("last tap is %dx%d, want %dx%d", out.H, out.W, want, want)
		}
		times = append(times, el)
	}
	return times, be.Err()
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("setup", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return promise(func() (any, error) { return setup(a[0].String()) })
	}))
	api.Set("forward", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return promise(func() (any, error) { t, err := forward(a[0].Int(), a[1].Int()); return t, err })
	}))
	js.Global().Get("nnstBenchReady").Invoke(api)
	select {}
}
