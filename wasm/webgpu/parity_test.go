//go:build js && wasm

package webgpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

var (
	gpu *Backend
	ref *cpu.Backend
)

func TestMain(m *testing.M) {
	var err error
	gpu, err = New(context.Background())
	if err != nil {
		fmt.Println("webgpu:", err)
		os.Exit(1)
	}
	fmt.Printf("adapter: %s; limits %+v\n", gpu.Info.Name(), gpu.Limits)
	ref = cpu.New()
	os.Exit(m.Run())
}

func randT(c, h, w int, seed uint64) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 99))
	t := tensor.New(c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// relErr is max |got - want| / max |want|.
func relErr(got, want *tensor.T) float64 {
	if got.C != want.C || got.H != want.H || got.W != want.W {
		return math.Inf(1)
	}
	var d, m float64
	for i, w := range want.Data {
		d = max(d, math.Abs(float64(got.Data[i])-float64(w)))
		m = max(m, math.Abs(float64(w)))
	}
	if m == 0 {
		return d
	}
	return d / m
}

func down(t *testing.T, x nnst.Tensor) *tensor.T {
	t.Helper()
	h, err := gpu.Download(x)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func cpuT(x nnst.Tensor) *tensor.T { return x.(cpu.T).T }

func check(t *testing.T, what string, got nnst.Tensor, want *tensor.T, tol float64) {
	t.Helper()
	g := down(t, got)
	if e := relErr(g, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.1g (shape %v vs %v)", what, e, tol, g, want)
	}
}

func TestAdapter(t *testing.T) {
	if gpu.Info.Name() == "" {
		t.Error("empty adapter name")
	}
	if gpu.Limits.MaxStorageBufferBindingSize < 128<<20 {
		t.Errorf("maxStorageBufferBindingSize %d: the adapter's limits were not requested", gpu.Limits.MaxStorageBufferBindingSize)
	}
	t.Logf("adapter %q fallback=%v", gpu.Info.Name(), gpu.Info.Fallback)
}

// TestRetain checks the pool's retention: at a flush it keeps the most
// recently freed buffers up to Backend.retain bytes, a new tensor of a
// kept size reuses one, and Idle destroys them all.
func TestRetain(t *testing.T) {
	gpu.Flush()
	gpu.trim(true)
	defer func() { gpu.big, gpu.retain = bigBuf, retainBytes; gpu.Flush(); gpu.trim(true) }()
	gpu.big, gpu.retain = 1<<20, 3<<20
	a0 := gpu.alloc
	const mib = 1 << 18 // float32s
	x := gpu.Zeros(1, 1, mib)
	gpu.Free(x)
	gpu.Flush()
	y, z := gpu.Zeros(1, 1, 2*mib), gpu.Zeros(1, 1, 2*mib)
	gpu.Free(y, z)
	gpu.Flush()
	// y or z (the most recent) fits, the other does not, x still does.
	if gpu.kept != 3<<20 || gpu.alloc-a0 != 3<<20 {
		t.Fatalf("kept %d bytes, %d allocated; want 3 MiB of each", gpu.kept, gpu.alloc-a0)
	}
	c0 := gpu.created
	w := gpu.Zeros(1, 1, 2*mib)
	if gpu.created != c0 || gpu.kept != 1<<20 {
		t.Errorf("a kept size was created anew (%d buffers), or kept is %d bytes, want 1 MiB", gpu.created-c0, gpu.kept)
	}
	gpu.Free(w)
	gpu.Idle()
	if gpu.kept != 0 || gpu.alloc != a0 {
		t.Errorf("after Idle: kept %d bytes, %d allocated beyond the start", gpu.kept, gpu.alloc-a0)
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestBudget checks the pool with a budget (Reserve's): a repeated step
// reuses its buffers, flushes destroy nothing, a buffer that would pass
// the budget takes a pooled one up to twice its size or else destroys the
// least recently freed ones first.
func TestBudget(t *testing.T) {
	gpu.Flush()
	gpu.trim(true)
	defer func() { gpu.budget = 0; gpu.Flush(); gpu.trim(true) }()
	a0 := gpu.alloc
	const mib = 1 << 18 // float32s
	if err := gpu.Reserve(7 << 20); err != nil {
		t.Fatal(err)
	}
	if gpu.budget != a0+7<<20 {
		t.Fatalf("budget %d after Reserve(7 MiB), want %d", gpu.budget, a0+7<<20)
	}
	gpu.ResetPeak()
	// Buffers of 2, 1 and 3 MiB, at most 4 MiB live, 6 MiB allocated.
	step := func() {
		x, y := gpu.Zeros(1, 1, 2*mib), gpu.Zeros(1, 1, mib)
		gpu.Free(x)
		z := gpu.Zeros(1, 1, 3*mib)
		gpu.Free(y, z)
		gpu.Flush()
	}
	step()
	c0 := gpu.created
	step()
	if gpu.created != c0 || gpu.alloc-a0 != 6<<20 {
		t.Errorf("the second step created %d buffers, %d bytes allocated; want none and 6 MiB", gpu.created-c0, gpu.alloc-a0)
	}
	// 3.5 MiB more (no pooled buffer that big): the 2 and 1 MiB buffers
	// go (freed first), 3 MiB stays.
	w := gpu.Zeros(1, 1, 7*mib/2)
	if gpu.alloc-a0 != 13<<19 || len(gpu.pool[3<<20]) != 1 || len(gpu.pool[2<<20]) != 0 || len(gpu.pool[1<<20]) != 0 {
		t.Errorf("after evicting: %d bytes allocated (want 6.5 MiB), pooled 3 MiB %d, 2 MiB %d, 1 MiB %d (want 1, 0, 0)",
			gpu.alloc-a0, len(gpu.pool[3<<20]), len(gpu.pool[2<<20]), len(gpu.pool[1<<20]))
	}
	if gpu.peak > gpu.budget {
		t.Errorf("peak %d passed the budget %d", gpu.peak, gpu.budget)
	}
	gpu.Free(w)
	// Under pressure a pooled buffer up to twice the size serves: with
	// 3 MiB pooled and a 4 MiB budget, 2 MiB come from the 3 MiB buffer.
	gpu.Idle()
	gpu.budget = a0 + 4<<20
	gpu.Free(gpu.Zeros(1, 1, 3*mib))
	c0 = gpu.created
	x := randT(1, 1, 2*mib, 5)
	gx := gpu.Upload(x)
	if gpu.created != c0 || gpu.alloc-a0 != 3<<20 || gx.(*Tensor).buf.size != 3<<20 {
		t.Errorf("under pressure: %d buffers created, %d bytes allocated; want the 3 MiB buffer reused", gpu.created-c0, gpu.alloc-a0)
	}
	check(t, "a tensor in a larger pooled buffer", gx, x, 0)
	gpu.Free(gx)
	// Without pressure sizes stay exact.
	gpu.Free(gpu.Zeros(1, 1, mib))
	if gpu.created != c0+1 {
		t.Errorf("without pressure: %d buffers created, want 1", gpu.created-c0)
	}
	gpu.Idle()
	if gpu.budget != 0 || gpu.alloc != a0 {
		t.Errorf("after Idle: budget %d, %d bytes allocated beyond the start", gpu.budget, gpu.alloc-a0)
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteOrdered checks that a write while commands are recorded lands
// after them: here into a pooled buffer that a recorded dispatch reads.
func TestWriteOrdered(t *testing.T) {
	const n = 3001 // a size no other test pools
	x := gpu.Zeros(1, 1, n).(*Tensor)
	gpu.Flush()
	gpu.fill(x.buf, n, 1)
	y := gpu.Axpby(1, x, 0, nil) // y = x, recorded, not submitted
	xb := x.buf
	gpu.Free(x)
	z := gpu.tensor(1, 1, n)
	if z.buf != xb {
		t.Fatal("the pool did not hand back the freed buffer")
	}
	twos := tensor.New(1, 1, n)
	ones := tensor.New(1, 1, n)
	for i := range twos.Data {
		twos.Data[i], ones.Data[i] = 2, 1
	}
	gpu.write(z.buf, floatBytes(twos.Data))
	check(t, "the dispatch recorded before the write", y, ones, 0)
	check(t, "the written buffer", z, twos, 0)
	gpu.Free(y, z)
}

// TestProfile checks the benches' per-dispatch GPU timer on two dispatches
// long enough for Chromium's 100 us timestamp quantum.
func TestProfile(t *testing.T) {
	if !gpu.Info.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	x := gpu.Zeros(1, 1, 1<<22)
	if err := gpu.startProfile(); err != nil {
		t.Fatal(err)
	}
	y := gpu.Axpby(2, x, 0, nil)
	z := gpu.Axpby(1, y, 1, x)
	labels, times, err := gpu.stopProfile()
	gpu.Free(x, y, z)
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != 2 || !strings.HasPrefix(labels[0], "axpby ") || !strings.HasPrefix(labels[1], "axpby ") {
		t.Fatalf("labels %q, want two axpby dispatches", labels)
	}
	if times[0]+times[1] <= 0 {
		t.Errorf("GPU times %v, want some", times)
	}
	t.Logf("%q: %v", labels, times)
}

// TestReadStage checks readbacks of growing and shrinking sizes through
// the kept staging buffer.
func TestReadStage(t *testing.T) {
	for i, n := range []int{256, 3 << 18, 100, 5 << 18} {
		x := randT(1, 1, n, uint64(i))
		g := gpu.Upload(x)
		got, err := gpu.Download(g)
		gpu.Free(g)
		if err != nil {
			t.Fatal(err)
		}
		for j := range x.Data {
			if got.Data[j] != x.Data[j] {
				t.Fatalf("%d floats: element %d is %g, want %g", n, j, got.Data[j], x.Data[j])
			}
		}
	}
	if gpu.stageBusy || gpu.stageSize < 5<<20 {
		t.Errorf("staging buffer of %d bytes, busy %v; want at least 5 MiB, not busy", gpu.stageSize, gpu.stageBusy)
	}
	gpu.Idle()
	if gpu.stageSize != 0 {
		t.Errorf("Idle kept the staging buffer (%d bytes)", gpu.stageSize)
	}
}

// TestBindGroups checks the cached bind groups: dispatches of one kernel
// on the same buffers in one submit share one, each with its own uniforms
// (the dynamic offset); a new buffer gets a new one.
func TestBindGroups(t *testing.T) {
	z := gpu.Zeros(3, 5, 4).(*Tensor)
	gpu.Flush()
	made := gpu.groupsMade
	n := z.n()
	want := tensor.New(3, 5, 4)
	for i := range 3 { // fill the first n/(i+1) elements with i+1
		gpu.fill(z.buf, n/(i+1), float32(i+1))
		for j := range n / (i + 1) {
			want.Data[j] = float32(i + 1)
		}
	}
	check(t, "three fills in one submit", z, want, 0)
	if d := gpu.groupsMade - made; d != 0 {
		t.Errorf("%d bind groups made for 3 dispatches on the same buffer, want 0 (Zeros made it)", d)
	}
	x := randT(3, 5, 4, 3)
	gx := gpu.Upload(x).(*Tensor)
	made = gpu.groupsMade
	gpu.fill(gx.buf, 7, -1)
	copy(x.Data, []float32{-1, -1, -1, -1, -1, -1, -1})
	check(t, "a fill of another buffer", gx, x, 0)
	if d := gpu.groupsMade - made; d != 1 {
		t.Errorf("%d bind groups made for another buffer, want 1", d)
	}
	gpu.Free(gx, z)
}

// TestStepBindGroups checks that a repeated optimisation step (dry: the
// kernels' workgroups are not run) meets the buffers of the step before in
// the same places: it creates no buffers and no bind groups.
func TestStepBindGroups(t *testing.T) {
	gpu.dry = true
	defer func() { gpu.dry = false }()
	hstep, done := hypercolumnStep(t, tinyModel(), 40)
	step := func() {
		gpu.Free(hstep())
		gpu.Flush()
	}
	step()
	step()
	made, created := gpu.groupsMade, gpu.created
	step()
	if gpu.groupsMade != made || gpu.created != created {
		t.Errorf("a repeated step made %d bind groups and %d buffers, want none", gpu.groupsMade-made, gpu.created-created)
	}
	done()
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

// kernelName names the kernel that runs cw: "TK 16", "Winograd WC 4".
func kernelName(cw convWeights) string {
	if cw.wino {
		return fmt.Sprintf("Winograd WC %d", winoWC*cw.step)
	}
	return fmt.Sprintf("TK %d", 16*cw.step)
}

// tinyModel is VGG19's layout with 1/16 of the channels.
func tinyModel() *model.Model { return model.Random(model.VGG19, 16, 3) }

// loadBoth loads m into the GPU backend and the CPU reference.
func loadBoth(t *testing.T, m *model.Model) {
	t.Helper()
	if err := gpu.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	if err := ref.LoadModel(m); err != nil {
		t.Fatal(err)
	}
}

// hyperTaps are random taps for a 32 x 28 image, some smaller and some
// larger than an 8 x 7 grid, with odd channel counts (fp16 words shared by
// two taps).
func hyperTaps(seed uint64) []*tensor.T {
	shapes := [][3]int{{4, 32, 28}, {3, 32, 28}, {5, 16, 14}, {8, 8, 7}, {9, 4, 3}, {6, 4, 3}}
	var ts []*tensor.T
	for i, s := range shapes {
		x := randT(s[0], s[1], s[2], seed+uint64(i))
		for j := range x.Data {
			x.Data[j] = max(x.Data[j]+0.5, 0) // like ReLU outputs
		}
		ts = append(ts, x)
	}
	return ts
}

func upAll(be nnst.Backend, ts []*tensor.T) []nnst.Tensor {
	var out []nnst.Tensor
	for _, x := range ts {
		out = append(out, be.Upload(x))
	}
	return out
}

// TestBankAddHypercolumns compares a bank packed from taps with one packed
// from the materialised hypercolumns, row by row, over several parts.
func TestBankAddHypercolumns(t *testing.T) {
	taps := upAll(gpu, hyperTaps(92))
	const h, w = 8, 7
	hc := gpu.Hypercolumns(taps, h, w)
	mean := gpu.ChannelMean(hc)
	gpu.partLimit = 64 * 36 * 2 // 64 rows a part: adds of 56 rows cross parts
	defer func() { gpu.partLimit = 0 }()
	a := gpu.NewBank(mean, 3*h*w).(*bank)
	bb := gpu.NewBank(mean, 3*h*w).(*bank)
	gpu.partLimit = 0
	for range 3 {
		gpu.BankAdd(a, hc)
		gpu.BankAddHypercolumns(bb, taps, h, w)
	}
	if len(a.parts) < 2 || a.m != bb.m {
		t.Fatalf("%d parts, %d and %d rows", len(a.parts), a.m, bb.m)
	}
	words := a.dp / 2
	for pi := range a.parts {
		rows := min(a.partRows, a.m-pi*a.partRows)
		x, err := gpu.downloadU32(a.parts[pi], rows*words)
		if err != nil {
			t.Fatal(err)
		}
		y, err := gpu.downloadU32(bb.parts[pi], rows*words)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x {
			for j := 0; j < 2; j++ {
				u, v := halfToFloat(uint16(x[i]>>(16*j))), halfToFloat(uint16(y[i]>>(16*j)))
				if math.Abs(float64(u-v)) > 1e-3 {
					t.Fatalf("part %d row %d channel %d: %g from taps, %g from hypercolumns", pi, i/words, 2*(i%words)+j, v, u)
				}
			}
		}
	}
	na, err := gpu.Download(&Tensor{c: a.m, h: 1, w: 1, buf: a.norms})
	if err != nil {
		t.Fatal(err)
	}
	nb, err := gpu.Download(&Tensor{c: bb.m, h: 1, w: 1, buf: bb.norms})
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(nb, na); e > 1e-5 {
		t.Errorf("norms: relative error %.3g", e)
	}
	gpu.FreeBank(a)
	gpu.FreeBank(bb)
}

// TestCompact checks the fp16 copies (an odd element count), in device
// and in host memory (a stride of hostStride or more), and that SplitLoss
// on host copies (the threshold lowered to 2) gives exactly what it gives
// on device copies, without a flush. The suite's compact case compares
// both with the CPU.
func TestCompact(t *testing.T) {
	x := randT(3, 7, 5, 71)
	live := gpu.LiveBytes()
	for _, stride := range []int{1, hostStride} {
		u := gpu.Upload(x)
		c := gpu.Compact(u, stride, nil).(*Tensor)
		gpu.Free(u)
		if (c.buf == nil) != (stride >= hostStride) {
			t.Errorf("stride %d: host copy %v", stride, c.buf == nil)
		}
		if e := relErr(down(t, c), x); e > 1e-3 {
			t.Errorf("compact copy, stride %d: relative error %.3g > 1e-3", stride, e)
		}
		gpu.Free(c)
	}
	defer func() { gpu.hostStride = hostStride }()
	for _, s := range []nnst.Sample{{Stride: 3, Y0: 2, X0: 1}, {Stride: 2, Y0: 1, X0: 1}} {
		out := randT(15, 13, 11, 72)
		st := []*tensor.T{randT(15, 12, 14, 73), randT(15, 14, 12, 74)}
		var res [2]*tensor.T
		for k, host := range []bool{false, true} {
			gpu.hostStride = hostStride
			if host {
				gpu.hostStride = 2
			}
			var gs []nnst.Tensor
			for _, x := range st {
				u := gpu.Upload(x)
				gs = append(gs, gpu.Compact(u, s.Stride, nil))
				gpu.Free(u)
			}
			if h := gs[0].(*Tensor).buf == nil; h != host {
				t.Fatalf("%+v: host copy %v", s, h)
			}
			ou := gpu.Upload(out)
			flushes := gpu.flushes
			gl, gg := gpu.SplitLoss(ou, gs, s)
			if gpu.flushes != flushes {
				t.Errorf("%+v: SplitLoss flushed %d times", s, gpu.flushes-flushes)
			}
			res[k] = down(t, gg)
			gpu.Free(gs...)
			gpu.Free(gl, gg, ou)
		}
		if e := relErr(res[1], res[0]); e != 0 {
			t.Errorf("%+v: host and device copies differ by %.3g", s, e)
		}
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
	if l := gpu.LiveBytes(); l != live {
		t.Errorf("live bytes %d after the test, %d before", l, live)
	}
}

func psnr(a, b *tensor.T) float64 {
	var s float64
	for i, v := range a.Data {
		d := float64(min(max(v, 0), 1) - min(max(b.Data[i], 0), 1))
		s += d * d
	}
	mse := s / float64(len(a.Data))
	return 10 * math.Log10(1/mse)
}

func smooth(h, w int, seed uint64) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 1))
	t := tensor.New(3, h, w)
	for c := 0; c < 3; c++ {
		a, b, p := r.Float64()*6+1, r.Float64()*6+1, r.Float64()*3
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				t.Set(c, y, x, float32(0.5+0.25*math.Sin(a*float64(x)/float64(w)+p)+0.2*math.Cos(b*float64(y)/float64(h)+0.1*float64(x))))
			}
		}
	}
	return t
}

// The fast mode on WebGPU gives the CPU's result.
// stylize runs o on be with the model m, or fails t.
func stylize(t *testing.T, be nnst.Backend, m *model.Model, content, style *tensor.T, o nnst.Options) *tensor.T {
	t.Helper()
	s, err := nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), content, style, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFastPipeline(t *testing.T) {
	m := model.Random(model.VGG19, 16, 5)
	o := nnst.FastDefaults()
	// Few steps: each step's matches are discrete (fp16 banks here), so
	// over many steps small differences grow into other local optima.
	o.Size, o.Steps, o.Color = 96, 2, false
	o.Fast.MatchSize, o.Fast.HalfSteps = 64, 2
	content, style := smooth(96, 80, 1), smooth(72, 96, 2)
	want, got := stylize(t, ref, m, content, style, o), stylize(t, gpu, m, content, style, o)
	p := psnr(got, want)
	t.Logf("fast 96 px, 2 half-size and 2 full steps: PSNR(gpu, cpu) = %.1f dB (content vs cpu output %.1f dB)", p, psnr(content, want))
	// 50 dB without the half-size steps; 38 with them (not yet explained,
	// noted on issue 16), so this holds it at 35.
	if p < 35 {
		t.Errorf("PSNR %.1f dB < 35", p)
	}
}

func TestPipeline(t *testing.T) {
	m := model.Random(model.VGG19, 16, 5)
	o := nnst.Defaults(false)
	o.Size, o.Scales, o.Steps, o.Color, o.ContentLoss = 64, 2, 2, false, true
	content, style := smooth(64, 56, 1), smooth(60, 64, 2)
	gs, err := nnst.New(gpu, m)
	if err != nil {
		t.Fatal(err)
	}
	// Pool big buffers and flush them as a 512 px run does, scaled to this
	// model's largest tensor (64 KiB here, 64 MiB there).
	gpu.big, gpu.spare, gpu.retain = 16<<10, 16<<10, 192<<10
	defer func() { gpu.big, gpu.spare, gpu.retain = bigBuf, spareBytes, retainBytes }()
	gpu.Flush()
	gpu.trim(true)
	gpu.ResetPeak()
	gpu.largest = 0
	base := gpu.PeakBytes() // what earlier tests left allocated
	d0 := gpu.Dispatches()
	got, err := gs.Run(context.Background(), content, style, o, func(p nnst.Progress) { t.Logf("%s scale %d step %d %v", p.Stage, p.Scale, p.Step, p.Elapsed) })
	if err != nil {
		t.Fatal(err)
	}
	cs, err := nnst.New(ref, m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := cs.Run(context.Background(), content, style, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := psnr(got, want)
	init := psnr(content, want)
	t.Logf("pipeline 64 px, 2 scales, 2 steps, flips, content loss: PSNR(gpu, cpu) = %.1f dB (content vs cpu output %.1f dB); GPU peak %.2f MiB, %d dispatches", p, init, float64(gpu.PeakBytes()-base)/(1<<20), gpu.Dispatches()-d0)
	if p < 40 {
		t.Errorf("PSNR %.1f dB < 40", p)
	}
	// Again with every final-pass style tap kept in host memory.
	gpu.hostStride = 1
	defer func() { gpu.hostStride = hostStride }()
	got, err = gs.Run(context.Background(), content, style, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := psnr(got, want); p < 40 {
		t.Errorf("host style taps: PSNR %.1f dB < 40", p)
	} else {
		t.Logf("host style taps: PSNR(gpu, cpu) = %.1f dB", p)
	}
}

func TestErrors(t *testing.T) {
	b, err := New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	x := b.Zeros(1, 1, int(b.Limits.MaxBufferSize/4)+1024)
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "exceeds the device limit") {
		t.Errorf("oversized buffer: err = %v", err)
	}
	b.Free(x)
	b.err = nil
	// A WGSL error says where it is.
	b.compile(pipeKey{"test", "bad", -1}, `struct P { n: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> p: P;
@compute @workgroup_size(64)
fn main() { y[0] = p.n; }
`)
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), ":5:") || !strings.Contains(err.Error(), "u32") {
		t.Errorf("a WGSL type error: err = %v, want it and its line (5)", err)
	}
	time.Sleep(200 * time.Millisecond) // the invalid pipeline's error follows
	b.Err()
	b.err = nil
	// Reserve: more than one buffer's limit, in pieces, all destroyed after.
	b.Flush()
	b.trim(true)
	live, alloc := b.LiveBytes(), b.alloc
	if err := b.Reserve(b.Limits.MaxBufferSize + 1<<20); err != nil {
		t.Errorf("Reserve(%d MiB): %v", (b.Limits.MaxBufferSize+1<<20)>>20, err)
	}
	if b.LiveBytes() != live || b.alloc != alloc {
		t.Errorf("Reserve changed the allocation: live %d -> %d, allocated %d -> %d", live, b.LiveBytes(), alloc, b.alloc)
	}
	// Buffers of the full limit: SwiftShader's allocator refuses them with an
	// out-of-memory error, which must come back as ErrOutOfMemory and leave
	// the device usable.
	if err := b.reserve(b.Limits.MaxBufferSize+1<<20, b.Limits.MaxBufferSize); err != nil {
		if !errors.Is(err, ErrOutOfMemory) || !strings.Contains(err.Error(), "1.0 GiB") {
			t.Errorf("reserve in full-limit pieces: %v, want ErrOutOfMemory for 1.0 GiB", err)
		}
		t.Logf("reserve in full-limit pieces: %v", err)
		x := b.Upload(randT(2, 3, 4, 5))
		if _, err := b.Download(x); err != nil || b.Err() != nil {
			t.Errorf("after an out-of-memory reserve: %v, %v", err, b.Err())
		}
		b.Free(x)
		// The same refusal in the middle of work fails the backend with
		// ErrOutOfMemory (the app then says it ran out of memory).
		lim := int(b.Limits.MaxBufferSize / 4)
		x = b.Zeros(1, lim/4096, 4096)
		if err := b.Err(); !errors.Is(err, ErrOutOfMemory) {
			t.Errorf("a buffer of the full limit: err = %v, want ErrOutOfMemory", err)
		}
		b.Free(x)
		b.err = nil
	} else {
		t.Log("this adapter holds buffers of its full limit: the out-of-memory path was not taken")
	}
	b.dev.Call("destroy")
	time.Sleep(200 * time.Millisecond) // the lost promise settles on the event loop
	if err := b.Err(); err == nil || !strings.Contains(err.Error(), "GPU device lost") {
		t.Errorf("after destroy: err = %v", err)
	}
	if err := b.Reserve(1 << 20); err == nil || !strings.Contains(err.Error(), "GPU device lost") {
		t.Errorf("Reserve after destroy: err = %v", err)
	}
}
