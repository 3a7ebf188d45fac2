//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
	"nnst/wasm/webgpu"
)

// The worker side: it owns the model and the backend and runs the pipeline,
// so the page never blocks. Messages are plain objects with a "type".
type worker struct {
	mu     sync.Mutex
	st     *nnst.Stylizer
	be     nnst.Backend  // the stylizer's backend, under its counter
	count  *nnst.Counter // counts each run's operations
	model  *model.Model
	info   backendInfo
	cancel context.CancelFunc
	runID  int
}

func runWorker() {
	w := &worker{}
	global.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := arg0(args).Get("data")
		switch msg.Get("type").String() {
		case "init":
			go w.init(msg)
		case "run":
			go w.run(msg)
		case "decode":
			go func() {
				res, transfer := decodeImage(msg.Get("name").String(), bytesOf(msg.Get("bytes")))
				res["type"], res["id"] = "decoded", msg.Get("id").Int()
				post(res, transfer...)
			}()
		case "cancel":
			w.mu.Lock()
			if w.cancel != nil && w.runID == msg.Get("id").Int() {
				w.cancel()
			}
			w.mu.Unlock()
		}
		return nil
	}))
	post(map[string]any{"type": "started"})
}

// post sends msg to the page, transferring the given buffers.
func post(msg map[string]any, transfer ...any) {
	global.Call("postMessage", msg, transfer)
}

// init verifies the model (SHA-256 included) and loads it into the backend.
func (w *worker) init(msg js.Value) {
	start := time.Now()
	m, err := model.Read(bytesOf(msg.Get("model")))
	if err != nil {
		post(map[string]any{"type": "init-error", "message": "The model file is damaged or not an nnst model: " + err.Error()})
		return
	}
	be, info := chooseBackend(context.Background(), msg.Get("backend").String())
	count := nnst.Count(be)
	st, err := nnst.New(count, m)
	if err != nil {
		post(map[string]any{"type": "init-error", "message": "Loading the model into the " + info.Label + " backend failed: " + err.Error()})
		return
	}
	// Conv kernel choices a run on an earlier load made on this GPU.
	restored, tuneNote := 0, ""
	if gb, ok := be.(*webgpu.Backend); ok {
		if saved := msg.Get("tune"); saved.Type() == js.TypeString && saved.String() != "" {
			if restored, err = gb.RestoreTune(saved.String()); err != nil {
				tuneNote = "kernel choices saved before are not used: " + err.Error()
				js.Global().Get("console").Call("log", "nnst: "+tuneNote)
			}
		}
	}
	// What each mode and size costs here, counted in dry runs: the work,
	// divided by this device's rate on a forward pass (the page refines it
	// by runs), and on WebGPU the memory, which sets the largest size.
	work := map[string]any{}
	gb, _ := be.(*webgpu.Backend)
	needs := map[int][]webgpu.Need{}
	for _, mode := range modes {
		for _, size := range []int{256, 512, 1024} {
			o := modeOptions(mode, size)
			var u nnst.Usage
			if gb != nil {
				var n webgpu.Need
				if n, err = gpuNeed(gb, m, o); err == nil {
					needs[size] = append(needs[size], n)
				}
				u = n.Usage
			} else {
				u, err = nnst.DryRun(m, o, nil, size, size)
			}
			if err == nil {
				work[fmt.Sprintf("%s-%d", mode, size)] = u.Flops
			}
		}
	}
	if gb != nil {
		info.MaxSize = gpuMaxSize(gb, needs)
	}
	rate, err := count.Rate()
	if err != nil {
		rate = 0
	}
	w.mu.Lock()
	w.st, w.info, w.be, w.count, w.model = st, info, be, count, m
	w.mu.Unlock()
	post(map[string]any{
		"type": "ready", "backend": info.Name, "label": info.Label, "note": info.Note,
		"maxSize": info.MaxSize, "gpu": info.GPU.Available, "gpuReason": info.GPU.Reason,
		"adapter": info.GPU.Adapter, "webgpuReason": info.WebGPUReason, "arch": m.Arch, "sha256": m.SHA256,
		"loadMs": time.Since(start).Milliseconds(), "tuneRestored": restored, "tuneNote": tuneNote,
		"work": work, "rate": rate,
	})
}

