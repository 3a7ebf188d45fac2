//go:build js && wasm

// The backend's small ops: tensors, fill, axpby, resize and its tables,
// rotation, Adam.

package webgpu

import (
	"fmt"
	"math"
	"syscall/js"

	"nnst/core/nnst"
	"nnst/core/ops"
)

func (b *Backend) tensor(c, h, w int) *Tensor {
	return &Tensor{c: c, h: h, w: w, buf: b.newBuf(int64(c*h*w) * 4)}
}

func (b *Backend) Zeros(c, h, w int) nnst.Tensor {
	t := b.tensor(c, h, w)
	b.fill(t.buf, t.n(), 0)
	return t
}

func (b *Backend) fill(buf *buffer, n int, v float32) {
	b.run1("elementwise", "fill", noOverrides, n, params{uint32(n), f32(v)}, buf)
}

func (b *Backend) Free(ts ...nnst.Tensor) {
	for _, t := range ts {
		if x := gt(t); x != nil && x.buf != nil {
			b.freeBuf(x.buf)
			x.buf = nil
		} else if x != nil {
			x.host = js.Value{}
		}
	}
	b.flushSpare()
}

func (b *Backend) Axpby(a float32, x nnst.Tensor, c float32, y nnst.Tensor) nnst.Tensor {
	xt := gt(x)
	z := b.tensor(xt.c, xt.h, xt.w)
	yb, has := xt.buf, uint32(0)
	if yt := gt(y); yt != nil {
		if yt.c != xt.c || yt.h != xt.h || yt.w != xt.w {
			panic(fmt.Sprintf("webgpu: Axpby shape mismatch %dx%dx%d vs %dx%dx%d", xt.c, xt.h, xt.w, yt.c, yt.h, yt.w))
		}
		yb, has = yt.buf, 1
	}
	b.run1("elementwise", "axpby", noOverrides, z.n(), params{uint32(z.n()), f32(a), f32(c), has}, xt.buf, yb, z.buf)
	return z
}

// table returns the resize table of one axis (see resize.wgsl), cached.
func (b *Backend) table(in, out int, align bool) *buffer {
	key := [3]int{in, out, 0}
	if align {
		key[2] = 1
	}
	if t, ok := b.tables[key]; ok {
		return t
	}
	a := ops.LinearAxis(in, out, align)
	words := make([]uint32, 0, 4*out+in+1+4*out)
	for d := 0; d < out; d++ {
		words = append(words, uint32(a.I0[d]), uint32(a.I1[d]), f32(a.W0[d]), f32(a.W1[d]))
	}
	type ent struct{ d, w uint32 }
	lists := make([][]ent, in)
	for d := 0; d < out; d++ {
		lists[a.I0[d]] = append(lists[a.I0[d]], ent{uint32(d), f32(a.W0[d])})
		lists[a.I1[d]] = append(lists[a.I1[d]], ent{uint32(d), f32(a.W1[d])})
	}
	n := 0
	for _, l := range lists {
		words = append(words, uint32(n))
		n += len(l)
	}
	words = append(words, uint32(n))
	for _, l := range lists {
		for _, e := range l {
			words = append(words, e.d, e.w)
		}
	}
	buf := b.newBuf(int64(len(words)) * 4) // write orders itself after recorded commands
	b.write(buf, u32bytes(words))
	b.tables[key] = buf
	return buf
}

// resize writes scale * bilinear(x) into channels c0.. of y (h x w).
func (b *Backend) resize(x *Tensor, y *Tensor, c0 int, scale float32, align bool) {
	ty := b.table(x.h, y.h, align)
	tx := b.table(x.w, y.w, align)
	b.run1("resize", "resize", noOverrides, x.c*y.h*y.w, params{uint32(x.c), uint32(x.h), uint32(x.w), uint32(y.h), uint32(y.w), f32(scale), uint32(c0)}, x.buf, ty, tx, y.buf)
}

// resizeBack writes into dx the adjoint of resize applied to channels
// c0 .. c0+dx.c of g.
func (b *Backend) resizeBack(g *Tensor, c0 int, dx *Tensor, scale float32, align bool) {
	ty := b.table(dx.h, g.h, align)
	tx := b.table(dx.w, g.w, align)
	b.run1("resize", "resize_back", noOverrides, dx.n(), params{uint32(dx.c), uint32(dx.h), uint32(dx.w), uint32(g.h), uint32(g.w), f32(scale), uint32(c0)}, g.buf, ty, tx, dx.buf)
}

func (b *Backend) Resize(x nnst.Tensor, h, w int, align bool) nnst.Tensor {
	xt := gt(x)
	y := b.tensor(xt.c, h, w)
	b.resize(xt, y, 0, 1, align)
	return y
}

func (b *Backend) ResizeBackward(g nnst.Tensor, h, w int, align bool) nnst.Tensor {
	gg := gt(g)
	dx := b.tensor(gg.c, h, w)
	b.resizeBack(gg, 0, dx, 1, align)
	return dx
}

func (b *Backend) Rot90(x nnst.Tensor, k int) nnst.Tensor {
	xt := gt(x)
	k = ((k % 4) + 4) % 4
	h, w := xt.h, xt.w
	if k%2 == 1 {
		h, w = w, h
	}
	y := b.tensor(xt.c, h, w)
	b.run1("elementwise", "rot90", noOverrides, y.n(), params{uint32(xt.c), uint32(xt.h), uint32(xt.w), uint32(k)}, xt.buf, y.buf)
	return y
}

func (b *Backend) Adam(p, g, m, v nnst.Tensor, t int, lr float32) {
	const b1, b2 = 0.9, 0.999
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	step := float32(float64(lr) / bc1)
	sq := float32(math.Sqrt(bc2))
	pt := gt(p)
	b.run1("elementwise", "adam", noOverrides, pt.n(), params{uint32(pt.n()), f32(step), f32(sq)}, pt.buf, gt(g).buf, gt(m).buf, gt(v).buf)
}

var _ nnst.Backend = (*Backend)(nil)
