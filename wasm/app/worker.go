//go:build js && wasm

package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall/js"
	"time"

	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
	"nnst/wasm/simd"
	"nnst/wasm/webgpu"
)

// The worker side: it owns the model and the backend and runs the pipeline,
// so the page never blocks. The messages are those of proto.go.
type worker struct {
	mu     sync.Mutex
	st     *nnst.Stylizer
	be     *nnst.Counter // the stylizer's backend, counting each run's operations
	model  *model.Model
	info   backendInfo
	cancel context.CancelFunc
	runID  int
}

// heapLimit is the Go heap the worker aims to stay under (a soft limit:
// Go collects more often near it). A WebAssembly memory never shrinks, so
// the heap's high-water mark stays with the tab.
const heapLimit = 1536 << 20

// gcPercent lets the heap grow by a tenth of what it holds before a
// collection, not by all of it: the tensors hold no pointers, so a
// collection costs little. A Fast run at 2048 px on the CPU path left the
// worker at 3.1 GB with Go's defaults, 2.0 GB with a 1792 MiB limit; with
// these (and the style features in fp16, only the phases sampled) 0.9 GB.
const gcPercent = 10

func runWorker() {
	debug.SetMemoryLimit(heapLimit)
	debug.SetGCPercent(gcPercent)
	w := &worker{}
	global.Set("onmessage", js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg, err := received(arg0(args))
		if err != nil {
			logf("the worker got a bad message: %v", err)
			return nil
		}
		switch m := msg.(type) {
		case initMsg:
			go w.init(m)
		case runMsg:
			go w.run(m)
		case decodeMsg:
			go func() {
				res := decodeImage(m.Name, bytesOf(m.Bytes.(js.Value)))
				res.ID = m.ID
				post(res)
			}()
		case cancelMsg:
			w.mu.Lock()
			if w.cancel != nil && w.runID == m.ID {
				w.cancel()
			}
			w.mu.Unlock()
		}
		return nil
	}))
	post(startedMsg{})
}

// post sends m to the page.
func post(m message) { postTo(global, m) }

// init verifies the model (SHA-256 included) and loads it into the backend.
func (w *worker) init(msg initMsg) {
	start := time.Now()
	m, err := model.Read(bytesOf(msg.Model.(js.Value)))
	if err != nil {
		post(initErrorMsg{"The model file is damaged or not an nnst model: " + err.Error()})
		return
	}
	be, info := chooseBackend(context.Background(), msg.Backend)
	count := nnst.Count(be)
	st, err := nnst.New(count, m)
	if err != nil {
		post(initErrorMsg{"Loading the model into the " + info.Label + " backend failed: " + err.Error()})
		return
	}
	// Conv kernel choices a run on an earlier load made on this GPU.
	restored, tuneNote := 0, ""
	prep, isPrep := nnst.As[nnst.Preparer](count)
	if isPrep && msg.Tune != "" {
		if restored, err = prep.RestoreTune(msg.Tune); err != nil {
			tuneNote = "kernel choices saved before are not used: " + err.Error()
			logf("%s", tuneNote)
		}
	}
	// What each mode and size costs here, counted in dry runs: the work,
	// divided by this device's rate on a forward pass (the page refines it
	// by runs), and the memory, which sets the sizes each mode is offered.
	binding := int64(0)
	if isPrep {
		binding = prep.MaxBuffer()
	}
	work, limits := plan(isPrep, binding, func(o nnst.Options) (nnst.Need, error) {
		if isPrep {
			return prep.Need(m, o, o.Size, o.Size)
		}
		u, err := nnst.DryRun(m, o, nil, o.Size, o.Size)
		return nnst.Need{Usage: u, Bytes: u.Peak}, err
	})
	rate, err := count.Rate()
	if err != nil {
		rate = 0
	}
	w.mu.Lock()
	w.st, w.info, w.be, w.model = st, info, count, m
	w.mu.Unlock()
	post(readyMsg{
		Backend: info.Name, Label: info.Label, Note: info.Note, Limits: limits,
		GPU: info.GPU.Available, GPUReason: info.GPU.Reason, Adapter: info.GPU.Adapter,
		WebGPUReason: info.WebGPUReason, Arch: m.Arch, SHA256: m.SHA256,
		Load: time.Since(start), TuneRestored: restored, TuneNote: tuneNote,
		Work: work, Rate: rate, Host: time.Duration(hostSeconds(256) * float64(time.Second)),
	})
}

