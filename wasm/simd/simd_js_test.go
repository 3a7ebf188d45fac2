//go:build js && wasm

// These tests run in headless Chromium (see browser_test.go).
package simd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall/js"
	"testing"

	"nnst/core/conv"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
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
