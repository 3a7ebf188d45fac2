package nnst

// Reference mode (Options.Compat = CompatReference) runs Best as the public
// reference (nkolkin13/NeuralNeighborStyleTransfer) does, where NNST.md
// marks a quirk and where its code differs from NNST.md:
//   - inputs resized with bilinear(align corners), no antialiasing, to
//     int(side * size / long side) (ReferenceFit);
//   - an 8-level pyramid always, so both images need a short side of at
//     least 256 px (ReferenceFitSize refuses smaller);
//   - content vectors centred per chunk of positions (referenceMatch);
//   - the final pass's taps not larger than 64 px compare the previous
//     sampled tap's output samples, reshaped (refsplit.go);
//   - its sampling offsets drawn as Python's random does (pyrandom.go);
//   - each pass's last Adam step dropped (the reference re-decomposes the
//     image it synthesised before that step), so Steps-1 steps run;
//   - the final pass's content loss runs 101 steps, its target is the full
//     content and its sizes are truncated as the reference's;
//   - the output truncated to 1/255 steps, as the reference saves it.

import (
	"context"
	"fmt"
	"math"
	"time"

	"nnst/core/ops"
	"nnst/core/tensor"
)

// ReferenceMinSide is the shortest side reference mode accepts after
// resizing: the reference halves each side 8 times for its pyramid and
// fails when one reaches 0.
const ReferenceMinSide = 256

// ReferenceDims is the size the reference resizes an h x w image to for a
// long side of size: each side times size/long side, truncated.
func ReferenceDims(h, w, size int) (int, int) {
	fac := float64(size) / float64(max(h, w))
	return int(float64(h) * fac), int(float64(w) * fac)
}

// ReferenceFitSize returns ReferenceDims, or why reference mode cannot run
// such an image.
func ReferenceFitSize(h, w, size int, what string) (int, int, error) {
	fh, fw := ReferenceDims(h, w, size)
	if min(fh, fw) < ReferenceMinSide {
		return 0, 0, fmt.Errorf("%s image is %dx%d px, which is %dx%d at %d px: reference mode needs a short side of at least %d px (the reference's 8-level pyramid halves each side 8 times and fails below that); use a larger --size or the default mode", what, w, h, fw, fh, size, ReferenceMinSide)
	}
	return fh, fw, nil
}

// ReferenceFit resizes t as the reference does after loading it:
// bilinear(align corners) without antialiasing to ReferenceDims.
func ReferenceFit(t *tensor.T, size int, what string) (*tensor.T, error) {
	h, w, err := ReferenceFitSize(t.H, t.W, size, what)
	if err != nil {
		return nil, err
	}
	return ops.Resize(t, h, w, true), nil
}

// ReferenceQuantize truncates t's values (clamped to [0,1]) to multiples
// of 1/255, as the reference's uint8 conversion does, in place.
func ReferenceQuantize(t *tensor.T) {
	for i, v := range t.Data {
		t.Data[i] = float32(int(min(max(v, 0), 1)*255)) / 255
	}
}

// runReference is Run in reference mode.
func (s *Stylizer) runReference(ctx context.Context, content, style *tensor.T, o Options, report func(Progress)) (*tensor.T, error) {
	c, err := ReferenceFit(content, o.Size, "content")
	if err != nil {
		return nil, err
	}
	st, err := ReferenceFit(style, o.Size, "style")
	if err != nil {
		return nil, err
	}
	r := &run{s: s, be: s.be, ctx: ctx, o: o, report: report, start: time.Now()}
	if err := r.referenceCheck(c.H, c.W, st.H, st.W); err != nil {
		return nil, err
	}
	out, err := r.reference(c, st)
	if err != nil {
		return nil, err
	}
	ReferenceQuantize(out)
	return out, nil
}

