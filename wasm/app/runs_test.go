package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"nnst/core/model"
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
			o, _ = newRunOptions(mode, size, hooks{steps: 2, scales: 3, half: 1, size: 64}).options()
			want := modeOptions(mode, size)
			want.Steps, want.Scales, want.Fast.HalfSteps = 2, 3, 1
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
	for size, want := range map[int]int{4096: 2048, 2048: 1024, 1024: 512, 512: 256, 300: 256, 256: 0, 64: 0} {
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
	// The host's share grows with the pixels: Fast at 2048 px does the
	// work of 512 px, and 64 times the host's work at 256 px.
	r = &readyMsg{Work: map[string]float64{workKey(nnst.ModeFast, 512): 2e10, workKey(nnst.ModeFast, 2048): 2e10}, Host: time.Second}
	if got, want := r.estimate(nnst.ModeFast, 512, 1e9), 24*time.Second; got != want {
		t.Errorf("Fast at 512 px: %v, want %v", got, want)
	}
	if got, want := r.estimate(nnst.ModeFast, 2048, 1e9), 84*time.Second; got != want {
		t.Errorf("Fast at 2048 px: %v, want %v", got, want)
	}
	// A run's rate leaves the host's share out, but never more than
	// three quarters of the run.
	r.Host = time.Second / 2
	if got := r.runRate(2e10, 52*time.Second, 2048); got != 1e9 {
		t.Errorf("rate of a 2048 px run: %g, want 1e9", got)
	}
	if got := r.runRate(2e10, 40*time.Second, 2048); got != 2e9 {
		t.Errorf("rate of a run faster than its host share: %g, want 2e9", got)
	}
}

// needs are made-up dry runs: Fast holds 1 GiB at every size from 512 px
// up; Best 2 GiB at 512 px, growing fourfold with each size, its largest
// buffer a sixteenth of it.
func needs(o nnst.Options) (nnst.Need, error) {
	n := nnst.Need{Usage: nnst.Usage{Flops: float64(o.Size) * 1e9, Largest: 100 << 20}, Bytes: 1 << 30}
	if o.Size < 512 {
		n.Bytes /= 2
	}
	if o.Mode == nnst.ModeBest {
		f := int64(o.Size/256) * int64(o.Size/256)
		n.Bytes, n.Largest, n.Flops = f<<29, f<<25, n.Flops*100
	}
	return n, nil
}

