package nnst

import (
	"fmt"
	"hash/crc64"
	"io"
	"math"
	"unsafe"

	"nnst/core/imageio"
	"nnst/core/ops"
	"nnst/core/tensor"
)

// Fast mode (ours, not the reference's): one nearest-neighbour search of
// the content's hypercolumns over the style's at a reduced size; the output
// starts as the style's own pixels voted along that field at full size;
// a short feature-splitting pass at half and full size finishes it, pulled
// towards the style's hypercolumns gathered along the field and towards the
// content's as much as alpha asks.
// FastSteps is the default number of steps of the fast mode's final pass.
const FastSteps = 12

// FastParams are the fast mode's levers; zero fields take the defaults.
type FastParams struct {
	MatchSize int     // long side of the images matched (256)
	Grid      int     // final pass: taps sampled to about Grid x Grid (32)
	Rots      int     // final pass style rotations (as Flip says; 1: none)
	LR        float64 // learning rate, decayed to a tenth over the steps (1e-2)
	Sharp     float64 // vote weights: Gaussian sigma in grid spacings (0.5)
	Content   float64 // weight of the content term: Content*alpha/(1.25-alpha) (1)
	Init      string  // "vote" (default), or "content" to start from the blurred content
	// Keep is how many of the vote's finest pyramid bands stay whole; the
	// coarser ones are mixed with the content's by alpha (2; -1: none).
	Keep int
	// HalfSteps of the final pass run at half the size first (16; -1: none).
	HalfSteps int
	// PassSize bounds the final pass's long side (512): above it the pass
	// runs on the vote's coarser bands and its finest bands stay as voted.
	PassSize int
	// Match weighs a pull towards the style's hypercolumns gathered along
	// the field, NNST's per-scale target (3; negative: none).
	Match float64
	// FineGrid keeps the hypercolumn target on the match grid where that
	// is finer than the pass's deepest tap (by default the target is
	// resized to that tap's grid, so no tap is upsampled to it).
	FineGrid bool
}

func (p FastParams) withDefaults(flip bool) FastParams {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.MatchSize, 256)
	def(&p.Grid, 32)
	if p.Rots == 0 {
		p.Rots = 1
		if flip {
			p.Rots = 4
		}
	}
	deff(&p.LR, 1e-2)
	deff(&p.Sharp, 0.5)
	deff(&p.Content, 1) // negative: none
	deff(&p.Match, 3)
	def(&p.Keep, 2)
	def(&p.HalfSteps, 16)
	def(&p.PassSize, 512)
	if p.Init == "" {
		p.Init = "vote"
	}
	return p
}

// rate is a cosine decay from lr to a tenth of it over the steps.
func rate(lr float64, steps int) func(t int) float32 {
	return func(t int) float32 {
		x := float64(t-1) / float64(max(steps-1, 1))
		return float32(lr * (0.1 + 0.9*0.5*(1+math.Cos(math.Pi*x))))
	}
}

