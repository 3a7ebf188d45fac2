package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
	"nnst/wasm/webgpu"
)

// modes are the modes the page offers; sizes its output sizes.
var (
	modes = []nnst.Mode{nnst.ModeFast, nnst.ModeBest}
	sizes = []int{256, 512, 1024, 2048, 4096}
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
	r.HalfSteps = h.half
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
	o.Fast.HalfSteps = r.HalfSteps
	return o, nil
}

// smallerSize is the next output size below size the page offers, or 0.
func smallerSize(size int) int {
	for i := len(sizes) - 1; i >= 0; i-- {
		if sizes[i] < size {
			return sizes[i]
		}
	}
	return 0
}

// smallerFit is the largest size below size whose run needs less memory
// than one at size (need: a dry run's bytes), and its bytes; 0 if none.
// Fast needs as much at every size from 512 px up.
func smallerFit(size int, need func(size int) (int64, error)) (int, int64) {
	top, terr := need(size)
	for s := smallerSize(size); s > 0; s = smallerSize(s) {
		if b, err := need(s); err == nil && (terr != nil || b < top) {
			return s, b
		}
	}
	return 0, 0
}

// workKey names a run's work in readyMsg.Work.
func workKey(mode nnst.Mode, size int) string { return fmt.Sprintf("%s-%d", mode, size) }

// estimate is how long a run of mode at size takes: the work a dry run
// counted over rate, the operations per second measured on this backend
// by earlier runs (0: none yet), and the host's share. 0 when unknown.
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
	return time.Duration(work/rate*float64(time.Second)) + r.hostTime(size)
}

// hostTime is the host's share of a run at size (hostSeconds): Host,
// timed at 256 px, times the pixels.
func (r *readyMsg) hostTime(size int) time.Duration {
	f := float64(size) / 256
	return time.Duration(float64(r.Host) * f * f)
}

// runRate is the operations per second of a run of flops that took run,
// the host's share at size left out (at most three quarters of it).
func (r *readyMsg) runRate(flops float64, run time.Duration, size int) float64 {
	return flops / max(run-r.hostTime(size), run/4).Seconds()
}

// gpuBudget is the memory a run may plan for on a real adapter. WebGPU does
// not reveal how much memory a GPU has; 8 GiB fits most desktop GPUs.
// Before each run the worker asks the device for the run's peak, counted by
// a dry run (Preparer.Reserve), and offers a smaller size when it is refused;
// a run that still runs out of memory shows a message and a retry. A size
// is also offered only if its largest buffer fits the device's buffer
// limits.
const gpuBudget = 8 << 30

// cpuMaxSize is the largest output on the CPU path in wasm, where a run
// holds its images and the backend's tensors in the worker's WebAssembly
// memory (4 GiB at most): Fast up to it (above 512 px its passes run at
// 512 px, and the print size's images stay on the host); cpuSizes are each
// mode's largest there (Best takes hours above 512 px).
const cpuMaxSize = 2048

var cpuSizes = map[nnst.Mode]int{nnst.ModeFast: cpuMaxSize, nnst.ModeBest: 512}

// A limitKind says why a mode is not offered at a size.
type limitKind string

const (
	limitMemory limitKind = "memory" // the run needs more GPU memory than gpuBudget
	limitBuffer limitKind = "buffer" // a buffer is larger than the device allows
	limitCPU    limitKind = "cpu"    // above cpuSizes on the CPU path
	limitFailed limitKind = "failed" // the dry run failed
)

// A limit is why a mode is not offered at a size: its kind, what a run
// needs (the memory at the peak, or the largest buffer; 0: not counted)
// and what the device allows.
type limit struct {
	Kind        limitKind
	Need, Allow int64
}

// plan counts each mode at each size with count, a dry run of its options
// on the backend (WebGPU if gpu, whose buffers hold binding bytes at most),
// and returns the work of each (by workKey) and why a mode cannot run at a
// size (absent: it can). The smallest size is always offered: the memory
// check before a run has the last word. On WebGPU, sizes above one a mode
// cannot run at are not counted (its needs grow with the size); on the CPU,
// sizes above cpuMaxSize.
func plan(gpu bool, binding int64, count func(nnst.Options) (nnst.Need, error)) (map[string]float64, map[string]limit) {
	work, limits := map[string]float64{}, map[string]limit{}
	for _, mode := range modes {
		var over limitKind
		for i, size := range sizes {
			k := workKey(mode, size)
			switch {
			case over != "":
				limits[k] = limit{Kind: over}
				continue
			case !gpu && size > cpuMaxSize:
				limits[k] = limit{Kind: limitCPU}
				continue
			}
			n, err := count(modeOptions(mode, size))
			if err != nil {
				if i > 0 {
					limits[k] = limit{Kind: limitFailed}
				}
				continue
			}
			work[k] = n.Flops
			var l limit
			switch {
			case i == 0:
			case !gpu && size > cpuSizes[mode]:
				l = limit{limitCPU, n.Bytes, 0}
			case gpu && n.Largest > binding:
				l = limit{limitBuffer, n.Largest, binding}
			case gpu && n.Bytes > gpuBudget:
				l = limit{limitMemory, n.Bytes, gpuBudget}
			}
			if l.Kind != "" {
				limits[k] = l
				if gpu {
					over = l.Kind
				}
			}
		}
	}
	return work, limits
}

// offered says whether the page offers mode at size: the limits allow it,
// or size is a test size they do not list.
func (r *readyMsg) offered(mode nnst.Mode, size int) bool {
	_, limited := r.Limits[workKey(mode, size)]
	return !limited
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

// hostSeconds times, on an n x n image, what a run does on the host at
// the output size, outside the work dry runs count: Fast's vote of the
// style's pixels (a 64 x 64 field, as its 256 px match makes), its
// pyramid bands split off and added back, and the colour matching. It
// grows with the pixels: the page scales it to each size.
func hostSeconds(n int) float64 {
	img := tensor.New(3, n, n)
	for i := range img.Data {
		img.Data[i] = float32(i%251) / 251
	}
	start := time.Now()
	const q = 64
	v := nnst.Vote(img, [][2]int{{q, q}}, make([]int32, q*q), q, q, n, n, 0.5)
	small := ops.Resize(v, n/2, n/2, false)
	v = ops.Axpby(1, v, -1, ops.Resize(small, n, n, false))
	v = ops.Axpby(1, v, 1, ops.Resize(small, n, n, false))
	nnst.ColorMatch(img, img, v)
	return time.Since(start).Seconds()
}

// resumeState is what the page keeps of the running run to resume it after
// a fault (resume.go).
type resumeState struct {
	ck      *checkpoint // the last checkpoint (nil: none yet)
	fresh   bool        // the attempt now running went past the stage it resumed from
	sig     string      // the inputs the run was started with
	pending string      // why the run stopped, while the engine restarts to resume it
	note    string      // what happened, for the result's message ("" none)
}

// keep holds a checkpoint the worker sent. One no later than the last (a
// resumed Fast run offers its vote again) is not progress: a fault after
// it is not resumed by itself, so a fault that recurs cannot loop.
func (rs *resumeState) keep(ck *checkpoint) {
	if ck == nil {
		return
	}
	if rs.ck == nil || ck.Scale > rs.ck.Scale {
		rs.fresh = true
	}
	rs.ck = ck
}
