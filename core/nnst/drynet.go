package nnst

import "nnst/core/model"

// The dry run's network, matching and losses: what each call allocates,
// in the order the backends do.

func (d *Dry) LoadModel(m *model.Model) error {
	tapOf, err := m.TapOf()
	if err != nil {
		return err
	}
	d.layers, d.tapOf, d.taps, d.last = m.Layers, tapOf, len(m.Taps), 0
	for i, t := range tapOf {
		if t >= 0 {
			d.last = i
		}
	}
	d.mem.LoadModel(&d.a, m)
	return nil
}

// dryTrace is a forward pass's state: the input's size and, when the
// Memory counts the layers and the trace is kept, every layer's output.
type dryTrace struct {
	h, w int
	outs []*dryT
	keep bool
}

// layer allocates layer i's output for input x, with its pass's scratch.
func (d *Dry) layer(i int, x *dryT) *dryT {
	l := d.layers[i]
	if l.Kind == "pool" {
		return d.part(x.c, x.h/2, x.w/2)
	}
	y := d.part(l.Conv.Out, x.h, x.w)
	d.mem.Conv(&d.a, l.Conv.In, l.Conv.Out, x.h, x.w)
	return y
}

func (d *Dry) Forward(img Tensor, keep bool) *Trace {
	_, h, w := img.Shape()
	taps := make([]Tensor, d.taps)
	st := &dryTrace{h: h, w: w, keep: keep}
	if !d.mem.Layers() {
		lh, lw := h, w
		for i, l := range d.layers[:d.last+1] {
			if l.Kind == "pool" {
				lh, lw = lh/2, lw/2
			} else if t := d.tapOf[i]; t >= 0 {
				taps[t] = d.t(l.Conv.Out, lh, lw)
			}
		}
		return &Trace{Taps: taps, State: st}
	}
	// The normalised input, then each layer; without keep an untapped
	// output goes once the next layer has it.
	x := d.t(3, h, w)
	st.outs = make([]*dryT, d.last+1)
	prevTap := false
	for i := 0; i <= d.last; i++ {
		y := d.layer(i, x)
		if i == 0 || (!keep && !prevTap) {
			d.free(x)
		}
		st.outs[i] = y
		t := d.tapOf[i]
		if prevTap = t >= 0; prevTap {
			taps[t] = y
		}
		x = y
	}
	if !keep {
		st.outs = nil
	}
	return &Trace{Taps: taps, State: st}
}

// ForwardTaps streams the taps as the CPU backend does (HostMemory), else
// makes them all first as the other backends do.
func (d *Dry) ForwardTaps(img Tensor, each func(l int, t Tensor)) {
	if _, host := d.mem.(HostMemory); !host {
		tr := d.Forward(img, false)
		for l, t := range tr.Taps {
			each(l, t)
		}
		d.Release(tr)
		return
	}
	_, h, w := img.Shape()
	for i, l := range d.layers[:d.last+1] {
		if l.Kind == "pool" {
			h, w = h/2, w/2
		} else if t := d.tapOf[i]; t >= 0 {
			x := d.t(l.Conv.Out, h, w)
			each(t, x)
			d.Free(x)
		}
	}
}

func (d *Dry) Release(tr *Trace) {
	st, _ := tr.State.(*dryTrace)
	if st != nil && st.outs != nil {
		for _, o := range st.outs {
			d.free(o)
		}
	} else {
		d.Free(tr.Taps...)
	}
	tr.Taps, tr.State = nil, nil
}

func (d *Dry) Backward(tr *Trace, tapGrad func(l int) Tensor) Tensor {
	st := tr.State.(*dryTrace)
	if !d.mem.Layers() {
		for l := len(tr.Taps) - 1; l >= 0; l-- {
			if g := tapGrad(l); g != nil {
				d.Free(g)
			}
		}
		d.Release(tr)
		return d.t(3, st.h, st.w)
	}
	// Each layer's output goes once the pass is past it; the gradient
	// goes through the ReLU's mask and the conv's backward-data pass.
	var g *dryT
	for i := d.last; i >= 0; i-- {
		y := st.outs[i]
		if t := d.tapOf[i]; t >= 0 {
			if tg := tapGrad(t); tg != nil {
				if g == nil {
					g = dt(tg)
				} else {
					ng := d.part(g.c, g.h, g.w)
					d.free(g)
					d.free(dt(tg))
					g = ng
				}
			}
		}
		if g != nil {
			ih, iw := st.h, st.w
			if i > 0 {
				ih, iw = st.outs[i-1].h, st.outs[i-1].w
			}
			if l := d.layers[i]; l.Kind == "pool" {
				dx := d.part(y.c, ih, iw)
				d.free(g)
				g = dx
			} else {
				gm := d.part(g.c, g.h, g.w)
				d.free(g)
				d.free(y)
				g = d.part(l.Conv.In, gm.h, gm.w)
				d.mem.Conv(&d.a, l.Conv.Out, l.Conv.In, gm.h, gm.w)
				d.free(gm)
			}
		}
		d.free(st.outs[i])
	}
	if g == nil {
		g = d.t(3, st.h, st.w)
	}
	d.Release(tr)
	out := d.t(3, st.h, st.w)
	d.free(g)
	return out
}

