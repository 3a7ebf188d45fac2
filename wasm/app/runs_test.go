package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"nnst/core/nnst"
	"nnst/wasm/webgpu"
)

// The page's settings, read back by the worker, are the mode's defaults;
// the test hooks change only the steps and scales.
func TestRunOptions(t *testing.T) {
	for _, mode := range modes {
		for _, size := range append(sizes, 64) {
			r := newRunOptions(mode, size, hooks{})
			if r.Alpha != defaultAlpha() {
				t.Errorf("%s at %d: alpha %g, want the slider's default %g", mode, size, r.Alpha, defaultAlpha())
			}
			o, err := r.options()
			if err != nil {
				t.Fatal(err)
			}
			if want := modeOptions(mode, size); o != want {
				t.Errorf("%s at %d: %+v, want %+v", mode, size, o, want)
			}
			o, _ = newRunOptions(mode, size, hooks{steps: 2, scales: 3, size: 64}).options()
			want := modeOptions(mode, size)
			want.Steps, want.Scales = 2, 3
			if o != want {
				t.Errorf("%s at %d with hooks: %+v, want %+v", mode, size, o, want)
			}
		}
	}
	if o := modeOptions(nnst.ModeBest, 1024); o.Scales != 5 || o.Size != 1024 {
		t.Errorf("best at 1024: %+v, want the high-res defaults", o)
	}
	if _, err := (runOptions{Mode: "slow", Size: 256}).options(); err == nil {
		t.Error("an unknown mode was accepted")
	}
}

func TestSmallerSize(t *testing.T) {
	for size, want := range map[int]int{1024: 512, 512: 256, 300: 256, 256: 0, 64: 0} {
		if got := smallerSize(size); got != want {
			t.Errorf("smallerSize(%d) = %d, want %d", size, got, want)
		}
	}
}

func TestEstimate(t *testing.T) {
	r := &readyMsg{Work: map[string]float64{workKey(nnst.ModeBest, 512): 6e12}, Rate: 3e9}
	for _, c := range []struct {
		mode nnst.Mode
		size int
		rate float64
		want time.Duration
	}{
		{nnst.ModeBest, 512, 0, 6000 * time.Second}, // a third of the forward pass's rate
		{nnst.ModeBest, 512, 2e10, 300 * time.Second},
		{nnst.ModeFast, 512, 2e10, 0}, // not counted
	} {
		if got := r.estimate(c.mode, c.size, c.rate); got != c.want {
			t.Errorf("estimate(%s, %d, %g) = %v, want %v", c.mode, c.size, c.rate, got, c.want)
		}
	}
	if got := (&readyMsg{Work: r.Work}).estimate(nnst.ModeBest, 512, 0); got != 0 {
		t.Errorf("with no rate: %v, want 0", got)
	}
}

func TestGPUMaxSize(t *testing.T) {
	fit := nnst.Need{Bytes: 1 << 30, Usage: nnst.Usage{Largest: 100 << 20}}
	big := nnst.Need{Bytes: 9 << 30, Usage: nnst.Usage{Largest: 100 << 20}}
	wide := nnst.Need{Bytes: 1 << 30, Usage: nnst.Usage{Largest: 2 << 30}}
	for _, c := range []struct {
		needs map[int][]nnst.Need
		want  int
	}{
		{map[int][]nnst.Need{512: {fit, fit}, 1024: {fit, fit}}, 1024},
		{map[int][]nnst.Need{512: {fit, fit}, 1024: {fit, big}}, 512},
		{map[int][]nnst.Need{512: {fit, fit}, 1024: {wide, fit}}, 512},
		{map[int][]nnst.Need{512: {fit}, 1024: {fit}}, 256}, // a dry run failed
		{nil, 256},
	} {
		if got := gpuMaxSize(c.needs, 1<<30); got != c.want {
			t.Errorf("gpuMaxSize(%v) = %d, want %d", c.needs, got, c.want)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		err  error
		want errorKind
	}{
		{fmt.Errorf("step 3: %w", nnst.ErrCancelled), kindCancelled},
		{fmt.Errorf("%w: reset", webgpu.ErrDeviceLost), kindDevice},
		{errFaultLost, kindDevice},
		{fmt.Errorf("%w: the GPU could not set aside 2 GiB", webgpu.ErrOutOfMemory), kindMemory},
		{errFaultOOM, kindMemory},
		// Words alone do not make a kind: only the backends' errors do.
		{errors.New("out of memory"), kindOther},
		{errors.New("bad image"), kindOther},
	} {
		if got := kindOf(c.err); got != c.want {
			t.Errorf("kindOf(%v) = %s, want %s", c.err, got, c.want)
		}
	}
}

func TestRunError(t *testing.T) {
	err := fmt.Errorf("final pass: %w", nnst.ErrCancelled)
	if got := runError(context.Background(), err); got != err {
		t.Errorf("a run not cancelled: %v", got)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(nil) // the user's cancel
	if got := runError(ctx, err); got != err {
		t.Errorf("a cancelled run: %v, want %v", got, err)
	}
	ctx, cancel = context.WithCancelCause(context.Background())
	cancel(errFaultLost)
	if got := runError(ctx, err); got != errFaultLost || kindOf(got) != kindDevice {
		t.Errorf("a run whose device was lost: %v, want %v", got, errFaultLost)
	}
}
