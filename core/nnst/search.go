package nnst

// hypercolumns returns H(img) at a quarter of img's size.
func (r *run) hypercolumns(img Tensor) Tensor {
	tr := r.be.Forward(img, false)
	_, h, w := img.Shape()
	hc := r.be.Hypercolumns(tr.Taps, max(h/4, 1), max(w/4, 1))
	r.be.Release(tr)
	return hc
}

// gridHypercolumns is hypercolumns(img) resized to h x w, made a tap at a
// time: the taps at full size and all of the hypercolumns at a quarter of
// it, never held at once, were the peak of a final pass at 512 px (equal to
// float rounding: each tap is scaled after its resizes, not between).
func (r *run) gridHypercolumns(img Tensor, h, w int) Tensor {
	be := r.be
	_, ih, iw := img.Shape()
	qh, qw := max(ih/4, 1), max(iw/4, 1)
	parts := make([]Tensor, len(r.s.model.Taps))
	ForwardTaps(be, img, func(l int, t Tensor) {
		y := be.Resize(t, qh, qw, true)
		if qh != h || qw != w {
			z := be.Resize(y, h, w, false)
			be.Free(y)
			y = z
		}
		parts[l] = y
	})
	hc := be.Hypercolumns(parts, h, w)
	be.Free(parts...)
	return hc
}

// matchTarget returns replace(H(query), H(style, flips)); style is freed.
func (r *run) matchTarget(query, style Tensor) Tensor {
	be := r.be
	ss := r.searchStyle(query, style, false, 0, 0)
	// The query copy goes before the target and the gather banks come.
	be.EndSearch(ss.s)
	target := be.Zeros(ss.c, ss.h, ss.w)
	for k := 0; k < ss.rots; k++ {
		b := ss.bank(k)
		be.SearchGather(ss.s, b, k, target)
		be.FreeBank(b)
	}
	be.FreeSearch(ss.s)
	be.Free(ss.mean, style)
	return target
}

// styleSearch is a finished search of a query's hypercolumns over the
// style's (with its rotations); bank(k) rebuilds rotation k's bank.
type styleSearch struct {
	s       Search
	mean    Tensor
	bank    func(k int) Bank
	rots    int
	c, h, w int      // the query's hypercolumns
	grids   [][2]int // each rotation's hypercolumn grid (h, w)
	kept    []Tensor // each rotation's hypercolumns, if kept
	// With a grid, also kept for a final pass at the query's size: the
	// query's hypercolumns and the style's compact taps (styleTaps).
	query Tensor
	taps  [][]Tensor
}

// searchStyle searches H(query) over H(style, flips). The style vectors are
// searched one rotation at a time: each rotation's forward pass runs three
// times (for the mean, the search, the gather) so that only one rotation's
// bank is alive, and never with the target; with keep, each rotation's
// hypercolumns are kept instead (for small images: one forward pass each).
// A grid above 0 also keeps what a final pass of that grid and steps steps
// at the query's size would compute again (see styleSearch). The caller
// frees s, mean, kept, query and taps.
func (r *run) searchStyle(query, style Tensor, keep bool, grid, steps int) *styleSearch {
	be := r.be
	ss := &styleSearch{rots: r.rotations()}
	_, qh, qw := query.Shape()
	if grid > 0 {
		ss.taps = make([][]Tensor, len(r.s.model.Taps))
	}
	forward := func(k int) (tr *Trace, h, w int) {
		img, free := turned(be, style, k)
		_, ih, iw := img.Shape()
		tr = be.Forward(img, false)
		free()
		return tr, max(ih/4, 1), max(iw/4, 1)
	}
	ss.mean = bankMean(be, ss.rots, !keep, func(k int) Tensor {
		tr, h, w := forward(k)
		ss.grids = append(ss.grids, [2]int{h, w})
		hc := be.Hypercolumns(tr.Taps, h, w)
		if grid > 0 {
			r.styleTaps(ss.taps, tr, k, qh, qw, grid, steps)
		}
		be.Release(tr)
		if keep {
			ss.kept = append(ss.kept, hc)
		}
		return hc
	})
	ss.bank = func(k int) Bank {
		h, w := ss.grids[k][0], ss.grids[k][1]
		b := be.NewBank(ss.mean, h*w)
		if keep {
			be.BankAdd(b, ss.kept[k])
			return b
		}
		tr, _, _ := forward(k)
		be.BankAddHypercolumns(b, tr.Taps, h, w)
		be.Release(tr)
		return b
	}
	hq := r.hypercolumns(query)
	ss.c, ss.h, ss.w = hq.Shape()
	ss.s = be.NewSearch(hq)
	if grid > 0 {
		ss.query = hq
	} else {
		be.Free(hq)
	}
	for k := 0; k < ss.rots; k++ {
		b := ss.bank(k)
		be.SearchBank(ss.s, b, k)
		be.FreeBank(b)
	}
	return ss
}

// rotations is the number of style rotations searched: 4 with Flip.
func (r *run) rotations() int {
	if r.o.Flip {
		return 4
	}
	return 1
}

// turned returns x turned k quarter turns (x itself for k = 0) and a
// function that frees what it made.
func turned(be Backend, x Tensor, k int) (Tensor, func()) {
	if k == 0 {
		return x, func() {}
	}
	y := be.Rot90(x, k)
	return y, func() { be.Free(y) }
}

// BankMean returns the mean vector (D x 1 x 1) of n parts: part(k) returns
// a new tensor of vectors, which BankMean frees.
func BankMean(be Backend, n int, part func(k int) Tensor) Tensor {
	return bankMean(be, n, true, part)
}

func bankMean(be Backend, n int, free bool, part func(k int) Tensor) Tensor {
	var mean Tensor
	count := 0
	for k := 0; k < n; k++ {
		t := part(k)
		_, h, w := t.Shape()
		m := be.ChannelMean(t)
		if free {
			be.Free(t)
		}
		if mean == nil {
			mean = m
		} else {
			a := float32(count) / float32(count+h*w)
			next := be.Axpby(a, mean, 1-a, m)
			be.Free(mean, m)
			mean = next
		}
		count += h * w
	}
	return mean
}

// BuildBank builds a search bank from n parts in two passes, so only one
// part's vectors are alive at a time: part(k) returns a new tensor of
// vectors (BuildBank frees it) and is called twice for each k, first for the
// mean, then to add the vectors.
func BuildBank(be Backend, n int, part func(k int) Tensor) Bank {
	count := 0
	mean := BankMean(be, n, func(k int) Tensor {
		t := part(k)
		_, h, w := t.Shape()
		count += h * w
		return t
	})
	bank := be.NewBank(mean, count)
	be.Free(mean)
	for k := 0; k < n; k++ {
		t := part(k)
		be.BankAdd(bank, t)
		be.Free(t)
	}
	return bank
}
