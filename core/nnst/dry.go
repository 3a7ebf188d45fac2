package nnst

import (
	"context"
	"fmt"
	"time"

	"nnst/core/model"
	"nnst/core/tensor"
)

// Dry is a backend that runs the driver without computing: every tensor is
// only a shape (downloads are zeros), so a whole run at any size takes
// moments. It counts bytes as its Memory says a backend holds them
// (Usage); wrapped in a Counter it counts the run's operations.
type Dry struct {
	mem    Memory
	a      Alloc
	layers []model.Layer
	tapOf  []int // each layer's tap, or -1
	taps   int   // the number of taps
	last   int   // the last tap's layer
}

// NewDry returns a dry backend that counts bytes as mem does (nil:
// HostMemory).
func NewDry(mem Memory) *Dry {
	if mem == nil {
		mem = HostMemory{}
	}
	return &Dry{mem: mem, a: Alloc{mem: mem, once: map[any]bool{}}}
}

// Usage is what a dry run counts.
type Usage struct {
	Flops   float64 // operations (when the Dry is wrapped in a Counter)
	Peak    int64   // the most bytes held at once (the weights included)
	Largest int64   // the largest buffer
	// Staging bounds the bytes held outside the counted buffers for
	// transfers: the largest staging to the device and from it.
	Staging int64
}

// Usage returns the bytes counted so far (no Flops).
func (d *Dry) Usage() Usage {
	d.a.mu.Lock()
	defer d.a.mu.Unlock()
	return Usage{Peak: d.a.peak, Largest: d.a.largest, Staging: d.a.read + d.a.write}
}

// dryT is a tensor of a dry run and the bytes it holds.
type dryT struct {
	c, h, w int
	bytes   int64
	host    bool // a Compact copy off the device
}

func (t *dryT) Shape() (int, int, int) { return t.c, t.h, t.w }

func dt(t Tensor) *dryT { return t.(*dryT) }

type dryBank struct {
	n, d  int
	bytes int64
}

func (b *dryBank) Len() int { return b.n }

type drySearch struct {
	n, d        int
	query, rest int64
}

func (d *Dry) t(c, h, w int) *dryT {
	return &dryT{c: c, h: h, w: w, bytes: d.a.New(int64(c*h*w) * 4)}
}

// part is a tensor the backend may hold in parts (Memory.Tensor).
func (d *Dry) part(c, h, w int) *dryT {
	return &dryT{c: c, h: h, w: w, bytes: d.mem.Tensor(&d.a, c, h, w)}
}

func (d *Dry) free(t *dryT) {
	if t != nil {
		d.a.Free(t.bytes)
		t.bytes = 0
	}
}

func (d *Dry) Name() string     { return "dry run" }
func (d *Dry) Err() error       { return nil }
func (d *Dry) LiveBytes() int64 { d.a.mu.Lock(); defer d.a.mu.Unlock(); return d.a.live }
func (d *Dry) PeakBytes() int64 { d.a.mu.Lock(); defer d.a.mu.Unlock(); return d.a.peak }
func (d *Dry) ResetPeak()       { d.a.mu.Lock(); d.a.peak = d.a.live; d.a.mu.Unlock() }

func (d *Dry) Upload(t *tensor.T) Tensor {
	x := d.part(t.C, t.H, t.W)
	d.mem.Transfer(&d.a, int64(len(t.Data))*4, false)
	return x
}

func (d *Dry) Download(t Tensor) (*tensor.T, error) {
	c, h, w := t.Shape()
	if !dt(t).host {
		d.mem.Transfer(&d.a, int64(c*h*w)*4, true)
	}
	return tensor.New(c, h, w), nil
}

func (d *Dry) Zeros(c, h, w int) Tensor { return d.part(c, h, w) }

func (d *Dry) Free(ts ...Tensor) {
	for _, t := range ts {
		if t != nil {
			d.free(dt(t))
		}
	}
}

func (d *Dry) like(x Tensor) Tensor { return d.t(x.Shape()) }

func (d *Dry) Axpby(a float32, x Tensor, b float32, y Tensor) Tensor { return d.part(x.Shape()) }

// Axpy allocates nothing.
func (d *Dry) Axpy(a float32, x, y Tensor) {}

// Resize allocates an h x w result of x's channels and x's axis tables.
func (d *Dry) Resize(x Tensor, h, w int, ac bool) Tensor {
	c, xh, xw := x.Shape()
	y := d.part(c, h, w)
	d.mem.Table(&d.a, xh, h, ac)
	d.mem.Table(&d.a, xw, w, ac)
	return y
}

func (d *Dry) ResizeBackward(g Tensor, h, w int, ac bool) Tensor {
	c, gh, gw := g.Shape()
	dx := d.part(c, h, w)
	d.mem.Table(&d.a, h, gh, ac)
	d.mem.Table(&d.a, w, gw, ac)
	return dx
}

func (d *Dry) Rot90(x Tensor, k int) Tensor {
	c, h, w := x.Shape()
	if k%2 != 0 {
		h, w = w, h
	}
	return d.part(c, h, w)
}

func (d *Dry) Adam(p, g, m, v Tensor, t int, lr float32) {}

// DryRun runs o on a dry backend with mem's sizes (nil: HostMemory) for an
// h x w content and style image and returns what it counted. Previews are
// taken at each stage change, as the app does.
func DryRun(m *model.Model, o Options, mem Memory, h, w int) (Usage, error) {
	d := NewDry(mem)
	c := Count(d)
	s, err := New(c, m)
	if err != nil {
		return Usage{}, err
	}
	o.Color = false // on the host, and not counted
	img := tensor.New(3, h, w)
	if _, err := s.Run(context.Background(), img, img, o, stagePreviews()); err != nil {
		return Usage{}, err
	}
	u := d.Usage()
	u.Flops = c.Flops()
	return u, nil
}

// Previews is a progress report that takes the preview each time.
func Previews(p Progress) {
	if p.Preview != nil {
		p.Preview()
	}
}

// stagePreviews returns a progress report that takes the preview at the
// first report of each stage and scale and at each stage's last step: a
// preview holds the same at every step of a stage, and one at each report
// would make a slow dry run (large sizes in wasm) report, and take one, at
// every step.
func stagePreviews() func(Progress) {
	last := ""
	return func(p Progress) {
		k := fmt.Sprint(p.Stage, p.Scale)
		if k != last || p.Step == p.Steps {
			last = k
			Previews(p)
		}
	}
}

// isDry says whether be (or the backend a Counter wraps) is a Dry.
func isDry(be Backend) bool {
	if c, ok := be.(*Counter); ok {
		be = c.Backend
	}
	_, ok := be.(*Dry)
	return ok
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
