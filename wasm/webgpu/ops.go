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
	t := b.anyTensor(c, h, w)
	for _, v := range t.views() {
		b.fill(v.buf, v.c*h*w, 0)
	}
	return t
}

func (b *Backend) fill(buf *buffer, n int, v float32) {
	b.run1("elementwise", "fill", noOverrides, n, params{uint32(n), f32(v)}, buf)
}

func (b *Backend) Free(ts ...nnst.Tensor) {
	for _, t := range ts {
		if x := gt(t); x != nil && (x.buf != nil || x.parts != nil) {
			b.freeTensor(x)
		} else if x != nil {
			x.host = js.Value{}
		}
	}
	b.flushSpare()
}

func (b *Backend) Axpby(a float32, x nnst.Tensor, c float32, y nnst.Tensor) nnst.Tensor {
	xt := gt(x)
	z := b.anyTensor(xt.c, xt.h, xt.w)
	xs, zs := xt.views(), z.views()
	ys, has := xs, uint32(0)
	if yt := gt(y); yt != nil {
		if yt.c != xt.c || yt.h != xt.h || yt.w != xt.w {
			panic(fmt.Sprintf("webgpu: Axpby shape mismatch %dx%dx%d vs %dx%dx%d", xt.c, xt.h, xt.w, yt.c, yt.h, yt.w))
		}
		ys, has = yt.views(), 1
	}
	if len(xs) != len(zs) || len(ys) != len(zs) {
		b.fail(fmt.Errorf("webgpu: Axpby of tensors split differently"))
		return z
	}
	for i, v := range zs { // the same shape: the same parts
		n := v.c * z.h * z.w
		b.run1("elementwise", "axpby", noOverrides, n, params{uint32(n), f32(a), f32(c), has}, xs[i].buf, ys[i].buf, v.buf)
	}
	return z
}

func (b *Backend) Axpy(a float32, x, y nnst.Tensor) {
	xt, yt := gt(x), gt(y)
	if yt.c != xt.c || yt.h != xt.h || yt.w != xt.w {
		panic(fmt.Sprintf("webgpu: Axpy shape mismatch %dx%dx%d vs %dx%dx%d", xt.c, xt.h, xt.w, yt.c, yt.h, yt.w))
	}
	xs, ys := xt.views(), yt.views()
	if len(xs) != len(ys) {
		b.fail(fmt.Errorf("webgpu: Axpy of tensors split differently"))
		return
	}
	for i, v := range ys {
		n := v.c * yt.h * yt.w
		b.run1("elementwise", "axpy", noOverrides, n, params{uint32(n), f32(a)}, xs[i].buf, v.buf)
	}
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

// resize writes scale * bilinear(x) into channels c0.. of y (h x w),
// part by part.
func (b *Backend) resize(x *Tensor, y *Tensor, c0 int, scale float32, align bool) {
	ty := b.table(x.h, y.h, align)
	tx := b.table(x.w, y.w, align)
	for _, s := range segments(x.views(), c0, y.views()) {
		b.run1("resize", "resize", noOverrides, s.count*y.h*y.w, params{uint32(s.count), uint32(x.h), uint32(x.w), uint32(y.h), uint32(y.w), f32(scale), uint32(s.yc), uint32(s.xc)}, s.x, ty, tx, s.y)
	}
}

// resizeBack writes into dx the adjoint of resize applied to channels
// c0 .. c0+dx.c of g, part by part.
func (b *Backend) resizeBack(g *Tensor, c0 int, dx *Tensor, scale float32, align bool) {
	ty := b.table(dx.h, g.h, align)
	tx := b.table(dx.w, g.w, align)
	for _, s := range segments(dx.views(), c0, g.views()) {
		b.run1("resize", "resize_back", noOverrides, s.count*dx.h*dx.w, params{uint32(s.count), uint32(dx.h), uint32(dx.w), uint32(g.h), uint32(g.w), f32(scale), uint32(s.yc), uint32(s.xc)}, s.y, ty, tx, s.x)
	}
}

func (b *Backend) Resize(x nnst.Tensor, h, w int, align bool) nnst.Tensor {
	xt := gt(x)
	y := b.anyTensor(xt.c, h, w)
	b.resize(xt, y, 0, 1, align)
	return y
}

func (b *Backend) ResizeBackward(g nnst.Tensor, h, w int, align bool) nnst.Tensor {
	gg := gt(g)
	dx := b.anyTensor(gg.c, h, w)
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
	y := b.anyTensor(xt.c, h, w)
	xs := xt.views() // h x w or w x h: the same parts
	for i, v := range y.views() {
		b.run1("elementwise", "rot90", noOverrides, v.c*h*w, params{uint32(v.c), uint32(xt.h), uint32(xt.w), uint32(k)}, xs[i].buf, v.buf)
	}
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
