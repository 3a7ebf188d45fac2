package nnst_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"nnst/core/internal/torchfix"
	"testing"

	"nnst/core/cpu"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
)

func download(t *testing.T, be nnst.Backend, x nnst.Tensor) *tensor.T {
	t.Helper()
	h, err := be.Download(x)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestTorchPyramid compares Dec, Syn and SynBackward with NNST.md section 5
// written in PyTorch (3x37x29 image, 3 levels).
func TestTorchPyramid(t *testing.T) {
	f := torchfix.Load(t)
	var meta struct {
		Levels int `json:"pyr_levels"`
	}
	f.Decode(t, &meta)
	be := cpu.New()
	const rtol, atol = 1e-5, 1e-6
	img := f.CHW(t, "pyr/img")
	p := nnst.Dec(be, be.Upload(img), meta.Levels)
	if len(p) != meta.Levels+1 {
		t.Fatalf("Dec gave %d tensors, want %d", len(p), meta.Levels+1)
	}
	for i, l := range p {
		want := f.CHW(t, fmt.Sprintf("pyr/dec%d", i))
		got := download(t, be, l)
		if !got.SameShape(want) {
			t.Fatalf("level %d: shape %v, want %v", i, got, want)
		}
		// Band-pass levels are differences of O(1) values: compare them
		// with an absolute tolerance on the image's scale.
		torchfix.CloseAll(t, fmt.Sprintf("dec level %d", i), got.Data, want.Data, rtol, 2e-6)
	}
	// Syn(Dec(x)) = x.
	torchfix.CloseAll(t, "syn(dec(img))", download(t, be, nnst.Syn(be, p)).Data, img.Data, rtol, 1e-6)

	// Syn of an unrelated pyramid, and the gradient wrt each level.
	q := make([]nnst.Tensor, meta.Levels+1)
	for i := range q {
		q[i] = be.Upload(f.CHW(t, fmt.Sprintf("pyr/q%d", i)))
	}
	torchfix.CloseAll(t, "syn(q)", download(t, be, nnst.Syn(be, q)).Data, f.CHW(t, "pyr/synq").Data, rtol, atol)
	grads := nnst.SynBackward(be, be.Upload(f.CHW(t, "pyr/gsyn")), q)
	for i, g := range grads {
		torchfix.CloseAll(t, fmt.Sprintf("grad level %d", i), download(t, be, g).Data, f.CHW(t, fmt.Sprintf("pyr/gq%d", i)).Data, rtol, atol)
	}
}

// TestSynAdjoint checks <Syn(p), g> = sum_i <p_i, SynBackward(g)_i> with
// each level varied on its own (Syn is linear in each level).
func TestSynAdjoint(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(7, 8))
	for _, s := range [][3]int{{37, 29, 3}, {64, 80, 6}, {5, 3, 1}, {20, 20, 4}, {7, 4, 2}} {
		img := randT(r, 3, s[0], s[1])
		shape := nnst.Dec(be, be.Upload(img), s[2])
		g := randT(r, 3, s[0], s[1])
		grads := nnst.SynBackward(be, be.Upload(g), shape)
		if len(grads) != len(shape) {
			t.Fatalf("%v: %d gradients for %d levels", s, len(grads), len(shape))
		}
		for lvl := range shape {
			// Pyramid that is zero except level lvl.
			p := make([]nnst.Tensor, len(shape))
			var x *tensor.T
			for i, l := range shape {
				c, h, w := l.Shape()
				if i == lvl {
					x = randT(r, c, h, w)
					p[i] = be.Upload(x)
				} else {
					p[i] = be.Zeros(c, h, w)
				}
			}
			lhs := ops.Dot(download(t, be, nnst.Syn(be, p)).Data, g.Data)
			gl := download(t, be, grads[lvl])
			if !gl.SameShape(x) {
				t.Fatalf("%v level %d: gradient shape %v, want %v", s, lvl, gl, x)
			}
			rhs := ops.Dot(x.Data, gl.Data)
			if math.Abs(lhs-rhs) > 1e-5*max(math.Abs(lhs), math.Abs(rhs), 1) {
				t.Errorf("%v level %d: <Syn p, g> = %.8g, <p, Syn'g> = %.8g", s, lvl, lhs, rhs)
			}
		}
	}
}

// TestLevels checks the level cap of NNST.md section 5.
func TestLevels(t *testing.T) {
	for _, c := range [][3]int{{512, 512, 8}, {256, 320, 8}, {255, 300, 7}, {64, 100, 6}, {1, 5, 0}, {2, 2, 1}, {3, 1000, 1}} {
		if got := nnst.Levels(c[0], c[1]); got != c[2] {
			t.Errorf("Levels(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
		if l := nnst.Levels(c[0], c[1]); l > 0 && min(c[0], c[1])>>l < 1 {
			t.Errorf("Levels(%d, %d) = %d halves a side to 0", c[0], c[1], l)
		}
	}
}

func randT(r *rand.Rand, c, h, w int) *tensor.T {
	t := tensor.New(c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}
