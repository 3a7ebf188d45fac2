package cpu_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
)

func randT(r *rand.Rand, c, h, w int) *tensor.T {
	t := tensor.New(c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

func down(t *testing.T, be nnst.Backend, x nnst.Tensor) *tensor.T {
	t.Helper()
	h, err := be.Download(x)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func scalarOf(t *testing.T, be nnst.Backend, x nnst.Tensor) float64 {
	t.Helper()
	h := down(t, be, x)
	if len(h.Data) != 1 {
		t.Fatalf("loss has %d elements, want 1", len(h.Data))
	}
	return float64(h.Data[0])
}

// axpy returns x + a*d as a new tensor.
func axpy(x *tensor.T, a float64, d *tensor.T) *tensor.T {
	y := x.Clone()
	for i, v := range d.Data {
		y.Data[i] = float32(float64(y.Data[i]) + a*float64(v))
	}
	return y
}

func dot(a, b *tensor.T) float64 { return ops.Dot(a.Data, b.Data) }

// relErr is |a-b| relative to the larger magnitude (floored at floor).
func relErr(a, b, floor float64) float64 {
	return math.Abs(a-b) / max(math.Abs(a), math.Abs(b), floor)
}

// refNearest is the brute-force float64 centred-cosine nearest neighbour:
// bank rows and query rows are each centred on their own global mean and
// normalised; it returns, per query row, the bank row with the largest
// cosine (ties to the lowest index) and the cosine of every bank row.
type refMatch struct {
	idx  []int
	best []float64
	sims [][]float64 // per query, cosine to every bank row
}

func centreNorm(rows [][]float64) [][]float64 {
	d := len(rows[0])
	mean := make([]float64, d)
	for _, r := range rows {
		for j, v := range r {
			mean[j] += v
		}
	}
	for j := range mean {
		mean[j] /= float64(len(rows))
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		c := make([]float64, d)
		var s float64
		for j, v := range r {
			c[j] = v - mean[j]
			s += c[j] * c[j]
		}
		n := max(math.Sqrt(s), 1e-8)
		for j := range c {
			c[j] /= n
		}
		out[i] = c
	}
	return out
}

func refNearest(bank, query [][]float64) refMatch {
	b := centreNorm(bank)
	q := centreNorm(query)
	m := refMatch{idx: make([]int, len(q)), best: make([]float64, len(q)), sims: make([][]float64, len(q))}
	for i, qv := range q {
		sims := make([]float64, len(b))
		bi, bs := -1, math.Inf(-1)
		for k, bv := range b {
			var s float64
			for j, v := range bv {
				s += v * qv[j]
			}
			sims[k] = s
			if s > bs {
				bi, bs = k, s
			}
		}
		m.idx[i], m.best[i], m.sims[i] = bi, bs, sims
	}
	return m
}

// newBank builds a bank from the vectors of ts as the driver does
// (nnst.BuildBank); ts stay alive.
func newBank(be nnst.Backend, ts ...nnst.Tensor) nnst.Bank {
	return nnst.BuildBank(be, len(ts), func(k int) nnst.Tensor { return be.Axpby(1, ts[k], 0, nil) })
}
