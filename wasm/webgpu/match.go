//go:build js && wasm

package webgpu

import (
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

func (k *bank) f16i() int {
	if k.f16 {
		return 1
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
	sh := 0
	if g.y0 < t.h {
		sh = (t.h - g.y0 + g.stride - 1) / g.stride
	}
	if g.x0 < t.w {
		g.sw = (t.w - g.x0 + g.stride - 1) / g.stride
	}
	g.n = sh * g.sw
	return g
}

// sparams are the S words of match.wgsl.
func (g grid) sparams(off, dp, i0, n, noff int) params {
	return params{uint32(g.t.c), uint32(g.t.h), uint32(g.t.w), uint32(g.stride), uint32(g.y0), uint32(g.x0),
		uint32(max(g.sw, 1)), uint32(n), uint32(off), uint32(dp), uint32(i0), uint32(noff)}
}

// src16 is the SRC16 bit of a kernel's constants for reading t.
func src16(t *Tensor) int {
	if t.half {
		return 2
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
		b.dispatch("reduce", "chansum", src16(g.t), g.t.c, 1, params{uint32(g.t.c), uint32(g.t.h), uint32(g.t.w), uint32(g.stride),
			uint32(g.y0), uint32(g.x0), uint32(max(g.sw, 1)), uint32(g.n), acc, f32(scale)}, g.t.buf, mean)
	}
	return total
}

// allocBank returns an empty bank of d-vectors for up to capacity rows;
// its mean is left to the caller.
func (b *Backend) allocBank(d, capacity int, f16 bool) *bank {
	k := &bank{d: d, dp: (d + 1) &^ 1, f16: f16, capacity: capacity}
	k.mean = b.newBuf(int64(d) * 4)
	k.norms = b.newBuf(int64(max(capacity, 1)) * 4)
	rowBytes := int64(k.dp) * 4
	if f16 {
		rowBytes /= 2
	}
	lim := min(b.Limits.MaxStorageBufferBindingSize, b.Limits.MaxBufferSize)
	if b.partLimit > 0 {
		lim = b.partLimit
	}
	k.partRows = int(min(int64(max(capacity, 1)), lim/rowBytes/64*64))
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
	b.run1("match", "colnorm", src16(g.t), g.n, g.sparams(k.m, k.dp, 0, g.n, 0), g.t.buf, k.mean, k.norms)
	words := k.dp
	if k.f16 {
		words /= 2
	}
	// Rows split at part boundaries.
	row := k.m
	f := k.f16i() | src16(g.t)
	for i := 0; i < g.n; {
		part := row / k.partRows
		local := row % k.partRows
		n := min(g.n-i, k.partRows-local)
		b.run1("match", "pack_rows", f, n*words, g.sparams(local, k.dp, i, n, row), g.t.buf, k.mean, k.norms, k.parts[part])
		i += n
		row += n
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
	b.run1("elementwise", "axpby", -1, mt.c, params{uint32(mt.c), f32(1), f32(0), 0}, mt.buf, mt.buf, k.mean)
	return k
}

func (b *Backend) BankAdd(k nnst.Bank, t nnst.Tensor) {
	b.bankAdd(k.(*bank), sampleGrid(gt(t), nnst.Sample{Stride: 1}))
}

func (b *Backend) FreeBank(k nnst.Bank) { b.freeBank(k.(*bank)); b.flushSpare() }

// query centres and normalises the samples of g into a C x n column
// matrix; it returns it and the norms.
func (b *Backend) query(g grid) (q, norms *buffer) {
	c := g.t.c
	mean := b.newBuf(int64(c) * 4)
	b.chanMean([]grid{g}, mean)
	norms = b.newBuf(int64(max(g.n, 1)) * 4)
	b.run1("match", "colnorm", -1, g.n, g.sparams(0, 0, 0, g.n, 0), g.t.buf, mean, norms)
	q = b.newBuf(int64(max(c*g.n, 1)) * 4)
	b.run1("match", "centre_cols", -1, c*g.n, g.sparams(0, 0, 0, g.n, 0), g.t.buf, mean, norms, q)
	b.freeBuf(mean)
	return q, norms
}

// chunkRows is the number of bank rows one workgroup of the search scans.
const chunkRows = 1024

// nearest returns, for each of the n query columns, the index and
// similarity of the bank row with the largest inner product.
func (b *Backend) nearest(k *bank, q *buffer, n int) (idx, sim *buffer) {
	slots := 0
	for r := 0; r < k.m; r += k.partRows {
		slots += (min(k.partRows, k.m-r) + chunkRows - 1) / chunkRows
	}
	rsim := b.newBuf(int64(slots*n) * 4)
	ridx := b.newBuf(int64(slots*n) * 4)
	slot := 0
	for pi, r := 0, 0; r < k.m; pi, r = pi+1, r+k.partRows {
		rows := min(k.partRows, k.m-r)
		ch := (rows + chunkRows - 1) / chunkRows
		kernel := "nearest"
		if k.d <= 64 && !b.tiledOnly {
			kernel = "nearest_small"
		}
		b.dispatch("match", kernel, k.f16i(), (n+63)/64, ch,
			params{uint32(rows), uint32(k.d), uint32(k.dp), uint32(n), uint32(r), chunkRows, uint32(slot)}, k.parts[pi], q, rsim, ridx)
		slot += ch
	}
	idx = b.newBuf(int64(n) * 4)
	sim = b.newBuf(int64(n) * 4)
	b.run1("match", "nearest_reduce", -1, n, params{uint32(n), uint32(slots)}, rsim, ridx, sim, idx)
	b.freeBuf(rsim)
	b.freeBuf(ridx)
	return idx, sim
}

func (b *Backend) Match(nb nnst.Bank, query nnst.Tensor) nnst.Tensor {
	k := nb.(*bank)
	qt := gt(query)
	g := sampleGrid(qt, nnst.Sample{Stride: 1})
	q, norms := b.query(g)
	idx, sim := b.nearest(k, q, g.n)
	b.freeBuf(q)
	b.freeBuf(norms)
	b.freeBuf(sim)
	out := b.tensor(qt.c, qt.h, qt.w)
	for pi, r := 0, 0; r < k.m; pi, r = pi+1, r+k.partRows {
		rows := min(k.partRows, k.m-r)
		b.run1("match", "gather", k.f16i(), qt.c*g.n, params{uint32(qt.c), uint32(g.n), uint32(k.dp), uint32(r), uint32(rows)},
			k.parts[pi], idx, k.norms, k.mean, out.buf)
	}
	b.freeBuf(idx)
	return out
}

func (b *Backend) SplitLoss(out nnst.Tensor, style []nnst.Tensor, s nnst.Sample) (nnst.Tensor, nnst.Tensor) {
	ot := gt(out)
	c := ot.c
	gs := make([]grid, len(style))
	for i, st := range style {
		gs[i] = sampleGrid(gt(st), s)
	}
	k := b.newBank(gs, false)
	og := sampleGrid(ot, s)
	n := og.n
	x, norms := b.query(og)
	idx, sim := b.nearest(k, x, n)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", -1, 1, 1, params{uint32(n), 0, 1, f32(1 / float32(n))}, sim, loss.buf)
	raw := b.newBuf(int64(c*n) * 4)
	b.run1("loss", "split_grad", -1, c*n, params{uint32(c), uint32(n), uint32(k.dp)}, k.parts[0], idx, sim, x, norms, raw)
	mean := b.newBuf(int64(c) * 4)
	b.dispatch("reduce", "chansum", -1, c, 1, params{uint32(c), 1, uint32(n), 1, 0, 0, uint32(n), uint32(n), 0, f32(1 / float32(n))}, raw, mean)
	g := b.tensor(c, ot.h, ot.w)
	b.run1("loss", "split_scatter", -1, g.n(), params{uint32(c), uint32(ot.h), uint32(ot.w), uint32(og.stride), uint32(og.y0),
		uint32(og.x0), uint32(max(og.sw, 1)), uint32(n)}, raw, mean, g.buf)
	for _, bb := range []*buffer{x, norms, idx, sim, raw, mean} {
		b.freeBuf(bb)
	}
	b.freeBank(k)
	return loss, g
}

func (b *Backend) CosineLoss(f, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	ft, tt := gt(f), gt(target)
	n := ft.h * ft.w
	st := b.newBuf(int64(3*n) * 4)
	b.run1("loss", "cos_stats", -1, n, params{uint32(ft.c), uint32(n)}, ft.buf, tt.buf, st)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", -1, 1, 1, params{uint32(n), 0, 0, f32(1 / float32(n))}, st, loss.buf)
	g := b.tensor(ft.c, ft.h, ft.w)
	b.run1("loss", "cos_grad", -1, g.n(), params{uint32(ft.c), uint32(n)}, ft.buf, tt.buf, st, g.buf)
	b.freeBuf(st)
	return loss, g
}

func (b *Backend) ColorDistanceLoss(x, ref nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	xt, rt := gt(x), gt(ref)
	n := xt.h * xt.w
	part := b.newBuf(int64(n) * 4)
	g := b.tensor(3, xt.h, xt.w)
	b.run1("loss", "color_dist", -1, n, params{uint32(n)}, xt.buf, rt.buf, part, g.buf)
	loss := b.tensor(1, 1, 1)
	b.dispatch("reduce", "sum", -1, 1, 1, params{uint32(n), 0, 0, f32(1 / float32(n) / float32(n))}, part, loss.buf)
	b.freeBuf(part)
	return loss, g
}
