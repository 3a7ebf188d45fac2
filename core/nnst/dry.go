package nnst

import (
	"context"
	"sync"
	"time"

	"nnst/core/model"
	"nnst/core/tensor"
)

// Dry is a backend that runs the driver without computing: every tensor is
// only a shape (downloads are zeros), so a whole run at any size takes
// moments. Wrapped in a Counter it counts a run's operations; it tracks
// live and peak bytes as float32 tensors.
type Dry struct {
	mu         sync.Mutex
	live, peak int64
	layers     []model.Layer
	tapLayer   []int
}

// NewDry returns a dry backend.
func NewDry() *Dry { return &Dry{} }

type dryT struct{ c, h, w int }

func (t *dryT) Shape() (int, int, int) { return t.c, t.h, t.w }

type dryBank struct{ n, d int }

func (b *dryBank) Len() int { return b.n }

type drySearch struct{ n, d int }

func (d *Dry) track(n int64) {
	d.mu.Lock()
	d.live += n
	d.peak = max(d.peak, d.live)
	d.mu.Unlock()
}

func (d *Dry) t(c, h, w int) Tensor {
	d.track(int64(c*h*w) * 4)
	return &dryT{c, h, w}
}

func (d *Dry) Name() string     { return "dry run" }
func (d *Dry) Err() error       { return nil }
func (d *Dry) LiveBytes() int64 { d.mu.Lock(); defer d.mu.Unlock(); return d.live }
func (d *Dry) PeakBytes() int64 { d.mu.Lock(); defer d.mu.Unlock(); return d.peak }
func (d *Dry) ResetPeak()       { d.mu.Lock(); d.peak = d.live; d.mu.Unlock() }

func (d *Dry) Upload(t *tensor.T) Tensor { return d.t(t.C, t.H, t.W) }
func (d *Dry) Download(t Tensor) (*tensor.T, error) {
	c, h, w := t.Shape()
	return tensor.New(c, h, w), nil
}
func (d *Dry) Zeros(c, h, w int) Tensor { return d.t(c, h, w) }
func (d *Dry) Free(ts ...Tensor) {
	for _, t := range ts {
		if t != nil {
			d.track(-int64(size(t)) * 4)
		}
	}
}
func (d *Dry) like(x Tensor) Tensor { return d.t(x.Shape()) }

func (d *Dry) Axpby(a float32, x Tensor, b float32, y Tensor) Tensor { return d.like(x) }
func (d *Dry) Resize(x Tensor, h, w int, ac bool) Tensor {
	c, _, _ := x.Shape()
	return d.t(c, h, w)
}
func (d *Dry) ResizeBackward(g Tensor, h, w int, ac bool) Tensor { return d.Resize(g, h, w, ac) }
func (d *Dry) Rot90(x Tensor, k int) Tensor {
	c, h, w := x.Shape()
	if k%2 != 0 {
		h, w = w, h
	}
	return d.t(c, h, w)
}

func (d *Dry) LoadModel(m *model.Model) error {
	d.layers = m.Layers
	d.tapLayer = nil
	for _, name := range m.Taps {
		for i, l := range m.Layers {
			if l.Kind == "conv" && "relu"+l.Name[4:] == name {
				d.tapLayer = append(d.tapLayer, i)
			}
		}
	}
	return nil
}

type dryTrace struct{ h, w int }

func (d *Dry) Forward(img Tensor, keep bool) *Trace {
	_, h, w := img.Shape()
	taps := make([]Tensor, len(d.tapLayer))
	lh, lw := h, w
	for i, l := range d.layers {
		if l.Kind == "pool" {
			lh, lw = lh/2, lw/2
			continue
		}
		for t, li := range d.tapLayer {
			if li == i {
				taps[t] = d.t(l.Conv.Out, lh, lw)
			}
		}
	}
	return &Trace{Taps: taps, State: dryTrace{h, w}}
}

func (d *Dry) Backward(tr *Trace, tapGrad func(l int) Tensor) Tensor {
	st := tr.State.(dryTrace)
	for l := len(tr.Taps) - 1; l >= 0; l-- {
		if g := tapGrad(l); g != nil {
			d.Free(g)
		}
	}
	d.Release(tr)
	return d.t(3, st.h, st.w)
}

func (d *Dry) Release(tr *Trace) { d.Free(tr.Taps...); tr.Taps = nil }

