package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nnst/core/nnst"
	"nnst/wasm/webgpu"
)

// modes are the modes the page offers; sizes its output sizes.
var (
	modes = []nnst.Mode{nnst.ModeFast, nnst.ModeBest}
	sizes = []int{256, 512, 1024}
)

// modeOptions are a mode's defaults at an output size.
func modeOptions(mode nnst.Mode, size int) nnst.Options {
	o := nnst.Defaults(size >= 1024)
	if mode == nnst.ModeFast {
		o = nnst.FastDefaults()
	}
	o.Size = size
	return o
}

// defaultAlpha is where the page's balance slider starts.
func defaultAlpha() float64 { return nnst.Defaults(false).Alpha }

// newRunOptions are the page's settings for a run of mode at size: the
// mode's scales and steps, unless the test hooks set them.
func newRunOptions(mode nnst.Mode, size int, h hooks) runOptions {
	o := modeOptions(mode, size)
	r := runOptions{Mode: o.Mode, Alpha: o.Alpha, Size: size, Scales: o.Scales, Steps: o.Steps,
		Flip: o.Flip, Color: o.Color, ContentLoss: o.ContentLoss}
	if h.steps > 0 {
		r.Steps = h.steps
	}
	if h.scales > 0 {
		r.Scales = h.scales
	}
	return r
}

// options are the driver's options for a run: the mode's defaults with the
// page's settings.
func (r runOptions) options() (nnst.Options, error) {
	mode, err := nnst.ParseMode(string(r.Mode))
	if err != nil {
		return nnst.Options{}, err
	}
	o := modeOptions(mode, r.Size)
	o.Alpha, o.Scales, o.Steps = r.Alpha, r.Scales, r.Steps
	o.Flip, o.Color, o.ContentLoss = r.Flip, r.Color, r.ContentLoss
	return o, nil
}

// smallerSize is the next output size below size the page offers, or 0.
func smallerSize(size int) int {
	for _, s := range []int{512, 256} {
		if s < size {
			return s
		}
	}
	return 0
}

// workKey names a run's work in readyMsg.Work.
func workKey(mode nnst.Mode, size int) string { return fmt.Sprintf("%s-%d", mode, size) }

// estimate is how long a run of mode at size takes: the work a dry run
// counted over rate, the operations per second measured on this backend
// by earlier runs (0: none yet). 0 when unknown.
func (r *readyMsg) estimate(mode nnst.Mode, size int, rate float64) time.Duration {
	work, ok := r.Work[workKey(mode, size)]
	if rate == 0 {
		// A forward pass runs faster than a whole run (searches, small
		// maps): a third of its rate until a run has been timed here.
		rate = r.Rate / 3
	}
	if !ok || !(rate > 0) {
		return 0
	}
	return time.Duration(work / rate * float64(time.Second))
}

// gpuBudget is the memory a run may plan for on a real adapter. WebGPU does
// not reveal how much memory a GPU has; 8 GiB fits most desktop GPUs.
// Before each run the worker asks the device for the run's peak, counted by
// a dry run (Preparer.Reserve), and offers a smaller size when it is refused;
// a run that still runs out of memory shows a message and a retry. A size
// is also offered only if its largest buffer fits the device's buffer
// limits.
const gpuBudget = 8 << 30

// gpuMaxSize is the largest size above 256 px whose runs, in each mode,
// fit gpuBudget and whose largest buffer fits binding, the device's limit
// on one buffer, from the needs of each size's runs (those that failed
// left out); else 256.
func gpuMaxSize(needs map[int][]nnst.Need, binding int64) int {
	best := 256
	for _, size := range sizes[1:] {
		ns := needs[size]
		fits := len(ns) == len(modes)
		for _, n := range ns {
			fits = fits && n.Bytes <= gpuBudget && n.Largest <= binding
		}
		if fits {
			best = size
		}
	}
	return best
}

// An errorKind sorts failures for the page.
type errorKind string

const (
	kindCancelled errorKind = "cancelled"
	kindDevice    errorKind = "device" // the GPU device was lost
	kindMemory    errorKind = "memory" // out of GPU memory
	kindOther     errorKind = "other"
)

// kindOf sorts a run's error.
func kindOf(err error) errorKind {
	switch {
	case errors.Is(err, nnst.ErrCancelled):
		return kindCancelled
	case errors.Is(err, webgpu.ErrDeviceLost):
		return kindDevice
	case errors.Is(err, webgpu.ErrOutOfMemory):
		return kindMemory
	}
	return kindOther
}

// runError is a run's error: the cause its context was cancelled with
// (a lost device), else err.
func runError(ctx context.Context, err error) error {
	if c := context.Cause(ctx); c != nil && !errors.Is(c, context.Canceled) {
		return c
	}
	return err
}
