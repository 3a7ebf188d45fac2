//go:build js && wasm

package webgpu

import (
	"fmt"

	"nnst/core/conv"
	"nnst/core/model"
	"nnst/core/nnst"
)

// convLayer is a conv of the model: its channels and weights on the GPU.
type convLayer struct {
	in, out  int
	conv     *model.Conv
	fwd, bwd convWeights
	bias     *buffer
}

// convWeights are one direction of a conv's weights: the 3x3 taps K-major
// (row ci*9 + tap holds every output channel), or with wino set Winograd's
// transformed weights (row ci*16 + e); with tr set too, the forward conv's
// (the same buffer), read transposed and turned for the backward pass.
type convWeights struct {
	buf      *buffer
	wino, tr bool
	convRun
}

// convRun is how a conv pass runs: step is the kernel's K step, 1 (TK 16
// rows, or WC 4 input channels in Winograd's kernel) or 2 (TK 32, WC 8:
// 24 KiB of workgroup memory); with nosplit set a small grid is not split
// along K (fillGroups).
type convRun struct {
	step    int
	nosplit bool
}

// LoadModel uploads the conv weights: for the forward pass, and for the
// backward-data pass the same conv transposed with the kernel flipped; each
// K-major, or transformed for Winograd's kernel where the conv takes it,
// whose backward pass reads the forward pass's weights.
func (b *Backend) LoadModel(m *model.Model) error {
	tapOf, err := m.TapOf()
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Arch, err)
	}
	for _, c := range b.convs {
		if c != nil {
			b.freeConvWeights(c)
			b.freeBuf(c.bias)
		}
	}
	b.Flush()
	b.model = m
	b.convs = make([]*convLayer, len(m.Layers))
	b.tapOf = tapOf
	b.last = -1
	for i, l := range m.Layers {
		if l.Kind != "conv" {
			continue
		}
		c := &convLayer{in: l.Conv.In, out: l.Conv.Out, conv: l.Conv}
		b.uploadConvWeights(c, b.wino)
		c.bias = b.newBuf(int64(len(l.Conv.Bias)) * 4)
		b.write(c.bias, floatBytes(l.Conv.Bias))
		b.convs[i] = c
		if tapOf[i] >= 0 {
			b.last = i
		}
	}
	return b.Err()
}

// uploadConvWeights uploads both directions of a conv's weights (with K
// step 1): for Winograd's kernel where wino and winoConv allow, the
// backward pass then reading the forward pass's buffer where it can.
func (b *Backend) uploadConvWeights(c *convLayer, wino bool) {
	in, out, wt := c.in, c.out, c.conv.Weight
	c.fwd = b.convWeights(in, out, wino, func(co, ci, k int) float32 { return wt[(co*in+ci)*9+k] })
	if c.fwd.wino && winoConv(out, in) {
		c.bwd = convWeights{buf: c.fwd.buf, wino: true, tr: true, convRun: convRun{step: 1}}
	} else {
		fw := conv.Flip(wt, in, out)
		c.bwd = b.convWeights(out, in, wino, func(co, ci, k int) float32 { return fw[(co*out+ci)*9+k] })
	}
}

// freeConvWeights frees both directions of a conv's weights.
func (b *Backend) freeConvWeights(c *convLayer) {
	b.freeBuf(c.fwd.buf)
	if !c.bwd.tr {
		b.freeBuf(c.bwd.buf)
	}
}

// convWeights uploads the weights of a conv with in inputs and out outputs,
// w(co, ci, k) its 3x3 taps: Winograd's where wino and winoConv allow,
// else K-major.
func (b *Backend) convWeights(in, out int, wino bool, w func(co, ci, k int) float32) convWeights {
	var d []float32
	wino = wino && winoConv(in, out)
	if wino {
		d = winoWeights(in, out, w)
	} else {
		d = make([]float32, in*out*9)
		for co := range out {
			for ci := range in {
				for k := range 9 {
					d[(ci*9+k)*out+co] = w(co, ci, k)
				}
			}
		}
	}
	buf := b.newBuf(int64(len(d)) * 4)
	b.write(buf, floatBytes(d))
	return convWeights{buf: buf, wino: wino, convRun: convRun{step: 1}}
}