func tensorFrom(p planes) *tensor.T {
	t := &tensor.T{C: 3, H: p.H, W: p.W, Data: floatsOf(p.Data.(js.Value))}
	if len(t.Data) != 3*t.H*t.W {
		panic("bad tensor message")
	}
	return t
}

// rgbaOf turns an RGB tensor into 8-bit RGBA in a Uint8ClampedArray.
func rgbaOf(t *tensor.T) rgba {
	img := imageio.ToImage(t)
	arr := global.Get("Uint8ClampedArray").New(len(img.Pix))
	js.CopyBytesToJS(arr, img.Pix)
	return rgba{W: t.W, H: t.H, RGBA: arr}
}

// progressOf is the report of where run id is.
func progressOf(id int, p nnst.Progress) progressMsg {
	return progressMsg{ID: id, Stage: p.Stage, Scale: p.Scale, Scales: p.Scales, Step: p.Step, Steps: p.Steps,
		Fraction: p.Fraction, Elapsed: p.Elapsed, ETA: p.ETA}
}

func (w *worker) run(msg runMsg) {
	id := msg.ID
	o, err := msg.Opts.options()
	if err != nil {
		post(errorMsg{ID: id, Kind: kindOther, Message: err.Error()})
		return
	}
	content, style := tensorFrom(msg.Content), tensorFrom(msg.Style)
	var resume *nnst.Checkpoint // the stage to go on from, or nil
	if msg.Resume != nil {
		if resume, err = msg.Resume.core(); err != nil {
			post(errorMsg{ID: id, Kind: kindOther, Message: err.Error()})
			return
		}
	}

	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancel := func() { cancelCause(nil) }
	defer cancel()
	w.mu.Lock()
	st, be, m := w.st, w.be, w.model
	if st == nil {
		w.mu.Unlock()
		post(errorMsg{ID: id, Kind: kindOther, Message: "The model is not loaded yet."})
		return
	}
	w.cancel, w.runID = cancel, id
	w.mu.Unlock()
	be.ResetPeak() // the page reports each run's own peak
	be.Reset()

	var lastPreview time.Time
	lastStage, lastStep := "", -1
	_, onGPU := nnst.As[nnst.Preparer](be)
	h := msg.Fault.inject(runHooks{
		reserve: func() error { return reserve(be, o, m) },
		progress: func(p nnst.Progress) {
			pm := progressOf(id, p)
			if !onGPU && (p.Stage != lastStage || p.Step != lastStep) {
				// On the CPU path, where Go's heap holds the tensors, a
				// collection between steps: the step before's trace and
				// gradients are free before the next step's come. A Fast
				// run at 512 px left the tab at 0.82-0.90 GB with it,
				// 0.89-0.91 without, in about the same time. (On WebGPU
				// it would only cost: a fast GPU's step takes milliseconds.)
				runtime.GC()
				lastStage, lastStep = p.Stage, p.Step
			}
			if p.Preview != nil && time.Since(lastPreview) > 400*time.Millisecond {
				if t, err := p.Preview(); err == nil {
					pv := rgbaOf(t)
					pm.Preview = &pv
					lastPreview = time.Now()
				}
			}
			if p.Checkpoint != nil { // the page keeps it, to resume after a fault
				ck, err := p.Checkpoint()
				switch n := checkpointBytes(ck); {
				case err != nil:
					logf("no checkpoint: %v", err)
				case n > maxCheckpoint:
					logf("no checkpoint: %d MB is more than the page keeps", n>>20)
				default:
					pm.Checkpoint = checkpointOf(ck)
				}
			}
			post(pm)
			// Let the worker's event loop deliver a cancel message.
			time.Sleep(time.Millisecond)
		},
	}, cancelCause)

	if err := h.reserve(); err != nil {
		w.clearCancel()
		post(refusal(id, be, m, o, err))
		return
	}

	th, tw := imageio.FitDims(content.H, content.W, o.Size)
	prep, isPrep := nnst.As[nnst.Preparer](be)
	if isPrep && o.Validate() == nil && min(th, tw) >= nnst.MinSide {
		// The first run at a size times the conv kernels on this GPU (Run
		// reports bad options and images).
		tune := prep.NeedsTune(th, tw, true)
		if tune {
			post(progressOf(id, nnst.Progress{Stage: stageTune}))
		}
		start := time.Now()
		if err := prep.Tune(th, tw, true); err != nil {
			w.clearCancel()
			prep.Idle()
			post(errorMsg{ID: id, Kind: kindOf(err), Message: err.Error()})
			return
		}
		if tune {
			post(tuneMsg{prep.SavedTune()})
			logf("conv kernels for %dx%d chosen in %d ms: %s", tw, th, time.Since(start).Milliseconds(), prep.ConvKernels())
		}
	}

	runStart := time.Now()
	o.Resume = resume
	out, err := st.Run(ctx, content, style, o, h.progress)
	w.clearCancel()
	if isPrep {
		prep.Idle() // the GPU memory kept for speed, until the next run
	}
	if err != nil {
		err = runError(ctx, err)
		post(errorMsg{ID: id, Kind: kindOf(err), Message: err.Error()})
		return
	}
	img := rgbaOf(out)
	out = nil
	post(doneMsg{ID: id, Image: img, PeakBytes: be.PeakBytes(), Flops: be.Flops(), Run: time.Since(runStart),
		HeapBytes: heapBytes(), KernelBytes: simd.MemoryBytes()})
}

