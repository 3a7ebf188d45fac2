package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"nnst/core/cpu"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// offsetT returns a random tensor whose channel j is shifted by off[j], so
// that centring matters.
func offsetT(r *rand.Rand, c, h, w int, off []float64) *tensor.T {
	t := randT(r, c, h, w)
	hw := h * w
	for j := 0; j < c; j++ {
		for p := 0; p < hw; p++ {
			t.Data[j*hw+p] += float32(off[j])
		}
	}
	return t
}

func randOffsets(r *rand.Rand, d int, scale float64) []float64 {
	o := make([]float64, d)
	for i := range o {
		o[i] = (r.Float64()*2 - 1) * scale
	}
	return o
}

// gap returns best - second best of a cosine row.
func gap(sims []float64) float64 {
	s := append([]float64(nil), sims...)
	sort.Float64s(s)
	return s[len(s)-1] - s[len(s)-2]
}

// subsampleRef gathers positions (Y0 + i*S, X0 + j*S) of t as float64 rows.
func subsampleRef(t *tensor.T, s nnst.Sample) (rows [][]float64, pos []int) {
	for y := s.Y0; y < t.H; y += s.Stride {
		for x := s.X0; x < t.W; x += s.Stride {
			p := y*t.W + x
			v := make([]float64, t.C)
			for c := range v {
				v[c] = float64(t.Data[c*t.H*t.W+p])
			}
			rows, pos = append(rows, v), append(pos, p)
		}
	}
	return rows, pos
}

// splitRef is SplitLoss in float64 from the brute-force match: the loss,
// the gradient wrt out, the match and the smallest best-to-second gap.
func splitRef(out *tensor.T, style []*tensor.T, s nnst.Sample) (float64, []float64, refMatch, float64) {
	var bank [][]float64
	for _, st := range style {
		rows, _ := subsampleRef(st, s)
		bank = append(bank, rows...)
	}
	q, pos := subsampleRef(out, s)
	m := refNearest(bank, q)
	bn := centreNorm(bank)
	n, c := len(q), out.C
	mean := make([]float64, c)
	for _, v := range q {
		for j := range v {
			mean[j] += v[j] / float64(n)
		}
	}
	var loss float64
	minGap := math.Inf(1)
	gx := make([][]float64, n)
	for i, v := range q {
		xc := make([]float64, c)
		var nn float64
		for j := range v {
			xc[j] = v[j] - mean[j]
			nn += xc[j] * xc[j]
		}
		nn = math.Sqrt(nn)
		y := bn[m.idx[i]]
		cos := m.best[i]
		loss += 1 - cos
		gx[i] = make([]float64, c)
		for j := range xc {
			gx[i][j] = -(y[j] - cos*xc[j]/nn) / nn / float64(n)
		}
		minGap = min(minGap, gap(m.sims[i]))
	}
	// Adjoint of the centring: subtract the mean gradient.
	for j := 0; j < c; j++ {
		var mg float64
		for i := range gx {
			mg += gx[i][j]
		}
		mg /= float64(n)
		for i := range gx {
			gx[i][j] -= mg
		}
	}
	g := make([]float64, len(out.Data))
	hw := out.H * out.W
	for i, p := range pos {
		for j := 0; j < c; j++ {
			g[j*hw+p] = gx[i][j]
		}
	}
	return loss / float64(n), g, m, minGap
}