func tensorFrom(v js.Value) *tensor.T {
	t := &tensor.T{C: 3, H: v.Get("h").Int(), W: v.Get("w").Int(), Data: floatsOf(v.Get("data"))}
	if len(t.Data) != 3*t.H*t.W {
		panic("bad tensor message")
	}
	return t
}

// rgbaMessage turns an RGB tensor into {w, h, rgba} with its buffer to transfer.
func rgbaMessage(t *tensor.T) (map[string]any, js.Value) {
	img := imageio.ToImage(t)
	arr := global.Get("Uint8ClampedArray").New(len(img.Pix))
	js.CopyBytesToJS(arr, img.Pix)
	return map[string]any{"w": t.W, "h": t.H, "rgba": arr}, arr.Get("buffer")
}

func (w *worker) run(msg js.Value) {
	id := msg.Get("id").Int()
	opts := msg.Get("opts")
	mode, err := nnst.ParseMode(opts.Get("mode").String())
	if err != nil {
		post(map[string]any{"type": "error", "id": id, "kind": "other", "message": err.Error()})
		return
	}
	o := modeOptions(mode, opts.Get("size").Int())
	o.Alpha = opts.Get("alpha").Float()
	o.Scales = opts.Get("scales").Int()
	o.Steps = opts.Get("steps").Int()
	o.Flip = opts.Get("flip").Bool()
	o.Color = opts.Get("color").Bool()
	o.ContentLoss = opts.Get("contentLoss").Bool()
	content, style := tensorFrom(msg.Get("content")), tensorFrom(msg.Get("style"))

	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancel := func() { cancelCause(nil) }
	defer cancel()
	// A test hook (?fault= in the page address) makes the first report fail
	// the way a crash or a lost GPU device would.
	fault := msg.Get("fault").String()
	if msg.Get("fault").IsUndefined() {
		fault = ""
	}
	w.mu.Lock()
	st, be, count, m := w.st, w.be, w.count, w.model
	if st == nil {
		w.mu.Unlock()
		post(map[string]any{"type": "error", "id": id, "kind": "other", "message": "The model is not loaded yet."})
		return
	}
	w.cancel, w.runID = cancel, id
	w.mu.Unlock()
	be.ResetPeak() // the page reports each run's own peak
	count.Reset()

	if err := reserve(be, o, fault, m); err != nil {
		w.clearCancel()
		smaller, bytes := smallerSize(o.Size), 0.0
		if smaller > 0 {
			os, binding := o, int64(0) // no limit off WebGPU (the fault hook)
			os.Size = smaller
			if gb, ok := be.(*webgpu.Backend); ok {
				binding = bindingLimit(gb)
			}
			if n, err := webgpu.Estimate(m, os, smaller, smaller, binding); err == nil {
				bytes = float64(n.Bytes)
			}
		}
		post(map[string]any{"type": "error", "id": id, "kind": errorKind(err), "message": err.Error(), "before": true, "size": o.Size,
			"smaller": smaller, "smallerBytes": bytes})
		return
	}

	th, tw := imageio.FitDims(content.H, content.W, o.Size)
	if gb, ok := be.(*webgpu.Backend); ok && o.Validate() == nil && min(th, tw) >= nnst.MinSide {
		// The first run at a size times the conv kernels on this GPU (Run
		// reports bad options and images).
		tune := gb.NeedsTune(th, tw, true)
		if tune {
			post(map[string]any{"type": "progress", "id": id, "stage": stageTune, "scale": 0, "scales": 0, "step": 0, "steps": 0, "fraction": 0.0, "elapsedMs": 0, "etaMs": 0})
		}
		start := time.Now()
		if err := gb.Tune(th, tw, true); err != nil {
			w.clearCancel()
			gb.Idle()
			post(map[string]any{"type": "error", "id": id, "kind": errorKind(err), "message": err.Error()})
			return
		}
		if tune {
			post(map[string]any{"type": "tune", "data": gb.SavedTune()})
			js.Global().Get("console").Call("log", fmt.Sprintf("nnst: conv kernels for %dx%d chosen in %d ms: %s", tw, th, time.Since(start).Milliseconds(), gb.ConvKernels()))
		}
	}

	var lastPreview time.Time
	runStart := time.Now()
	out, err := st.Run(ctx, content, style, o, func(p nnst.Progress) {
		switch fault {
		case "crash":
			panic("crash injected by ?fault=crash")
		case "lost":
			cancelCause(errDeviceLost)
		}
		m := map[string]any{
			"type": "progress", "id": id, "stage": p.Stage, "scale": p.Scale, "scales": p.Scales,
			"step": p.Step, "steps": p.Steps, "fraction": p.Fraction,
			"elapsedMs": p.Elapsed.Milliseconds(), "etaMs": p.ETA.Milliseconds(),
		}
		var transfer []any
		if p.Preview != nil && time.Since(lastPreview) > 400*time.Millisecond {
			if t, err := p.Preview(); err == nil {
				pm, buf := rgbaMessage(t)
				m["preview"] = pm
				transfer = append(transfer, buf)
				lastPreview = time.Now()
			}
		}
		post(m, transfer...)
		// Let the worker's event loop deliver a cancel message.
		time.Sleep(time.Millisecond)
	})
	w.clearCancel()
	if gb, ok := be.(*webgpu.Backend); ok {
		gb.Idle() // the GPU memory kept for speed, until the next run
	}
	if err != nil {
		kind := errorKind(err)
		if errors.Is(context.Cause(ctx), errDeviceLost) {
			kind, err = "device", errDeviceLost
		}
		post(map[string]any{"type": "error", "id": id, "kind": kind, "message": err.Error()})
		return
	}
	res, buf := rgbaMessage(out)
	res["type"], res["id"] = "done", id
	res["peakBytes"] = float64(be.PeakBytes())
	res["flops"], res["runMs"] = count.Flops(), time.Since(runStart).Milliseconds()
	post(res, buf)
}

