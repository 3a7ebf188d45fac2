package backendtest

import (
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// randT returns a tensor of N(0, 1) values, the same for the same seed.
func randT(c, h, w int, seed uint64) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 99))
	t := tensor.New(c, h, w)
	for i := range t.Data {
		t.Data[i] = float32(r.NormFloat64())
	}
	return t
}

// reluT is randT shifted and clamped like ReLU outputs.
func reluT(c, h, w int, seed uint64) *tensor.T {
	t := randT(c, h, w, seed)
	for i, v := range t.Data {
		t.Data[i] = max(v+0.5, 0)
	}
	return t
}

// relErr is max |got - want| / max |want| (max |got - want| where want is
// zero), +Inf for another shape or a NaN.
func relErr(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, m float64
	for i, w := range want {
		e := math.Abs(float64(got[i]) - float64(w))
		if math.IsNaN(e) {
			return math.Inf(1)
		}
		d = max(d, e)
		m = max(m, math.Abs(float64(w)))
	}
	if m == 0 {
		return d
	}
	return d / m
}

// closeTo checks the relative error of got against want.
func closeTo(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if e := relErr(got, want); !(e <= tol) {
		t.Errorf("%s: relative error %.3g > %.1g", what, e, tol)
	}
}

func down(t *testing.T, be nnst.Backend, x nnst.Tensor) *tensor.T {
	t.Helper()
	h, err := be.Download(x)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// check compares a tensor of the backend under test with the reference's
// (shape, then relative error) and frees both.
func (s *state) check(t *testing.T, what string, got, want nnst.Tensor, tol float64) {
	t.Helper()
	g, w := down(t, s.be, got), down(t, s.ref, want)
	s.be.Free(got)
	s.ref.Free(want)
	if !g.SameShape(w) {
		t.Errorf("%s: shape %dx%dx%d, want %dx%dx%d", what, g.C, g.H, g.W, w.C, w.H, w.W)
		return
	}
	closeTo(t, what, g.Data, w.Data, tol)
}

// upAll uploads ts to be.
func upAll(be nnst.Backend, ts []*tensor.T) []nnst.Tensor {
	out := make([]nnst.Tensor, len(ts))
	for i, x := range ts {
		out[i] = be.Upload(x)
	}
	return out
}

// random returns random taps of the set's shapes.
func (ts tapSet) random(seed uint64) []*tensor.T {
	var out []*tensor.T
	for i, s := range ts.taps {
		if ts.relu {
			out = append(out, reluT(s[0], s[1], s[2], seed+uint64(i)))
		} else {
			out = append(out, randT(s[0], s[1], s[2], seed+uint64(i)))
		}
	}
	return out
}

// channels is the hypercolumns' channel count.
func (ts tapSet) channels() int {
	d := 0
	for _, s := range ts.taps {
		d += s[0]
	}
	return d
}
