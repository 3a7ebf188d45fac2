package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"nnst/core/internal/torchfix"
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// Finite-difference checks: central differences in float64 of the float32
// code, along random directions. The tolerances are a few times the noise
// seen with a correct gradient and far below the error of a gradient that is
// wrong by a scale of a few percent or a missing term.

// TestBackwardGrad checks Backend.Backward through a tiny random VGG19 (with
// its caffe input convention): the directional derivative of
// sum_l <tap_l(x), g_l> along random directions d.
//
// The network is piecewise linear, so a central difference is exact unless
// the step crosses a ReLU or max-pool kink, and float32 rounding in the taps
// is the other error. Pixels and directions lie on a 2^-10 grid and the steps
// are powers of two, so x +- eps*d is exact in float32. For each direction
// the best of a few steps must agree to 1%; with a correct gradient the error
// is about 0.3%, and a wrong mask, kernel flip or scatter is off by far more.
func TestBackwardGrad(t *testing.T) {
	be := cpu.New()
	m := model.Random(model.VGG19, 16, 11)
	if err := be.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	const h, w = 24, 20
	x := tensor.New(3, h, w)
	for i := range x.Data {
		x.Data[i] = float32(r.IntN(1024)) / 1024
	}
	// Tap gradients: random, one tap left nil (zero).
	tr := be.Forward(be.Upload(x), false)
	if len(tr.Taps) != len(m.Taps) {
		t.Fatalf("%d taps, want %d", len(tr.Taps), len(m.Taps))
	}
	var gs []*tensor.T
	for i, tp := range tr.Taps {
		c, th, tw := tp.Shape()
		if i == 4 {
			gs = append(gs, nil)
			continue
		}
		gs = append(gs, randT(r, c, th, tw))
	}
	be.Release(tr)
	f := func(x *tensor.T) float64 {
		tr := be.Forward(be.Upload(x), false)
		defer be.Release(tr)
		var s float64
		for i, tp := range tr.Taps {
			if gs[i] != nil {
				s += dot(down(t, be, tp), gs[i])
			}
		}
		return s
	}
	tr = be.Forward(be.Upload(x), true)
	grads := make([]nnst.Tensor, len(gs))
	for i, g := range gs {
		if g != nil {
			grads[i] = be.Upload(g)
		}
	}
	gt := be.Backward(tr, func(l int) nnst.Tensor { return grads[l] })
	gx := down(t, be, gt)
	if gx.C != 3 || gx.H != h || gx.W != w {
		t.Fatalf("gradient shape %v", gx)
	}
	for k := range 6 {
		d := tensor.New(3, h, w)
		for i := range d.Data {
			d.Data[i] = float32(r.IntN(2049)-1024) / 1024
		}
		an := dot(gx, d)
		best, bestFD := math.Inf(1), 0.0
		for e := 12; e <= 17; e++ {
			eps := math.Ldexp(1, -e)
			fd := (f(axpy(x, eps, d)) - f(axpy(x, -eps, d))) / (2 * eps)
			if err := relErr(an, fd, 1e-9); err < best {
				best, bestFD = err, fd
			}
		}
		t.Logf("direction %d: rel err %.2g", k, best)
		if best > 3e-2 {
			t.Errorf("direction %d: analytic %.7g, finite difference %.7g (rel err %.2g)", k, an, bestFD, best)
		}
	}
}

// TestHypercolumnsAdjoint checks <H(taps), g> = sum_l <tap_l, H'(g)_l>.
func TestHypercolumnsAdjoint(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(31, 32))
	shapes := [][3]int{{4, 24, 20}, {4, 24, 20}, {8, 12, 10}, {16, 6, 5}, {32, 3, 2}, {32, 1, 1}}
	const h, w = 6, 5
	var taps []nnst.Tensor
	var hostTaps []*tensor.T
	d := 0
	for _, s := range shapes {
		x := randT(r, s[0], s[1], s[2])
		hostTaps = append(hostTaps, x)
		taps = append(taps, be.Upload(x))
		d += s[0]
	}
	hc := down(t, be, be.Hypercolumns(taps, h, w))
	if hc.C != d || hc.H != h || hc.W != w {
		t.Fatalf("hypercolumns shape %v, want %dx%dx%d", hc, d, h, w)
	}
	for k := range 3 {
		g := randT(r, d, h, w)
		lhs := dot(hc, g)
		gu := be.Upload(g)
		var rhs float64
		for i, x := range hostTaps {
			gi := down(t, be, be.HypercolumnsBackward(gu, taps, i))
			if !gi.SameShape(x) {
				t.Fatalf("tap %d gradient shape %v, want %v", i, gi, x)
			}
			rhs += dot(x, gi)
		}
		if e := relErr(lhs, rhs, 1e-9); e > 1e-5 {
			t.Errorf("trial %d: <H x, g> = %.8g, <x, H'g> = %.8g", k, lhs, rhs)
		}
	}
}

// TestCosineLossGrad checks CosineLoss's gradient by finite differences.
func TestCosineLossGrad(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(41, 42))
	for _, s := range [][3]int{{9, 5, 7}, {40, 3, 4}, {3, 1, 1}} {
		f := randT(r, s[0], s[1], s[2])
		tg := randT(r, s[0], s[1], s[2])
		for i := range f.Data {
			f.Data[i] += 0.3
		}
		_, g := be.CosineLoss(be.Upload(f), be.Upload(tg))
		gh := down(t, be, g)
		loss := func(x *tensor.T) float64 {
			l, _ := be.CosineLoss(be.Upload(x), be.Upload(tg))
			return scalarOf(t, be, l)
		}
		for k := range 4 {
			d := randT(r, s[0], s[1], s[2])
			const eps = 1e-3
			fd := (loss(axpy(f, eps, d)) - loss(axpy(f, -eps, d))) / (2 * eps)
			an := dot(gh, d)
			if e := relErr(an, fd, 1e-3); e > 2e-3 {
				t.Errorf("%v direction %d: analytic %.7g, finite difference %.7g", s, k, an, fd)
			}
		}
	}
}

