//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"fmt"

	"nnst/core/nnst"
)

// bank holds unit-norm centred style vectors as rows of dp words (fp16
// pairs or f32), split into parts that each fit one storage binding, with
// the norms and mean that give back the uncentred vectors.
type bank struct {
	parts    []*buffer
	partRows int
	m, d, dp int
	capacity int
	f16      bool
	norms    *buffer // m
	mean     *buffer // d
}

func (k *bank) Len() int { return k.m }

// over is the F16 override of the bank's kernels.
func (k *bank) over() overrides {
	if k.f16 {
		return bankF16
	}
	return 0
}

// grid is a sample grid over a C x H x W tensor.
type grid struct {
	t                     *Tensor
	stride, y0, x0, sw, n int
}

func sampleGrid(t *Tensor, s nnst.Sample) grid {
	g := grid{t: t, stride: max(s.Stride, 1), y0: s.Y0, x0: s.X0}
	var sh int
	sh, g.sw = gridDims(t.h, t.w, s)
	g.n = sh * g.sw
	return g
}

// sparams are the S words of match.wgsl for view v of the grid's tensor:
// wn words a row (pack_rows), mode (colnorm).
func (g grid) sparams(v view, off, dp, i0, n, noff, wn, mode int) params {
	return params{uint32(v.c), uint32(g.t.h), uint32(g.t.w), uint32(g.stride), uint32(g.y0), uint32(g.x0),
		uint32(max(g.sw, 1)), uint32(n), uint32(off), uint32(dp), uint32(i0), uint32(noff), uint32(v.c0), uint32(wn), uint32(mode)}
}

// colnorm writes into norms, from off, the norms of the grid's samples
// centred on mean, summed over the tensor's parts.
func (b *Backend) colnorm(g grid, mean, norms *buffer, off int) {
	vs := g.t.views()
	for i, v := range vs {
		mode := 0
		if i > 0 {
			mode |= 1
		}
		if i == len(vs)-1 {
			mode |= 2
		}
		b.run1("match", "colnorm", src16(g.t), g.n, g.sparams(v, off, 0, 0, g.n, 0, 0, mode), v.buf, mean, norms)
	}
}

// src16 is the SRC16 override of a kernel reading t.
func src16(t *Tensor) overrides {
	if t.half {
		return srcF16
	}
	return 0
}

// chanMean writes into mean (C floats) the mean over the samples of all grids.
func (b *Backend) chanMean(gs []grid, mean *buffer) int {
	total := 0
	for _, g := range gs {
		total += g.n
	}
	for i, g := range gs {
		scale := float32(1)
		if i == len(gs)-1 {
			scale = 1 / float32(max(total, 1))
		}
		acc := uint32(0)
		if i > 0 {
			acc = 1
		}
		for _, v := range g.t.views() {
			b.dispatch("reduce", "chansum", src16(g.t), v.c, 1, params{uint32(v.c), uint32(g.t.h), uint32(g.t.w), uint32(g.stride),
				uint32(g.y0), uint32(g.x0), uint32(max(g.sw, 1)), uint32(g.n), acc, f32(scale), uint32(v.c0)}, v.buf, mean)
		}
	}
	return total
}

// allocBank returns an empty bank of d-vectors for up to capacity rows;
// its mean is left to the caller.
func (b *Backend) allocBank(d, capacity int, f16 bool) *bank {
	k := &bank{d: d, dp: (d + 1) &^ 1, f16: f16, capacity: capacity}
	k.mean = b.newBuf(int64(d) * 4)
	k.norms = b.newBuf(int64(max(capacity, 1)) * 4)
	rowBytes := bankRowBytes(d, f16)
	lim := b.MaxBuffer()
	if b.partLimit > 0 {
		lim = b.partLimit
	}
	k.partRows = partRows(capacity, rowBytes, lim)
	for r := 0; r < capacity || r == 0; r += k.partRows {
		k.parts = append(k.parts, b.newBuf(int64(min(k.partRows, capacity-r)+1)*rowBytes))
	}
	return k
}