func (r *run) fast(content, style *tensor.T) (*tensor.T, error) {
	be := r.be
	o := r.o
	fp := o.Fast.withDefaults(o.Flip)
	h, w := content.H, content.W
	r.total = 10 + float64(o.Steps) + 0.25*float64(max(fp.HalfSteps, 0))
	r.tick(Progress{Stage: StagePrepare, Scales: 1}, true)
	r.tick(Progress{Stage: StageMatch, Scale: 1, Scales: 1}, true)
	// A dry run skips the host's image work: only the shapes matter.
	dry := isDry(be)
	fit := func(t *tensor.T, size int) *tensor.T {
		if dry {
			h, w := imageio.FitDims(t.H, t.W, size)
			return tensor.New(3, h, w)
		}
		return imageio.FitLongSide(t, size)
	}
	// The field does not depend on alpha: a re-run with another alpha
	// reuses the vote.
	key := ""
	if !dry { // hashing a print size's images takes seconds
		key = voteKey(content, style, o, fp)
	}
	if c := r.s.fastCache; c != nil && c.key == key && !dry {
		r.add(10)
		r.offerVote(key, c.voted, c.target)
		return r.fastFinal(content, style, c.voted, c.target, fp, nil)
	}
	ca, sa := content, style
	if ms := min(o.Size, fp.MatchSize); ms < o.Size {
		c2, s2 := fit(content, ms), fit(style, ms)
		if min(c2.H, c2.W, s2.H, s2.W) >= MinSide {
			ca, sa = c2, s2
		}
	}
	caT, saT := be.Upload(ca), be.Upload(sa)
	// At the match size the rotations' hypercolumns are small: keep them,
	// and what a pass at this size can reuse.
	grid := 0
	if fp.Rots == r.rotations() {
		grid = fp.Grid
	}
	// The pass that reuses the taps is the half-size one or the full-size
	// one: keep what either would sample.
	ss := r.searchStyle(caT, saT, true, grid, max(o.Steps, fp.HalfSteps))
	ru := &reuse{c: caT, s: saT, query: ss.query, taps: ss.taps}
	defer ru.free(be)
	field, err := be.SearchField(ss.s)
	var target *tensor.T
	if err == nil && fp.Match > 0 {
		target, err = r.gather(ss)
	}
	be.FreeSearch(ss.s)
	be.Free(ss.kept...)
	be.Free(ss.mean)
	if err != nil {
		return nil, err
	}
	if grid == 0 {
		ru = nil
	}
	if err := be.Err(); err != nil {
		return nil, err
	}
	voted := content
	if dry {
		voted = tensor.New(3, h, w)
	} else if fp.Init == "vote" {
		voted = Vote(style, ss.grids, field, ss.h, ss.w, h, w, fp.Sharp)
	}
	r.add(10)
	if err := r.cancelled(); err != nil {
		return nil, err
	}
	if !dry {
		r.s.fastCache = &voteCache{key: key, voted: voted, target: target}
		r.offerVote(key, voted, target)
	}
	return r.fastFinal(content, style, voted, target, fp, ru)
}

// reuse is what the search made at the match size that a final pass at
// that size would make again: the images, the content's hypercolumns and
// the style's compact taps.
type reuse struct {
	c, s, query Tensor
	taps        [][]Tensor
}

// free frees what u holds, once.
func (u *reuse) free(be Backend) {
	if u == nil {
		return
	}
	be.Free(u.c, u.s, u.query)
	for _, ts := range u.taps {
		be.Free(ts...)
	}
	*u = reuse{}
}

// at returns u if its content is h x w.
func (u *reuse) at(h, w int) *reuse {
	if u == nil || u.c == nil {
		return nil
	}
	if _, ch, cw := u.c.Shape(); ch != h || cw != w {
		return nil
	}
	return u
}

// gather returns the style's hypercolumns gathered along a finished
// search: replace(H(query), H(style)).
func (r *run) gather(ss *styleSearch) (*tensor.T, error) {
	be := r.be
	be.EndSearch(ss.s)
	t := be.Zeros(ss.c, ss.h, ss.w)
	for k := 0; k < ss.rots; k++ {
		b := ss.bank(k)
		be.SearchGather(ss.s, b, k, t)
		be.FreeBank(b)
	}
	h, err := be.Download(t)
	be.Free(t)
	return h, err
}