func TestPlan(t *testing.T) {
	count := func(failAt int) func(nnst.Options) (nnst.Need, error) {
		return func(o nnst.Options) (nnst.Need, error) {
			if o.Size == failAt {
				return nnst.Need{}, errors.New("no")
			}
			return needs(o)
		}
	}
	// What each mode is offered at, and why not, in the order of sizes.
	offers := func(limits map[string]limit, mode nnst.Mode) (got []string) {
		for _, size := range sizes {
			l, ok := limits[workKey(mode, size)]
			switch {
			case !ok:
				got = append(got, "ok")
			case l.Need > 0:
				got = append(got, fmt.Sprintf("%s %d", l.Kind, l.Need>>20))
			default:
				got = append(got, string(l.Kind))
			}
		}
		return got
	}
	for _, c := range []struct {
		name       string
		gpu        bool
		binding    int64
		failAt     int
		fast, best string
		counted    int // dry runs
	}{
		// Best needs 8 GiB at 1024 px, 32 GiB at 2048: Fast goes to 4096,
		// and Best's larger sizes are not counted.
		{"webgpu", true, 4 << 30, 0, "ok ok ok ok ok", "ok ok ok memory 32768 memory", 9},
		// A 256 MiB buffer limit stops Best at 1024 px (its largest is 512 MiB).
		{"small buffers", true, 256 << 20, 0, "ok ok ok ok ok", "ok ok buffer 512 buffer buffer", 8},
		{"a dry run fails", true, 4 << 30, 2048, "ok ok ok failed ok", "ok ok ok failed buffer 8192", 10},
		// The CPU: Fast to 2048, Best to 512, nothing counted above 2048.
		{"cpu", false, 0, 0, "ok ok ok ok cpu", "ok ok cpu 8192 cpu 32768 cpu", 8},
		{"smallest always offered", true, 4 << 30, 256, "ok ok ok ok ok", "ok ok ok memory 32768 memory", 9},
	} {
		n := 0
		work, limits := plan(c.gpu, c.binding, func(o nnst.Options) (nnst.Need, error) { n++; return count(c.failAt)(o) })
		if got := strings.Join(offers(limits, nnst.ModeFast), " "); got != c.fast {
			t.Errorf("%s: Fast %q, want %q", c.name, got, c.fast)
		}
		if got := strings.Join(offers(limits, nnst.ModeBest), " "); got != c.best {
			t.Errorf("%s: Best %q, want %q", c.name, got, c.best)
		}
		if n != c.counted || len(work) != c.counted-btoi(c.failAt > 0)*2 {
			t.Errorf("%s: %d dry runs and %d counts, want %d", c.name, n, len(work), c.counted)
		}
		r := &readyMsg{Limits: limits}
		if r.offered(nnst.ModeBest, 4096) || !r.offered(nnst.ModeFast, 1024) || !r.offered(nnst.ModeBest, 64) {
			t.Errorf("%s: offered does not follow the limits", c.name)
		}
	}
	// The limits name the need and what the device allows.
	_, limits := plan(true, 4<<30, needs)
	if l := limits["best-2048"]; l != (limit{limitMemory, 32 << 30, gpuBudget}) {
		t.Errorf("best at 2048: %+v", l)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Modes are checked with the real dry runs too: on WebGPU, with 1 GiB
// buffers (SwiftShader's) or the default 128 MiB, Fast is offered at every
// size and Best up to 1024 px; on the CPU, Fast to 2048 px and Best to
// 512.
func TestPlanDry(t *testing.T) {
	if testing.Short() {
		t.Skip("dry runs at print sizes")
	}
	m := model.Shapes(model.VGG19, 1)
	// Tensors are split to fit a binding, the network's layers too: Best
	// at 2048 px needs more memory than the page asks for; a 4-channel
	// part of its layers does not fit 16 MiB.
	for _, c := range []struct {
		binding int64
		want    map[string]limitKind
	}{
		{1 << 30, map[string]limitKind{"fast-4096": "", "best-1024": "", "best-2048": limitMemory, "best-4096": limitMemory}},
		{128 << 20, map[string]limitKind{"fast-4096": "", "best-1024": "", "best-2048": limitMemory}},
		{16 << 20, map[string]limitKind{"fast-512": "", "best-512": "", "best-1024": "", "best-2048": limitBuffer}},
	} {
		gpu := func(o nnst.Options) (nnst.Need, error) { return webgpu.Estimate(m, o, o.Size, o.Size, c.binding) }
		_, limits := plan(true, c.binding, gpu)
		for k, want := range c.want {
			if l := limits[k]; l.Kind != want {
				t.Errorf("webgpu, %d MiB buffers: %s is %+v, want %q", c.binding>>20, k, l, want)
			}
		}
	}
	host := func(o nnst.Options) (nnst.Need, error) {
		u, err := nnst.DryRun(m, o, nil, o.Size, o.Size)
		return nnst.Need{Usage: u, Bytes: u.Peak}, err
	}
	work, limits := plan(false, 0, host)
	for k, want := range map[string]limitKind{"fast-2048": "", "fast-4096": limitCPU, "best-512": "", "best-1024": limitCPU} {
		if l := limits[k]; l.Kind != want {
			t.Errorf("cpu: %s is %+v, want %q", k, l, want)
		}
	}
	// Fast's passes run at 512 px at print sizes: the same work.
	if work["fast-2048"] != work["fast-512"] || work["fast-512"] == 0 {
		t.Errorf("cpu: Fast's work at 512 and 2048 px: %g, %g", work["fast-512"], work["fast-2048"])
	}
	// 3.5 GiB of tensors (the style features in fp16), before the heap's
	// slack: more than a tab holds in practice.
	if l := limits["best-1024"]; l.Need < 3<<30 {
		t.Errorf("cpu: Best at 1024 px needs %d MiB, want more than 3 GiB", l.Need>>20)
	}
}

func TestSmallerFit(t *testing.T) {
	need := func(mode nnst.Mode, failAt int) func(int) (int64, error) {
		return func(size int) (int64, error) {
			if size == failAt {
				return 0, errors.New("no")
			}
			o := modeOptions(mode, size)
			n, err := needs(o)
			return n.Bytes, err
		}
	}
	for _, c := range []struct {
		mode         nnst.Mode
		size, failAt int
		want         int
		bytes        int64
	}{
		{nnst.ModeFast, 4096, 0, 256, 1 << 29}, // 2048 to 512 need as much as 4096
		{nnst.ModeBest, 2048, 0, 1024, 8 << 30},
		{nnst.ModeBest, 512, 0, 256, 1 << 29},
		{nnst.ModeBest, 256, 0, 0, 0},
		{nnst.ModeBest, 2048, 2048, 1024, 8 << 30}, // the size's own dry run failed
		{nnst.ModeBest, 2048, 1024, 512, 2 << 30},
	} {
		got, b := smallerFit(c.size, need(c.mode, c.failAt))
		if got != c.want || b != c.bytes {
			t.Errorf("smallerFit(%s at %d, failing at %d) = %d, %d MiB; want %d, %d MiB", c.mode, c.size, c.failAt, got, b>>20, c.want, c.bytes>>20)
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

// Only a checkpoint past the last one counts as progress to resume after.
func TestResumeKeep(t *testing.T) {
	var rs resumeState
	rs.keep(nil)
	if rs.ck != nil || rs.fresh {
		t.Fatalf("no checkpoint: %+v", rs)
	}
	one, two := &checkpoint{Mode: nnst.ModeBest, Scale: 1, Scales: 2}, &checkpoint{Mode: nnst.ModeBest, Scale: 2, Scales: 2}
	rs.keep(one)
	if rs.ck != one || !rs.fresh {
		t.Errorf("the first checkpoint: %+v, want it kept and fresh", rs)
	}
	rs.fresh = false // a resumed attempt starts
	rs.keep(&checkpoint{Mode: nnst.ModeBest, Scale: 1, Scales: 2})
	if rs.fresh {
		t.Error("the same stage again counts as progress")
	}
	rs.keep(two)
	if rs.ck != two || !rs.fresh {
		t.Errorf("a later stage: %+v, want it kept and fresh", rs)
	}
}