// bankAdd appends the samples of g to the bank.
func (b *Backend) bankAdd(k *bank, g grid) {
	if k.m+g.n > k.capacity || g.t.c != k.d {
		b.fail(fmt.Errorf("webgpu: %d vectors of %d channels do not fit a bank of %d/%d vectors of %d", g.n, g.t.c, k.m, k.capacity, k.d))
		return
	}
	b.colnorm(g, k.mean, k.norms, k.m)
	// Rows split at the bank's part boundaries, channels at the tensor's
	// (even, so no fp16 word spans two); the last part pads the row.
	f := k.over() | src16(g.t)
	vs := g.t.views()
	for j, v := range vs {
		words := v.c
		if j == len(vs)-1 {
			words = k.dp - v.c0
		}
		if k.f16 {
			words /= 2
		}
		row := k.m
		for i := 0; i < g.n; {
			part := row / k.partRows
			local := row % k.partRows
			n := min(g.n-i, k.partRows-local)
			b.run1("match", "pack_rows", f, n*words, g.sparams(v, local, k.dp, i, n, row, words, 0), v.buf, k.mean, k.norms, k.parts[part])
			i += n
			row += n
		}
	}
	k.m += g.n
}

// newBank builds a bank from the samples of the grids.
func (b *Backend) newBank(gs []grid, f16 bool) *bank {
	total := 0
	for _, g := range gs {
		total += g.n
	}
	k := b.allocBank(gs[0].t.c, total, f16)
	b.chanMean(gs, k.mean)
	for _, g := range gs {
		b.bankAdd(k, g)
	}
	return k
}

func (b *Backend) freeBank(k *bank) {
	for _, p := range k.parts {
		b.freeBuf(p)
	}
	b.freeBuf(k.norms)
	b.freeBuf(k.mean)
}

func (b *Backend) ChannelMean(x nnst.Tensor) nnst.Tensor {
	xt := gt(x)
	out := b.tensor(xt.c, 1, 1)
	b.chanMean([]grid{sampleGrid(xt, nnst.Sample{Stride: 1})}, out.buf)
	return out
}

// NewBank stores the bank in fp16.
func (b *Backend) NewBank(mean nnst.Tensor, capacity int) nnst.Bank {
	mt := gt(mean)
	k := b.allocBank(mt.c, capacity, true)
	b.run1("elementwise", "axpby", noOverrides, mt.c, params{uint32(mt.c), f32(1), f32(0), 0}, mt.buf, mt.buf, k.mean)
	return k
}

func (b *Backend) BankAdd(k nnst.Bank, t nnst.Tensor) {
	b.bankAdd(k.(*bank), sampleGrid(gt(t), nnst.Sample{Stride: 1}))
}

func (b *Backend) FreeBank(k nnst.Bank) { b.freeBank(k.(*bank)); b.flushSpare() }

// query centres and normalises the samples of g into a C x n column
// matrix, in parts of whole columns; it returns it and the norms.
func (b *Backend) query(g grid) (q *queries, norms *buffer) {
	c := g.t.c
	mean := b.newBuf(int64(c) * 4)
	b.chanMean([]grid{g}, mean)
	norms = b.newBuf(int64(max(g.n, 1)) * 4)
	b.colnorm(g, mean, norms, 0)
	q = &queries{cols: queryCols(c, g.n, b.binding)}
	for i0 := 0; i0 < g.n || i0 == 0; i0 += q.cols {
		nj := min(q.cols, g.n-i0)
		buf := b.newBuf(int64(max(c*nj, 1)) * 4)
		q.parts = append(q.parts, buf)
		for _, v := range g.t.views() {
			b.run1("match", "centre_cols", noOverrides, v.c*nj, g.sparams(v, 0, 0, i0, nj, 0, 0, 0), v.buf, mean, norms, buf)
		}
	}
	b.freeBuf(mean)
	if len(q.parts) > 1 {
		b.parted++
	}
	return q, norms
}

