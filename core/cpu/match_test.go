package cpu_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"nnst/core/cpu"
	"nnst/core/gemm"
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

// TestMatchBruteForce compares Match with a float64 brute-force centred
// cosine nearest neighbour (global centring of bank and query, ties to the
// lowest index), on sizes that are not multiples of the search tiles, and
// checks that the result is the uncentred bank vector.
func TestMatchBruteForce(t *testing.T) {
	const d = 37
	r := rand.New(rand.NewPCG(61, 62))
	bankOff := randOffsets(r, d, 3)
	a := offsetT(r, d, 50, 30, bankOff) // 1500 vectors
	b := offsetT(r, d, 40, 25, bankOff) // 1000 vectors
	// The first 100 vectors of b repeat vectors of a: exact ties.
	for p := 0; p < 100; p++ {
		for c := 0; c < d; c++ {
			b.Data[c*1000+p] = a.Data[c*1500+7*p]
		}
	}
	q := offsetT(r, d, 28, 25, randOffsets(r, d, 3)) // 700 vectors
	bank := append(vectors(a), vectors(b)...)
	ref := refNearest(bank, vectors(q))

	old := gemm.UseAsm
	defer func() { gemm.UseAsm = old }()
	for _, asm := range []bool{true, false} {
		if asm && !old {
			continue
		}
		gemm.UseAsm = asm
		t.Run(fmt.Sprintf("asm=%v", asm), func(t *testing.T) {
			be := cpu.New()
			k := newBank(be, be.Upload(a), be.Upload(b))
			if k.Len() != 2500 {
				t.Fatalf("bank has %d vectors, want 2500", k.Len())
			}
			out := down(t, be, be.Match(k, be.Upload(q)))
			if !out.SameShape(q) {
				t.Fatalf("Match shape %v, want %v", out, q)
			}
			n := q.H * q.W
			nearTies := 0
			for p := 0; p < n; p++ {
				// Which bank vector did Match return? It must be one of them.
				got, dist := -1, math.Inf(1)
				for i, v := range bank {
					var s float64
					for c := 0; c < d; c++ {
						e := float64(out.Data[c*n+p]) - v[c]
						s += e * e
					}
					if s < dist {
						got, dist = i, s
					}
				}
				if math.Sqrt(dist) > 1e-5*d {
					t.Fatalf("query %d: output is not a bank vector (distance %.3g to the nearest)", p, math.Sqrt(dist))
				}
				want := ref.idx[p]
				if got == want || equalRows(bank[got], bank[want]) {
					continue
				}
				if ref.best[p]-ref.sims[p][got] < 1e-5 {
					nearTies++
					continue
				}
				t.Errorf("query %d: matched bank vector %d (cos %.7f), want %d (cos %.7f)", p, got, ref.sims[p][got], want, ref.best[p])
			}
			if nearTies > 3 {
				t.Errorf("%d near-tie mismatches", nearTies)
			}
		})
	}
}

func equalRows(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