// winoWeights returns the F(2x2, 3x3) transforms U = G g G' of a conv's
// 3x3 kernels g, w(co, ci, k) their taps, as rows ci*16 + e (e = 4 i + j
// for U[i][j]) of out channels. G has the rows (1, 0, 0), (1/2, 1/2, 1/2),
// (1/2, -1/2, 1/2) and (0, 0, 1).
func winoWeights(in, out int, w func(co, ci, k int) float32) []float32 {
	u := make([]float32, in*16*out)
	mulG := func(a, b, c float64) [4]float64 { return [4]float64{a, (a + b + c) / 2, (a - b + c) / 2, c} }
	for co := range out {
		for ci := range in {
			var g [3][4]float64 // G applied to each column of the kernel
			for x := range 3 {
				col := mulG(float64(w(co, ci, x)), float64(w(co, ci, 3+x)), float64(w(co, ci, 6+x)))
				for r := range 4 {
					g[x][r] = col[r]
				}
			}
			for r := range 4 {
				row := mulG(g[0][r], g[1][r], g[2][r])
				for j := range 4 {
					u[(ci*16+4*r+j)*out+co] = float32(row[j])
				}
			}
		}
	}
	return u
}

// conv runs y = conv3x3(x) with weights w, bias and ReLU. A grid of fewer
// than fillGroups workgroups is split along K (splitK); at most narrowConv
// output channels take a kernel of their own. Tensors in parts go block by
// block (convBlocks).
func (b *Backend) conv(x *Tensor, w convWeights, bias *buffer, cin, cout int, relu bool) *Tensor {
	y := b.anyTensor(cout, x.h, x.w)
	flags := uint32(0)
	if bias != nil {
		flags |= 1
	} else {
		bias = w.buf
	}
	if relu {
		flags |= 2
	}
	if x.parts != nil || y.parts != nil {
		b.convBlocks(x, y, w, bias, flags)
		return y
	}
	b.convBlock(x.buf, y.buf, x.h, x.w, w, bias, convSpan{cin, cout, 0, 0, cin, cout}, flags, true)
	return y
}

// convSpan is the channels of one dispatch of a conv: cin inputs from
// wci and cout outputs from wm of weights for wcin inputs and wcout
// outputs (conv.wgsl's params from the sixth).
type convSpan struct{ cin, cout, wci, wm, wcin, wcout int }

// convBlocks runs the conv of x in parts into y in parts: each output part
// sums its blocks, one per input part, in y itself (flags bit 4 after the
// first); the bias goes with the first block and the ReLU with the last.
func (b *Backend) convBlocks(x, y *Tensor, w convWeights, bias *buffer, flags uint32) {
	xs := x.views()
	for _, yv := range y.views() {
		for i, xv := range xs {
			f := flags &^ 3
			if i == 0 {
				f |= flags & 1
			} else {
				f |= 16
			}
			if i == len(xs)-1 {
				f |= flags & 2
			}
			b.convBlock(xv.buf, yv.buf, x.h, x.w, w, bias, convSpan{xv.c, yv.c, xv.c0, yv.c0, x.c, y.c}, f, false)
			b.blocks++
		}
	}
}

