// Package cpu implements the nnst Backend on the host CPU, using all cores.
package cpu

import (
	"fmt"
	"sync"

	"nnst/core/conv"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
)

// T is a CPU tensor.
type T struct{ *tensor.T }

// Shape returns the tensor's shape.
func (t T) Shape() (int, int, int) { return t.C, t.H, t.W }

func host(t nnst.Tensor) *tensor.T {
	if t == nil {
		return nil
	}
	return t.(T).T
}

// Conv is a 3x3 conv layer with its weights prepared; *conv.Layer is one.
type Conv interface {
	Forward(in []float32, h, w int, relu bool, out []float32)
	BackwardData(dOut []float32, h, w int, dIn []float32)
}

// Kernels replace the backend's heavy kernels; nil fields keep the Go ones.
type Kernels struct {
	Name string
	// NewConv prepares a layer from OIHW weights, as conv.NewLayer.
	NewConv func(in, out int, weight, bias []float32) Conv
	// Nearest finds, for each column of q (d x n), the row of a (m x d)
	// with the largest inner product, ties to the lowest row, and that
	// product.
	Nearest func(a []float32, m, d int, q []float32, n int) (idx []int32, sim []float32)
	// Forward runs the network's layers on x (the normalised input) with
	// the layers from NewConv (nil at pools), as Layers does; kernels that
	// keep activations in their own memory set it. each (may be nil) gets
	// the outputs needed as they are made, maybe while the next layer
	// runs on the kernels: it must not call them.
	Forward func(x *tensor.T, layers []model.Layer, convs []Conv, need []bool, idx bool, each func(i int, y *tensor.T)) ([]*tensor.T, [][]int32)
	// Err reports the first failure of the kernels.
	Err func() error
}

// Backend is the CPU backend.
type Backend struct {
	mu         sync.Mutex
	k          Kernels
	model      *model.Model
	convs      []Conv
	tapOf      []int // for each layer, its index in the tap list or -1
	last       int   // index of the last layer needed
	live, peak int64
}

// The backend has the ops only tests use.
var (
	_ nnst.Unfused     = (*Backend)(nil)
	_ nnst.TapStreamer = (*Backend)(nil)
)

// New returns a CPU backend.
func New() *Backend { return NewWith(Kernels{}) }

// NewWith returns a CPU backend that uses the given kernels.
func NewWith(k Kernels) *Backend {
	if k.Name == "" {
		k.Name = "cpu"
	}
	if k.NewConv == nil {
		k.NewConv = func(in, out int, w, b []float32) Conv { return conv.NewLayer(in, out, w, b) }
	}
	if k.Nearest == nil {
		k.Nearest = Nearest
	}
	if k.Forward == nil {
		k.Forward = Layers
	}
	return &Backend{k: k}
}

func (b *Backend) Name() string { return b.k.Name }

func (b *Backend) Err() error {
	if b.k.Err != nil {
		return b.k.Err()
	}
	return nil
}

func (b *Backend) LiveBytes() int64 { b.mu.Lock(); defer b.mu.Unlock(); return b.live }
func (b *Backend) PeakBytes() int64 { b.mu.Lock(); defer b.mu.Unlock(); return b.peak }
func (b *Backend) ResetPeak()       { b.mu.Lock(); b.peak = b.live; b.mu.Unlock() }

func (b *Backend) track(n int64) {
	b.mu.Lock()
	b.live += n
	b.peak = max(b.peak, b.live)
	b.mu.Unlock()
}

func (b *Backend) wrap(t *tensor.T) nnst.Tensor {
	b.track(int64(len(t.Data)) * 4)
	return T{t}
}

func (b *Backend) Upload(t *tensor.T) nnst.Tensor { return b.wrap(t.Clone()) }

func (b *Backend) Download(t nnst.Tensor) (*tensor.T, error) { return host(t).Clone(), nil }

func (b *Backend) Zeros(c, h, w int) nnst.Tensor { return b.wrap(tensor.New(c, h, w)) }

func (b *Backend) Free(ts ...nnst.Tensor) {
	for _, t := range ts {
		if t != nil {
			b.track(-bytes(t))
		}
	}
}

func (b *Backend) Axpby(a float32, x nnst.Tensor, c float32, y nnst.Tensor) nnst.Tensor {
	return b.wrap(ops.Axpby(a, host(x), c, host(y)))
}

func (b *Backend) Axpy(a float32, x, y nnst.Tensor) {
	xt, yt := host(x), host(y)
	if !xt.SameShape(yt) {
		panic("cpu: Axpy shape mismatch " + xt.String() + " vs " + yt.String())
	}
	for i, v := range xt.Data {
		yt.Data[i] += a * v
	}
}

func (b *Backend) Resize(x nnst.Tensor, h, w int, align bool) nnst.Tensor {
	return b.wrap(ops.Resize(host(x), h, w, align))
}

