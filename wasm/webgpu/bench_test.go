//go:build js && wasm

package webgpu

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// TestBench times conv layers and one optimisation step (VGG19 widths,
// random weights). It runs only with NNST_BENCH=1 (make bench-webgpu);
// NNST_TEST_SIZE sets the step's size (256).
func TestBench(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	for _, size := range benchSizes() {
		benchSize(t, size)
	}
}

// benchSizes returns the sizes of the benchmarks: NNST_BENCH_SIZES (a
// comma-separated list), else NNST_TEST_SIZE, else 256; sizes under 32
// and non-numbers are left out.
func benchSizes() []int {
	var sizes []int
	for _, f := range strings.Split(cmp.Or(os.Getenv("NNST_BENCH_SIZES"), os.Getenv("NNST_TEST_SIZE"), "256"), ",") {
		if n, err := strconv.Atoi(f); err == nil && n >= 32 {
			sizes = append(sizes, n)
		}
	}
	return sizes
}

// syncGPU waits for the work that writes x by reading 4 bytes of it.
func syncGPU(t *testing.T, x nnst.Tensor) {
	t.Helper()
	if _, err := gpu.readBytes(x.(*Tensor).buf, 4); err != nil {
		t.Fatal(err)
	}
}

// benchSize times conv forward and backward-data on VGG's shapes at size
// px (conv1_1 to conv4_2, the repeated shapes once) and one
// hypercolumn-loss step.
func benchSize(t *testing.T, size int) {
	fmt.Printf("| kernel | shape | ms, new output buffer each | ms, output reused | GPU ms (timestamps) | GFLOP/s (reused; direct conv's count) |\n|---|---|---|---|---|---|\n")
	defer func() { gpu.wino, gpu.retain = winoDefault, retainBytes }()
	for _, c := range [][3]int{{3, 64, size}, {64, 64, size}, {64, 128, size / 2}, {128, 128, size / 2}, {128, 256, size / 4}, {256, 256, size / 4}, {256, 512, size / 8}, {512, 512, size / 8}} {
		cin, cout, hw := c[0], c[1], c[2]
		m := oneConvModel(cin, cout)
		x := gpu.Upload(tensor.New(cin, hw, hw)).(*Tensor)
		g := gpu.Upload(tensor.New(cout, hw, hw)).(*Tensor)
		// The direct kernel with each K step, then Winograd's where it runs.
		for _, wino := range []bool{false, true} {
			gpu.wino = wino
			if err := gpu.LoadModel(m); err != nil {
				t.Fatal(err)
			}
			cl := gpu.convs[0]
			for _, step := range gpu.convSteps() {
				for _, dir := range []string{"forward", "backward-data"} {
					cw := map[string]convWeights{"forward": cl.fwd, "backward-data": cl.bwd}[dir]
					if wino && !cw.wino {
						continue
					}
					cw.step = step
					ci, co := cin, cout
					if dir != "forward" {
						ci, co = cout, cin
					}
					for _, ns := range []bool{false, true} { // with split K where the grid is small, and without
						if _, _, split, _ := convGrid(hw, hw, ci, co, cw.wino, step); ns && (split == 1 || co <= narrowConv) {
							continue
						}
						cw.nosplit = ns
						name := dir + ", " + kernelName(cw)
						if ns {
							name += ", K not split"
						}
						benchConv(t, name, cin, cout, hw, func() nnst.Tensor {
							if dir == "forward" {
								return gpu.conv(x, cw, cl.bias, cin, cout, true)
							}
							return gpu.conv(g, cw, nil, cout, cin, false)
						})
					}
				}
			}
		}
		gpu.Free(x, g)
	}
	// One hypercolumn-loss step at size px (forward, loss, backward), with
	// and without freed buffers kept past flushes (Backend.retain), with
	// the direct conv kernel only, with the kernels Tune chooses, and with
	// the pool bounded by a run's budget (Reserve's) instead of retain;
	// each block after a step that warms the pool.
	blocks := []struct {
		retain             int64
		wino, tune, budget bool
	}{{retainBytes, true, false, false}, {0, true, false, false}, {retainBytes, false, false, false}, {retainBytes, true, true, false}, {retainBytes, true, false, true}}
	times := make([][]time.Duration, len(blocks))
	var recs []time.Duration
	created, peaks, groups := make([]int64, len(blocks)), make([]int64, len(blocks)), make([]int, len(blocks))
	var nd, nsteps int
	const reps = 5
	for i, bl := range blocks {
		gpu.retain, gpu.wino = bl.retain, bl.wino
		step, done := hypercolumnStep(t, nil, size)
		if bl.tune {
			start := time.Now()
			if err := gpu.Tune(size, size, true); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("step at %d px: Tune chose in %.0f ms: %s\n", size, time.Since(start).Seconds()*1000, gpu.ConvKernels())
		}
		if bl.budget {
			gpu.budget = gpu.alloc + runBytes(t, size, true) - gpu.LiveBytes()
		}
		gpu.ResetPeak()
		for rep := -1; rep < reps; rep++ {
			c0, d0, g0 := gpu.created, gpu.Dispatches(), gpu.groupsMade
			start := time.Now()
			gi := step()
			rec := time.Since(start)
			syncGPU(t, gi)
			el := time.Since(start)
			gpu.Free(gi)
			if rep < 0 {
				continue
			}
			times[i] = append(times[i], el)
			created[i] += gpu.created - c0
			groups[i] += gpu.groupsMade - g0
			if i == 0 {
				recs = append(recs, rec)
				nd += gpu.Dispatches() - d0
				nsteps++
			}
		}
		peaks[i] = gpu.PeakBytes()
		gpu.budget = 0
		done()
	}
	slices.Sort(recs)
	fmt.Printf("step at %d px: %d dispatches, recorded in %.1f ms (median of %d; the GPU waits for most of it)\n", size, nd/nsteps, recs[reps/2].Seconds()*1000, reps)
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
	for i, bl := range blocks {
		slices.Sort(times[i])
		conv := "Winograd's conv where it runs"
		switch {
		case bl.tune:
			conv = "the convs Tune chose"
		case bl.budget:
			conv += ", the pool within a run's budget"
		case !bl.wino:
			conv = "direct conv only"
		}
		fmt.Printf("| step (VGG19 fwd+bwd, fused hypercolumn loss), %s, freed buffers kept %d MiB | %d px | %.0f (median of %d) | peak GPU memory %.0f MiB, %.1f buffers and %.1f bind groups created per step |\n", conv, bl.retain>>20, size, times[i][reps/2].Seconds()*1000, reps, float64(peaks[i])/(1<<20), float64(created[i])/reps, float64(groups[i])/reps)
	}
}

