package backendtest

import (
	"fmt"
	"testing"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// uploadCase: Upload, Download and Zeros.
func uploadCase(t *testing.T, s *state) {
	x := randT(axpbyShape[0], axpbyShape[1], axpbyShape[2], 1)
	s.check(t, "upload", s.be.Upload(x), s.ref.Upload(x), s.of(t, "out"))
	c, h, w := zerosShape[0], zerosShape[1], zerosShape[2]
	s.check(t, "zeros", s.be.Zeros(c, h, w), s.ref.Zeros(c, h, w), s.of(t, "out"))
}

func axpbyCase(t *testing.T, s *state) {
	c, h, w := axpbyShape[0], axpbyShape[1], axpbyShape[2]
	x, y := randT(c, h, w, 1), randT(c, h, w, 2)
	bx, by, rx, ry := s.be.Upload(x), s.be.Upload(y), s.ref.Upload(x), s.ref.Upload(y)
	s.check(t, "0.5 x - 2 y", s.be.Axpby(0.5, bx, -2, by), s.ref.Axpby(0.5, rx, -2, ry), s.of(t, "out"))
	s.check(t, "3 x (y nil)", s.be.Axpby(3, bx, 0, nil), s.ref.Axpby(3, rx, 0, nil), s.of(t, "out"))
	// Axpy against Axpby: y += 1.5 x, in place, twice.
	s.be.Axpy(1.5, bx, by)
	s.be.Axpy(1.5, bx, by)
	s.check(t, "y += 1.5 x twice", by, s.ref.Axpby(3, rx, 1, ry), s.of(t, "out"))
	s.be.Free(bx)
}

func rot90Case(t *testing.T, s *state) {
	x := randT(rot90Shape[0], rot90Shape[1], rot90Shape[2], 3)
	bx, rx := s.be.Upload(x), s.ref.Upload(x)
	for k := -1; k <= 4; k++ {
		s.check(t, fmt.Sprintf("k=%d", k), s.be.Rot90(bx, k), s.ref.Rot90(rx, k), s.of(t, "out"))
	}
	s.be.Free(bx)
}

// resizeCase: Resize and ResizeBackward, with and without align corners.
func resizeCase(t *testing.T, s *state) {
	for i, c := range resizeShapes {
		for _, align := range []bool{false, true} {
			name := fmt.Sprintf("%dx%d to %dx%d align=%v", c[0], c[1], c[2], c[3], align)
			x := randT(3, c[0], c[1], uint64(i))
			bx := s.be.Upload(x)
			s.check(t, "resize "+name, s.be.Resize(bx, c[2], c[3], align), s.ref.Resize(s.ref.Upload(x), c[2], c[3], align), s.of(t, "out"))
			g := randT(3, c[2], c[3], uint64(i+50))
			bg := s.be.Upload(g)
			s.check(t, "backward "+name, s.be.ResizeBackward(bg, c[0], c[1], align), s.ref.ResizeBackward(s.ref.Upload(g), c[0], c[1], align), s.of(t, "grad"))
			s.be.Free(bx, bg)
		}
	}
}

// adamCase: three steps from zero moments.
func adamCase(t *testing.T, s *state) {
	c, h, w := adamShape[0], adamShape[1], adamShape[2]
	p, m, v := randT(c, h, w, 4), tensor.New(c, h, w), tensor.New(c, h, w)
	bs, rs := upAll(s.be, []*tensor.T{p, m, v}), upAll(s.ref, []*tensor.T{p, m, v})
	for step := 1; step <= 3; step++ {
		g := randT(c, h, w, uint64(10+step))
		bg := s.be.Upload(g)
		s.be.Adam(bs[0], bg, bs[1], bs[2], step, 2e-3)
		s.be.Free(bg)
		s.ref.Adam(rs[0], s.ref.Upload(g), rs[1], rs[2], step, 2e-3)
	}
	for i, name := range []string{"p", "m", "v"} {
		s.check(t, name, bs[i], rs[i], s.of(t, "out"))
	}
}

func channelMeanCase(t *testing.T, s *state) {
	x := randT(meanShape[0], meanShape[1], meanShape[2], 70)
	bx := s.be.Upload(x)
	s.check(t, "mean", s.be.ChannelMean(bx), s.ref.ChannelMean(s.ref.Upload(x)), s.of(t, "out"))
	s.be.Free(bx)
}

// cosineLossCase: CosineLoss with one zero vector (the norm clamps).
func cosineLossCase(t *testing.T, s *state) {
	be := s.unfused(t)
	c, h, w := cosineShape[0], cosineShape[1], cosineShape[2]
	f, tg := randT(c, h, w, 11), randT(c, h, w, 12)
	for i := 0; i < c; i++ {
		f.Data[i*h*w] = 0
	}
	bf, bt := be.Upload(f), be.Upload(tg)
	bl, bg := be.CosineLoss(bf, bt)
	rl, rg := s.ref.CosineLoss(s.ref.Upload(f), s.ref.Upload(tg))
	s.check(t, "loss", bl, rl, s.of(t, "loss"))
	s.check(t, "gradient", bg, rg, s.of(t, "grad"))
	be.Free(bf, bt)
}

func colorLossCase(t *testing.T, s *state) {
	c, h, w := colourShape[0], colourShape[1], colourShape[2]
	x, r := randT(c, h, w, 13), randT(c, h, w, 14)
	bx, br := s.be.Upload(x), s.be.Upload(r)
	bl, bg := s.be.ColorDistanceLoss(bx, br)
	rl, rg := s.ref.ColorDistanceLoss(s.ref.Upload(x), s.ref.Upload(r))
	s.check(t, "loss", bl, rl, s.of(t, "loss"))
	s.check(t, "gradient", bg, rg, s.of(t, "grad"))
	s.be.Free(bx, br)
}

// splitLossCase: SplitLoss on plain style tensors.
func splitLossCase(t *testing.T, s *state) {
	for i, c := range splitCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { s.split(t, c, uint64(15+10*i), false, nil) })
	}
}

