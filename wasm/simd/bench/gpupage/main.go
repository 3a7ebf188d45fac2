//go:build js && wasm

// The Go side of make bench-webgpu-ort: it exposes window.nnstBench for
// static/webgpu.js to time VGG forward passes with the WebGPU backend.
package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"nnst/wasm/simd/bench/pagejs"
	"syscall/js"
	"time"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
	"nnst/wasm/webgpu"
)

var (
	be *webgpu.Backend
	m  *model.Model
)

// setup opens the device and loads the model; it returns the adapter's name.
func setup(modelURL string) (any, error) {
	b, err := pagejs.FetchBytes(modelURL)
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

// tune prepares the backend for forward passes at size x size px as the
// app prepares a run: it reserves a run's estimated GPU memory (which lets
// the buffer pool keep what the passes free, as onnxruntime-web keeps its
// buffers) and chooses the conv kernels; it says what it chose and how
// long that took.
func tune(size int) (any, error) {
	o := nnst.Defaults(false)
	o.Size, o.Flip = size, false
	n, err := be.Need(m, o, size, size)
	if err != nil {
		return nil, err
	}
	if err := be.Reserve(n.Bytes - be.LiveBytes()); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := be.Tune(size, size, false); err != nil {
		return nil, err
	}
	return fmt.Sprintf("%.0f ms: %s", time.Since(t0).Seconds()*1000, be.ConvKernels()), nil
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("setup", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { return setup(a[0].String()) })
	}))
	api.Set("forward", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { t, err := forward(a[0].Int(), a[1].Int()); return t, err })
	}))
	api.Set("tune", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { return tune(a[0].Int()) })
	}))
	js.Global().Get("nnstBenchReady").Invoke(api)
	select {}
}
