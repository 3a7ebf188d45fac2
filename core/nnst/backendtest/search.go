package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// offsets returns d random offsets up to scale, one per channel.
func offsets(d int, scale float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 5))
	o := make([]float32, d)
	for j := range o {
		o[j] = float32((r.Float64()*2 - 1) * scale)
	}
	return o
}

// shift adds off[c] (or add where off is nil) to channel c of t, so that
// centring matters, and returns t.
func shift(t *tensor.T, off []float32, add float32) *tensor.T {
	hw := t.H * t.W
	for i := range t.Data {
		if off != nil {
			t.Data[i] += off[i/hw]
		}
		t.Data[i] += add
	}
	return t
}

// vectors returns the positions of a C x H x W tensor as float64 rows.
func vectors(t *tensor.T) [][]float64 {
	hw := t.H * t.W
	rows := make([][]float64, hw)
	for p := range rows {
		rows[p] = make([]float64, t.C)
		for c := range rows[p] {
			rows[p][c] = float64(t.Data[c*hw+p])
		}
	}
	return rows
}

// unit returns rows centred on their mean and normalised.
func unit(rows [][]float64) [][]float64 {
	mean := make([]float64, len(rows[0]))
	for _, r := range rows {
		for j, v := range r {
			mean[j] += v / float64(len(rows))
		}
	}
	out := make([][]float64, len(rows))
	for i, r := range rows {
		var n float64
		out[i] = make([]float64, len(r))
		for j, v := range r {
			out[i][j] = v - mean[j]
			n += out[i][j] * out[i][j]
		}
		n = max(math.Sqrt(n), 1e-8)
		for j := range r {
			out[i][j] /= n
		}
	}
	return out
}

func dot(a, b []float64) float64 {
	var s float64
	for i, v := range a {
		s += v * b[i]
	}
	return s
}

// nn is a float64 nearest-neighbour reference: bank rows (uncentred and
// unit) and unit query rows.
type nn struct {
	rows, unit [][]float64
	query      [][]float64
	scale      float64 // the largest |bank element|
}

func newNN(bank []*tensor.T, query *tensor.T) *nn {
	r := &nn{query: unit(vectors(query))}
	for _, b := range bank {
		r.rows = append(r.rows, vectors(b)...)
	}
	r.unit = unit(r.rows)
	for _, v := range r.rows {
		for _, x := range v {
			r.scale = max(r.scale, math.Abs(x))
		}
	}
	return r
}

// pick checks the vector got returned for query p (row i of the bank if
// i >= 0, else the nearest row to got): it must be that bank vector
// within vtol * scale, at a centred cosine within ctol of the best.
func (r *nn) pick(p int, got []float64, i int, vtol, ctol float64) error {
	if i < 0 {
		dist := math.Inf(1)
		for k, v := range r.rows {
			if d := maxDiff(got, v); d < dist {
				i, dist = k, d
			}
		}
	}
	if i >= len(r.rows) {
		return fmt.Errorf("query %d: row %d of %d", p, i, len(r.rows))
	}
	if d := maxDiff(got, r.rows[i]); !(d <= vtol*r.scale) {
		return fmt.Errorf("query %d: the result is %.3g (relative) from bank row %d, the nearest to it", p, d/r.scale, i)
	}
	best := math.Inf(-1)
	for _, u := range r.unit {
		best = max(best, dot(u, r.query[p]))
	}
	if c := dot(r.unit[i], r.query[p]); !(best-c <= ctol) {
		return fmt.Errorf("query %d: bank row %d at cosine %.7f, the best is %.7f", p, i, c, best)
	}
	return nil
}

func maxDiff(a, b []float64) float64 {
	var d float64
	for i, v := range a {
		d = max(d, math.Abs(v-b[i]))
	}
	return d
}

// matchCase: Match of a query on a bank built as the driver builds them.
func matchCase(t *testing.T, s *state) {
	for i, sp := range matchSpecs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			seed := uint64(40 + 10*i)
			off := offsets(sp.d, sp.bankOff, seed)
			var bank []*tensor.T
			for k, hw := range sp.bank {
				bank = append(bank, shift(randT(sp.d, hw[0], hw[1], seed+1+uint64(k)), off, 0))
			}
			if sp.ties > 0 {
				a, b := bank[0], bank[1]
				for p := 0; p < sp.ties; p++ {
					for c := 0; c < sp.d; c++ {
						b.Data[c*b.H*b.W+p] = a.Data[c*a.H*a.W+7*p]
					}
				}
			}
			q := shift(randT(sp.d, sp.query[0], sp.query[1], seed+5), offsets(sp.d, sp.queryOff, seed+6), float32(sp.queryShift))
			b := nnst.BuildBank(s.be, len(bank), func(k int) nnst.Tensor { return s.be.Upload(bank[k]) })
			if n := len(newNN(bank, q).rows); b.Len() != n {
				t.Fatalf("bank of %d vectors, want %d", b.Len(), n)
			}
			bq := s.be.Upload(q)
			out := s.unfused(t).Match(b, bq)
			got := down(t, s.be, out)
			s.be.Free(out, bq)
			s.be.FreeBank(b)
			s.gathered(t, newNN(bank, q), got, nil)
		})
	}
}

