package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/model"
	"nnst/core/tensor"
)

func randT(r *rand.Rand, c, h, w int) *tensor.T {
	t := tensor.New(c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// relClose reports whether a and b agree to rel (relative to the larger).
func relClose(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*max(math.Abs(a), math.Abs(b), 1e-12)
}

// TestResizeAdjoint checks <Resize(x), y> = <x, ResizeBackward(y)>, which
// holds exactly for the linear map Resize in real arithmetic.
func TestResizeAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := [][4]int{{7, 9, 5, 4}, {5, 6, 11, 13}, {1, 1, 3, 4}, {4, 5, 1, 1}, {37, 29, 18, 14}, {18, 14, 37, 29}, {3, 17, 7, 2}, {6, 6, 6, 6}, {2, 64, 1, 31}}
	for _, s := range sizes {
		for _, ac := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d->%dx%d/ac=%v", s[0], s[1], s[2], s[3], ac)
			x := randT(r, 3, s[0], s[1])
			y := randT(r, 3, s[2], s[3])
			lhs := Dot(Resize(x, s[2], s[3], ac).Data, y.Data)
			gx := ResizeBackward(y, s[0], s[1], ac)
			if !gx.SameShape(x) {
				t.Fatalf("%s: ResizeBackward shape %v, want %v", name, gx, x)
			}
			rhs := Dot(x.Data, gx.Data)
			if !relClose(lhs, rhs, 1e-5) {
				t.Errorf("%s: <Ax,y> = %.9g, <x,A'y> = %.9g", name, lhs, rhs)
			}
		}
	}
}

// TestMaxPoolGrad checks MaxPool2Backward against central differences of
// <MaxPool2(x), g> along random directions (x has well separated values, so
// the arg-max does not move under the step).
func TestMaxPoolGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{3, 7, 9}, {2, 8, 6}, {1, 3, 3}, {4, 2, 5}} {
		c, h, w := s[0], s[1], s[2]
		x := tensor.New(c, h, w)
		for i, p := range r.Perm(len(x.Data)) {
			x.Data[i] = float32(p) * 0.1 // spacing 0.1
		}
		y, idx := MaxPool2(x)
		g := randT(r, y.C, y.H, y.W)
		gx := MaxPool2Backward(g, idx, c, h, w)
		f := func(x *tensor.T) float64 { y, _ := MaxPool2(x); return Dot(y.Data, g.Data) }
		for range 4 {
			d := randT(r, c, h, w)
			const eps = 1e-2 // moves each value by < 0.05 in practice
			xp, xm := x.Clone(), x.Clone()
			for i, v := range d.Data {
				xp.Data[i] += eps * v
				xm.Data[i] -= eps * v
			}
			fd := (f(xp) - f(xm)) / (2 * eps)
			an := Dot(gx.Data, d.Data)
			if !relClose(fd, an, 1e-3) {
				t.Errorf("%v: directional derivative %.7g, finite difference %.7g", s, an, fd)
			}
		}
	}
}

// TestNormalizeAdjoint checks that NormalizeBackward is the adjoint of the
// linear part of Normalize for both conventions.
func TestNormalizeAdjoint(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []model.Normalization{model.Caffe, model.Torchvision} {
		x := randT(r, 3, 5, 4)
		g := randT(r, 3, 5, 4)
		zero := Normalize(tensor.New(3, 5, 4), n)
		nx := Normalize(x, n)
		lin := Axpby(1, nx, -1, zero)
		lhs := Dot(lin.Data, g.Data)
		rhs := Dot(x.Data, NormalizeBackward(g, n).Data)
		if !relClose(lhs, rhs, 1e-4) {
			t.Errorf("%s: <Nx,g> = %.7g, <x,N'g> = %.7g", n.Order, lhs, rhs)
		}
		// Spot-check the convention: pixel (0,0) of each channel.
		for c := 0; c < 3; c++ {
			src := c
			if n.Order == "bgr" {
				src = 2 - c
			}
			want := (x.Data[src*20]*n.Scale - n.Mean[c]) / n.Std[c]
			if math.Abs(float64(nx.Data[c*20]-want)) > 1e-4*math.Abs(float64(want))+1e-6 {
				t.Errorf("%s: channel %d = %v, want %v", n.Order, c, nx.Data[c*20], want)
			}
		}
	}
}