// TestCosineLossValue checks the loss against the direct formula, with one
// position whose squared norm falls below the clamp.
func TestCosineLossValue(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(43, 44))
	f := randT(r, 11, 4, 6)
	tg := randT(r, 11, 4, 6)
	n := 24
	for c := 0; c < 11; c++ {
		f.Data[c*n+5] *= 1e-6
		tg.Data[c*n+7] *= 1e5 // squared norm above 1e8
	}
	l, _ := be.CosineLoss(be.Upload(f), be.Upload(tg))
	got := scalarOf(t, be, l)
	var want float64
	for p := 0; p < n; p++ {
		var ab, aa, bb float64
		for c := 0; c < 11; c++ {
			a, b := float64(f.Data[c*n+p]), float64(tg.Data[c*n+p])
			ab += a * b
			aa += a * a
			bb += b * b
		}
		aa = min(max(aa, 1e-8), 1e8)
		bb = min(max(bb, 1e-8), 1e8)
		want += 1 - ab/math.Sqrt(aa*bb)
	}
	want /= float64(n)
	if math.Abs(got-want) > 1e-6 {
		t.Errorf("CosineLoss = %.9g, want %.9g", got, want)
	}
}

// TestTorchCosineLoss compares value and gradient with autograd.
func TestTorchCosineLoss(t *testing.T) {
	fx := torchfix.Load(t)
	be := cpu.New()
	l, g := be.CosineLoss(be.Upload(fx.CHW(t, "cos/f")), be.Upload(fx.CHW(t, "cos/t")))
	want, _ := fx.Raw(t, "cos/loss")
	torchfix.CloseAll(t, "loss", down(t, be, l).Data, want, 1e-6, 0)
	// Position (0,0) is below the norm clamp and has a gradient ~1e5 times
	// the others: keep the absolute tolerance far below the others' size.
	torchfix.CloseAll(t, "grad", down(t, be, g).Data, fx.CHW(t, "cos/gf").Data, 1e-5, 1e-9)
}

// TestTorchHypercolumns compares Hypercolumns and its backward with
// F.interpolate(tap / C, (h//4, w//4), align_corners=True), concatenated.
func TestTorchHypercolumns(t *testing.T) {
	fx := torchfix.Load(t)
	var meta struct {
		Size [2]int `json:"hyper_size"`
	}
	fx.Decode(t, &meta)
	be := cpu.New()
	var taps []nnst.Tensor
	for i := 0; i < 4; i++ {
		taps = append(taps, be.Upload(fx.CHW(t, fmt.Sprintf("hyper/tap%d", i))))
	}
	hc := down(t, be, be.Hypercolumns(taps, meta.Size[0], meta.Size[1]))
	torchfix.CloseAll(t, "forward", hc.Data, fx.CHW(t, "hyper/out").Data, 1e-5, 1e-6)
	gout := be.Upload(fx.CHW(t, "hyper/gout"))
	for i := range taps {
		torchfix.CloseAll(t, fmt.Sprintf("tap %d grad", i), down(t, be, be.HypercolumnsBackward(gout, taps, i)).Data, fx.CHW(t, fmt.Sprintf("hyper/gtap%d", i)).Data, 1e-5, 1e-6)
	}
}

// TestColorDistanceLoss checks the value against the direct formula and the
// gradient by finite differences of that formula in float64 (the |.| kinks
// make a small step necessary).
func TestColorDistanceLoss(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(51, 52))
	const h, w = 6, 5
	n := h * w
	x := tensor.New(3, h, w)
	ref := tensor.New(3, h, w)
	for i := range x.Data {
		x.Data[i] = r.Float32()
		ref.Data[i] = r.Float32()
	}
	direct := func(x []float64) float64 {
		var s float64
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				var a, b float64
				for c := 0; c < 3; c++ {
					dx := x[c*n+i] - x[c*n+j]
					dr := float64(ref.Data[c*n+i]) - float64(ref.Data[c*n+j])
					a += dx * dx
					b += dr * dr
				}
				s += math.Abs(math.Sqrt(a) - math.Sqrt(b))
			}
		}
		return s / float64(n*n)
	}
	x64 := make([]float64, len(x.Data))
	for i, v := range x.Data {
		x64[i] = float64(v)
	}
	l, g := be.ColorDistanceLoss(be.Upload(x), be.Upload(ref))
	if got, want := scalarOf(t, be, l), direct(x64); math.Abs(got-want) > 1e-6*want {
		t.Errorf("loss %.9g, want %.9g", got, want)
	}
	gh := down(t, be, g)
	for k := range 6 {
		d := randT(r, 3, h, w)
		const eps = 1e-7
		xp, xm := make([]float64, len(x64)), make([]float64, len(x64))
		for i, v := range d.Data {
			xp[i] = x64[i] + eps*float64(v)
			xm[i] = x64[i] - eps*float64(v)
		}
		fd := (direct(xp) - direct(xm)) / (2 * eps)
		an := dot(gh, d)
		if e := relErr(an, fd, 1e-4); e > 1e-4 {
			t.Errorf("direction %d: analytic %.7g, finite difference %.7g", k, an, fd)
		}
	}
	// Identical images: zero loss.
	l, _ = be.ColorDistanceLoss(be.Upload(ref), be.Upload(ref))
	if v := scalarOf(t, be, l); v != 0 {
		t.Errorf("loss of identical images = %g", v)
	}
}