// TestSplitLossBruteForce compares SplitLoss's value and gradient with the
// float64 brute-force reference (which fixes the match), for full and
// strided sampling and banks larger than one search tile.
func TestSplitLossBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(71, 72))
	cases := []struct {
		c, oh, ow int
		style     [][2]int
		s         nnst.Sample
	}{
		{37, 30, 25, [][2]int{{40, 35}, {35, 40}}, nnst.Sample{Stride: 1}},
		{37, 61, 50, [][2]int{{55, 64}, {64, 55}, {55, 64}}, nnst.Sample{Stride: 3, Y0: 2, X0: 1}},
		{5, 9, 7, [][2]int{{8, 8}}, nnst.Sample{Stride: 2, Y0: 1, X0: 1}},
	}
	for ci, tc := range cases {
		t.Run(fmt.Sprint(ci), func(t *testing.T) {
			be := cpu.New()
			out := offsetT(r, tc.c, tc.oh, tc.ow, randOffsets(r, tc.c, 2))
			soff := randOffsets(r, tc.c, 2)
			var style []*tensor.T
			var st []nnst.Tensor
			for _, hw := range tc.style {
				x := offsetT(r, tc.c, hw[0], hw[1], soff)
				style = append(style, x)
				st = append(st, be.Upload(x))
			}
			wantLoss, wantG, _, minGap := splitRef(out, style, tc.s)
			if minGap < 1e-5 {
				t.Fatalf("ill-conditioned test data: a near tie (gap %.2g); change the seed", minGap)
			}
			l, g := be.SplitLoss(be.Upload(out), st, tc.s)
			if got := scalarOf(t, be, l); math.Abs(got-wantLoss) > 1e-5 {
				t.Errorf("loss %.8f, want %.8f", got, wantLoss)
			}
			gh := down(t, be, g)
			if !gh.SameShape(out) {
				t.Fatalf("gradient shape %v, want %v", gh, out)
			}
			var scale float64
			for _, v := range wantG {
				scale = max(scale, math.Abs(v))
			}
			for i, v := range wantG {
				if math.Abs(float64(gh.Data[i])-v) > 1e-4*math.Abs(v)+1e-5*scale {
					t.Fatalf("gradient [%d] = %.7g, want %.7g (scale %.3g)", i, gh.Data[i], v, scale)
				}
			}
		})
	}
}

// TestSplitLossGrad checks SplitLoss's gradient by finite differences along
// random directions, with steps small enough that the match (checked with
// the brute-force reference) does not change.
func TestSplitLossGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(81, 82))
	be := cpu.New()
	for _, s := range []nnst.Sample{{Stride: 1}, {Stride: 2, Y0: 1, X0: 0}} {
		out := offsetT(r, 8, 7, 6, randOffsets(r, 8, 1))
		soff := randOffsets(r, 8, 1)
		style := []*tensor.T{offsetT(r, 8, 9, 5, soff), offsetT(r, 8, 5, 9, soff)}
		st := []nnst.Tensor{be.Upload(style[0]), be.Upload(style[1])}
		_, g := be.SplitLoss(be.Upload(out), st, s)
		gh := down(t, be, g)
		_, _, m0, _ := splitRef(out, style, s)
		loss := func(x *tensor.T) float64 { l, _ := be.SplitLoss(be.Upload(x), st, s); return scalarOf(t, be, l) }
		valid := 0
		for k := 0; k < 40 && valid < 6; k++ {
			d := randT(r, 8, 7, 6)
			const eps = 1e-3
			xp, xm := axpy(out, eps, d), axpy(out, -eps, d)
			same := true
			for _, x := range []*tensor.T{xp, xm} {
				_, _, m, _ := splitRef(x, style, s)
				for i := range m.idx {
					same = same && m.idx[i] == m0.idx[i]
				}
			}
			if !same {
				continue // the step changes the match: try another direction
			}
			valid++
			fd := (loss(xp) - loss(xm)) / (2 * eps)
			an := dot(gh, d)
			if e := relErr(an, fd, 1e-2); e > 2e-3 {
				t.Errorf("stride %d direction %d: analytic %.7g, finite difference %.7g (rel err %.2g)", s.Stride, k, an, fd, e)
			}
		}
		if valid < 6 {
			t.Fatalf("stride %d: only %d directions keep the match", s.Stride, valid)
		}
		// Positions that are not sampled get no gradient.
		if s.Stride > 1 {
			hw := out.H * out.W
			for c := 0; c < out.C; c++ {
				for p := 0; p < hw; p++ {
					y, x := p/out.W, p%out.W
					if ((y-s.Y0)%s.Stride != 0 || (x-s.X0)%s.Stride != 0) && gh.Data[c*hw+p] != 0 {
						t.Fatalf("unsampled position (%d,%d) has gradient %g", y, x, gh.Data[c*hw+p])
					}
				}
			}
		}
	}
}