// modeOptions are a mode's defaults at an output size.
func modeOptions(mode nnst.Mode, size int) nnst.Options {
	o := nnst.Defaults(size >= 1024)
	if mode == nnst.ModeFast {
		o = nnst.FastDefaults()
	}
	o.Size = size
	return o
}

// clearCancel forgets the running run's cancel function (it has ended).
func (w *worker) clearCancel() {
	w.mu.Lock()
	w.cancel = nil
	w.mu.Unlock()
}

// reserve checks before a WebGPU run that the device can hold it: it asks
// for the run's peak, counted by a dry run, less what the backend holds
// already (the model). The ?fault=oom test hook makes it fail as a GPU
// without the memory would.
func reserve(be nnst.Backend, o nnst.Options, fault string, m *model.Model) error {
	if fault == "oom" {
		return fmt.Errorf("%w (injected by ?fault=oom)", webgpu.ErrOutOfMemory)
	}
	gb, ok := be.(*webgpu.Backend)
	if !ok {
		return nil
	}
	n, err := gpuNeed(gb, m, o)
	if err != nil {
		return err
	}
	return gb.Reserve(n.Bytes - gb.LiveBytes())
}

// modes are the modes the page offers.
var modes = []nnst.Mode{nnst.ModeFast, nnst.ModeBest}

// smallerSize is the next output size below size the page offers, or 0.
func smallerSize(size int) int {
	for _, s := range []int{512, 256} {
		if s < size {
			return s
		}
	}
	return 0
}

// stageTune is the progress stage while Backend.Tune times the conv
// kernels (the first run at a size on a GPU).
const stageTune = "tune"

var errDeviceLost = errors.New("GPU device lost (injected by ?fault=lost)")

// errorKind sorts failures for the page: a cancel, a lost GPU device, memory.
func errorKind(err error) string {
	s := strings.ToLower(err.Error())
	switch {
	case errors.Is(err, nnst.ErrCancelled):
		return "cancelled"
	case strings.Contains(s, "device lost") || strings.Contains(s, "device was lost"):
		return "device"
	case errors.Is(err, webgpu.ErrOutOfMemory) || strings.Contains(s, "out of memory") || strings.Contains(s, "out of gpu memory") || strings.Contains(s, "allocation"):
		return "memory"
	}
	return "other"
}
