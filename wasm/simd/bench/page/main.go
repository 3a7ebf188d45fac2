//go:build js && wasm

// The Go side of make bench-simd: it exposes window.nnstBench for
// static/bench.js to time VGG forward passes and a stylization with the
// SIMD backend.
package main

import (
	"context"
	"errors"
	"math/rand/v2"
	"nnst/wasm/simd/bench/pagejs"
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
	k  cpu.Kernels
	m  *model.Model
)

func setup(threads int, modelURL string) error {
	if !simd.Available() {
		return errors.New("simd kernels not available on this page")
	}
	b, err := pagejs.FetchBytes(modelURL)
	if err != nil {
		return err
	}
	if m, err = model.Read(b); err != nil {
		return err
	}
	if k, err = simd.NewKernels(threads); err != nil {
		return err
	}
	be = cpu.NewWith(k)
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

// kernels times each conv layer of the model at size px (forward with
// ReLU, backward-data) and one nearest-neighbour search of the final
// pass's shape at relu3_1 (16384 x 256 bank, 4096 queries): best of reps,
// in GFLOP/s.
func kernels(size, reps int) ([]any, error) {
	r := rand.New(rand.NewPCG(9, 9))
	best := func(f func()) float64 {
		b := 1e9
		for i := 0; i < reps; i++ {
			t0 := time.Now()
			f()
			b = min(b, time.Since(t0).Seconds())
		}
		return b
	}
	randS := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = r.Float32() - 0.5
		}
		return s
	}
	var rows []any
	h := size
	for _, l := range m.Layers {
		if l.Kind == "pool" {
			h /= 2
			continue
		}
		c := k.NewConv(l.Conv.In, l.Conv.Out, l.Conv.Weight, l.Conv.Bias)
		x, y := randS(l.Conv.In*h*h), make([]float32, l.Conv.Out*h*h)
		gf := 2 * float64(l.Conv.In*9*l.Conv.Out*h*h) / 1e9
		fwd := best(func() { c.Forward(x, h, h, true, y) })
		bwd := best(func() { c.BackwardData(y, h, h, x) })
		rows = append(rows, map[string]any{"name": l.Name, "in": l.Conv.In, "out": l.Conv.Out, "size": h, "fwd": gf / fwd, "bwd": gf / bwd})
	}
	const mm, d, n = 16384, 256, 4096
	a, q := randS(mm*d), randS(d*n)
	t := best(func() { k.Nearest(a, mm, d, q, n) })
	rows = append(rows, map[string]any{"name": "nearest", "in": d, "out": mm, "size": n, "fwd": 2 * float64(mm*d*n) / 1e9 / t})
	return rows, be.Err()
}

// stylize times one run in a mode (steps <= 0: the mode's default); it
// returns seconds, the seconds per stage and the operations counted.
func stylize(size, steps int, mode, contentURL, styleURL string) (any, error) {
	cb, err := pagejs.FetchBytes(contentURL)
	if err != nil {
		return nil, err
	}
	sb, err := pagejs.FetchBytes(styleURL)
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
	md, err := nnst.ParseMode(mode)
	if err != nil {
		return nil, err
	}
	cnt := nnst.Count(be)
	st, err := nnst.New(cnt, m)
	if err != nil {
		return nil, err
	}
	o := nnst.Defaults(false)
	if md == nnst.ModeFast {
		o = nnst.FastDefaults()
	}
	o.Size = size
	if steps > 0 {
		o.Steps = steps
	}
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
	return map[string]any{"seconds": time.Since(t0).Seconds(), "stages": stages, "steps": o.Steps, "flops": cnt.Flops()}, be.Err()
}

func main() {
	api := js.Global().Get("Object").New()
	api.Set("setup", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { return nil, setup(a[0].Int(), a[1].String()) })
	}))
	api.Set("forward", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { t, err := forward(a[0].Int(), a[1].Int()); return t, err })
	}))
	api.Set("kernels", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) { t, err := kernels(a[0].Int(), a[1].Int()); return t, err })
	}))
	api.Set("stylize", js.FuncOf(func(_ js.Value, a []js.Value) any {
		return pagejs.Promise(func() (any, error) {
			return stylize(a[0].Int(), a[1].Int(), a[2].String(), a[3].String(), a[4].String())
		})
	}))
	js.Global().Get("nnstBenchReady").Invoke(api)
	select {}
}