// nearest returns, for each of the n query columns, the index and
// similarity of the bank row with the largest inner product.
func (b *Backend) nearest(k *bank, q *queries, n int) (idx, sim *buffer) {
	idx = b.newBuf(int64(n) * 4)
	sim = b.newBuf(int64(n) * 4)
	b.nearestInto(k, q, n, idx, sim, false, 0)
	return idx, sim
}

// nearestInto writes the nearest rows into idx and sim (indices plus off);
// with acc only where strictly nearer than what they hold. Bank part by
// part, each reduced into idx and sim before the next (a later part wins
// only when strictly nearer: ties go to the lower row), and queries in
// runs of scanCols, so the partial results hold one part's of one run.
func (b *Backend) nearestInto(k *bank, q *queries, n int, idx, sim *buffer, acc bool, off int) {
	slots := searchSlots(min(k.m, k.partRows), k.partRows)
	run := scanCols(slots, n, b.binding)
	rsim := b.newBuf(int64(slots*run) * 4)
	ridx := b.newBuf(int64(slots*run) * 4)
	for pi, r := 0, 0; r < k.m; pi, r = pi+1, r+k.partRows {
		rows := min(k.partRows, k.m-r)
		ch := (rows + chunkRows - 1) / chunkRows
		a := uint32(0)
		if acc || pi > 0 {
			a = 1
		}
		for j, qb := range q.parts {
			q0, qn := q.span(j, n)
			for c0 := 0; c0 < qn; c0 += run {
				nr := min(run, qn-c0)
				b.dispatch("match", "nearest", k.over(), (nr+63)/64, ch,
					params{uint32(rows), uint32(k.d), uint32(k.dp), uint32(nr), uint32(r), chunkRows, 0, 0, uint32(nr), uint32(c0), uint32(qn)}, k.parts[pi], qb, rsim, ridx)
				b.run1("match", "nearest_reduce", noOverrides, nr, params{uint32(nr), uint32(ch), a, uint32(off), uint32(q0 + c0)}, rsim, ridx, sim, idx)
			}
		}
	}
	b.freeBuf(rsim)
	b.freeBuf(ridx)
}

// gather writes into out the uncentred rows idx[i] - base of k for the
// queries whose idx falls in k (base .. base+k.m).
func (b *Backend) gather(k *bank, idx *buffer, base int, out *Tensor) {
	n := out.h * out.w
	for pi, r := 0, 0; r < k.m; pi, r = pi+1, r+k.partRows {
		rows := min(k.partRows, k.m-r)
		for _, v := range out.views() {
			b.run1("match", "gather", k.over(), v.c*n, params{uint32(v.c), uint32(n), uint32(k.dp), uint32(base + r), uint32(rows), uint32(base), uint32(v.c0)},
				k.parts[pi], idx, k.norms, k.mean, v.buf)
		}
	}
}

func (b *Backend) Match(nb nnst.Bank, query nnst.Tensor) nnst.Tensor {
	k := nb.(*bank)
	qt := gt(query)
	g := sampleGrid(qt, nnst.Sample{Stride: 1})
	q, norms := b.query(g)
	idx, sim := b.nearest(k, q, g.n)
	b.freeQueries(q)
	b.freeBuf(norms)
	b.freeBuf(sim)
	out := b.anyTensor(qt.c, qt.h, qt.w)
	b.gather(k, idx, 0, out)
	b.freeBuf(idx)
	return out
}

// search is a running search (NewSearch): the best row of each query as
// an index into the concatenation of the banks searched so far.
type search struct {
	q        *queries // centred unit query columns; nil after the first gather
	c, h, w  int
	idx, sim *buffer
	base     []int // first index of each bank
	total    int
}