func (b *Backend) ResizeBackward(g nnst.Tensor, h, w int, align bool) nnst.Tensor {
	return b.wrap(ops.ResizeBackward(host(g), h, w, align))
}

func (b *Backend) Rot90(x nnst.Tensor, k int) nnst.Tensor { return b.wrap(ops.Rot90(host(x), k)) }

// LoadModel prepacks the conv weights.
func (b *Backend) LoadModel(m *model.Model) error {
	tapOf, err := m.TapOf()
	if err != nil {
		return fmt.Errorf("model %s: %w", m.Arch, err)
	}
	b.model = m
	b.convs = make([]Conv, len(m.Layers))
	b.tapOf = tapOf
	b.last = -1
	for i, l := range m.Layers {
		if l.Kind != "conv" {
			continue
		}
		b.convs[i] = b.k.NewConv(l.Conv.In, l.Conv.Out, l.Conv.Weight, l.Conv.Bias)
		if tapOf[i] >= 0 {
			b.last = i
		}
	}
	return nil
}

// trace is what Backward needs: each conv's output (its ReLU mask, and
// the tap), each pool's argmax indices and every layer's output shape.
// Backward drops each entry once it is past it.
type trace struct {
	outs  []*tensor.T // output of each conv (post-ReLU); nil at pools
	idx   [][]int32   // pool argmax indices
	shape [][3]int    // each layer's output shape
	h, w  int         // input size
}

// Layers is the Go Kernels.Forward, the default: it runs layers on x,
// each conv with its ReLU, and returns the output of each layer i with
// need[i] (nil elsewhere) and, when idx, each pool's argmax indices
// (ops.MaxPool2's; nil elsewhere). With each, the outputs needed go to
// each as they are made instead.
func Layers(x *tensor.T, layers []model.Layer, convs []Conv, need []bool, idx bool, each func(i int, y *tensor.T)) ([]*tensor.T, [][]int32) {
	outs := make([]*tensor.T, len(layers))
	idxs := make([][]int32, len(layers))
	for i, l := range layers {
		var y *tensor.T
		if l.Kind == "pool" {
			var ix []int32
			y, ix = ops.MaxPool2(x)
			if idx {
				idxs[i] = ix
			}
		} else {
			y = tensor.New(l.Conv.Out, x.H, x.W)
			convs[i].Forward(x.Data, x.H, x.W, true, y.Data)
		}
		switch {
		case need[i] && each != nil:
			each(i, y)
		case need[i]:
			outs[i] = y
		}
		x = y
	}
	return outs, idxs
}

func (b *Backend) Forward(img nnst.Tensor, keep bool) *nnst.Trace {
	x := ops.Normalize(host(img), b.model.Input)
	tr := &trace{h: x.H, w: x.W}
	// Backward needs each conv's output and each pool's indices (not its
	// output); otherwise only the taps are kept.
	layers := b.model.Layers[:b.last+1]
	need := make([]bool, len(layers))
	for i, l := range layers {
		need[i] = (keep && l.Kind != "pool") || b.tapOf[i] >= 0
	}
	tr.outs, tr.idx = b.k.Forward(x, layers, b.convs[:b.last+1], need, keep, nil)
	taps := make([]nnst.Tensor, len(b.model.Taps))
	for i, y := range tr.outs {
		if t := b.tapOf[i]; t >= 0 {
			taps[t] = b.wrap(y)
		}
	}
	if !keep {
		return &nnst.Trace{Taps: taps}
	}
	c, h, w := x.C, x.H, x.W
	tr.shape = make([][3]int, len(layers))
	for i, l := range layers {
		if l.Kind == "pool" {
			h, w = h/2, w/2
		} else {
			c = l.Conv.Out
		}
		tr.shape[i] = [3]int{c, h, w}
	}
	return &nnst.Trace{Taps: taps, State: tr}
}

// ForwardTaps hands each tap over as the forward pass makes it.
func (b *Backend) ForwardTaps(img nnst.Tensor, each func(l int, t nnst.Tensor)) {
	x := ops.Normalize(host(img), b.model.Input)
	need := make([]bool, b.last+1)
	for i := range need {
		need[i] = b.tapOf[i] >= 0
	}
	b.k.Forward(x, b.model.Layers[:b.last+1], b.convs[:b.last+1], need, false, func(i int, y *tensor.T) {
		t := b.wrap(y)
		each(b.tapOf[i], t)
		b.Free(t)
	})
}

func (b *Backend) Release(tr *nnst.Trace) {
	b.Free(tr.Taps...)
	tr.Taps, tr.State = nil, nil
}