// gathered checks search results got (query's shape), picked from the
// bank rows of field where it is not nil.
func (s *state) gathered(t *testing.T, r *nn, got *tensor.T, field []int32) {
	t.Helper()
	vtol, ctol := s.of(t, "vector"), s.of(t, "cosine")
	if got.H*got.W != len(r.query) {
		t.Fatalf("%d results for %d queries", got.H*got.W, len(r.query))
	}
	bad := 0
	for p, v := range vectors(got) {
		i := -1
		if field != nil {
			i = int(field[p])
		}
		if err := r.pick(p, v, i, vtol, ctol); err != nil {
			if bad++; bad <= 3 {
				t.Error(err)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d queries wrong", bad, len(r.query))
	}
}

// searchCase: a search over four banks of hypercolumns, the fourth a
// repeat of the first, added from taps (BankAddHypercolumns) for the
// search and from hypercolumns (BankAdd) for the gathers.
func searchCase(t *testing.T, s *state) {
	for i, sp := range searchSpecs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			ts := tapSets[sp.set]
			seed := uint64(100 + 50*i)
			parts := [][]*tensor.T{ts.random(seed), ts.random(seed + 10), ts.random(seed + 20)}
			parts = append(parts, parts[0])
			d := ts.channels()
			q := shift(randT(d, sp.qh, sp.qw, seed+30), offsets(d, 0.05, seed+31), 0)
			if ts.relu {
				q = reluT(d, sp.qh, sp.qw, seed+30)
			}
			var hcs []*tensor.T
			for _, p := range parts {
				hcs = append(hcs, down(t, s.ref, s.ref.Hypercolumns(upAll(s.ref, p), sp.h, sp.w)))
			}
			got, field := s.search(t, parts, q, sp.h, sp.w, sp.fieldFirst)
			if len(field) != sp.qh*sp.qw {
				t.Fatalf("a field of %d, want %d", len(field), sp.qh*sp.qw)
			}
			last := 0
			for _, f := range field {
				if int(f) >= 3*sp.h*sp.w {
					last++
				}
			}
			if last > 0 {
				t.Errorf("%d queries took a vector of the last bank, which repeats the first: ties go to the first", last)
			}
			s.gathered(t, newNN(hcs, q), got, field)
		})
	}
}

// search runs the backend's search of q over banks of the parts'
// hypercolumns and returns the gathered vectors and the field.
func (s *state) search(t *testing.T, parts [][]*tensor.T, q *tensor.T, h, w int, fieldFirst bool) (*tensor.T, []int32) {
	be := s.be
	hyper := func(k int) nnst.Tensor {
		taps := upAll(be, parts[k])
		hc := be.Hypercolumns(taps, h, w)
		be.Free(taps...)
		return hc
	}
	mean := nnst.BankMean(be, len(parts), hyper)
	qt := be.Upload(q)
	sr := be.NewSearch(qt)
	be.Free(qt)
	for k := range parts {
		b := be.NewBank(mean, h*w)
		taps := upAll(be, parts[k])
		be.BankAddHypercolumns(b, taps, h, w)
		be.Free(taps...)
		be.SearchBank(sr, b, k)
		be.FreeBank(b)
	}
	var field []int32
	var err error
	if fieldFirst {
		field, err = be.SearchField(sr)
	} else {
		be.EndSearch(sr)
	}
	target := be.Zeros(q.C, q.H, q.W)
	for k := range parts {
		b := be.NewBank(mean, h*w)
		hc := hyper(k)
		be.BankAdd(b, hc)
		be.Free(hc)
		be.SearchGather(sr, b, k, target)
		be.FreeBank(b)
	}
	if !fieldFirst {
		field, err = be.SearchField(sr)
	}
	be.FreeSearch(sr)
	be.Free(mean)
	if err != nil {
		t.Fatal(err)
	}
	got := down(t, be, target)
	be.Free(target)
	return got, field
}
