//go:build js && wasm

// Tensors in parts: a tensor whose one buffer would pass the binding limit
// (the hypercolumns, a search's target, Fast's blends of them, the
// network's larger layers and their gradients) is held as channel ranges,
// each its own buffer. Every op works part by part; a conv runs block by
// block (an input part into an output part, summed in place). Only the
// image-sized tensors (3 channels) are taken whole: a dispatch given a
// tensor in parts there fails.

package webgpu

import "nnst/core/nnst"

// view is a channel range of a tensor: channels c0 .. c0+c, in buf.
type view struct {
	buf   *buffer
	c0, c int
}

// views returns the tensor's parts, or the whole tensor as one.
func (t *Tensor) views() []view {
	if t.parts == nil {
		return []view{{t.buf, 0, t.c}}
	}
	vs := make([]view, len(t.parts))
	for i, p := range t.parts {
		vs[i] = view{p, i * t.cp, min(t.cp, t.c-i*t.cp)}
	}
	return vs
}

// anyTensor is a new tensor, in parts if one buffer would pass the
// binding limit.
func (b *Backend) anyTensor(c, h, w int) *Tensor {
	ns := partSizes(c, h, w, b.binding)
	if len(ns) == 1 {
		return b.tensor(c, h, w)
	}
	b.parted++
	t := &Tensor{c: c, h: h, w: w, cp: ns[0]}
	for _, n := range ns {
		t.parts = append(t.parts, b.newBuf(int64(n*h*w)*4))
	}
	return t
}

// freeTensor frees a tensor's buffers.
func (b *Backend) freeTensor(t *Tensor) {
	if t == nil {
		return
	}
	b.freeBuf(t.buf)
	for _, p := range t.parts {
		b.freeBuf(p)
	}
	t.buf, t.parts = nil, nil
}

// seg is a channel range common to a view of x and a view of y: count
// channels from xc of x's buffer and yc of y's.
type seg struct {
	x, y   *buffer
	xc, yc int
	count  int
}

// segments pairs the channel ranges of x's views, placed at channel off of
// y, with y's views.
func segments(x []view, off int, y []view) []seg {
	var out []seg
	for _, a := range x {
		for _, v := range y {
			lo, hi := max(a.c0+off, v.c0), min(a.c0+off+a.c, v.c0+v.c)
			if lo < hi {
				out = append(out, seg{a.buf, v.buf, lo - off - a.c0, lo - v.c0, hi - lo})
			}
		}
	}
	return out
}

// queries are a search's centred unit query columns (d x n), in parts of
// cols queries each.
type queries struct {
	parts []*buffer
	cols  int
}

// span returns the first query of part j of n queries and its count.
func (q *queries) span(j, n int) (q0, nq int) {
	q0 = j * q.cols
	return q0, min(q.cols, n-q0)
}

func (b *Backend) freeQueries(q *queries) {
	if q == nil {
		return
	}
	for _, p := range q.parts {
		b.freeBuf(p)
	}
	q.parts = nil
}

var _ nnst.Tensor = (*Tensor)(nil)
