//go:build js && wasm

// These tests run in headless Chromium (see browser_test.go).
package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"syscall/js"
	"testing"

	"nnst/core/conv"
	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
	"nnst/core/ops"
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

// TestSuite runs the backend suite on the SIMD kernels: the convs on 3
// and 2 workers (2 last: opening a pool of another size ends the one
// before, and the backend's pool has 2).
func TestSuite(t *testing.T) {
	var convs []backendtest.Conv
	for _, n := range []int{3, 2} {
		convs = append(convs, backendtest.Conv{Name: fmt.Sprintf("threads=%d", n), New: func(t *testing.T, s backendtest.ConvShape, w, b []float32) backendtest.ConvPasses {
			return backendtest.Passes(s, testPool(t, n).newConv(s.In, s.Out, w, b))
		}})
	}
	nearest := backendtest.Nearest{Name: "threads=2", New: func(t *testing.T) backendtest.NearestFunc { return testPool(t, 2).nearest }}
	backendtest.Run(t, backendtest.Config{
		New: func(t *testing.T) nnst.Backend {
			be, err := NewBackendThreads(2)
			if err != nil {
				t.Fatal(err)
			}
			if be.Name() != "wasm-simd" {
				t.Errorf("Name() = %q", be.Name())
			}
			return be
		},
		Convs:   convs,
		Nearest: []backendtest.Nearest{nearest},
	})
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

// The maxpool kernel against ops.MaxPool2: odd sizes, ties and NaNs.
func TestMaxPool(t *testing.T) {
	p := testPool(t, 2)
	r := rand.New(rand.NewPCG(3, 3))
	for _, s := range [][3]int{{1, 2, 2}, {3, 5, 7}, {4, 9, 18}, {16, 33, 34}, {2, 1, 8}, {5, 8, 3}, {64, 32, 32}} {
		x := tensor.New(s[0], s[1], s[2])
		for i := range x.Data {
			// Few levels, so that many windows tie.
			x.Data[i] = float32(r.IntN(4))
			if r.IntN(50) == 0 {
				x.Data[i] = float32(math.NaN())
			}
		}
		want, wantIdx := ops.MaxPool2(x)
		n := len(want.Data)
		src, d, io := p.alloc(len(x.Data)*4), p.alloc(n*4), p.alloc(n*4)
		put(p, src, x.Data)
		if !p.startSeq([]kernel{p.poolKernel(src, s[0], s[1], s[2], d, io)})() {
			t.Fatal(p.Err())
		}
		got, idx := make([]float32, n), make([]int32, n)
		get(p, d, got)
		get(p, io, idx)
		p.free(src, d, io)
		for i := range want.Data {
			g, w := got[i], want.Data[i]
			if (g != w && !(g != g && w != w)) || idx[i] != wantIdx[i] {
				t.Errorf("%v: output %d = %g at %d, want %g at %d", s, i, g, idx[i], w, wantIdx[i])
				break
			}
		}
	}
}

// forward (activations kept in shared memory) against cpu.Layers with the
// plain Go convs, on a small VGG19 at an odd size, with the layers run in
// one batch, alone and in batches of a few; its pools against
// ops.MaxPool2 of its own conv outputs, exactly.
func TestForward(t *testing.T) {
	def := batchBytes
	defer func() { batchBytes = def }()
	for _, b := range []int{def, 1, 100 << 10} {
		batchBytes = b
		testForward(t)
	}
}

func testForward(t *testing.T) {
	p := testPool(t, 2)
	m := model.Random(model.VGG19, 16, 3)
	var layers []model.Layer
	for _, l := range m.Layers {
		layers = append(layers, l)
		if l.Name == "conv4_1" {
			break
		}
	}
	convs, ref := make([]cpu.Conv, len(layers)), make([]cpu.Conv, len(layers))
	for i, l := range layers {
		if l.Kind == "conv" {
			convs[i] = p.newConv(l.Conv.In, l.Conv.Out, l.Conv.Weight, l.Conv.Bias)
			ref[i] = conv.NewLayer(l.Conv.In, l.Conv.Out, l.Conv.Weight, l.Conv.Bias)
		}
	}
	x := tensor.New(3, 37, 29)
	copy(x.Data, randSlice(rand.New(rand.NewPCG(4, 4)), len(x.Data)))
	for _, all := range []bool{true, false} {
		need := make([]bool, len(layers))
		for i := range need {
			need[i] = all || i%3 == 1
		}
		outs, idxs := p.forward(x, layers, convs, need, all, nil)
		want, _ := cpu.Layers(x, layers, ref, need, all, nil)
		handed := map[int][]float32{}
		p.forward(x, layers, convs, need, false, func(i int, y *tensor.T) { handed[i] = slices.Clone(y.Data) })
		if p.Err() != nil {
			t.Fatal(p.Err())
		}
		for i, l := range layers {
			if !need[i] {
				if outs[i] != nil {
					t.Errorf("layer %d: output not asked for", i)
				}
				continue
			}
			closeTo(t, fmt.Sprintf("batches of %d bytes, all %v, layer %d", batchBytes, all, i), outs[i].Data, want[i].Data, 1e-5)
			if !slices.Equal(handed[i], outs[i].Data) {
				t.Errorf("batches of %d bytes, layer %d: handed to each, not the same", batchBytes, i)
			}
			if l.Kind != "pool" {
				continue
			}
			if !all {
				if idxs[i] != nil {
					t.Errorf("layer %d: indices not asked for", i)
				}
				continue
			}
			y, idx := ops.MaxPool2(outs[i-1])
			if !slices.Equal(y.Data, outs[i].Data) || !slices.Equal(idx, idxs[i]) {
				t.Errorf("layer %d: pool differs from ops.MaxPool2 of its input", i)
			}
		}
	}
}
