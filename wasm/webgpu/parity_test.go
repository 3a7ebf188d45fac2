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

	"nnst/core/conv"
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

func TestUploadDownloadAxpbyZeros(t *testing.T) {
	x, y := randT(3, 17, 19, 1), randT(3, 17, 19, 2)
	gx, gy := gpu.Upload(x), gpu.Upload(y)
	check(t, "upload", gx, x, 0)
	check(t, "axpby", gpu.Axpby(0.5, gx, -2, gy), ops3(x, y, 0.5, -2), 1e-6)
	check(t, "axpby nil", gpu.Axpby(3, gx, 0, nil), ops3(x, nil, 3, 0), 1e-6)
	check(t, "zeros", gpu.Zeros(2, 5, 7), tensor.New(2, 5, 7), 0)
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
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

func ops3(x, y *tensor.T, a, b float32) *tensor.T {
	return cpuT(ref.Axpby(a, ref.Upload(x), b, upOrNil(y)))
}

func upOrNil(y *tensor.T) nnst.Tensor {
	if y == nil {
		return nil
	}
	return ref.Upload(y)
}

func TestRot90(t *testing.T) {
	x := randT(2, 5, 8, 3)
	gx := gpu.Upload(x)
	for k := -1; k <= 4; k++ {
		check(t, fmt.Sprintf("rot90 k=%d", k), gpu.Rot90(gx, k), cpuT(ref.Rot90(ref.Upload(x), k)), 0)
	}
}

func TestResize(t *testing.T) {
	cases := [][4]int{{7, 9, 14, 18}, {16, 16, 8, 8}, {13, 11, 6, 5}, {5, 4, 17, 3}, {1, 3, 4, 1}, {9, 9, 9, 9}}
	for i, c := range cases {
		for _, align := range []bool{false, true} {
			x := randT(3, c[0], c[1], uint64(i))
			gx := gpu.Upload(x)
			name := fmt.Sprintf("%dx%d->%dx%d align=%v", c[0], c[1], c[2], c[3], align)
			check(t, "resize "+name, gpu.Resize(gx, c[2], c[3], align), cpuT(ref.Resize(ref.Upload(x), c[2], c[3], align)), 1e-5)
			g := randT(3, c[2], c[3], uint64(i+50))
			check(t, "resize backward "+name, gpu.ResizeBackward(gpu.Upload(g), c[0], c[1], align),
				cpuT(ref.ResizeBackward(ref.Upload(g), c[0], c[1], align)), 1e-5)
		}
	}
}

func TestAdam(t *testing.T) {
	p, m, v := randT(2, 9, 11, 4), tensor.New(2, 9, 11), tensor.New(2, 9, 11)
	gp, gm, gv := gpu.Upload(p), gpu.Upload(m), gpu.Upload(v)
	cp, cm, cv := ref.Upload(p), ref.Upload(m), ref.Upload(v)
	for step := 1; step <= 3; step++ {
		g := randT(2, 9, 11, uint64(10+step))
		gpu.Adam(gp, gpu.Upload(g), gm, gv, step, 2e-3)
		ref.Adam(cp, ref.Upload(g), cm, cv, step, 2e-3)
	}
	check(t, "adam p", gp, cpuT(cp), 1e-5)
	check(t, "adam m", gm, cpuT(cm), 1e-5)
	check(t, "adam v", gv, cpuT(cv), 1e-5)
}

// stepped is cw with K step s.
func stepped(cw convWeights, s int) convWeights {
	cw.step = s
	return cw
}

// kernelName names the kernel that runs cw: "TK 16", "Winograd WC 4".
func kernelName(cw convWeights) string {
	if cw.wino {
		return fmt.Sprintf("Winograd WC %d", winoWC*cw.step)
	}
	return fmt.Sprintf("TK %d", 16*cw.step)
}

func TestConv(t *testing.T) {
	// {40, 70, 13, 11} and {64, 64, 9, 9} split K; the backward pass of the
	// first and the forward pass of the last two have at most narrowConv
	// outputs (the last with 10 chunks of 256 K rows). With Winograd's
	// kernel: both passes of {12, 40, 17, 19}, {20, 36, 11, 10}, {16, 20,
	// 1, 5} and {64, 64, 9, 9} (split), the backward passes of these four
	// with the forward pass's weights, and the backward passes of {20, 9,
	// 11, 10} and {40, 70, 13, 11} (split, the last slice with a partial
	// step) with their own.
	defer func() { gpu.wino = winoDefault }()
	winos, trs, nosplits := 0, 0, 0
	for _, c := range [][4]int{{3, 5, 6, 7}, {5, 70, 9, 13}, {20, 9, 11, 10}, {7, 66, 23, 17}, {40, 70, 13, 11}, {64, 64, 9, 9}, {64, 3, 9, 13}, {300, 2, 5, 6}, {12, 40, 17, 19}, {20, 36, 11, 10}, {16, 20, 1, 5}} {
		cin, cout, h, w := c[0], c[1], c[2], c[3]
		r := rand.New(rand.NewPCG(uint64(cin), 5))
		wt := make([]float32, cout*cin*9)
		bias := make([]float32, cout)
		for i := range wt {
			wt[i] = float32(r.NormFloat64())
		}
		for i := range bias {
			bias[i] = float32(r.NormFloat64())
		}
		l := conv.NewLayer(cin, cout, wt, bias)
		x := randT(cin, h, w, 7)
		want := tensor.New(cout, h, w)
		l.Forward(x.Data, h, w, true, want.Data)
		g := randT(cout, h, w, 8)
		wantB := tensor.New(cin, h, w)
		l.BackwardData(g.Data, h, w, wantB.Data)
		m := &model.Model{Layers: []model.Layer{{Kind: "conv", Name: "conv1_1", Conv: &model.Conv{In: cin, Out: cout, Weight: wt, Bias: bias}}}, Taps: []string{"relu1_1"}, Input: model.Torchvision}
		gx := gpu.Upload(x).(*Tensor)
		gg := gpu.Upload(g).(*Tensor)
		for _, wino := range []bool{false, true} {
			gpu.wino = wino
			if err := gpu.LoadModel(m); err != nil {
				t.Fatal(err)
			}
			cl := gpu.convs[0]
			if cl.fwd.wino != (wino && winoConv(cin, cout)) || cl.bwd.wino != (wino && winoConv(cout, cin)) || cl.bwd.tr != (cl.fwd.wino && cl.bwd.wino) {
				t.Fatalf("%dx%d: Winograd weights %+v %+v with wino %v", cin, cout, cl.fwd, cl.bwd, wino)
			}
			if cl.bwd.tr {
				trs++
			}
			for _, step := range gpu.convSteps() {
				fw, bw := stepped(cl.fwd, step), stepped(cl.bwd, step)
				check(t, fmt.Sprintf("conv forward %dx%d %dx%d, %s", cin, cout, h, w, kernelName(fw)), gpu.conv(gx, fw, cl.bias, cin, cout, true), want, 1e-5)
				check(t, fmt.Sprintf("conv backward %dx%d %dx%d, %s", cin, cout, h, w, kernelName(bw)), gpu.conv(gg, bw, nil, cout, cin, false), wantB, 1e-5)
				// Where K is split, also without (convRun.nosplit).
				if _, _, split, _ := convGrid(h, w, cin, cout, fw.wino, step); split > 1 && cout > narrowConv {
					fw.nosplit = true
					nosplits++
					d0 := gpu.Dispatches()
					y := gpu.conv(gx, fw, cl.bias, cin, cout, true)
					if d := gpu.Dispatches() - d0; d != 1 {
						t.Errorf("%dx%d %dx%d forward without split K: %d dispatches, want 1", cin, cout, h, w, d)
					}
					check(t, fmt.Sprintf("conv forward %dx%d %dx%d, %s, K not split", cin, cout, h, w, kernelName(fw)), y, want, 1e-5)
				}
				if _, _, split, _ := convGrid(h, w, cout, cin, bw.wino, step); split > 1 && cin > narrowConv {
					bw.nosplit = true
					nosplits++
					check(t, fmt.Sprintf("conv backward %dx%d %dx%d, %s, K not split", cin, cout, h, w, kernelName(bw)), gpu.conv(gg, bw, nil, cout, cin, false), wantB, 1e-5)
				}
			}
			for _, cw := range []convWeights{cl.fwd, cl.bwd} {
				if cw.wino {
					winos++
				}
			}
		}
		gpu.Free(gx, gg)
	}
	if winos != 10 || trs != 4 {
		t.Errorf("%d passes by Winograd's kernel, %d of them backward with the forward weights; want 10, 4", winos, trs)
	}
	if nosplits == 0 {
		t.Error("no case with split K ran without")
	}
	t.Logf("%d passes ran without split K", nosplits)
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

func TestForwardBackward(t *testing.T) {
	m := tinyModel()
	loadBoth(t, m)
	img := randT(3, 37, 29, 9) // odd sizes: pools floor
	for i := range img.Data {
		img.Data[i] = 0.5 + 0.2*img.Data[i]
	}
	gtr := gpu.Forward(gpu.Upload(img), true)
	ctr := ref.Forward(ref.Upload(img), true)
	var tg, cg []nnst.Tensor
	for i := range ctr.Taps {
		want := cpuT(ctr.Taps[i])
		check(t, fmt.Sprintf("tap %d", i), gtr.Taps[i], want, 1e-4)
		if i%3 == 1 {
			tg, cg = append(tg, nil), append(cg, nil)
			continue
		}
		g := randT(want.C, want.H, want.W, uint64(20+i))
		tg, cg = append(tg, gpu.Upload(g)), append(cg, ref.Upload(g))
	}
	// Hypercolumns and their backward on these taps.
	hc := gpu.Hypercolumns(gtr.Taps, 9, 7)
	check(t, "hypercolumns", hc, cpuT(ref.Hypercolumns(ctr.Taps, 9, 7)), 1e-5)
	hg := randT(cpuT(ref.Hypercolumns(ctr.Taps, 9, 7)).C, 9, 7, 30)
	ghg, chg := gpu.Upload(hg), ref.Upload(hg)
	for i := range ctr.Taps {
		check(t, fmt.Sprintf("hypercolumns backward %d", i), gpu.HypercolumnsBackward(ghg, gtr.Taps, i), cpuT(ref.HypercolumnsBackward(chg, ctr.Taps, i)), 1e-5)
	}
	// Backward frees the trace as it goes: only the image gradient stays.
	var held int64
	for _, x := range tg {
		if x != nil {
			held += gt(x).buf.size
		}
	}
	st := gtr.State.(*traceState).tr
	for _, o := range st.outs {
		held += o.buf.size
	}
	live := gpu.LiveBytes()
	gb := gpu.Backward(gtr, func(l int) nnst.Tensor { return tg[l] })
	if got, want := gpu.LiveBytes(), live-held+gt(gb).buf.size; got != want {
		t.Errorf("live bytes after Backward %d, want %d", got, want)
	}
	check(t, "backward", gb, cpuT(ref.Backward(ctr, func(l int) nnst.Tensor { return cg[l] })), 1e-4)
	// Without keep.
	gtr = gpu.Forward(gpu.Upload(img), false)
	ctr = ref.Forward(ref.Upload(img), false)
	check(t, "tap 9 (no keep)", gtr.Taps[9], cpuT(ctr.Taps[9]), 1e-4)
	gpu.Release(gtr)
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestCosineLoss(t *testing.T) {
	f, tg := randT(40, 6, 7, 11), randT(40, 6, 7, 12)
	for i := 0; i < 40; i++ { // one position with a zero vector: clamps
		f.Data[i*42] = 0
	}
	gl, gg := gpu.CosineLoss(gpu.Upload(f), gpu.Upload(tg))
	cl, cg := ref.CosineLoss(ref.Upload(f), ref.Upload(tg))
	check(t, "cosine loss", gl, cpuT(cl), 1e-5)
	check(t, "cosine grad", gg, cpuT(cg), 1e-4)
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

// TestHypercolumnLoss checks the fused loss, its coefficients and each
// tap's gradient against the CPU backend.
func TestHypercolumnLoss(t *testing.T) {
	taps := hyperTaps(90)
	gt, ct := upAll(gpu, taps), upAll(ref, taps)
	target := randT(35, 8, 7, 91)
	gtg, ctg := gpu.Upload(target), ref.Upload(target)
	for l := range taps { // caches the resize tables
		gpu.table(taps[l].H, 8, true)
		gpu.table(taps[l].W, 7, true)
	}
	live := gpu.LiveBytes()
	gl, gc := gpu.HypercolumnLoss(gt, gtg)
	cl, cc := ref.HypercolumnLoss(ct, ctg)
	check(t, "hypercolumn loss", gl, cpuT(cl), 1e-5)
	check(t, "hypercolumn loss coefficients", gc, cpuT(cc), 1e-4)
	for l := range taps {
		g := gpu.HypercolumnLossBackward(gc, gt, gtg, l)
		check(t, fmt.Sprintf("hypercolumn loss gradient, tap %d", l), g, cpuT(ref.HypercolumnLossBackward(cc, ct, ctg, l)), 1e-4)
		gpu.Free(g)
	}
	gpu.Free(gl, gc)
	if got := gpu.LiveBytes(); got != live {
		t.Errorf("live bytes %d after the loss, %d before", got, live)
	}
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

// TestSearch runs a search over four banks packed from taps (the last
// repeats the first: exact ties) against the CPU backend's, with banks of
// one part and of several.
func TestSearch(t *testing.T) {
	const h, w = 16, 14
	parts := [][]*tensor.T{hyperTaps(100), hyperTaps(110), hyperTaps(120)}
	parts = append(parts, parts[0])
	q := randT(35, 12, 11, 130)
	for i := range q.Data {
		q.Data[i] = max(q.Data[i]+0.5, 0)
	}
	search := func(be nnst.Backend) (nnst.Tensor, []int32) {
		mean := nnst.BankMean(be, len(parts), func(k int) nnst.Tensor {
			taps := upAll(be, parts[k])
			hc := be.Hypercolumns(taps, h, w)
			be.Free(taps...)
			return hc
		})
		qt := be.Upload(q)
		s := be.NewSearch(qt)
		be.Free(qt)
		bank := func(k int) nnst.Bank {
			b := be.NewBank(mean, h*w)
			taps := upAll(be, parts[k])
			be.BankAddHypercolumns(b, taps, h, w)
			be.Free(taps...)
			return b
		}
		for k := range parts {
			b := bank(k)
			be.SearchBank(s, b, k)
			be.FreeBank(b)
		}
		field, err := be.SearchField(s)
		if err != nil {
			t.Fatal(err)
		}
		target := be.Zeros(35, 12, 11)
		for k := range parts {
			b := bank(k)
			be.SearchGather(s, b, k, target)
			be.FreeBank(b)
		}
		be.FreeSearch(s)
		be.Free(mean)
		return target, field
	}
	wt, wantField := search(ref)
	want := cpuT(wt)
	first, _ := search(gpu)
	gpu.Free(first) // caches the resize tables
	for _, limit := range []int64{0, 64 * 36 * 2} {
		gpu.partLimit = limit
		live := gpu.LiveBytes()
		tg, field := search(gpu)
		got := down(t, tg)
		gpu.Free(tg)
		gpu.partLimit = 0
		if l := gpu.LiveBytes(); l != live {
			t.Errorf("part limit %d: live bytes %d after the search, %d before", limit, l, live)
		}
		n := 12 * 11
		agree := 0
		for p := 0; p < n; p++ {
			var e, m float64
			for c := 0; c < 35; c++ {
				e = max(e, math.Abs(float64(got.Data[c*n+p]-want.Data[c*n+p])))
				m = max(m, math.Abs(float64(want.Data[c*n+p])))
			}
			if e <= 2e-3*m {
				agree++
			}
		}
		if agree < n {
			t.Errorf("part limit %d: %d of %d queries match the CPU's", limit, agree, n)
		}
		same := 0
		for p := range field {
			if field[p] == wantField[p] {
				same++
			}
		}
		if same < n || len(field) != n {
			t.Errorf("part limit %d: SearchField agrees with the CPU's on %d of %d queries", limit, same, n)
		}
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestColorDistanceLoss(t *testing.T) {
	x, r := randT(3, 9, 11, 13), randT(3, 9, 11, 14)
	gl, gg := gpu.ColorDistanceLoss(gpu.Upload(x), gpu.Upload(r))
	cl, cg := ref.ColorDistanceLoss(ref.Upload(x), ref.Upload(r))
	check(t, "colour loss", gl, cpuT(cl), 1e-5)
	check(t, "colour grad", gg, cpuT(cg), 1e-4)
}

func TestSplitLoss(t *testing.T) {
	for _, s := range []nnst.Sample{{Stride: 1}, {Stride: 2, Y0: 1, X0: 0}, {Stride: 3, Y0: 2, X0: 1}} {
		out := randT(15, 13, 11, 15)
		st := []*tensor.T{randT(15, 12, 14, 16), randT(15, 14, 12, 17)}
		var gs, cs []nnst.Tensor
		for _, x := range st {
			gs, cs = append(gs, gpu.Upload(x)), append(cs, ref.Upload(x))
		}
		gl, gg := gpu.SplitLoss(gpu.Upload(out), gs, s)
		cl, cg := ref.SplitLoss(ref.Upload(out), cs, s)
		check(t, fmt.Sprintf("split loss %+v", s), gl, cpuT(cl), 1e-5)
		check(t, fmt.Sprintf("split grad %+v", s), gg, cpuT(cg), 1e-4)
	}
}

// newBank builds a bank from the vectors of ts as the driver does
// (nnst.BuildBank); ts stay alive.
func newBank(be nnst.Backend, ts ...nnst.Tensor) nnst.Bank {
	return nnst.BuildBank(be, len(ts), func(k int) nnst.Tensor { return be.Axpby(1, ts[k], 0, nil) })
}

func TestChannelMean(t *testing.T) {
	x := randT(5, 13, 17, 70)
	check(t, "channel mean", gpu.ChannelMean(gpu.Upload(x)), cpuT(ref.ChannelMean(ref.Upload(x))), 1e-5)
}

// TestCompact checks the fp16 copy (odd element count) and SplitLoss on
// compact style inputs against the CPU's f32 ones: the loss within 2e-3
// relative, the gradient within 1e-2 of its largest element. Copies with a
// stride of hostStride or more live in host memory: both kinds are checked
// (the threshold lowered to 2 for the host ones), and must agree exactly.
func TestCompact(t *testing.T) {
	x := randT(3, 7, 5, 71)
	live := gpu.LiveBytes()
	for _, stride := range []int{1, hostStride} {
		u := gpu.Upload(x)
		c := gpu.Compact(u, stride).(*Tensor)
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
	for _, s := range []nnst.Sample{{Stride: 1}, {Stride: 3, Y0: 2, X0: 1}, {Stride: 2, Y0: 1, X0: 1}} {
		out := randT(15, 13, 11, 72)
		st := []*tensor.T{randT(15, 12, 14, 73), randT(15, 14, 12, 74)}
		var cs []nnst.Tensor
		for _, x := range st {
			cs = append(cs, ref.Compact(ref.Upload(x), s.Stride))
		}
		cl, cg := ref.SplitLoss(ref.Upload(out), cs, s)
		var res [2]*tensor.T
		for k, host := range []bool{false, true} {
			gpu.hostStride = hostStride
			if host {
				gpu.hostStride = 2
			}
			var gs []nnst.Tensor
			for _, x := range st {
				u := gpu.Upload(x)
				gs = append(gs, gpu.Compact(u, s.Stride))
				gpu.Free(u)
			}
			if h := gs[0].(*Tensor).buf == nil; h != (host && s.Stride >= 2) {
				t.Fatalf("%+v: host copy %v", s, h)
			}
			ou := gpu.Upload(out)
			flushes := gpu.flushes
			gl, gg := gpu.SplitLoss(ou, gs, s)
			if gpu.flushes != flushes {
				t.Errorf("%+v: SplitLoss flushed %d times", s, gpu.flushes-flushes)
			}
			what := fmt.Sprintf("compact style %+v, host %v", s, host)
			check(t, "split loss, "+what, gl, cpuT(cl), 2e-3)
			check(t, "split grad, "+what, gg, cpuT(cg), 1e-2)
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

func TestMatch(t *testing.T) {
	const d = 24
	vecs := []*tensor.T{randT(d, 32, 32, 40), randT(d, 24, 40, 41)}
	q := randT(d, 48, 48, 42)
	for i := range q.Data { // shift the query: centring must matter
		q.Data[i] += 0.3
	}
	run := func(partLimit int64) {
		gpu.partLimit = partLimit
		defer func() { gpu.partLimit = 0 }()
		var gv, cv []nnst.Tensor
		for _, v := range vecs {
			gv, cv = append(gv, gpu.Upload(v)), append(cv, ref.Upload(v))
		}
		gb, cb := newBank(gpu, gv...), newBank(ref, cv...)
		if gb.Len() != cb.Len() {
			t.Fatalf("bank len %d, want %d", gb.Len(), cb.Len())
		}
		if n := len(gb.(*bank).parts); partLimit > 0 && n < 2 {
			t.Fatalf("bank has %d parts with a part limit", n)
		}
		gq, cq := gpu.Upload(q), ref.Upload(q)
		want := cpuT(ref.Match(cb, cq))
		got := down(t, gpu.Match(gb, gq))
		// A position agrees when the gathered vector is the CPU's one.
		n := q.H * q.W
		agree := 0
		var maxErr float64
		for p := 0; p < n; p++ {
			var e, m float64
			for c := 0; c < d; c++ {
				e = max(e, math.Abs(float64(got.Data[c*n+p]-want.Data[c*n+p])))
				m = max(m, math.Abs(float64(want.Data[c*n+p])))
			}
			if e <= 2e-3*m {
				agree++
				maxErr = max(maxErr, e/m)
			}
		}
		frac := float64(agree) / float64(n)
		t.Logf("parts %d: arg-min agreement %.4f%% of %d, max relative error of agreeing vectors %.2g (fp16 bank)", len(gb.(*bank).parts), 100*frac, n, maxErr)
		if frac < 0.999 {
			t.Errorf("arg-min agreement %.4f < 0.999", frac)
		}
		gpu.FreeBank(gb)
	}
	run(0)
	run(int64(700 * d * 2)) // about 700 rows a part: several parts
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
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
func TestFastPipeline(t *testing.T) {
	m := model.Random(model.VGG19, 16, 5)
	o := nnst.FastDefaults()
	// Few steps: each step's matches are discrete (fp16 banks here), so
	// over many steps small differences grow into other local optima.
	o.Size, o.Steps, o.Color = 96, 2, false
	o.Fast.MatchSize, o.Fast.HalfSteps = 64, 2
	content, style := smooth(96, 80, 1), smooth(72, 96, 2)
	run := func(be nnst.Backend) *tensor.T {
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
	want, got := run(ref), run(gpu)
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

// TestFlipSplitLoss is SplitLoss with four style tensors at a tap's full
// size (stride 1), as the final pass runs it with rotations.
func TestFlipSplitLoss(t *testing.T) {
	out := randT(8, 24, 20, 60)
	var gs, cs []nnst.Tensor
	for k := 0; k < 4; k++ {
		x := randT(8, 22, 26, uint64(61+k))
		gs, cs = append(gs, gpu.Upload(x)), append(cs, ref.Upload(x))
	}
	gl, gg := gpu.SplitLoss(gpu.Upload(out), gs, nnst.Sample{Stride: 1})
	cl, cg := ref.SplitLoss(ref.Upload(out), cs, nnst.Sample{Stride: 1})
	check(t, "split loss (4 styles)", gl, cpuT(cl), 1e-5)
	check(t, "split grad (4 styles)", gg, cpuT(cg), 1e-4)
}

// TestGridSplit lowers the workgroups-per-dimension limit the backend uses
// so that element kernels take their 2-D grids and conv its z split.
func TestGridSplit(t *testing.T) {
	old := gpu.Limits.MaxComputeWorkgroupsPerDim
	gpu.Limits.MaxComputeWorkgroupsPerDim = 1
	defer func() { gpu.Limits.MaxComputeWorkgroupsPerDim = old }()
	TestConv(t)
	TestResize(t)
	TestUploadDownloadAxpbyZeros(t)
	TestRot90(t)
}
