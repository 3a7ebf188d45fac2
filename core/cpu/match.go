package cpu

import (
	"fmt"
	"math"

	"nnst/core/gemm"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
)

// bank holds style vectors as rows, centred on their mean and normalised,
// with the norms and mean needed to give back the uncentred vectors.
type bank struct {
	rows  []float32 // M x D
	norms []float32 // M
	mean  []float32 // D
	m, d  int
}

func (k *bank) Len() int { return k.m }

const normFloor = 1e-8

// centreRows centres the rows of an M x D matrix on their mean and
// normalises them, in place; it returns the norms (before normalising, at
// least normFloor) and the mean.
func centreRows(rows []float32, m, d int) (norms, mean []float32) {
	mean = make([]float32, d)
	acc := make([]float64, d)
	for i := 0; i < m; i++ {
		for j, v := range rows[i*d : (i+1)*d] {
			acc[j] += float64(v)
		}
	}
	for j := range acc {
		mean[j] = float32(acc[j] / float64(max(m, 1)))
	}
	return normRows(rows, m, d, mean), mean
}

// normRows subtracts mean from the rows and normalises them, in place; it
// returns the norms (before normalising, at least normFloor).
func normRows(rows []float32, m, d int, mean []float32) []float32 {
	norms := make([]float32, m)
	ops.ParallelFor(m, func(i int) {
		r := rows[i*d : (i+1)*d]
		var s float64
		for j := range r {
			r[j] -= mean[j]
			s += float64(r[j]) * float64(r[j])
		}
		n := float32(math.Max(math.Sqrt(s), normFloor))
		norms[i] = n
		inv := 1 / n
		for j := range r {
			r[j] *= inv
		}
	})
	return norms
}

// centreCols is centreRows for the columns of a D x N matrix.
func centreCols(cols []float32, d, n int) (norms, mean []float32) {
	mean = make([]float32, d)
	ops.ParallelFor(d, func(j int) {
		var s float64
		for _, v := range cols[j*n : (j+1)*n] {
			s += float64(v)
		}
		mean[j] = float32(s / float64(max(n, 1)))
	})
	sq := make([]float64, n)
	for j := 0; j < d; j++ {
		c := cols[j*n : (j+1)*n]
		mj := mean[j]
		for i := range c {
			c[i] -= mj
			sq[i] += float64(c[i]) * float64(c[i])
		}
	}
	norms = make([]float32, n)
	inv := make([]float32, n)
	for i, s := range sq {
		norms[i] = float32(math.Max(math.Sqrt(s), normFloor))
		inv[i] = 1 / norms[i]
	}
	ops.ParallelFor(d, func(j int) {
		c := cols[j*n : (j+1)*n]
		for i := range c {
			c[i] *= inv[i]
		}
	})
	return norms, mean
}

// Nearest is the Go Kernels.Nearest, the default: it finds, for each
// column of q (D x N, normalised), the row of a (M x D, normalised) with
// the largest inner product: the smallest cosine distance. Ties go to the
// lowest row. It never holds more than a tile of the M x N similarity
// matrix.
func Nearest(a []float32, m, d int, q []float32, n int) (idx []int32, sim []float32) {
	const mb, nb = 1024, 256
	idx = make([]int32, n)
	sim = make([]float32, n)
	tiles := (n + nb - 1) / nb
	ops.ParallelFor(tiles, func(t int) {
		n0 := t * nb
		n1 := min(n, n0+nb)
		w := n1 - n0
		best := sim[n0:n1]
		bi := idx[n0:n1]
		for i := range best {
			best[i] = float32(math.Inf(-1))
		}
		scores := make([]float32, mb*w)
		for m0 := 0; m0 < m; m0 += mb {
			h := min(mb, m-m0)
			gemm.Sgemm(false, false, h, w, d, 1, a[m0*d:], d, q[n0:], n, 0, scores, w)
			for r := 0; r < h; r++ {
				row := scores[r*w : (r+1)*w]
				for c, s := range row {
					if s > best[c] {
						best[c] = s
						bi[c] = int32(m0 + r)
					}
				}
			}
		}
	})
	return idx, sim
}

// rowsOf appends the vectors of a C x H x W tensor, one row per position.
func rowsOf(dst []float32, t *tensor.T) []float32 {
	hw := t.H * t.W
	start := len(dst)
	dst = append(dst, make([]float32, hw*t.C)...)
	rows := dst[start:]
	ops.ParallelFor(t.C, func(c int) {
		for p, v := range t.Data[c*hw : (c+1)*hw] {
			rows[p*t.C+c] = v
		}
	})
	return dst
}

