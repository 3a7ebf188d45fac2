//go:build js && wasm

// These tests run in headless Chromium (see browser_test.go).
package simd

import (
	"math"
	"math/rand/v2"
	"syscall/js"
	"testing"

	"nnst/core/conv"
	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

func testPool(t *testing.T, n int) *pool {
	t.Helper()
	if !Available() {
		t.Fatal("Available() is false in a cross-origin isolated page")
	}
	p, err := open(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// closeTo checks max |got-want| <= tol * max |want|.
func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var scale, worst float64
	at := 0
	for i := range want {
		scale = max(scale, math.Abs(float64(want[i])))
		if e := math.Abs(float64(got[i] - want[i])); e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	if !(worst <= tol*scale) {
		t.Errorf("%s: max error %g at %d (got %g, want %g), scale %g", what, worst, at, got[at], want[at], scale)
	}
}

var convShapes = []struct{ in, out, h, w int }{
	{3, 64, 20, 17},   // first VGG layer, odd size
	{64, 64, 16, 16},  // full tiles
	{16, 5, 9, 40},    // rows not a multiple of 4
	{300, 8, 7, 5},    // k not a multiple of the k block
	{32, 12, 1, 1},    // one pixel
	{8, 4, 3, 130},    // rows longer than a tile
	{512, 32, 12, 12}, // several k blocks
}

func TestConvParity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, threads := range []int{2, 3} {
		p := testPool(t, threads)
		for _, s := range convShapes {
			wt, b := randSlice(r, s.out*s.in*9), randSlice(r, s.out)
			ref := conv.NewLayer(s.in, s.out, wt, b)
			l := p.newConv(s.in, s.out, wt, b)
			x := randSlice(r, s.in*s.h*s.w)
			for _, relu := range []bool{false, true} {
				got := randSlice(r, s.out*s.h*s.w) // stale values must be overwritten
				want := make([]float32, s.out*s.h*s.w)
				l.Forward(x, s.h, s.w, relu, got)
				ref.Forward(x, s.h, s.w, relu, want)
				closeTo(t, "forward", got, want, 1e-5)
			}
			g := randSlice(r, s.out*s.h*s.w)
			got := randSlice(r, s.in*s.h*s.w)
			want := make([]float32, s.in*s.h*s.w)
			l.BackwardData(g, s.h, s.w, got)
			ref.BackwardData(g, s.h, s.w, want)
			closeTo(t, "backward-data", got, want, 1e-5)
			if t.Failed() {
				t.Fatalf("shape %+v, %d threads", s, threads)
			}
		}
		if err := p.Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNearestParity(t *testing.T) {
	p := testPool(t, 2)
	r := rand.New(rand.NewPCG(2, 2))
	for _, s := range []struct{ m, d, n int }{{1000, 67, 300}, {5, 3, 9}, {4097, 128, 17}, {30, 1, 8}} {
		a, q := randSlice(r, s.m*s.d), randSlice(r, s.d*s.n)
		// A few exact duplicate rows: ties go to the lowest row.
		if s.m > 10 {
			copy(a[7*s.d:8*s.d], a[3*s.d:4*s.d])
		}
		idx, sim := p.nearest(a, s.m, s.d, q, s.n)
		for j := 0; j < s.n; j++ {
			best, bi := math.Inf(-1), -1
			got := 0.0
			for i := 0; i < s.m; i++ {
				var v float64
				for k := 0; k < s.d; k++ {
					v += float64(a[i*s.d+k]) * float64(q[k*s.n+j])
				}
				if v > best {
					best, bi = v, i
				}
				if i == int(idx[j]) {
					got = v
				}
			}
			tol := 1e-5 * math.Sqrt(float64(s.d)) * 4
			if idx[j] < 0 || int(idx[j]) >= s.m || math.Abs(got-best) > tol || math.Abs(float64(sim[j])-best) > tol {
				t.Fatalf("m=%d d=%d n=%d column %d: got row %d (%g, reported %g), want row %d (%g)", s.m, s.d, s.n, j, idx[j], got, sim[j], bi, best)
			}
			if bi == 3 && idx[j] == 7 {
				t.Fatalf("column %d: tie went to row 7, want 3", j)
			}
		}
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
}

// The SIMD backend must agree with the Go CPU backend end to end.
func TestBackendParity(t *testing.T) {
	be, err := NewBackendThreads(2)
	if err != nil {
		t.Fatal(err)
	}
	if be.Name() != "wasm-simd" {
		t.Errorf("Name() = %q", be.Name())
	}
	m := model.Random(model.VGG19, 16, 7)
	r := rand.New(rand.NewPCG(3, 3))
	img := tensor.New(3, 40, 36)
	for i := range img.Data {
		img.Data[i] = r.Float32()
	}
	type result struct {
		taps       []*tensor.T
		grad, loss *tensor.T
	}
	runBe := func(be nnst.Backend) result {
		if err := be.LoadModel(m); err != nil {
			t.Fatal(err)
		}
		var res result
		tr := be.Forward(be.Upload(img), true)
		g := make([]nnst.Tensor, len(tr.Taps))
		for i, x := range tr.Taps {
			h, _ := be.Download(x)
			res.taps = append(res.taps, h)
			c, hh, w := x.Shape()
			gt := tensor.New(c, hh, w)
			copy(gt.Data, randSlice(rand.New(rand.NewPCG(uint64(i), 5)), len(gt.Data)))
			g[i] = be.Upload(gt)
		}
		// The split loss exercises Nearest; its value is robust to near-ties.
		st := be.Forward(be.Upload(img), false)
		l, _ := be.SplitLoss(tr.Taps[4], st.Taps[4:5], nnst.Sample{Stride: 1})
		res.loss, _ = be.Download(l)
		res.grad, _ = be.Download(be.Backward(tr, func(l int) nnst.Tensor { return g[l] }))
		return res
	}
	got, want := runBe(be), runBe(cpu.New())
	for i := range want.taps {
		closeTo(t, m.Taps[i], got.taps[i].Data, want.taps[i].Data, 1e-5)
	}
	closeTo(t, "image gradient", got.grad.Data, want.grad.Data, 1e-4)
	closeTo(t, "split loss", got.loss.Data, want.loss.Data, 1e-5)
	if err := be.Err(); err != nil {
		t.Fatal(err)
	}
}

// Run on a page served without COOP/COEP (see browser_test.go).
func TestNotIsolated(t *testing.T) {
	if js.Global().Get("crossOriginIsolated").Bool() {
		t.Fatal("page is cross-origin isolated; this test needs a plain page")
	}
	if Available() {
		t.Error("Available() is true without cross-origin isolation")
	}
	if _, err := NewBackend(); err == nil {
		t.Error("NewBackend succeeded without cross-origin isolation")
	}
}

// A kernel that traps fails the pool (Err), and the next open starts a
// fresh one.
func TestKernelFailure(t *testing.T) {
	p := testPool(t, 1)
	// conv reading its input past the end of the memory.
	ok := p.call("conv", 1, 1<<16, 0xffffff00, 1, 8, 8, 64, 4, 0, 0, 64, 8, 9)
	if ok || p.Err() == nil {
		t.Fatalf("trapping kernel: ok %v, Err %v", ok, p.Err())
	}
	t.Log("reported:", p.Err())
	l := p.newConv(1, 4, make([]float32, 36), make([]float32, 4))
	out := []float32{1, 2, 3, 4}
	l.Forward([]float32{1}, 1, 1, false, out)
	if out[0] != 0 {
		t.Errorf("failed pool left output %v, want zeros", out)
	}
	be, err := NewBackendThreads(1)
	if err != nil {
		t.Fatal(err)
	}
	if be.Err() != nil {
		t.Fatalf("fresh pool: %v", be.Err())
	}
	q, err := open(1)
	if err != nil || q == p {
		t.Fatalf("open after failure: same pool %v, err %v", q == p, err)
	}
	wt := randSlice(rand.New(rand.NewPCG(5, 5)), 4*2*9)
	ref := conv.NewLayer(2, 4, wt, make([]float32, 4))
	x := randSlice(rand.New(rand.NewPCG(6, 6)), 2*5*5)
	got, want := make([]float32, 4*25), make([]float32, 4*25)
	q.newConv(2, 4, wt, make([]float32, 4)).Forward(x, 5, 5, false, got)
	ref.Forward(x, 5, 5, false, want)
	closeTo(t, "forward on the fresh pool", got, want, 1e-5)
}
