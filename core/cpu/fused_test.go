package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"nnst/core/cpu"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// tapShapes are taps of a tiny network for a 24 x 20 image (some smaller
// than the 6 x 5 hypercolumn grid, some larger, one odd channel count).
var tapShapes = [][3]int{{4, 24, 20}, {3, 24, 20}, {8, 12, 10}, {16, 6, 5}, {32, 3, 2}, {32, 1, 1}}

func randTaps(be nnst.Backend, r *rand.Rand) ([]nnst.Tensor, int) {
	var taps []nnst.Tensor
	d := 0
	for _, s := range tapShapes {
		taps = append(taps, be.Upload(randT(r, s[0], s[1], s[2])))
		d += s[0]
	}
	return taps, d
}

func same(t *testing.T, what string, got, want *tensor.T) {
	t.Helper()
	if !got.SameShape(want) {
		t.Fatalf("%s: shape %v, want %v", what, got, want)
	}
	for i := range want.Data {
		if got.Data[i] != want.Data[i] {
			t.Fatalf("%s: element %d is %g, want %g", what, i, got.Data[i], want.Data[i])
		}
	}
}

// TestHypercolumnLossUnfused checks the fused loss against CosineLoss of
// the materialised hypercolumns: the same float32 operations, so equal.
func TestHypercolumnLossUnfused(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(81, 82))
	taps, d := randTaps(be, r)
	const h, w = 6, 5
	target := be.Upload(randT(r, d, h, w))
	hc := be.Hypercolumns(taps, h, w)
	wl, wg := be.CosineLoss(hc, target)
	l, coef := be.HypercolumnLoss(taps, target)
	same(t, "loss", down(t, be, l), down(t, be, wl))
	if c, ch, cw := coef.Shape(); c != 3 || ch != h || cw != w {
		t.Fatalf("coef shape %dx%dx%d", c, ch, cw)
	}
	for i := range taps {
		same(t, fmt.Sprintf("tap %d gradient", i), down(t, be, be.HypercolumnLossBackward(coef, taps, target, i)), down(t, be, be.HypercolumnsBackward(wg, taps, i)))
	}
}

// TestHypercolumnLossGrad checks the fused backward by finite differences
// of the fused loss along random directions of each tap. The float32
// features make the difference noisy at about 5e-6, hence the floor.
func TestHypercolumnLossGrad(t *testing.T) {
	be := cpu.New()
	r := rand.New(rand.NewPCG(83, 84))
	taps, d := randTaps(be, r)
	host := make([]*tensor.T, len(taps))
	for i, x := range taps {
		host[i] = down(t, be, x)
		for j := range host[i].Data {
			host[i].Data[j] += 0.5 // keep the norms away from the clamp
		}
		taps[i] = be.Upload(host[i])
	}
	target := be.Upload(randT(r, d, 6, 5))
	_, coef := be.HypercolumnLoss(taps, target)
	loss := func(l int, x *tensor.T) float64 {
		ts := append([]nnst.Tensor(nil), taps...)
		ts[l] = be.Upload(x)
		v, _ := be.HypercolumnLoss(ts, target)
		return scalarOf(t, be, v)
	}
	for l, x := range host {
		g := down(t, be, be.HypercolumnLossBackward(coef, taps, target, l))
		for k := range 2 {
			dir := randT(r, x.C, x.H, x.W)
			const eps = 1e-2
			fd := (loss(l, axpy(x, eps, dir)) - loss(l, axpy(x, -eps, dir))) / (2 * eps)
			an := dot(g, dir)
			if e := relErr(an, fd, 1e-3); e > 3e-3 {
				t.Errorf("tap %d direction %d: analytic %.7g, finite difference %.7g", l, k, an, fd)
			}
		}
	}
}