func (b *Backend) NewBank(mean nnst.Tensor, capacity int) nnst.Bank {
	m := host(mean)
	k := &bank{d: m.C, mean: append([]float32(nil), m.Data...)}
	k.rows = make([]float32, 0, capacity*k.d)
	k.norms = make([]float32, 0, capacity)
	return k
}

func (b *Backend) BankAdd(nb nnst.Bank, t nnst.Tensor) {
	k := nb.(*bank)
	x := host(t)
	start := len(k.rows)
	k.rows = rowsOf(k.rows, x)
	n := x.H * x.W
	k.norms = append(k.norms, normRows(k.rows[start:], n, k.d, k.mean)...)
	k.m += n
	b.track(int64(n*k.d) * 4)
}

func (b *Backend) FreeBank(k nnst.Bank) { b.track(-int64(len(k.(*bank).rows)) * 4) }

func (b *Backend) Match(nb nnst.Bank, query nnst.Tensor) nnst.Tensor {
	k := nb.(*bank)
	q := host(query).Clone()
	n := q.H * q.W
	centreCols(q.Data, q.C, n)
	idx, _ := b.k.Nearest(k.rows, k.m, k.d, q.Data, n)
	out := tensor.New(q.C, q.H, q.W)
	ops.ParallelFor(n, func(p int) {
		r := k.rows[int(idx[p])*k.d : (int(idx[p])+1)*k.d]
		s := k.norms[idx[p]]
		for c, v := range r {
			out.Data[c*n+p] = v*s + k.mean[c]
		}
	})
	return b.wrap(out)
}

// CosineLoss: loss = mean_p (1 - <t,f>/(|t||f|)), squared norms clamped to
// [1e-8, 1e8] as the reference does.
func (b *Backend) CosineLoss(f, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	ft, tt := host(f), host(target)
	n := ft.H * ft.W
	var st cosStats
	st.add(ft, tt, 0, n)
	loss, coef := st.finish(ft.H, ft.W)
	g := tensor.New(ft.C, ft.H, ft.W)
	cosGrad(g, ft, tt, 0, coef)
	return b.wrap(scalar(loss)), b.wrap(g)
}

// cosStats accumulates per position <f,t>, |f|^2 and |t|^2 in float64.
type cosStats struct{ dot, ff, tt []float64 }