// referenceCheck refuses what the reference cannot run (it crashes), with
// the reason: too many scales for the size, a final pass whose samples do
// not reshape, content-loss sizes that differ.
func (r *run) referenceCheck(ch, cw, sh, sw int) error {
	o := r.o
	if n := min(scalesFor(o.Scales, ch, cw), scalesFor(o.Scales, sh, sw)); n < o.Scales {
		return fmt.Errorf("reference mode: %d scales are too many for %dx%d and %dx%d px (at most %d keep the coarsest scale at 8 px for the network; the reference fails below that)", o.Scales, cw, ch, sw, sh, n)
	}
	if _, err := newSplitPlan(r.tapShapes(ch, cw), r.s.model.Taps, 64); err != nil {
		return err
	}
	if o.ContentLoss {
		th, tw := referenceContentSize(ch, cw)
		for scl := o.Scales - 1; scl >= 0; scl-- {
			h, w := levelSize(ch, cw, scl)
			if lh, lw := referenceLowSize(h, w); lh != th || lw != tw {
				return fmt.Errorf("reference mode: with the content loss the reference compares the output at %dx%d px (%dx%d) with the content at %dx%d and fails; use a size such as 512 or 1024", w, h, lw, lh, tw, th)
			}
		}
	}
	return nil
}

// levelSize is the size of pyramid level l of an h x w image.
func levelSize(h, w, l int) (int, int) {
	for i := 0; i < l; i++ {
		h, w = h/2, w/2
	}
	return h, w
}

// referenceLowSize is the size the reference's content loss shrinks an
// h x w output to: each side divided by long side/32, truncated.
func referenceLowSize(h, w int) (int, int) {
	fac := float64(max(h, w)) / 32
	return int(float64(h) / fac), int(float64(w) / fac)
}

// referenceContentSize is the size it shrinks the full content to: each
// side divided by the integer long side/32, truncated.
func referenceContentSize(h, w int) (int, int) {
	fac := float64(max(h, w) / 32)
	return int(float64(h) / fac), int(float64(w) / fac)
}

// tapShapes is each tap's channels and size for an h x w input.
func (r *run) tapShapes(h, w int) [][3]int {
	m := r.s.model
	shapes := make([][3]int, len(m.Taps))
	for l, name := range m.Taps {
		th, tw := r.tapSize(l, h, w)
		for _, ly := range m.Layers {
			if ly.Kind == "conv" && ly.ReLU() == name {
				shapes[l] = [3]int{ly.Conv.Out, th, tw}
			}
		}
	}
	return shapes
}

// reference is stylize with the reference's behaviour (see the top).
func (r *run) reference(content, style *tensor.T) (*tensor.T, error) {
	be := r.be
	o := r.o
	ch, cw := content.H, content.W
	nScales := o.Scales
	steps := max(o.Steps-1, 0)
	r.bestWork(nScales, steps)

	cT := be.Upload(content)
	sT := be.Upload(style)
	defer be.Free(cT, sT)
	const levels = 8
	C := Dec(be, cT, levels)
	S := Dec(be, sT, levels)
	O := Dec(be, cT, levels)
	defer func() { be.Free(C...); be.Free(S...); be.Free(O...) }()
	r.out = O
	if err := blurStart(be, O, ch, cw); err != nil {
		return nil, err
	}
	for k, scl := 0, nScales-1; scl >= 0; k, scl = k+1, scl-1 {
		if err := r.cancelled(); err != nil {
			return nil, err
		}
		r.p.Scale = k + 1
		r.tick(Progress{Stage: StageMatch, Scale: k + 1, Scales: nScales}, true)
		styleS := Syn(be, S[scl:])
		contentS := Syn(be, C[scl:])
		query := r.scaleQuery(C, O, contentS, scl, k)
		be.Free(contentS)
		target, err := r.referenceMatch(query, styleS)
		be.Free(query)
		r.add(10 * math.Pow(0.25, float64(scl)))
		if err == nil {
			err = be.Err()
		}
		if err != nil {
			be.Free(target)
			return nil, err
		}
		// The content loss's target is the full content, as the reference's.
		err = r.optimiseHypercolumn(O[scl:], target, cT, k+1, nScales, math.Pow(0.25, float64(scl)), steps, func(int) float32 { return o.LR })
		be.Free(target)
		if err != nil {
			return nil, err
		}
	}
	// The reference's final pass takes the style synthesised from its pyramid.
	full := Syn(be, S)
	err := r.referenceFinal(O, full, cT)
	be.Free(full)
	if err != nil {
		return nil, err
	}
	return r.finish(content, style, O)
}