// hypercolumnStep loads m (VGG19 with random weights if nil) and returns
// one hypercolumn-loss step at size px (forward, loss, backward; it
// returns the image's gradient) and what frees its image and target.
func hypercolumnStep(t *testing.T, m *model.Model, size int) (step func() nnst.Tensor, done func()) {
	if m == nil {
		m = model.Random(model.VGG19, 1, 1)
	}
	if err := gpu.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	img := gpu.Upload(smooth(size, size, 3))
	other := gpu.Upload(smooth(size, size, 4))
	tr0 := gpu.Forward(other, false)
	target := gpu.Hypercolumns(tr0.Taps, size/4, size/4)
	gpu.Release(tr0)
	gpu.Free(other)
	step = func() nnst.Tensor {
		tr := gpu.Forward(img, true)
		loss, coef := gpu.HypercolumnLoss(tr.Taps, target)
		taps := tr.Taps
		gi := gpu.Backward(tr, func(l int) nnst.Tensor { return gpu.HypercolumnLossBackward(coef, taps, target, l) })
		gpu.Free(coef, loss)
		return gi
	}
	return step, func() { gpu.Free(img, target) }
}

// setSteps sets the K step of every conv of the loaded model.
func setSteps(step int) {
	for _, c := range gpu.convs {
		if c != nil {
			c.fwd.step, c.bwd.step = step, step
		}
	}
}