// add accumulates the channels of f against channels off.. of t.
func (s *cosStats) add(f, t *tensor.T, off, n int) {
	if s.dot == nil {
		s.dot, s.ff, s.tt = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	for c := 0; c < f.C; c++ {
		fp, tp := f.Data[c*n:(c+1)*n], t.Data[(off+c)*n:(off+c+1)*n]
		for p := range fp {
			a, b := float64(fp[p]), float64(tp[p])
			s.dot[p] += a * b
			s.ff[p] += a * a
			s.tt[p] += b * b
		}
	}
}

// finish returns the mean loss and per position 1 - cos, ka, kb (3 x h x w).
func (s *cosStats) finish(h, w int) (float64, *tensor.T) {
	n := h * w
	coef := tensor.New(3, h, w)
	var loss float64
	for p := range s.dot {
		fsq := math.Min(math.Max(s.ff[p], 1e-8), 1e8)
		tsq := math.Min(math.Max(s.tt[p], 1e-8), 1e8)
		fnorm, tnorm := math.Sqrt(fsq), math.Sqrt(tsq)
		cos := s.dot[p] / (fnorm * tnorm)
		loss += 1 - cos
		coef.Data[p] = float32(1 - cos)
		coef.Data[n+p] = float32(-1 / (fnorm * tnorm) / float64(n))
		if s.ff[p] > 1e-8 && s.ff[p] < 1e8 {
			coef.Data[2*n+p] = float32(cos / fsq / float64(n))
		}
	}
	return loss / float64(n), coef
}

// cosGrad writes g = ka*t + kb*f, with t's channels from off.
func cosGrad(g, f, t *tensor.T, off int, coef *tensor.T) {
	n := f.H * f.W
	ka, kb := coef.Data[n:2*n], coef.Data[2*n:]
	ops.ParallelFor(f.C, func(c int) {
		fp, tp, gp := f.Data[c*n:(c+1)*n], t.Data[(off+c)*n:(off+c+1)*n], g.Data[c*n:(c+1)*n]
		for p := range gp {
			gp[p] = ka[p]*tp[p] + kb[p]*fp[p]
		}
	})
}

func (b *Backend) HypercolumnLoss(taps []nnst.Tensor, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	tt := host(target)
	var st cosStats
	off := 0
	for _, t := range taps {
		x := host(t)
		st.add(hyperTap(x, tt.H, tt.W), tt, off, tt.H*tt.W)
		off += x.C
	}
	if off != tt.C {
		panic(fmt.Sprintf("cpu: HypercolumnLoss: taps have %d channels, target %d", off, tt.C))
	}
	loss, coef := st.finish(tt.H, tt.W)
	return b.wrap(scalar(loss)), b.wrap(coef)
}

func (b *Backend) HypercolumnLossBackward(coef nnst.Tensor, taps []nnst.Tensor, target nnst.Tensor, l int) nnst.Tensor {
	tt := host(target)
	off := 0
	for _, t := range taps[:l] {
		off += host(t).C
	}
	x := host(taps[l])
	f := hyperTap(x, tt.H, tt.W)
	cosGrad(f, f, tt, off, host(coef)) // in place: each element reads f before writing g
	return b.wrap(hyperTapBackward(f, x))
}

func (b *Backend) BankAddHypercolumns(k nnst.Bank, taps []nnst.Tensor, h, w int) {
	hc := b.Hypercolumns(taps, h, w)
	b.BankAdd(k, hc)
	b.Free(hc)
}

// search is a running nearest-neighbour search (NewSearch).
type search struct {
	q      []float32 // centred unit query columns, nil after the first gather
	c, n   int
	sim    []float32
	idx    []int32 // row in its bank
	bank   []int   // bank of the best row, -1 for none yet
	base   []int   // first index of each bank searched, in their concatenation
	total  int
	qbytes int64
}

func (b *Backend) NewSearch(query nnst.Tensor) nnst.Search {
	x := host(query)
	s := &search{q: append([]float32(nil), x.Data...), c: x.C, n: x.H * x.W}
	centreCols(s.q, s.c, s.n)
	s.sim = make([]float32, s.n)
	s.idx = make([]int32, s.n)
	s.bank = make([]int, s.n)
	for i := range s.bank {
		s.bank[i] = -1
	}
	s.qbytes = int64(len(s.q)) * 4
	b.track(s.qbytes + int64(s.n)*12)
	return s
}

func (b *Backend) SearchBank(ns nnst.Search, nb nnst.Bank, k int) {
	s, kb := ns.(*search), nb.(*bank)
	if s.q == nil {
		panic("cpu: SearchBank after SearchGather")
	}
	idx, sim := b.k.Nearest(kb.rows, kb.m, kb.d, s.q, s.n)
	for len(s.base) <= k {
		s.base = append(s.base, s.total)
	}
	s.total += kb.m
	for p := range idx {
		if s.bank[p] < 0 || sim[p] > s.sim[p] {
			s.sim[p], s.idx[p], s.bank[p] = sim[p], idx[p], k
		}
	}
}

func (b *Backend) EndSearch(ns nnst.Search) {
	if s := ns.(*search); s.q != nil {
		s.q = nil
		b.track(-s.qbytes)
	}
}

func (b *Backend) SearchGather(ns nnst.Search, nb nnst.Bank, k int, target nnst.Tensor) {
	s, kb := ns.(*search), nb.(*bank)
	b.EndSearch(s)
	out := host(target)
	ops.ParallelFor(s.n, func(p int) {
		if s.bank[p] != k {
			return
		}
		r := kb.rows[int(s.idx[p])*kb.d : (int(s.idx[p])+1)*kb.d]
		nm := kb.norms[s.idx[p]]
		for c, v := range r {
			out.Data[c*s.n+p] = v*nm + kb.mean[c]
		}
	})
}

func (b *Backend) SearchField(ns nnst.Search) ([]int32, error) {
	s := ns.(*search)
	f := make([]int32, s.n)
	for p := range f {
		if s.bank[p] < 0 {
			return nil, fmt.Errorf("cpu: SearchField before any bank was searched")
		}
		f[p] = int32(s.base[s.bank[p]]) + s.idx[p]
	}
	return f, nil
}

func (b *Backend) FreeSearch(ns nnst.Search) {
	s := ns.(*search)
	if s.q != nil {
		b.track(-s.qbytes)
	}
	b.track(-int64(s.n) * 12)
	*s = search{}
}

// subsample gathers positions (s.Y0 + i*s.Stride, s.X0 + j*s.Stride) of t as
// columns of a C x N matrix and returns their flat positions.
func subsample(t *tensor.T, s nnst.Sample) ([]float32, []int) {
	pos := positions(t.H, t.W, s)
	n := len(pos)
	cols := make([]float32, t.C*n)
	hw := t.H * t.W
	for c := 0; c < t.C; c++ {
		src := t.Data[c*hw : (c+1)*hw]
		dst := cols[c*n : (c+1)*n]
		for i, p := range pos {
			dst[i] = src[p]
		}
	}
	return cols, pos
}

// sampleCount is how many positions s samples in an h x w tensor.
func sampleCount(h, w int, s nnst.Sample) int {
	return max(0, (h-s.Y0+s.Stride-1)/s.Stride) * max(0, (w-s.X0+s.Stride-1)/s.Stride)
}

// positions are the flat positions s samples in an h x w tensor.
func positions(h, w int, s nnst.Sample) []int {
	pos := make([]int, 0, sampleCount(h, w, s))
	for y := s.Y0; y < h; y += s.Stride {
		for x := s.X0; x < w; x += s.Stride {
			pos = append(pos, y*w+x)
		}
	}
	return pos
}

func (b *Backend) SplitLoss(out nnst.Tensor, style []nnst.Tensor, s nnst.Sample) (nnst.Tensor, nnst.Tensor) {
	ot := host(out)
	c := ot.C
	// Style samples as rows.
	k := 0
	for _, st := range style {
		_, h, w := st.Shape()
		k += sampleCount(h, w, s)
	}
	rows := make([]float32, 0, k*c)
	m := 0
	for _, st := range style {
		var n int
		rows, n = styleRows(rows, st, s)
		m += n
	}
	centreRows(rows, m, c)
	x, pos := subsample(ot, s)
	n := len(pos)
	norms, _ := centreCols(x, c, n) // x is now normalised centred columns
	idx, sim := b.k.Nearest(rows, m, c, x, n)
	var loss float64
	for _, v := range sim {
		loss += 1 - float64(v)
	}
	loss /= float64(n)
	// d(1-cos)/d(xc) = -(y - cos*xn)/|xc|, per column; then the centring's
	// adjoint subtracts the mean gradient.
	gx := make([]float32, c*n)
	for ch := 0; ch < c; ch++ {
		var mean float64
		row := gx[ch*n : (ch+1)*n]
		xr := x[ch*n : (ch+1)*n]
		for i := range row {
			y := rows[int(idx[i])*c+ch]
			row[i] = -(y - sim[i]*xr[i]) / norms[i] / float32(n)
			mean += float64(row[i])
		}
		mf := float32(mean / float64(n))
		for i := range row {
			row[i] -= mf
		}
	}
	g := tensor.New(ot.C, ot.H, ot.W)
	hw := ot.H * ot.W
	for ch := 0; ch < c; ch++ {
		dst := g.Data[ch*hw : (ch+1)*hw]
		for i, p := range pos {
			dst[p] = gx[ch*n+i]
		}
	}
	return b.wrap(scalar(loss)), b.wrap(g)
}

// ColorDistanceLoss: mean over pixel pairs of |D(x)_ij - D(ref)_ij|, with
// D the Euclidean distance of the pixels' colours.
func (b *Backend) ColorDistanceLoss(x, ref nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	xt, rt := host(x), host(ref)
	n := xt.H * xt.W
	px := func(t *tensor.T, i int) [3]float64 {
		return [3]float64{float64(t.Data[i]), float64(t.Data[n+i]), float64(t.Data[2*n+i])}
	}
	g := tensor.New(3, xt.H, xt.W)
	parts := make([]float64, n)
	ops.ParallelFor(n, func(i int) {
		xi, ri := px(xt, i), px(rt, i)
		var l float64
		var gi [3]float64
		for j := 0; j < n; j++ {
			xj, rj := px(xt, j), px(rt, j)
			dx := [3]float64{xi[0] - xj[0], xi[1] - xj[1], xi[2] - xj[2]}
			dr := [3]float64{ri[0] - rj[0], ri[1] - rj[1], ri[2] - rj[2]}
			a := math.Sqrt(dx[0]*dx[0] + dx[1]*dx[1] + dx[2]*dx[2])
			r := math.Sqrt(dr[0]*dr[0] + dr[1]*dr[1] + dr[2]*dr[2])
			l += math.Abs(a - r)
			if a > 0 && a != r {
				s := 1.0
				if a < r {
					s = -1
				}
				for k := range gi {
					gi[k] += s * dx[k] / a
				}
			}
		}
		parts[i] = l
		k := 2 / float64(n) / float64(n)
		for c := 0; c < 3; c++ {
			g.Data[c*n+i] = float32(gi[c] * k)
		}
	})
	var loss float64
	for _, v := range parts {
		loss += v
	}
	return b.wrap(scalar(loss / float64(n) / float64(n))), b.wrap(g)
}