// Backward drops each layer's output and indices once it is past them: a
// tap's data goes with them (the taps after l are gone when tapGrad(l)
// runs), its bytes are counted until the trace is released. It reuses
// buffers it owns: a tap's gradient (Backward frees it) takes the pool's
// gradient after it, and a conv's input gradient its dead output.
func (b *Backend) Backward(ntr *nnst.Trace, tapGrad func(l int) nnst.Tensor) nnst.Tensor {
	tr := ntr.State.(*trace)
	asked := -1 // the layer whose tap gradient was asked for already
	grad := func(i int) *tensor.T {
		t := b.tapOf[i]
		if t < 0 || i == asked {
			return nil
		}
		asked = i
		tt := tapGrad(t)
		if tt == nil {
			return nil
		}
		b.Free(tt)
		return host(tt)
	}
	var g *tensor.T
	for i := b.last; i >= 0; i-- {
		l := b.model.Layers[i]
		if tg := grad(i); tg != nil {
			if g == nil {
				g = tg
			} else {
				for j, v := range tg.Data {
					g.Data[j] += v
				}
			}
		}
		y, idx := tr.outs[i], tr.idx[i]
		tr.outs[i], tr.idx[i] = nil, nil
		in := [3]int{3, tr.h, tr.w}
		if i > 0 {
			in = tr.shape[i-1]
		}
		if l.Kind == "pool" {
			// The tap before the pool, asked for now, takes its gradient.
			var into *tensor.T
			if i > 0 {
				into = grad(i - 1)
			}
			if g != nil {
				if into == nil {
					into = tensor.New(in[0], in[1], in[2])
				}
				ops.MaxPool2BackwardAdd(into, g, idx)
			}
			g = into
			continue
		}
		if g == nil {
			drop(y)
			continue
		}
		ops.ReLUBackward(g.Data, y.Data)
		// The output's buffer is free now: the input's gradient takes it
		// when it fits (BackwardData overwrites).
		dx := &tensor.T{C: l.Conv.In, H: in[1], W: in[2], Data: y.Data}
		if l.Conv.In != l.Conv.Out {
			dx = tensor.New(l.Conv.In, in[1], in[2])
		}
		drop(y)
		b.convs[i].BackwardData(g.Data, in[1], in[2], dx.Data)
		g = dx
	}
	if g == nil {
		g = tensor.New(3, tr.h, tr.w)
	}
	b.Release(ntr)
	return b.wrap(ops.NormalizeBackward(g, b.model.Input))
}

// drop lets a trace entry's data go, its tap's too.
func drop(y *tensor.T) {
	if y != nil {
		y.Data = nil
	}
}

func (b *Backend) Hypercolumns(taps []nnst.Tensor, h, w int) nnst.Tensor {
	d := 0
	for _, t := range taps {
		d += host(t).C
	}
	out := tensor.New(d, h, w)
	off := 0
	for _, t := range taps {
		x := host(t)
		copy(out.Data[off*h*w:], hyperTap(x, h, w).Data)
		off += x.C
	}
	return b.wrap(out)
}

// hyperTap is one tap's part of the hypercolumns: x / C resized to h x w.
func hyperTap(x *tensor.T, h, w int) *tensor.T {
	r := ops.Resize(x, h, w, true)
	s := 1 / float32(x.C)
	for i, v := range r.Data {
		r.Data[i] = v * s
	}
	return r
}

func (b *Backend) HypercolumnsBackward(g nnst.Tensor, taps []nnst.Tensor, l int) nnst.Tensor {
	gh := host(g)
	off := 0
	for _, t := range taps[:l] {
		off += host(t).C
	}
	x := host(taps[l])
	part := &tensor.T{C: x.C, H: gh.H, W: gh.W, Data: gh.Data[off*gh.H*gh.W : (off+x.C)*gh.H*gh.W]}
	return b.wrap(hyperTapBackward(part, x))
}

// hyperTapBackward is the adjoint of hyperTap: g (x.C x h x w) to x's size.
func hyperTapBackward(g, x *tensor.T) *tensor.T {
	r := ops.ResizeBackward(g, x.H, x.W, true)
	s := 1 / float32(x.C)
	for j := range r.Data {
		r.Data[j] *= s
	}
	return r
}

// ChannelMean accumulates in float64.
func (b *Backend) ChannelMean(x nnst.Tensor) nnst.Tensor {
	t := host(x)
	hw := t.H * t.W
	out := tensor.New(t.C, 1, 1)
	ops.ParallelFor(t.C, func(c int) {
		var s float64
		for _, v := range t.Data[c*hw : (c+1)*hw] {
			s += float64(v)
		}
		out.Data[c] = float32(s / float64(max(hw, 1)))
	})
	return b.wrap(out)
}

func (b *Backend) Adam(p, g, m, v nnst.Tensor, t int, lr float32) {
	ops.Adam(host(p).Data, host(g).Data, host(m).Data, host(v).Data, t, lr)
}

func scalar(v float64) *tensor.T {
	t := tensor.New(1, 1, 1)
	t.Data[0] = float32(v)
	return t
}

var _ nnst.Backend = (*Backend)(nil)