// benchConv times run (one conv dispatch) and prints a row: each dispatch
// into the buffer the one before freed (the pool's reuse within a run's
// budget: the kernel alone), by the wall clock and by the GPU's
// timestamps, then each with a new output buffer (created, and cleared by
// the browser, as a forward pass without a budget does).
func benchConv(t *testing.T, kernel string, cin, cout, hw int, run func() nnst.Tensor) {
	y := run()
	syncGPU(t, y)
	gpu.Free(y)
	reps := max(3, min(20, 4<<20/(hw*hw)))
	// Reused first, so that no freed batch of new buffers is still being
	// destroyed while it runs; within a budget, as in a run, so that Free
	// keeps a big output for the next dispatch (without one, a 64 MiB
	// output at 512 px passes the retained bytes: Free flushes and
	// destroys it, and each dispatch creates and clears a new one).
	gpu.budget = gpu.alloc + 1<<30
	reused := timeReused(t, run, reps)
	// The GPU's own time for the same batch (timestamp queries), as Tune
	// measures it.
	gpuTime := "-"
	if gpu.Info.Timestamps {
		ts, err := gpu.timeBatches([]func(){func() { gpu.Free(run()) }}, []int{reps})
		if err != nil {
			t.Fatal(err)
		}
		gpuTime = fmt.Sprintf("%.2f", ts[0].Seconds()*1000/float64(reps))
	}
	gpu.budget = 0
	gpu.trim(true)
	start := time.Now()
	var ys []nnst.Tensor
	for i := 0; i < reps; i++ {
		ys = append(ys, run())
	}
	syncGPU(t, ys[reps-1])
	fresh := time.Since(start) / time.Duration(reps)
	gpu.Free(ys...)
	gpu.Flush()
	flop := 2 * float64(cin*cout*9*hw*hw)
	fmt.Printf("| conv3x3 %s | %d->%d, %dx%d | %.2f | %.2f | %s | %.0f |\n", kernel, cin, cout, hw, hw, fresh.Seconds()*1000, reused.Seconds()*1000, gpuTime, flop/reused.Seconds()/1e9)
}

// timeReused returns the wall time per dispatch of reps runs of run (one
// conv dispatch) in a row, each output freed for the next to reuse, from
// recording to a readback of the last output, after one run that warms.
func timeReused(t *testing.T, run func() nnst.Tensor, reps int) time.Duration {
	y := run()
	syncGPU(t, y)
	gpu.Free(y)
	start := time.Now()
	for range reps - 1 {
		gpu.Free(run())
	}
	y = run()
	syncGPU(t, y)
	el := time.Since(start) / time.Duration(reps)
	gpu.Free(y)
	return el
}

// oneConvModel is a model of one cin -> cout conv with fixed weights, for
// timing a conv shape.
func oneConvModel(cin, cout int) *model.Model {
	w := make([]float32, cout*cin*9)
	for i := range w {
		w[i] = float32(i%7) * 0.01
	}
	return &model.Model{Layers: []model.Layer{{Kind: "conv", Name: "conv1_1", Conv: &model.Conv{In: cin, Out: cout, Weight: w, Bias: make([]float32, cout)}}}, Taps: []string{"relu1_1"}, Input: model.Torchvision}
}

