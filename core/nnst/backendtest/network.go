package backendtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// image returns an RGB image of values in [0, 1).
func image(h, w int, seed uint64) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 7))
	t := tensor.New(3, h, w)
	for i := range t.Data {
		t.Data[i] = r.Float32()
	}
	return t
}

// networkCase runs a random VGG19 with 1/16 of the channels forward, then
// backward from random gradients of most taps (every third none), with
// hypercolumns and a split loss on its taps on the way.
func networkCase(t *testing.T, s *state) {
	m := model.Random(model.VGG19, 16, 3)
	for _, be := range []nnst.Backend{s.be, s.ref} {
		if err := be.LoadModel(m); err != nil {
			t.Fatalf("%s: %v", be.Name(), err)
		}
	}
	for i, size := range networkImages {
		t.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(t *testing.T) {
			s.network(t, image(size[0], size[1], uint64(9+i)), image(size[0], size[1], uint64(19+i)))
		})
	}
}

func (s *state) network(t *testing.T, img, style *tensor.T) {
	bi, ri := s.be.Upload(img), s.ref.Upload(img)
	defer s.be.Free(bi)
	btr, rtr := s.be.Forward(bi, true), s.ref.Forward(ri, true)
	if len(btr.Taps) != len(rtr.Taps) {
		t.Fatalf("%d taps, want %d", len(btr.Taps), len(rtr.Taps))
	}
	var bg, rg []nnst.Tensor
	for l := range rtr.Taps {
		want := down(t, s.ref, rtr.Taps[l])
		closeTo(t, fmt.Sprintf("tap %d", l), down(t, s.be, btr.Taps[l]).Data, want.Data, s.of(t, "taps"))
		if l%3 == 1 {
			bg, rg = append(bg, nil), append(rg, nil)
			continue
		}
		g := randT(want.C, want.H, want.W, uint64(20+l))
		bg, rg = append(bg, s.be.Upload(g)), append(rg, s.ref.Upload(g))
	}
	s.hyper(t, btr.Taps, rtr.Taps, 9, 7, s.of(t, "hyper"), s.of(t, "hyper"))

	// A split loss on tap 4 against another image's.
	bs := s.be.Upload(style)
	bst, rst := s.be.Forward(bs, false), s.ref.Forward(s.ref.Upload(style), false)
	s.be.Free(bs)
	bl, bgr := s.be.SplitLoss(btr.Taps[4], bst.Taps[4:5], nnst.Sample{Stride: 1})
	rl, rgr := s.ref.SplitLoss(rtr.Taps[4], rst.Taps[4:5], nnst.Sample{Stride: 1})
	s.check(t, "split loss on tap 4", bl, rl, s.of(t, "loss"))
	s.check(t, "split loss gradient on tap 4", bgr, rgr, s.of(t, "grad"))
	s.be.Release(bst)

	var order []int
	bgrad := s.be.Backward(btr, func(l int) nnst.Tensor { order = append(order, l); return bg[l] })
	rgrad := s.ref.Backward(rtr, func(l int) nnst.Tensor { return rg[l] })
	want := make([]int, len(rg))
	for i := range want {
		want[i] = len(want) - 1 - i
	}
	if !slices.Equal(order, want) {
		t.Errorf("tap gradients asked in order %v, want %v (each once, last to first)", order, want)
	}
	s.check(t, "image gradient", bgrad, rgrad, s.of(t, "grad"))

	// Without keep.
	btr, rtr = s.be.Forward(bi, false), s.ref.Forward(ri, false)
	for l := range rtr.Taps {
		closeTo(t, fmt.Sprintf("tap %d without keep", l), down(t, s.be, btr.Taps[l]).Data, down(t, s.ref, rtr.Taps[l]).Data, s.of(t, "taps"))
	}
	s.be.Release(btr)
}

// hyper compares Hypercolumns of taps on an h x w grid (within tol) and,
// where the backend has the unfused ops, each tap's HypercolumnsBackward
// of a random gradient (within gtol).
func (s *state) hyper(t *testing.T, bt, rt []nnst.Tensor, h, w int, tol, gtol float64) {
	rh := s.ref.Hypercolumns(rt, h, w)
	d, _, _ := rh.Shape()
	s.check(t, "hypercolumns", s.be.Hypercolumns(bt, h, w), rh, tol)
	be, ok := nnst.As[nnst.Unfused](s.be)
	if !ok {
		t.Log("no HypercolumnsBackward: the backend has no unfused ops (nnst.Unfused)")
		return
	}
	g := randT(d, h, w, 30)
	bg, rg := be.Upload(g), s.ref.Upload(g)
	for l := range rt {
		s.check(t, fmt.Sprintf("hypercolumns backward, tap %d", l), be.HypercolumnsBackward(bg, bt, l), s.ref.HypercolumnsBackward(rg, rt, l), gtol)
	}
	be.Free(bg)
}

// hypercolumnsCase: Hypercolumns and HypercolumnsBackward of each tap set.
func hypercolumnsCase(t *testing.T, s *state) {
	for i, ts := range tapSets {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			taps := ts.random(uint64(90 + 10*i))
			bt := upAll(s.be, taps)
			s.hyper(t, bt, upAll(s.ref, taps), ts.h, ts.w, s.of(t, "out"), s.of(t, "grad"))
			s.be.Free(bt...)
		})
	}
}

// hypercolumnLossCase: the fused HypercolumnLoss, its coefficients and
// each tap's HypercolumnLossBackward.
func hypercolumnLossCase(t *testing.T, s *state) {
	for i, ts := range tapSets {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			taps := ts.random(uint64(90 + 10*i))
			target := randT(ts.channels(), ts.h, ts.w, uint64(91+10*i))
			bt, rt := upAll(s.be, taps), upAll(s.ref, taps)
			btg, rtg := s.be.Upload(target), s.ref.Upload(target)
			bl, bc := s.be.HypercolumnLoss(bt, btg)
			rl, rc := s.ref.HypercolumnLoss(rt, rtg)
			s.check(t, "loss", bl, rl, s.of(t, "loss"))
			for l := range taps {
				s.check(t, fmt.Sprintf("gradient of tap %d", l), s.be.HypercolumnLossBackward(bc, bt, btg, l), s.ref.HypercolumnLossBackward(rc, rt, rtg, l), s.of(t, "grad"))
			}
			s.check(t, "coefficients", bc, rc, s.of(t, "coef"))
			s.be.Free(bt...)
			s.be.Free(btg)
		})
	}
}