// convBlock dispatches one h x wd conv of x into y over the channels of
// s, splitting K where split allows.
func (b *Backend) convBlock(x, y *buffer, h, wd int, w convWeights, bias *buffer, s convSpan, flags uint32, split bool) {
	tr := uint32(0)
	if w.tr {
		tr = 8
	}
	ps := func(flags uint32, kper int) params {
		return params{uint32(s.cout), uint32(s.cin), uint32(h), uint32(wd), flags, uint32(kper),
			uint32(s.wci), uint32(s.wm), uint32(s.wcin), uint32(s.wcout)}
	}
	if s.wcout <= narrowConv {
		b.run1("conv", "conv3x3_narrow", noOverrides, h*wd, ps(flags, 0), x, w.buf, bias, y)
		return
	}
	name, over, step := "conv3x3", overrides(0), 1 // TK 16, WC 4
	if w.step == 2 {
		over, step = step2, 2
	}
	if w.wino {
		name = "conv3x3_wino"
	}
	tiles, mt, nsplit, kper := convGrid(h, wd, s.cin, s.cout, w.wino, step)
	if split && nsplit > 1 && !w.nosplit && tiles <= b.Limits.MaxComputeWorkgroupsPerDim {
		part := b.newBuf(int64(nsplit*s.cout*h*wd) * 4)
		b.dispatch3("conv", name, over, tiles, mt, nsplit, ps(4|tr, kper), x, w.buf, bias, part)
		b.run1("conv", "conv_sum", noOverrides, s.cout*h*wd, ps(flags, nsplit), part, bias, y)
		b.freeBuf(part)
		return
	}
	gz := (tiles + b.Limits.MaxComputeWorkgroupsPerDim - 1) / b.Limits.MaxComputeWorkgroupsPerDim
	b.dispatch3("conv", name, over, (tiles+gz-1)/gz, mt, gz, ps(flags|tr, 0), x, w.buf, bias, y)
}

func (b *Backend) normalize(img *Tensor) *Tensor {
	n := b.model.Input
	y := b.tensor(3, img.h, img.w)
	bgr := uint32(0)
	if n.Order == "bgr" {
		bgr = 1
	}
	b.run1("elementwise", "normalize", noOverrides, y.n(), params{uint32(img.h * img.w), bgr, f32(n.Scale),
		f32(n.Mean[0]), f32(n.Mean[1]), f32(n.Mean[2]), f32(n.Std[0]), f32(n.Std[1]), f32(n.Std[2])}, img.buf, y.buf)
	return y
}

func (b *Backend) normalizeBack(g *Tensor) *Tensor {
	n := b.model.Input
	y := b.tensor(3, g.h, g.w)
	bgr := uint32(0)
	if n.Order == "bgr" {
		bgr = 1
	}
	var k [3]float32
	for c := range k {
		k[c] = n.Scale / n.Std[c]
	}
	b.run1("elementwise", "normalize_back", noOverrides, y.n(), params{uint32(g.h * g.w), bgr, f32(k[0]), f32(k[1]), f32(k[2])}, g.buf, y.buf)
	return y
}

// trace holds every layer's output; a pool's backward recomputes its
// arg-max from its input.
type trace struct {
	outs []*Tensor
	h, w int
}

func (b *Backend) Forward(img nnst.Tensor, keep bool) *nnst.Trace {
	x := b.normalize(gt(img))
	tr := &trace{outs: make([]*Tensor, b.last+1), h: x.h, w: x.w}
	taps := make([]nnst.Tensor, len(b.model.Taps))
	prevTap := false
	for i := 0; i <= b.last; i++ {
		y := b.layer(i, x)
		if i == 0 || (!keep && !prevTap) {
			b.freeTensor(x) // the normalised input or an untapped layer
		}
		tr.outs[i] = y
		prevTap = b.tapOf[i] >= 0
		if prevTap {
			taps[b.tapOf[i]] = y
		}
		x = y
	}
	if !keep {
		tr.outs = nil
		b.flushSpare() // the untapped outputs, before the caller's next buffers
	}
	return &nnst.Trace{Taps: taps, State: &traceState{tr: tr, keep: keep}}
}

// layer runs layer i of the model on x: a max-pool, or a conv with bias
// and ReLU.
func (b *Backend) layer(i int, x *Tensor) *Tensor {
	if b.model.Layers[i].Kind == "pool" {
		y := b.anyTensor(x.c, x.h/2, x.w/2)
		for _, s := range segments(x.views(), 0, y.views()) {
			b.run1("pool", "maxpool", noOverrides, s.count*y.h*y.w, params{uint32(s.count), uint32(x.h), uint32(x.w), uint32(s.xc), uint32(s.yc)}, s.x, s.y)
		}
		return y
	}
	c := b.convs[i]
	return b.conv(x, c.fwd, c.bias, c.in, c.out, true)
}