// referenceChunk is how many content vectors the reference centres and
// matches together when there are m style vectors: 128^2 / max(1, m/128^2).
func referenceChunk(m int) int { return 16384 / max(1, m/16384) }

// referenceMatch is matchTarget with the query's vectors centred per chunk
// of positions (row-major), as the reference's replace_features does;
// style is freed.
func (r *run) referenceMatch(query, style Tensor) (Tensor, error) {
	be := r.be
	rots := r.rotations()
	_, qh, qw := query.Shape()
	_, sh, sw := style.Shape()
	chunk := referenceChunk(rots * max(sh/4, 1) * max(sw/4, 1))
	if chunk >= max(qh/4, 1)*max(qw/4, 1) {
		return r.matchTarget(query, style), nil // one chunk: centred globally
	}
	forward := func(k int) (*Trace, int, int) {
		img, free := turned(be, style, k)
		_, ih, iw := img.Shape()
		tr := be.Forward(img, false)
		free()
		return tr, max(ih/4, 1), max(iw/4, 1)
	}
	mean := bankMean(be, rots, true, func(k int) Tensor {
		tr, h, w := forward(k)
		hc := be.Hypercolumns(tr.Taps, h, w)
		be.Release(tr)
		return hc
	})
	hq := r.hypercolumns(query)
	target, err := chunkedMatch(be, hq, chunk, rots, func(k int) Bank {
		tr, h, w := forward(k)
		b := be.NewBank(mean, h*w)
		be.BankAddHypercolumns(b, tr.Taps, h, w)
		be.Release(tr)
		return b
	})
	be.Free(hq, mean, style)
	return target, err
}

// chunkedMatch replaces each vector of hq by its nearest among the banks
// 0..rots-1 (bank(k) builds bank k, called twice for each), the vectors
// centred per run of chunk positions in row-major order.
func chunkedMatch(be Backend, hq Tensor, chunk, rots int, bank func(k int) Bank) (Tensor, error) {
	h, err := be.Download(hq)
	if err != nil {
		return nil, err
	}
	c, n := h.C, h.H*h.W
	var searches []Search
	var starts []int
	for s0 := 0; s0 < n; s0 += chunk {
		k := min(chunk, n-s0)
		part := tensor.New(c, 1, k)
		for ch := 0; ch < c; ch++ {
			copy(part.Data[ch*k:(ch+1)*k], h.Data[ch*n+s0:])
		}
		t := be.Upload(part)
		searches = append(searches, be.NewSearch(t))
		starts = append(starts, s0)
		be.Free(t)
	}
	defer func() {
		for _, s := range searches {
			be.FreeSearch(s)
		}
	}()
	for k := 0; k < rots; k++ {
		b := bank(k)
		for _, s := range searches {
			be.SearchBank(s, b, k)
		}
		be.FreeBank(b)
	}
	targets := make([]Tensor, len(searches))
	for i, s := range searches {
		be.EndSearch(s)
		targets[i] = be.Zeros(c, 1, min(chunk, n-starts[i]))
	}
	defer be.Free(targets...)
	for k := 0; k < rots; k++ {
		b := bank(k)
		for i, s := range searches {
			be.SearchGather(s, b, k, targets[i])
		}
		be.FreeBank(b)
	}
	out := tensor.New(c, h.H, h.W)
	for i, t := range targets {
		part, err := be.Download(t)
		if err != nil {
			return nil, err
		}
		k := part.W
		for ch := 0; ch < c; ch++ {
			copy(out.Data[ch*n+starts[i]:ch*n+starts[i]+k], part.Data[ch*k:(ch+1)*k])
		}
	}
	return be.Upload(out), be.Err()
}