// heapBytes is the size of the worker's WebAssembly memory, which holds
// Go's heap (worker.js keeps it as nnstMemory); never smaller since a
// WebAssembly memory only grows.
func heapBytes() int64 {
	if mem := global.Get("nnstMemory"); mem.Truthy() {
		return int64(mem.Get("buffer").Get("byteLength").Float())
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// refusal is the error of a run the memory check refused, with the next
// smaller size that needs less and what it needs.
func refusal(id int, be nnst.Backend, m *model.Model, o nnst.Options, err error) errorMsg {
	e := errorMsg{ID: id, Kind: kindOf(err), Message: err.Error(), Before: true, Size: o.Size}
	e.Smaller, e.SmallerBytes = smallerFit(o.Size, func(size int) (int64, error) {
		os := o
		os.Size = size
		var n nnst.Need
		var err error
		if p, ok := nnst.As[nnst.Preparer](be); ok {
			n, err = p.Need(m, os, size, size)
		} else { // the fault hook off WebGPU: WebGPU's sizes, no buffer limit
			n, err = webgpu.Estimate(m, os, size, size, 0)
		}
		return n.Bytes, err
	})
	return e
}

// clearCancel forgets the running run's cancel function (it has ended).
func (w *worker) clearCancel() {
	w.mu.Lock()
	w.cancel = nil
	w.mu.Unlock()
}

// reserve checks before a run on a backend that prepares (WebGPU) that
// the device can hold it: it asks for the run's peak, counted by a dry
// run, less what the backend holds already (the model).
func reserve(be nnst.Backend, o nnst.Options, m *model.Model) error {
	p, ok := nnst.As[nnst.Preparer](be)
	if !ok {
		return nil
	}
	n, err := p.Need(m, o, o.Size, o.Size)
	if err != nil {
		return err
	}
	return p.Reserve(n.Bytes - p.LiveBytes())
}