func (d *Dry) Hypercolumns(taps []Tensor, h, w int) Tensor {
	return d.t(int(hyperChannels(taps)), h, w)
}
func (d *Dry) HypercolumnsBackward(g Tensor, taps []Tensor, l int) Tensor { return d.like(taps[l]) }
func (d *Dry) HypercolumnLoss(taps []Tensor, target Tensor) (Tensor, Tensor) {
	_, h, w := target.Shape()
	return d.t(1, 1, 1), d.t(3, h, w)
}
func (d *Dry) HypercolumnLossBackward(coef Tensor, taps []Tensor, target Tensor, l int) Tensor {
	return d.like(taps[l])
}
func (d *Dry) ChannelMean(x Tensor) Tensor {
	c, _, _ := x.Shape()
	return d.t(c, 1, 1)
}
func (d *Dry) NewBank(mean Tensor, capacity int) Bank {
	c, _, _ := mean.Shape()
	d.track(int64(capacity*c) * 4)
	return &dryBank{d: c}
}
func (d *Dry) BankAdd(b Bank, t Tensor) {
	_, h, w := t.Shape()
	b.(*dryBank).n += h * w
}
func (d *Dry) BankAddHypercolumns(b Bank, taps []Tensor, h, w int) { b.(*dryBank).n += h * w }
func (d *Dry) FreeBank(b Bank) {
	k := b.(*dryBank)
	d.track(-int64(k.n*k.d) * 4)
}
func (d *Dry) Match(b Bank, query Tensor) Tensor { return d.like(query) }
func (d *Dry) NewSearch(query Tensor) Search {
	c, h, w := query.Shape()
	d.track(int64(c*h*w) * 4)
	return &drySearch{n: h * w, d: c}
}
func (d *Dry) SearchBank(s Search, b Bank, k int) {}
func (d *Dry) EndSearch(s Search) {
	if ds := s.(*drySearch); ds.d > 0 {
		d.track(-int64(ds.n*ds.d) * 4)
		ds.d = 0
	}
}
func (d *Dry) SearchGather(s Search, b Bank, k int, target Tensor) { d.EndSearch(s) }
func (d *Dry) SearchField(s Search) ([]int32, error) {
	return make([]int32, s.(*drySearch).n), nil
}
func (d *Dry) FreeSearch(s Search) { d.EndSearch(s) }
func (d *Dry) CosineLoss(f, target Tensor) (Tensor, Tensor) {
	return d.t(1, 1, 1), d.like(f)
}
func (d *Dry) SplitLoss(out Tensor, style []Tensor, s Sample) (Tensor, Tensor) {
	return d.t(1, 1, 1), d.like(out)
}
func (d *Dry) Compact(x Tensor, stride int) Tensor { return d.like(x) }
func (d *Dry) ColorDistanceLoss(x, ref Tensor) (Tensor, Tensor) {
	return d.t(1, 1, 1), d.like(x)
}
func (d *Dry) Adam(p, g, m, v Tensor, t int, lr float32) {}

// isDry says whether be (or the backend a Counter wraps) is a Dry.
func isDry(be Backend) bool {
	if c, ok := be.(*Counter); ok {
		be = c.Backend
	}
	_, ok := be.(*Dry)
	return ok
}

// DryRun runs o on a dry backend for an h x w content and style image and
// returns the operations counted and the peak of live float32 bytes.
func DryRun(m *model.Model, o Options, h, w int) (flops float64, peak int64, err error) {
	c := Count(NewDry())
	s, err := New(c, m)
	if err != nil {
		return 0, 0, err
	}
	o.Color = false // on the host, and not counted
	img := tensor.New(3, h, w)
	if _, err := s.Run(context.Background(), img, img, o, nil); err != nil {
		return 0, 0, err
	}
	return c.Flops(), c.PeakBytes(), nil
}

// Rate measures the backend's operations per second on a forward pass at
// 128 px (the second of two, so compilation and first-use costs are left
// out), waiting on a download of the last tap. The model must be loaded;
// it resets the counts.
func (c *Counter) Rate() (float64, error) {
	be := c.Backend
	img := be.Upload(tensor.New(3, 128, 128))
	defer be.Free(img)
	var secs float64
	for i := 0; i < 2; i++ {
		c.Reset()
		start := time.Now()
		tr := c.Forward(img, false)
		_, err := be.Download(tr.Taps[len(tr.Taps)-1])
		be.Release(tr)
		if err != nil {
			return 0, err
		}
		secs = time.Since(start).Seconds()
	}
	f := c.Flops()
	c.Reset()
	return f / max(secs, 1e-6), be.Err()
}