func (b *Backend) NewSearch(query nnst.Tensor) nnst.Search {
	qt := gt(query)
	g := sampleGrid(qt, nnst.Sample{Stride: 1})
	q, norms := b.query(g)
	b.freeBuf(norms)
	return &search{q: q, c: qt.c, h: qt.h, w: qt.w, idx: b.newBuf(int64(g.n) * 4), sim: b.newBuf(int64(g.n) * 4)}
}

func (b *Backend) SearchBank(ns nnst.Search, nb nnst.Bank, k int) {
	s, kb := ns.(*search), nb.(*bank)
	if s.q == nil || k != len(s.base) {
		b.fail(fmt.Errorf("webgpu: SearchBank %d after %d banks or after SearchGather", k, len(s.base)))
		return
	}
	s.base = append(s.base, s.total)
	b.nearestInto(kb, s.q, s.h*s.w, s.idx, s.sim, k > 0, s.total)
	s.total += kb.m
}

func (b *Backend) EndSearch(ns nnst.Search) {
	if s := ns.(*search); s.q != nil {
		b.freeQueries(s.q)
		s.q = nil
		b.flushSpare()
	}
}

func (b *Backend) SearchGather(ns nnst.Search, nb nnst.Bank, k int, target nnst.Tensor) {
	s, kb := ns.(*search), nb.(*bank)
	b.EndSearch(s)
	if k >= len(s.base) {
		b.fail(fmt.Errorf("webgpu: SearchGather of bank %d, %d searched", k, len(s.base)))
		return
	}
	b.gather(kb, s.idx, s.base[k], gt(target))
}

