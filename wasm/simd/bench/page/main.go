//go:build js && wasm

// The Go side of make bench-simd: it exposes window.nnstBench for
// static/bench.js to time VGG forward passes and a stylization with the
// SIMD backend.
package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall/js"
	"time"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
	"nnst/wasm/simd"
)

var (
	be *cpu.Backend
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

func setup(threads int, modelURL string) error {
	if !simd.Available() {
		return errors.New("simd kernels not available on this page")
	}
	b, err := fetchBytes(modelURL)
	if err != nil {
		return err
	}
	if m, err = model.Read(b); err != nil {
		return err
	}
	if be, err = simd.NewBackendThreads(threads); err != nil {
		return err
	}
	return be.LoadModel(m)
}

// forward times reps passes at size x size px; it returns seconds.
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
		be.Release(be.Forward(x, false))
		be.Free(x)
		times = append(times, time.Since(t0).Seconds())
	}
	return times, be.Err()
}

// stylize times one run; it returns seconds and the seconds per stage.
func stylize(size, steps int, contentURL, styleURL string) (any, error) {
	cb, err := fetchBytes(contentURL)
	if err != nil {
		return nil, err
	}
	sb, err := fetchBytes(styleURL)
	if err != nil {
		return nil, err
	}
	c, err := imageio.DecodeBytes(cb)
	if err != nil {
		return nil, err
	}
	s, err := imageio.DecodeBytes(sb)
	if err != nil {
		return nil, err
	}
	st, err := nnst.New(be, m)
	if err != nil {
		return nil, err
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps = size, steps
	stages := map[string]any{}
	stage, since := "", time.Now()
	t0 := since
	report := func(p nnst.Progress) {
		if p.Stage != stage {
			if stage != "" {
				prev, _ := stages[stage].(float64)
				stages[stage] = prev + time.Since(since).Seconds()
			}
			stage, since = p.Stage, time.Now()
		}
	}
	if _, err := st.Run(context.Background(), c, s, o, report); err != nil {
		return nil, err
	}
	return map[string]any{"seconds": time.Since(t0).Seconds(), "stages": stages}, be.Err()
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("setup", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return promise(func() (any, error) { return nil, setup(a[0].Int(), a[1].String()) })
	}))
	api.Set("forward", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return promise(func() (any, error) { t, err := forward(a[0].Int(), a[1].Int()); return t, err })
	}))
	api.Set("stylize", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return promise(func() (any, error) { return stylize(a[0].Int(), a[1].Int(), a[2].String(), a[3].String()) })
	}))
	js.Global().Get("nnstBenchReady").Invoke(api)
	select {}
}