// fastFinal is the fast mode after the vote. Above the pass size the
// passes run on the vote's low-pass band at that size, and the vote's finer
// bands, kept on the host, are added back: the device never holds a
// full-size image, and a print size costs about what the pass size costs.
func (r *run) fastFinal(content, style, voted, matched *tensor.T, fp FastParams, ru *reuse) (*tensor.T, error) {
	h, w := content.H, content.W
	j := 0 // levels above the pass size
	for max(h>>j, w>>j) > fp.PassSize && min(h>>(j+1), w>>(j+1)) >= MinSide {
		j++
	}
	if j == 0 {
		out, err := r.fastPasses(content, style, voted, matched, fp, ru)
		if err != nil {
			return nil, err
		}
		return r.finishImage(content, style, out)
	}
	ph, pw := h>>j, w>>j
	var bands []*tensor.T
	var low, c, s *tensor.T
	if isDry(r.be) {
		low, c = tensor.New(3, ph, pw), tensor.New(3, ph, pw)
		sh, sw := imageio.FitDims(style.H, style.W, max(ph, pw))
		s = tensor.New(3, sh, sw)
	} else {
		bands, low = hostDec(voted, j)
		c = imageio.Resize(content, ph, pw)
		var err error
		if s, err = Fit(style, max(ph, pw), "style"); err != nil {
			return nil, err
		}
	}
	out, err := r.fastPasses(c, s, low, matched, fp, ru)
	if err != nil {
		return nil, err
	}
	if isDry(r.be) {
		return r.finishImage(content, style, tensor.New(3, h, w))
	}
	return r.finishImage(content, style, hostSyn(bands, out))
}

// hostDec is Dec on the host, l levels: the bands and the low-pass.
func hostDec(x *tensor.T, l int) ([]*tensor.T, *tensor.T) {
	var bands []*tensor.T
	for i := 0; i < l; i++ {
		small := ops.Resize(x, x.H/2, x.W/2, false)
		bands = append(bands, ops.Axpby(1, x, -1, ops.Resize(small, x.H, x.W, false)))
		x = small
	}
	return bands, x
}

// hostSyn is Syn on the host: low plus the bands, finest first.
func hostSyn(bands []*tensor.T, low *tensor.T) *tensor.T {
	for i := len(bands) - 1; i >= 0; i-- {
		b := bands[i]
		low = ops.Axpby(1, b, 1, ops.Resize(low, b.H, b.W, false))
	}
	return low
}