type traceState struct {
	tr   *trace
	keep bool
}

func (b *Backend) Release(ntr *nnst.Trace) {
	st, _ := ntr.State.(*traceState)
	if st != nil && st.keep {
		for _, o := range st.tr.outs {
			b.freeTensor(o)
		}
	} else {
		for _, t := range ntr.Taps {
			b.freeTensor(gt(t))
		}
	}
	ntr.Taps, ntr.State = nil, nil
	b.flushSpare()
}

// Backward frees each layer's activation once the pass is past it.
func (b *Backend) Backward(ntr *nnst.Trace, tapGrad func(l int) nnst.Tensor) nnst.Tensor {
	st := ntr.State.(*traceState)
	if !st.keep {
		panic("webgpu: Backward on a trace made without keep")
	}
	tr := st.tr
	var g *Tensor
	for i := b.last; i >= 0; i-- {
		l := b.model.Layers[i]
		y := tr.outs[i]
		if t := b.tapOf[i]; t >= 0 {
			if tg := gt(tapGrad(t)); tg != nil {
				if g == nil {
					g = tg
				} else {
					ng := b.Axpby(1, g, 1, tg).(*Tensor)
					b.freeTensor(g)
					b.freeTensor(tg)
					g = ng
				}
			}
		}
		if g != nil {
			if l.Kind == "pool" {
				g = b.poolBack(g, tr.outs[i-1])
			} else {
				gm := b.anyTensor(g.c, g.h, g.w)
				xs, ys, ms := g.views(), y.views(), gm.views()
				if len(xs) != len(ms) || len(ys) != len(ms) {
					b.fail(fmt.Errorf("webgpu: a layer's gradient and output split differently"))
					return gm
				}
				for j, v := range ms {
					n := v.c * gm.h * gm.w
					b.run1("pool", "relu_back", noOverrides, n, params{uint32(n)}, xs[j].buf, ys[j].buf, v.buf)
				}
				b.freeTensor(g)
				b.freeTensor(y)
				tr.outs[i] = nil
				c := b.convs[i]
				g = b.conv(gm, c.bwd, nil, c.out, c.in, false)
				b.freeTensor(gm)
			}
		}
		b.freeTensor(tr.outs[i])
		tr.outs[i] = nil
		b.flushSpare()
	}
	if g == nil {
		g = b.Zeros(3, tr.h, tr.w).(*Tensor)
	}
	b.Release(ntr)
	out := b.normalizeBack(g)
	b.freeTensor(g)
	return out
}

// poolBack is the max-pool's backward: g (the pool's output gradient) at
// each window's arg-max in x, its input; it frees g.
func (b *Backend) poolBack(g, x *Tensor) *Tensor {
	dx := b.anyTensor(x.c, x.h, x.w)
	xs := x.views() // x's parts are dx's
	for j, v := range dx.views() {
		for _, s := range segments([]view{{v.buf, 0, v.c}}, v.c0, g.views()) {
			b.run1("pool", "maxpool_back", noOverrides, s.count*x.h*x.w, params{uint32(s.count), uint32(x.h), uint32(x.w), uint32(s.xc), uint32(s.yc)}, s.y, xs[j].buf, s.x)
		}
	}
	b.freeTensor(g)
	return dx
}

func (b *Backend) Hypercolumns(taps []nnst.Tensor, h, w int) nnst.Tensor {
	d := 0
	for _, t := range taps {
		d += gt(t).c
	}
	out := b.anyTensor(d, h, w)
	off := 0
	for _, t := range taps {
		x := gt(t)
		b.resize(x, out, off, 1/float32(x.c), true)
		off += x.c
	}
	return out
}

func (b *Backend) HypercolumnsBackward(g nnst.Tensor, taps []nnst.Tensor, l int) nnst.Tensor {
	off := 0
	for _, t := range taps[:l] {
		off += gt(t).c
	}
	x := gt(taps[l])
	dx := b.anyTensor(x.c, x.h, x.w)
	b.resizeBack(gt(g), off, dx, 1/float32(x.c), true)
	return dx
}
