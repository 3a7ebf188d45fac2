package main

import (
	"context"
	"fmt"
	"strconv"

	"nnst/core/nnst"
	"nnst/wasm/webgpu"
)

// hooks are test settings from the page address
// (?size=64&steps=2&scales=2&half=1&backend=cpu&fault=lost-twice); half is Fast's
// steps at half the size (-1: none).
type hooks struct {
	size, steps, scales, half int
	backend                   string // "cpu" or "webgpu"
	fault                     fault  // the first run fails this way
	again                     fault  // and the first resumed run this way
}

// parseHooks reads the hooks from the address's query; get returns a
// parameter and whether it is there. Values out of range are ignored.
func parseHooks(get func(string) (string, bool)) hooks {
	num := func(k string, lo, hi int) int {
		v, ok := get(k)
		if !ok {
			return 0
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return 0
		}
		return n
	}
	h := hooks{size: num("size", nnst.MinSize, 1024), steps: num("steps", 1, 1000), scales: num("scales", 1, 8), half: num("half", -1, 1000)}
	if b, _ := get("backend"); b == "cpu" || b == "webgpu" {
		h.backend = b
	}
	if f, _ := get("fault"); fault(f).valid() {
		h.fault = fault(f)
	}
	return h
}

// A fault makes a run fail the way a crashed worker, a lost GPU device or
// a GPU without the memory would. The page sends it with the first run;
// the worker's run path meets it only through inject. A crash or a lost
// device strikes mid-run, after the first checkpoint (a finished scale, or
// Fast's match), so that the page has a stage to resume from.
type fault string

const (
	faultCrash fault = "crash" // the worker dies at the report after the first checkpoint
	faultLost  fault = "lost"  // the GPU device is lost at the report after the first checkpoint
	faultOOM   fault = "oom"   // the memory check before the run fails
	// As lost, and the resumed run's device is lost again (lost-soon).
	faultLostTwice fault = "lost-twice"
	faultLostSoon  fault = "lost-soon" // the GPU device is lost at the run's first report
)

func (f fault) valid() bool {
	return f == faultCrash || f == faultLost || f == faultOOM || f == faultLostTwice
}

// again is the fault of the first resumed run after a run with f.
func (f fault) again() fault {
	if f == faultLostTwice {
		return faultLostSoon
	}
	return ""
}

// runHooks are the steps of a worker's run a fault can break: the memory
// check before it and the progress report.
type runHooks struct {
	reserve  func() error
	progress func(nnst.Progress)
}

// Errors injected by faults, as the backends would report them.
var (
	errFaultLost = fmt.Errorf("%w (injected by ?fault=lost)", webgpu.ErrDeviceLost)
	errFaultOOM  = fmt.Errorf("%w (injected by ?fault=oom)", webgpu.ErrOutOfMemory)
)

// inject returns h with the fault in place; cancel ends the run with a
// cause. No fault leaves h as it is.
func (f fault) inject(h runHooks, cancel context.CancelCauseFunc) runHooks {
	saved := false
	strike := func(p nnst.Progress) bool { // after the first checkpoint
		if saved {
			return true
		}
		saved = p.Checkpoint != nil
		return false
	}
	switch next := h.progress; f {
	case faultCrash:
		h.progress = func(p nnst.Progress) {
			if strike(p) {
				panic("crash injected by ?fault=crash")
			}
			next(p)
		}
	case faultLost, faultLostTwice:
		h.progress = func(p nnst.Progress) {
			if strike(p) {
				cancel(errFaultLost)
			}
			next(p)
		}
	case faultLostSoon:
		h.progress = func(p nnst.Progress) {
			cancel(errFaultLost)
			next(p)
		}
	case faultOOM:
		h.reserve = func() error { return errFaultOOM }
	}
	return h
}