// tables allocates the axis tables of resizing each tap to h x w, as the
// hypercolumns do.
func (d *Dry) tables(taps []Tensor, h, w int) {
	for _, t := range taps {
		_, th, tw := t.Shape()
		d.mem.Table(&d.a, th, h, true)
		d.mem.Table(&d.a, tw, w, true)
	}
}

func (d *Dry) Hypercolumns(taps []Tensor, h, w int) Tensor {
	out := d.part(int(hyperChannels(taps)), h, w)
	d.tables(taps, h, w)
	return out
}

func (d *Dry) HypercolumnLoss(taps []Tensor, target Tensor) (Tensor, Tensor) {
	_, h, w := target.Shape()
	coef := d.t(3, h, w)
	d.tables(taps, h, w)
	return d.t(1, 1, 1), coef
}

func (d *Dry) HypercolumnLossBackward(coef Tensor, taps []Tensor, target Tensor, l int) Tensor {
	_, h, w := target.Shape()
	d.tables(taps[:l+1], h, w)
	dx := d.part(taps[l].Shape())
	d.tables(taps[l+1:], h, w)
	return dx
}

func (d *Dry) ChannelMean(x Tensor) Tensor {
	c, _, _ := x.Shape()
	return d.t(c, 1, 1)
}

func (d *Dry) NewBank(mean Tensor, capacity int) Bank {
	c, _, _ := mean.Shape()
	return &dryBank{d: c, bytes: d.mem.NewBank(&d.a, capacity, c)}
}

func (d *Dry) BankAdd(b Bank, t Tensor) {
	k := b.(*dryBank)
	_, h, w := t.Shape()
	k.bytes += d.mem.BankAdd(&d.a, h*w, k.d, false)
	k.n += h * w
}

func (d *Dry) BankAddHypercolumns(b Bank, taps []Tensor, h, w int) {
	k := b.(*dryBank)
	d.tables(taps, h, w)
	k.bytes += d.mem.BankAdd(&d.a, h*w, k.d, true)
	k.n += h * w
}

func (d *Dry) FreeBank(b Bank) {
	k := b.(*dryBank)
	d.a.Free(k.bytes)
	k.bytes = 0
}

func (d *Dry) NewSearch(query Tensor) Search {
	c, h, w := query.Shape()
	s := &drySearch{n: h * w, d: c}
	s.query, s.rest = d.mem.NewSearch(&d.a, s.n, c)
	return s
}

func (d *Dry) SearchBank(s Search, b Bank, k int) {
	ds := s.(*drySearch)
	d.mem.SearchBank(&d.a, ds.n, b.Len(), ds.d)
}

func (d *Dry) EndSearch(s Search) {
	ds := s.(*drySearch)
	d.a.Free(ds.query)
	ds.query = 0
}

func (d *Dry) SearchGather(s Search, b Bank, k int, target Tensor) { d.EndSearch(s) }

func (d *Dry) SearchField(s Search) ([]int32, error) {
	n := s.(*drySearch).n
	d.mem.Transfer(&d.a, int64(n)*4, true)
	return make([]int32, n), nil
}

func (d *Dry) FreeSearch(s Search) {
	d.EndSearch(s)
	ds := s.(*drySearch)
	d.a.Free(ds.rest)
	ds.rest = 0
}

func (d *Dry) SplitLoss(out Tensor, style []Tensor, s Sample) (Tensor, Tensor) {
	c, h, w := out.Shape()
	ss := make([]Shape, len(style))
	for i, t := range style {
		x := dt(t)
		ss[i] = Shape{C: x.c, H: x.h, W: x.w, Host: x.host}
	}
	lb, gb := d.mem.SplitLoss(&d.a, Shape{C: c, H: h, W: w}, ss, s)
	return &dryT{c: 1, h: 1, w: 1, bytes: lb}, &dryT{c: c, h: h, w: w, bytes: gb}
}

func (d *Dry) Compact(x Tensor, stride int, phases [][2]int) Tensor {
	c, h, w := x.Shape()
	b := d.mem.Compact(&d.a, c, h, w, stride, phases)
	return &dryT{c: c, h: h, w: w, bytes: b, host: b == 0}
}

func (d *Dry) ColorDistanceLoss(x, ref Tensor) (Tensor, Tensor) {
	_, h, w := x.Shape()
	lb, gb := d.mem.ColorDistanceLoss(&d.a, h, w)
	return &dryT{c: 1, h: 1, w: 1, bytes: lb}, &dryT{c: 3, h: h, w: w, bytes: gb}
}