// fastPasses runs the final passes on the vote and returns the image.
func (r *run) fastPasses(content, style, voted, matched *tensor.T, fp FastParams, ru *reuse) (*tensor.T, error) {
	be := r.be
	o := r.o
	h, w := content.H, content.W
	vT := be.Upload(voted)
	O := Dec(be, vT, Levels(h, w))
	be.Free(vT)
	r.out = O
	defer func() { be.Free(O...) }()
	cT, sT := be.Upload(content), be.Upload(style)
	defer be.Free(cT, sT)
	if fp.Init != "vote" {
		for i := 0; i < min(3, len(O)-1); i++ { // blurred content, as Best starts
			c, h, w := O[i].Shape()
			be.Free(O[i])
			O[i] = be.Zeros(c, h, w)
		}
	} else if a := float32(o.Alpha); fp.Keep >= 0 && a > 0 {
		// The photo's layout and shading under the style's strokes.
		C := Dec(be, cT, len(O)-1)
		for i := fp.Keep; i < len(O); i++ {
			m := be.Axpby(1-a, O[i], a, C[i])
			be.Free(O[i])
			O[i] = m
		}
		be.Free(C...)
	}
	pass := func(p []Tensor, c, s Tensor, steps int, units float64, ru *reuse) error {
		f := finalPass{steps: steps, lr: rate(fp.LR, steps), grid: fp.Grid, rots: fp.Rots, units: units, contentSteps: steps / 2}
		if ru != nil {
			f.styleTaps = ru.taps
		}
		// The photo's weight rises slowly, then steeply towards alpha 1
		// (0.2, 0.67, 1.5 and 4 times Content at alpha 0.25, 0.5, 0.75
		// and 1); the matched target's is Match at the default alpha 0.75
		// and none at 1.
		wp := 0.0
		if o.Alpha > 0 && fp.Content > 0 {
			wp = fp.Content * o.Alpha / (1.25 - o.Alpha)
		}
		wm := 0.0
		if matched != nil {
			wm = fp.Match * 4 * (1 - o.Alpha)
		}
		// The target's grid: at most the deepest tap's, unless FineGrid.
		_, ch, cw := c.Shape()
		gh, gw := r.tapSize(len(r.s.model.Taps)-1, ch, cw)
		gh, gw = max(gh, 1), max(gw, 1)
		toGrid := func(x Tensor, h, w int) Tensor {
			if _, xh, xw := x.Shape(); xh == h && xw == w {
				return x
			}
			y := be.Resize(x, h, w, false)
			be.Free(x)
			return y
		}
		grid := func(h, w int) (int, int) {
			if fp.FineGrid {
				return h, w
			}
			return min(gh, h), min(gw, w)
		}
		onGrid := func(x Tensor) Tensor {
			_, h, w := x.Shape()
			th, tw := grid(h, w)
			return toGrid(x, th, tw)
		}
		photo := func(h, w int) Tensor { // the content's hypercolumns at h x w, to free
			if ru != nil {
				return toGrid(be.Axpby(1, ru.query, 0, nil), h, w)
			}
			return r.gridHypercolumns(c, h, w)
		}
		switch {
		case wm > 0:
			// One target on the match grid, the photo's hypercolumns
			// blended with the matched ones: one loss per step, not two.
			M := onGrid(be.Upload(matched))
			hc := M
			if wp > 0 {
				_, mh, mw := M.Shape()
				ph := photo(mh, mw)
				hc = be.Axpby(float32(wp/(wp+wm)), ph, float32(wm/(wp+wm)), M)
				be.Free(ph, M)
			}
			t := target{hc, float32(wp + wm)}
			f.targets = append(f.targets, t)
			defer be.Free(t.hc)
		case wp > 0:
			t := target{photo(grid(max(ch/4, 1), max(cw/4, 1))), float32(wp)}
			f.targets = append(f.targets, t)
			defer be.Free(t.hc)
		}
		return r.optimiseFinal(p, s, c, f)
	}
	if fp.HalfSteps > 0 && len(O) > 2 {
		// First at half the size, where a step costs a quarter.
		_, hh, hw := O[1].Shape()
		var err error
		if u := ru.at(hh, hw); u != nil {
			err = pass(O[1:], u.c, u.s, fp.HalfSteps, 0.25, u)
		} else {
			_, sh, sw := sT.Shape()
			cH, sH := be.Resize(cT, hh, hw, false), be.Resize(sT, max(sh/2, 1), max(sw/2, 1), false)
			err = pass(O[1:], cH, sH, fp.HalfSteps, 0.25, nil)
			be.Free(cH, sH)
		}
		if err != nil {
			return nil, err
		}
	}
	full := ru.at(h, w)
	if full == nil {
		ru.free(be) // what the half pass reused, before the full pass's own
	}
	if err := pass(O, cT, sT, o.Steps, 1, full); err != nil {
		return nil, err
	}
	return r.image(O)
}

// voteCache keeps the last vote of a stylizer.
type voteCache struct {
	key           string
	voted, target *tensor.T
}

// voteKey identifies what a vote depends on: both images and the options
// that shape the field. Checkpoints carry it across processes, so the hash
// is a fixed one: two CRC-64s (in WebAssembly a SHA-256 of two 3 MP images
// took 2-3 s, these 0.3 s).
func voteKey(content, style *tensor.T, o Options, fp FastParams) string {
	iso, ecma := crc64.New(crc64.MakeTable(crc64.ISO)), crc64.New(crc64.MakeTable(crc64.ECMA))
	h := io.MultiWriter(iso, ecma)
	for _, t := range []*tensor.T{content, style} {
		fmt.Fprintf(h, "%dx%dx%d ", t.C, t.H, t.W)
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.Data))), 4*len(t.Data)))
	}
	fmt.Fprintf(h, "%d %v %d %g %s %v", o.Size, o.Flip, fp.MatchSize, fp.Sharp, fp.Init, fp.Match > 0)
	return string(ecma.Sum(iso.Sum(nil)))
}