// compactCase: SplitLoss on Compact copies of the style tensors, whole
// and keeping the phase sampled and one more.
func compactCase(t *testing.T, s *state) {
	for i, c := range compactCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { s.split(t, c, uint64(72+10*i), true, nil) })
		phases := [][2]int{{(c.s.Y0 + 1) % c.s.Stride, c.s.X0}, {c.s.Y0, c.s.X0}}
		t.Run(fmt.Sprint(i, "-phases"), func(t *testing.T) { s.split(t, c, uint64(72+10*i), true, phases) })
	}
}

// split compares SplitLoss of a case, its style tensors compacted if
// compact, keeping phases.
func (s *state) split(t *testing.T, c splitCase, seed uint64, compact bool, phases [][2]int) {
	out := randT(c.c, c.h, c.w, seed)
	var bs, rs []nnst.Tensor
	for k, hw := range c.style {
		x := randT(c.c, hw[0], hw[1], seed+1+uint64(k))
		b, r := s.be.Upload(x), s.ref.Upload(x)
		if compact {
			bc := s.be.Compact(b, c.s.Stride, phases)
			s.be.Free(b)
			b = bc
		}
		bs, rs = append(bs, b), append(rs, r)
	}
	bo := s.be.Upload(out)
	bl, bg := s.be.SplitLoss(bo, bs, c.s)
	rl, rg := s.ref.SplitLoss(s.ref.Upload(out), rs, c.s)
	what := fmt.Sprintf("%d styles, %+v", len(c.style), c.s)
	s.check(t, "loss, "+what, bl, rl, s.of(t, "loss"))
	s.check(t, "gradient, "+what, bg, rg, s.of(t, "grad"))
	s.be.Free(bo)
	s.be.Free(bs...)
}