// TestPeakStages runs the whole pipeline at NNST_PEAK_SIZE px with VGG19's
// widths (random weights), rotations on, NNST_PEAK_STEPS steps per scale,
// and prints the GPU memory peak of each stage next to Estimate's. A
// benchmark for a real GPU (make bench-webgpu with NNST_PEAK_SIZE set).
// NNST_PEAK_DRY=1 skips the kernels (dispatches are not run): the same
// buffers are allocated and freed, so the tracked peak is the run's, on an
// adapter too slow to compute the run. NNST_PEAK_MODE=fast runs Fast;
// NNST_PEAK_BINDING=N holds tensors in parts of N MiB at most.
func TestPeakStages(t *testing.T) {
	size, err := strconv.Atoi(os.Getenv("NNST_PEAK_SIZE"))
	if err != nil {
		t.Skip("set NNST_PEAK_SIZE")
	}
	steps := 2
	if s, err := strconv.Atoi(os.Getenv("NNST_PEAK_STEPS")); err == nil {
		steps = s
	}
	m := model.Random(model.VGG19, 1, 7)
	mode := nnst.ModeBest
	if os.Getenv("NNST_PEAK_MODE") == "fast" {
		mode = nnst.ModeFast
	}
	o := modeOptions(mode, size, true) // as the app runs it
	o.Steps = steps
	s, err := nnst.New(gpu, m)
	if err != nil {
		t.Fatal(err)
	}
	gpu.tracePeak = true
	gpu.dry = os.Getenv("NNST_PEAK_DRY") == "1"
	defer func() { gpu.tracePeak, gpu.dry = false, false }()
	gpu.Flush()
	gpu.trim(true)
	base := gpu.LiveBytes()
	fmt.Printf("weights and other buffers before the run: %.1f MiB\n", float64(base)/(1<<20))
	est := estimate(t, model.Shapes(model.VGG19, 1), o.Mode, size, true).Bytes
	if n, err := strconv.Atoi(os.Getenv("NNST_PEAK_BINDING")); err == nil && n > 0 { // MiB a binding
		full := gpu.binding
		gpu.binding = int64(n) << 20
		defer func() { gpu.binding = full }()
		ne, err := Estimate(model.Shapes(model.VGG19, 1), modeOptions(o.Mode, size, true), size, size, gpu.binding)
		if err != nil {
			t.Fatal(err)
		}
		est = ne.Bytes
		fmt.Printf("bindings of %d MiB: the dry run's largest buffer %.1f MiB\n", n, float64(ne.Largest)/(1<<20))
	}
	if os.Getenv("NNST_PEAK_BUDGET") == "1" { // as after the app's Reserve
		gpu.budget = gpu.alloc + est - base
		defer func() { gpu.budget = 0 }()
	}
	gpu.ResetPeak()
	created, createdBytes, dispatches, flushes := gpu.created, gpu.createdBytes, gpu.dispatchN, gpu.flushes
	last := ""
	stageCreated, stageBytes, stageFlushes, stageGroups := created, createdBytes, flushes, gpu.groupsMade
	start := time.Now()
	sw := size * 4 / 5 // the example pair's shape; NNST_PEAK_SQUARE=1: the worst case
	if os.Getenv("NNST_PEAK_SQUARE") == "1" {
		sw = size
	}
	_, err = s.Run(context.Background(), smooth(size, size, 1), smooth(size, sw, 2), o, func(p nnst.Progress) {
		k := fmt.Sprintf("%s scale %d", p.Stage, p.Scale)
		if k != last {
			fmt.Printf("%6.1fs %-28s peak so far %7.1f MiB, live %7.1f MiB; since the last line %d buffers created (%.0f MiB), %d bind groups, %d submits\n", time.Since(start).Seconds(), k, float64(gpu.PeakBytes()-base)/(1<<20), float64(gpu.LiveBytes()-base)/(1<<20),
				gpu.created-stageCreated, float64(gpu.createdBytes-stageBytes)/(1<<20), gpu.groupsMade-stageGroups, gpu.flushes-stageFlushes)
			fmt.Printf("        at the peak: %s\n", gpu.peakInfo)
			gpu.ResetPeak()
			last = k
			stageCreated, stageBytes, stageFlushes, stageGroups = gpu.created, gpu.createdBytes, gpu.flushes, gpu.groupsMade
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("%6.1fs done: last stage peak %.1f MiB; Estimate at %d px: %.1f MiB; %d buffers created (%.0f MiB, the largest %.1f MiB), %d dispatches in %d submits\n", time.Since(start).Seconds(), float64(gpu.PeakBytes()-base)/(1<<20), size, float64(est)/(1<<20), gpu.created-created, float64(gpu.createdBytes-createdBytes)/(1<<20), float64(gpu.LargestBytes())/(1<<20), gpu.dispatchN-dispatches, gpu.flushes-flushes)
}

// TestBenchTransfer times Upload and Download of relu4_3's size for each
// NNST_BENCH_SIZES input size (what the onnxruntime-web comparison times
// around the forward pass). NNST_BENCH=1 runs it.
func TestBenchTransfer(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	for _, size := range benchSizes() {
		x := tensor.New(512, size/8, size/8)
		var up, down time.Duration
		for range 3 {
			start := time.Now()
			u := gpu.Upload(x)
			syncGPU(t, u)
			up += time.Since(start)
			start = time.Now()
			if _, err := gpu.Download(u); err != nil {
				t.Fatal(err)
			}
			down += time.Since(start)
			gpu.Free(u)
		}
		fmt.Printf("| upload, download | 512x%dx%d (%.1f MiB) | %.1f, %.1f ms |\n", size/8, size/8, float64(len(x.Data)*4)/(1<<20), up.Seconds()*1000/3, down.Seconds()*1000/3)
	}
}

// TestBenchLayers times VGG19's forward pass to relu4_3 layer by layer (a
// readback after each dispatch, so each row includes one round trip), and
// the whole pass without those syncs, at each NNST_BENCH_SIZES size: where
// the time of the onnxruntime-web comparison goes. NNST_BENCH=1 runs it.
func TestBenchLayers(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	m := model.Random(model.VGG19, 1, 3)
	m.Taps = []string{"relu4_3"}
	if err := gpu.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	for _, size := range benchSizes() {
		img := gpu.Upload(smooth(size, size, 5)).(*Tensor)
		// whole returns the time of a pass and of recording it (the host's
		// part: bind groups, encoder calls, buffers).
		var nd int
		var nc int64
		whole := func() (time.Duration, time.Duration) {
			start := time.Now()
			n0, c0 := gpu.Dispatches(), gpu.created
			tr := gpu.Forward(img, false)
			nd = gpu.Dispatches() - n0
			rec := time.Since(start)
			syncGPU(t, tr.Taps[0])
			el := time.Since(start)
			gpu.Release(tr)
			nc = gpu.created - c0
			return el, rec
		}
		// Passes with and without freed buffers kept past flushes, each after
		// a pass that warms the pool.
		retains := []int64{retainBytes, 0}
		ws, rs, ncs := make([][]time.Duration, 2), make([][]time.Duration, 2), make([]int64, 2)
		for i, r := range retains {
			gpu.retain = r
			whole()
			for range 5 {
				w, rec := whole()
				ws[i], rs[i] = append(ws[i], w), append(rs[i], rec)
				ncs[i] = nc
			}
		}
		gpu.retain = retainBytes
		fmt.Println()
		for i, r := range retains {
			slices.Sort(ws[i])
			slices.Sort(rs[i])
			fmt.Printf("%d px: forward to relu4_3 %.2f ms (median of 5, one readback at the end), of which recording the %d dispatches %.2f ms; freed buffers kept %d MiB: %d buffers created per pass\n", size, ws[i][2].Seconds()*1000, nd, rs[i][2].Seconds()*1000, r>>20, ncs[i])
		}
		// Winograd's conv where it runs, then the direct conv only, each
		// with each K step (TK 16 or 32; Winograd's 4 or 8 channels), then
		// as Tune chooses for the forward pass.
		timeWhole := func(conv string) {
			whole()
			var tw []time.Duration
			for range 5 {
				w, _ := whole()
				tw = append(tw, w)
			}
			slices.Sort(tw)
			fmt.Printf("%d px: forward to relu4_3 %.2f ms (median of 5) with %s\n", size, tw[2].Seconds()*1000, conv)
		}
		for _, wino := range []bool{true, false} {
			gpu.wino = wino
			if err := gpu.LoadModel(m); err != nil {
				t.Fatal(err)
			}
			for _, step := range gpu.convSteps() {
				setSteps(step)
				conv := fmt.Sprintf("Winograd's conv where it runs, WC %d", winoWC*step)
				if !wino {
					conv = fmt.Sprintf("the direct conv only, TK %d", 16*step)
				}
				timeWhole(conv)
			}
		}
		gpu.wino = winoDefault
		if err := gpu.LoadModel(m); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := gpu.Tune(size, size, false); err != nil {
			t.Fatal(err)
		}
		tuning := time.Since(start)
		timeWhole(fmt.Sprintf("the kernels Tune chose in %.0f ms (%s)", tuning.Seconds()*1000, gpu.ConvKernels()))
		gpu.budget = gpu.alloc + runBytes(t, size, false) - gpu.LiveBytes()
		timeWhole("those kernels and the pool within a run's budget")
		gpu.budget = 0
		if err := gpu.LoadModel(m); err != nil {
			t.Fatal(err)
		}
		fmt.Printf("\n| layer | output | ms | GFLOP/s |\n|---|---|---|---|\n")
		var sum time.Duration
		for rep := 0; rep < 2; rep++ { // the first pass warms the pipelines
			x := gpu.normalize(img)
			syncGPU(t, x)
			for i := 0; i <= gpu.last; i++ {
				l := gpu.model.Layers[i]
				flop := 0.0
				if l.Kind != "pool" {
					c := gpu.convs[i]
					flop = 2 * float64(c.in*c.out*9*x.h*x.w)
				}
				start := time.Now()
				y := gpu.layer(i, x)
				syncGPU(t, y)
				el := time.Since(start)
				gpu.Free(x)
				x = y
				if rep == 1 {
					sum += el
					gf := "-"
					if flop > 0 {
						gf = fmt.Sprintf("%.1f", flop/el.Seconds()/1e9)
					}
					fmt.Printf("| %s | %dx%dx%d | %.2f | %s |\n", l.Name, y.c, y.h, y.w, el.Seconds()*1000, gf)
				}
			}
			gpu.Free(x)
		}
		fmt.Printf("| sum of the synced layers | | %.2f | |\n", sum.Seconds()*1000)
		gpu.Free(img)
	}
}

// TestBenchProfile times each dispatch of a VGG19 forward pass to relu4_3
// and of one hypercolumn-loss step on the GPU (timestamp queries, each
// dispatch in a pass of its own), at each NNST_BENCH_SIZES size, against
// the wall time: what the GPU spends on the kernels and what goes
// elsewhere. NNST_BENCH=1 runs it; Chromium quantises timestamps to 100 us
// unless it runs with --enable-webgpu-developer-features.
func TestBenchProfile(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	if !gpu.Info.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	for _, size := range benchSizes() {
		fwd := model.Random(model.VGG19, 1, 3)
		fwd.Taps = []string{"relu4_3"}
		if err := gpu.LoadModel(fwd); err != nil {
			t.Fatal(err)
		}
		img := gpu.Upload(smooth(size, size, 5))
		pass := func() {
			tr := gpu.Forward(img, false)
			syncGPU(t, tr.Taps[0])
			gpu.Release(tr)
		}
		pass() // warms the pipelines and the pool
		start := time.Now()
		pass()
		wall := time.Since(start)
		if err := gpu.startProfile(); err != nil {
			t.Fatal(err)
		}
		pass()
		labels, times, err := gpu.stopProfile()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("\n%d px, VGG19 forward to relu4_3: %s\n\n| dispatch | GPU us |\n|---|---|\n", size, profileSummary(labels, times, wall))
		for i, l := range labels {
			fmt.Printf("| %s | %.0f |\n", l, times[i].Seconds()*1e6)
		}
		gpu.Free(img)

		hstep, done := hypercolumnStep(t, nil, size)
		step := func() {
			gi := hstep()
			syncGPU(t, gi)
			gpu.Free(gi)
		}
		step()
		start = time.Now()
		step()
		wall = time.Since(start)
		if err := gpu.startProfile(); err != nil {
			t.Fatal(err)
		}
		step()
		labels, times, err = gpu.stopProfile()
		if err != nil {
			t.Fatal(err)
		}
		done()
		// The step by kernel, the costliest first.
		byName := map[string][2]float64{}
		for i, l := range labels {
			k := strings.Fields(l)[0]
			v := byName[k]
			byName[k] = [2]float64{v[0] + 1, v[1] + times[i].Seconds()*1e6}
		}
		names := slices.Collect(maps.Keys(byName))
		slices.SortFunc(names, func(a, b string) int { return cmp.Compare(byName[b][1], byName[a][1]) })
		fmt.Printf("\n%d px, hypercolumn step: %s\n\n| kernel | dispatches | GPU us |\n|---|---|---|\n", size, profileSummary(labels, times, wall))
		for _, k := range names {
			fmt.Printf("| %s | %.0f | %.0f |\n", k, byName[k][0], byName[k][1])
		}
	}
}

// profileSummary sums a profile's GPU times next to the unprofiled wall time.
func profileSummary(labels []string, times []time.Duration, wall time.Duration) string {
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	return fmt.Sprintf("%d dispatches, %.2f ms on the GPU in all; %.2f ms from recording to the readback without profiling", len(labels), sum.Seconds()*1000, wall.Seconds()*1000)
}

// TestBenchSearch times the nearest-neighbour search on the final pass's
// shapes at 512 px (4096 sampled queries against 4 rotations x 4096 style
// samples, f32 bank; the pass searches ten taps a step, 2688 dimensions in
// all) and a matching pass at 256 px (4096 queries, 16384 rows, fp16 bank
// of 2688-dimensional hypercolumns); on a software adapter 1/64 of the
// queries. NNST_BENCH=1 runs it.
func TestBenchSearch(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	fmt.Printf("| search | queries x rows x dimensions | ms | GFLOP/s |\n|---|---|---|---|\n")
	for _, c := range []struct {
		n, m, d int
		f16     bool
	}{{4096, 16384, 128, false}, {4096, 16384, 256, false}, {4096, 16384, 512, false}, {4096, 16384, 2688, true}} {
		if gpu.Info.Fallback {
			c.n /= 64 // a software adapter would take minutes a search
		}
		k := gpu.allocBank(c.d, c.m, c.f16)
		k.m = c.m // rows as created (zeros): the time does not depend on them
		q := gpu.Upload(randT(c.d, 1, c.n, 11)).(*Tensor)
		run := func() nnst.Tensor {
			idx, sim := gpu.nearest(k, &queries{parts: []*buffer{q.buf}, cols: c.n}, c.n)
			gpu.freeBuf(idx)
			return &Tensor{c: 1, h: 1, w: c.n, buf: sim}
		}
		y := run()
		syncGPU(t, y)
		gpu.Free(y)
		const reps = 5
		start := time.Now()
		var ys []nnst.Tensor
		for range reps {
			ys = append(ys, run())
		}
		syncGPU(t, ys[reps-1])
		el := time.Since(start) / reps
		gpu.Free(ys...)
		bank := "f32"
		if c.f16 {
			bank = "fp16"
		}
		fmt.Printf("| nearest, %s bank | %d x %d x %d | %.2f | %.0f |\n", bank, c.n, c.m, c.d, el.Seconds()*1000, 2*float64(c.n)*float64(c.m)*float64(c.d)/el.Seconds()/1e9)
		gpu.Free(q)
		gpu.freeBank(k)
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestBenchTune compares ways of timing a conv, to check Tune's: batches
// of 1 and of 8 dispatches in a timestamped compute pass of their own
// (Tune's timeBatches), and the wall time of 16 dispatches in a row and a
// sync (TestBench's "output reused"), for conv1_2's and conv3_2's shapes
// at each bench size, direct TK 16 and Winograd WC 4, both passes; then
// steps by each kernel and by Tune's choices.
func TestBenchTune(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	if !gpu.Info.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	defer func() { gpu.wino = winoDefault }()
	fmt.Printf("| shape | kernel | batch of 1, us (3 rounds) | batch of 8, us per dispatch | wall of 16, us per dispatch |\n|---|---|---|---|---|\n")
	for _, size := range benchSizes() {
		for _, c := range [][3]int{{64, 64, size}, {256, 256, size / 4}} {
			cin, cout, hw := c[0], c[1], c[2]
			m := oneConvModel(cin, cout)
			x := gpu.Zeros(cin, hw, hw).(*Tensor)
			g := gpu.Zeros(cout, hw, hw).(*Tensor)
			gpu.wino = true
			if err := gpu.LoadModel(m); err != nil {
				t.Fatal(err)
			}
			cl := gpu.convs[0]
			direct := &convLayer{in: cin, out: cout, conv: cl.conv}
			gpu.uploadConvWeights(direct, false)
			var names []string
			var convs []func() nnst.Tensor
			for _, l := range []*convLayer{direct, cl} {
				fwd, bwd := l.fwd, l.bwd
				names = append(names, "forward, "+kernelName(fwd), "backward-data, "+kernelName(bwd))
				convs = append(convs,
					func() nnst.Tensor { return gpu.conv(x, fwd, cl.bias, cin, cout, true) },
					func() nnst.Tensor { return gpu.conv(g, bwd, nil, cout, cin, false) })
			}
			runs := make([]func(), len(convs))
			for i, c := range convs {
				runs[i] = func() { gpu.Free(c()) }
			}
			one, eight := make([]int, len(runs)), make([]int, len(runs))
			for i := range runs {
				one[i], eight[i] = 1, 8
			}
			var ones [][]time.Duration
			for range 3 {
				ts, err := gpu.timeBatches(runs, one)
				if err != nil {
					t.Fatal(err)
				}
				ones = append(ones, ts)
			}
			ts8, err := gpu.timeBatches(runs, eight)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range convs {
				wall := timeReused(t, c, 16)
				fmt.Printf("| %d->%d, %dx%d | %s | %.0f, %.0f, %.0f | %.0f | %.0f |\n", cin, cout, hw, hw, names[i],
					us(ones[0][i]), us(ones[1][i]), us(ones[2][i]), us(ts8[i])/8, us(wall))
			}
			gpu.freeConvWeights(direct)
			gpu.Free(x, g)
		}
	}
	// Steps within a run's budget (the app's pool) by each default and by
	// Tune's choices, with Tune's times for conv1_2.
	defer func() { gpu.tuneLog = nil }()
	m := model.Random(model.VGG19, 1, 1)
	for _, size := range benchSizes() {
		for _, mode := range []string{"Winograd's where it runs", "direct only", "tuned"} {
			gpu.wino = mode != "direct only"
			step, done := hypercolumnStep(t, m, size)
			if mode == "tuned" {
				clear(gpu.tuned)
				gpu.tuneLog = func(k tuneKey, cands []tuneCand, times []time.Duration) {
					if k.in != 64 || k.out != 64 {
						return
					}
					var s []string
					for i, c := range cands {
						s = append(s, fmt.Sprintf("%s%s%s %.0f", map[bool]string{false: "fwd ", true: "bwd "}[c.bwd], kernelName(convWeights{wino: c.wino, convRun: c.run}), map[bool]string{false: "", true: " unsplit"}[c.run.nosplit], us(times[i])))
					}
					fmt.Printf("%d px, %s: Tune's times for conv1_2, us: %s\n", size, mode, strings.Join(s, ", "))
				}
				start := time.Now()
				if err := gpu.Tune(size, size, true); err != nil {
					t.Fatal(err)
				}
				mode += fmt.Sprintf(" (%.0f ms: %s)", time.Since(start).Seconds()*1000, gpu.ConvKernels())
			}
			gpu.budget = gpu.alloc + runBytes(t, size, true) - gpu.LiveBytes()
			var ts []time.Duration
			for rep := -1; rep < 7; rep++ {
				start := time.Now()
				gi := step()
				syncGPU(t, gi)
				gpu.Free(gi)
				if rep >= 0 {
					ts = append(ts, time.Since(start))
				}
			}
			slices.Sort(ts)
			fmt.Printf("%d px: step within the budget %.1f ms (median of 7, fastest %.1f), %s\n", size, ts[3].Seconds()*1000, ts[0].Seconds()*1000, mode)
			gpu.budget = 0
			done()
		}
	}
	gpu.wino = winoDefault
}

func us(d time.Duration) float64 { return d.Seconds() * 1e6 }
