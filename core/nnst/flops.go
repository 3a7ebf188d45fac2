package nnst

import (
	"sort"
	"sync"

	"nnst/core/model"
)

// Counter is a Backend that passes every call to another backend and
// counts the floating-point operations of what it dispatches, from the
// shapes of each call: the same count whichever backend runs it. A
// multiply-add is two operations; resizes count 8 per output value, the
// cosine and Adam updates their arithmetic per value.
type Counter struct {
	Backend
	mu    sync.Mutex
	by    map[string]float64
	convs []convShape // the model's convs and pools, in order
	taps  map[int]int // layer index of each tap
}

type convShape struct {
	pool    bool
	in, out int
}

// Count wraps be; its counts start at zero.
func Count(be Backend) *Counter { return &Counter{Backend: be, by: map[string]float64{}} }

// Unwrap returns the counted backend, for As: its optional interfaces
// (Preparer, Unfused) are called uncounted.
func (c *Counter) Unwrap() Backend { return c.Backend }

func (c *Counter) add(op string, n float64) {
	c.mu.Lock()
	c.by[op] += n
	c.mu.Unlock()
}

// Flops returns the total counted so far.
func (c *Counter) Flops() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s float64
	for _, v := range c.by {
		s += v
	}
	return s
}

// ByOp returns the counts per kind of operation, largest first.
func (c *Counter) ByOp() []OpFlops {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []OpFlops
	for k, v := range c.by {
		out = append(out, OpFlops{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Flops > out[j].Flops })
	return out
}

// OpFlops is one row of Counter.ByOp.
type OpFlops struct {
	Op    string
	Flops float64
}

// Reset sets the counts to zero.
func (c *Counter) Reset() { c.mu.Lock(); c.by = map[string]float64{}; c.mu.Unlock() }

func size(t Tensor) float64 {
	c, h, w := t.Shape()
	return float64(c * h * w)
}

func (c *Counter) LoadModel(m *model.Model) error {
	c.convs = nil
	c.taps = map[int]int{}
	tapOf, _ := m.TapOf() // the backend reports a bad tap list
	for i, l := range m.Layers {
		if l.Kind == "pool" {
			c.convs = append(c.convs, convShape{pool: true})
		} else {
			c.convs = append(c.convs, convShape{in: l.Conv.In, out: l.Conv.Out})
		}
		if tapOf != nil && tapOf[i] >= 0 {
			c.taps[tapOf[i]] = i
		}
	}
	return c.Backend.LoadModel(m)
}

// network returns the operations of a forward pass over an h x w image to
// the last tap (a backward pass to the image costs the same).
func (c *Counter) network(h, w int) float64 {
	last := 0
	for _, i := range c.taps {
		last = max(last, i)
	}
	n := 2 * float64(3*h*w) // normalisation
	for i, l := range c.convs {
		if i > last {
			break
		}
		if l.pool {
			h, w = h/2, w/2
			continue
		}
		n += float64(h*w) * float64(l.out) * (2*9*float64(l.in) + 1)
	}
	return n
}

func (c *Counter) Axpby(a float32, x Tensor, b float32, y Tensor) Tensor {
	c.add("elementwise", 3*size(x))
	return c.Backend.Axpby(a, x, b, y)
}

func (c *Counter) Axpy(a float32, x, y Tensor) {
	c.add("elementwise", 3*size(x))
	c.Backend.Axpy(a, x, y)
}

func (c *Counter) Resize(x Tensor, h, w int, ac bool) Tensor {
	ch, _, _ := x.Shape()
	c.add("resize", 8*float64(ch*h*w))
	return c.Backend.Resize(x, h, w, ac)
}

func (c *Counter) ResizeBackward(g Tensor, h, w int, ac bool) Tensor {
	c.add("resize", 8*size(g))
	return c.Backend.ResizeBackward(g, h, w, ac)
}

func (c *Counter) Forward(img Tensor, keep bool) *Trace {
	_, h, w := img.Shape()
	c.add("network forward", c.network(h, w))
	return c.Backend.Forward(img, keep)
}

func (c *Counter) ForwardTaps(img Tensor, each func(l int, t Tensor)) {
	_, h, w := img.Shape()
	c.add("network forward", c.network(h, w))
	ForwardTaps(c.Backend, img, each)
}

func (c *Counter) Backward(tr *Trace, tapGrad func(l int) Tensor) Tensor {
	h, w := 0, 0
	if len(tr.Taps) > 0 {
		_, h, w = tr.Taps[0].Shape()
		// The first tap is at the image's size unless a pool precedes it.
		for i := 0; i < c.taps[0]; i++ {
			if c.convs[i].pool {
				h, w = h*2, w*2
			}
		}
	}
	c.add("network backward", c.network(h, w))
	return c.Backend.Backward(tr, tapGrad)
}

func hyperCost(taps []Tensor, h, w int) float64 {
	var n float64
	for _, t := range taps {
		ch, _, _ := t.Shape()
		n += 9 * float64(ch*h*w)
	}
	return n
}

func (c *Counter) Hypercolumns(taps []Tensor, h, w int) Tensor {
	c.add("resize", hyperCost(taps, h, w))
	return c.Backend.Hypercolumns(taps, h, w)
}

func (c *Counter) HypercolumnLoss(taps []Tensor, target Tensor) (Tensor, Tensor) {
	_, h, w := target.Shape()
	c.add("resize", hyperCost(taps, h, w))
	c.add("loss", 6*size(target))
	return c.Backend.HypercolumnLoss(taps, target)
}

func (c *Counter) HypercolumnLossBackward(coef Tensor, taps []Tensor, target Tensor, l int) Tensor {
	_, h, w := target.Shape()
	c.add("resize", hyperCost(taps[l:l+1], h, w))
	c.add("loss", 3*size(taps[l]))
	return c.Backend.HypercolumnLossBackward(coef, taps, target, l)
}

func (c *Counter) ChannelMean(x Tensor) Tensor {
	c.add("elementwise", size(x))
	return c.Backend.ChannelMean(x)
}

func (c *Counter) BankAdd(b Bank, t Tensor) {
	c.add("match", 4*size(t))
	c.Backend.BankAdd(b, t)
}

func (c *Counter) BankAddHypercolumns(b Bank, taps []Tensor, h, w int) {
	c.add("resize", hyperCost(taps, h, w))
	c.add("match", 4*float64(h*w)*hyperChannels(taps))
	c.Backend.BankAddHypercolumns(b, taps, h, w)
}

func hyperChannels(taps []Tensor) float64 {
	var d float64
	for _, t := range taps {
		ch, _, _ := t.Shape()
		d += float64(ch)
	}
	return d
}

// counted is a search with its query's size, for SearchBank's count.
type counted struct {
	Search
	d, n float64
}

func (c *Counter) NewSearch(query Tensor) Search {
	d, h, w := query.Shape()
	c.add("match", 4*size(query))
	return &counted{c.Backend.NewSearch(query), float64(d), float64(h * w)}
}

func (c *Counter) SearchBank(s Search, b Bank, k int) {
	cs := s.(*counted)
	c.add("match", 2*cs.d*cs.n*float64(b.Len()))
	c.Backend.SearchBank(cs.Search, b, k)
}

func (c *Counter) EndSearch(s Search) { c.Backend.EndSearch(s.(*counted).Search) }

func (c *Counter) SearchGather(s Search, b Bank, k int, target Tensor) {
	c.add("match", 2*size(target)/4) // an uncentring per gathered value (a bank's share)
	c.Backend.SearchGather(s.(*counted).Search, b, k, target)
}

func (c *Counter) SearchField(s Search) ([]int32, error) {
	return c.Backend.SearchField(s.(*counted).Search)
}

func (c *Counter) FreeSearch(s Search) { c.Backend.FreeSearch(s.(*counted).Search) }

// samples counts the positions of an h x w map that s keeps.
func samples(h, w int, s Sample) float64 {
	return float64(max(0, (h-s.Y0+s.Stride-1)/s.Stride) * max(0, (w-s.X0+s.Stride-1)/s.Stride))
}

func (c *Counter) SplitLoss(out Tensor, style []Tensor, s Sample) (Tensor, Tensor) {
	ch, h, w := out.Shape()
	n := samples(h, w, s)
	var m float64
	for _, t := range style {
		_, sh, sw := t.Shape()
		m += samples(sh, sw, s)
	}
	c.add("split search", float64(ch)*(2*n*m+4*(n+m)))
	c.add("loss", 6*float64(ch)*n)
	return c.Backend.SplitLoss(out, style, s)
}

func (c *Counter) ColorDistanceLoss(x, ref Tensor) (Tensor, Tensor) {
	_, h, w := x.Shape()
	n := float64(h * w)
	c.add("loss", 30*n*n)
	return c.Backend.ColorDistanceLoss(x, ref)
}

func (c *Counter) Adam(p, g, m, v Tensor, t int, lr float32) {
	c.add("adam", 12*size(p))
	c.Backend.Adam(p, g, m, v, t, lr)
}