func (b *Backend) SearchField(ns nnst.Search) ([]int32, error) {
	s := ns.(*search)
	if err := b.Err(); err != nil {
		return nil, err
	}
	if len(s.base) == 0 {
		return nil, fmt.Errorf("webgpu: SearchField before any bank was searched")
	}
	raw, err := b.readBytes(s.idx, 4*s.h*s.w)
	if err != nil {
		return nil, err
	}
	f := make([]int32, s.h*s.w)
	for i := range f {
		f[i] = int32(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return f, nil
}

func (b *Backend) FreeSearch(ns nnst.Search) {
	s := ns.(*search)
	b.freeQueries(s.q)
	b.freeBuf(s.idx)
	b.freeBuf(s.sim)
	*s = search{}
	b.flushSpare()
}

// BankAddHypercolumns packs the vectors straight from the taps: the norms
// tap by tap, then each tap's channels of the fp16 rows.
func (b *Backend) BankAddHypercolumns(nb nnst.Bank, taps []nnst.Tensor, h, w int) {
	k := nb.(*bank)
	n := h * w
	if d := hyperChannels(taps); k.m+n > k.capacity || d != k.d || !k.f16 {
		b.fail(fmt.Errorf("webgpu: %d hypercolumns of %d channels do not fit a bank of %d/%d vectors of %d", n, d, k.m, k.capacity, k.d))
		return
	}
	b.eachTap(taps, h, w, func(_, _ int, x view, ps params, ty, tx *buffer) {
		ps[12] = uint32(k.m)
		b.run1("hyper", "hc_norm", noOverrides, n, ps, x.buf, ty, tx, k.mean, k.norms)
	})
	b.eachTap(taps, h, w, func(_, _ int, x view, ps params, ty, tx *buffer) {
		off := ps[6]
		words := int((off+uint32(x.c)+1)/2 - off/2)
		for i, row := 0, k.m; i < n; {
			part, local := row/k.partRows, row%k.partRows
			cnt := min(n-i, k.partRows-local)
			ps[9], ps[10], ps[11], ps[12], ps[13] = uint32(k.dp), uint32(local), uint32(i), uint32(row), uint32(cnt)
			b.run1("hyper", "hc_pack", noOverrides, cnt*words, ps, x.buf, ty, tx, k.mean, k.norms, k.parts[part])
			i += cnt
			row += cnt
		}
	})
	k.m += n
}

func (b *Backend) SplitLoss(out nnst.Tensor, style []nnst.Tensor, s nnst.Sample) (nnst.Tensor, nnst.Tensor) {
	ot := gt(out)
	c := ot.c
	gs := make([]grid, len(style))
	var up []*Tensor // samples of host copies
	for i, st := range style {
		gs[i] = sampleGrid(gt(st), s)
		if gs[i].t.phase > 0 { // a host copy
			u := b.samples(gs[i])
			up = append(up, u)
			gs[i] = sampleGrid(u, nnst.Sample{Stride: 1})
		}
	}
	k := b.newBank(gs, false)
	for _, u := range up {
		b.freeBuf(u.buf)
	}
	og := sampleGrid(ot, s)
	n := og.n
	q, norms := b.query(og)
	idx, sim := b.nearest(k, q, n)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", noOverrides, 1, 1, params{uint32(n), 0, 1, f32(1 / float32(n))}, sim, loss.buf)
	raw := make([]*buffer, len(q.parts)) // as the queries: c x cols each
	for j, x := range q.parts {          // by the bank's parts and the queries'
		q0, nq := q.span(j, n)
		raw[j] = b.newBuf(int64(c*nq) * 4)
		for pi, r := 0, 0; r < k.m; pi, r = pi+1, r+k.partRows {
			b.run1("loss", "split_grad", noOverrides, c*nq, params{uint32(c), uint32(n), uint32(k.dp), uint32(r), uint32(min(k.partRows, k.m-r)), uint32(q0), uint32(nq)}, k.parts[pi], idx, sim, x, norms, raw[j])
		}
	}
	mean := b.newBuf(int64(c) * 4)
	for j, r := range raw {
		_, nq := q.span(j, n)
		acc, scale := uint32(min(j, 1)), float32(1)
		if j == len(raw)-1 {
			scale = 1 / float32(n)
		}
		b.dispatch("reduce", "chansum", noOverrides, c, 1, params{uint32(c), 1, uint32(nq), 1, 0, 0, uint32(nq), uint32(nq), acc, f32(scale), 0}, r, mean)
	}
	g := b.Zeros(c, ot.h, ot.w).(*Tensor)
	for _, v := range g.views() {
		for j, r := range raw {
			q0, nq := q.span(j, n)
			b.run1("loss", "split_scatter", noOverrides, v.c*nq, params{uint32(v.c), uint32(ot.h), uint32(ot.w), uint32(og.stride), uint32(og.y0),
				uint32(og.x0), uint32(max(og.sw, 1)), uint32(q0), uint32(nq), uint32(v.c0)}, r, mean, v.buf)
		}
	}
	b.freeQueries(q)
	for _, bb := range append(raw, norms, idx, sim, mean) {
		b.freeBuf(bb)
	}
	b.freeBank(k)
	return loss, g
}

func (b *Backend) CosineLoss(f, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	ft, tt := gt(f), gt(target)
	n := ft.h * ft.w
	st := b.newBuf(int64(3*n) * 4)
	b.run1("loss", "cos_stats", noOverrides, n, params{uint32(ft.c), uint32(n)}, ft.buf, tt.buf, st)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", noOverrides, 1, 1, params{uint32(n), 0, 0, f32(1 / float32(n))}, st, loss.buf)
	g := b.tensor(ft.c, ft.h, ft.w)
	b.run1("loss", "cos_grad", noOverrides, g.n(), params{uint32(ft.c), uint32(n)}, ft.buf, tt.buf, st, g.buf)
	b.freeBuf(st)
	return loss, g
}

// hyperChannels is the number of hypercolumn channels of taps.
func hyperChannels(taps []nnst.Tensor) int {
	d := 0
	for _, t := range taps {
		d += gt(t).c
	}
	return d
}

// eachTap calls f for each part v (j of its tap's views) of each tap l
// with the hyper.wgsl params of the part at the h x w grid (its channels
// at off; mode: accumulate after the first part, last) and its tables.
func (b *Backend) eachTap(taps []nnst.Tensor, h, w int, f func(l, j int, v view, ps params, ty, tx *buffer)) {
	d := hyperChannels(taps)
	off, first := 0, true
	for l, t := range taps {
		x := gt(t)
		ty, tx := b.table(x.h, h, true), b.table(x.w, w, true)
		vs := x.views()
		for j, v := range vs {
			mode := uint32(0)
			if !first {
				mode |= 1
			}
			if l == len(taps)-1 && j == len(vs)-1 {
				mode |= 2
			}
			first = false
			ps := params{uint32(v.c), uint32(x.h), uint32(x.w), uint32(h), uint32(w), f32(1 / float32(x.c)), uint32(off + v.c0), uint32(d), mode, 0, 0, 0, 0, uint32(h * w), 0}
			f(l, j, view{v.buf, 0, v.c}, ps, ty, tx)
		}
		off += x.c
	}
}

func (b *Backend) HypercolumnLoss(taps []nnst.Tensor, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	tt := gt(target)
	if d := hyperChannels(taps); d != tt.c {
		b.fail(fmt.Errorf("webgpu: HypercolumnLoss: taps have %d channels, target %d", d, tt.c))
	}
	n := tt.h * tt.w
	coef := b.tensor(3, tt.h, tt.w)
	// Tap by tap, and each tap by the target's parts: the first dispatch
	// starts the sums, the last turns them into the coefficients.
	type call struct {
		ps     params
		x, t   *buffer
		ty, tx *buffer
	}
	var calls []call
	b.eachTap(taps, tt.h, tt.w, func(_, _ int, x view, ps params, ty, tx *buffer) {
		for _, s := range segments([]view{x}, int(ps[6]), tt.views()) {
			p := append(params(nil), ps...)
			p[0], p[6], p[14] = uint32(s.count), uint32(s.yc), uint32(s.xc)
			calls = append(calls, call{p, s.x, s.y, ty, tx})
		}
	})
	for i, c := range calls {
		c.ps[8] = 0
		if i > 0 {
			c.ps[8] |= 1
		}
		if i == len(calls)-1 {
			c.ps[8] |= 2
		}
		b.run1("hyper", "hc_stats", noOverrides, n, c.ps, c.x, c.ty, c.tx, c.t, coef.buf)
	}
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", noOverrides, 1, 1, params{uint32(n), 0, 0, f32(1 / float32(n))}, coef.buf, loss.buf)
	return loss, coef
}

func (b *Backend) HypercolumnLossBackward(coef nnst.Tensor, taps []nnst.Tensor, target nnst.Tensor, l int) nnst.Tensor {
	tt, ct := gt(target), gt(coef)
	x := gt(taps[l])
	dx := b.anyTensor(x.c, x.h, x.w)
	dxs := dx.views() // x's parts
	b.eachTap(taps, tt.h, tt.w, func(i, j int, v view, ps params, ty, tx *buffer) {
		if i != l {
			return
		}
		for _, s := range segments([]view{v}, int(ps[6]), tt.views()) {
			ps[0], ps[6], ps[14] = uint32(s.count), uint32(s.yc), uint32(s.xc)
			b.run1("hyper", "hc_grad", noOverrides, s.count*x.h*x.w, ps, s.x, ty, tx, s.y, ct.buf, dxs[j].buf)
		}
	})
	return dx
}

func (b *Backend) ColorDistanceLoss(x, ref nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	xt, rt := gt(x), gt(ref)
	n := xt.h * xt.w
	part := b.newBuf(int64(n) * 4)
	g := b.tensor(3, xt.h, xt.w)
	b.run1("loss", "color_dist", noOverrides, n, params{uint32(n)}, xt.buf, rt.buf, part, g.buf)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", noOverrides, 1, 1, params{uint32(n), 0, 0, f32(1 / float32(n) / float32(n))}, part, loss.buf)
	b.freeBuf(part)
	return loss, g
}
