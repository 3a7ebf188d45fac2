package nnst

// The reference's final pass (feature splitting). Per step and tap, in tap
// order: a tap larger than the grid (64) is sampled with stride
// max(h, w)/64 at offsets drawn then; a tap not larger reuses the samples
// of the last sampled tap before it (cs_tmp in the reference), viewed as a
// matrix of its own channel count (the same values, regrouped), and
// compares them with all of its own style features. The style features of
// the rotations are stacked along the rows as the reference stacks them and
// sampled as one tensor.

import (
	"fmt"

	"nnst/core/tensor"
)

// splitPlan says, per tap, how the reference's final pass treats it.
type splitPlan struct {
	shape  [][3]int // the output's taps: channels, h, w
	stride []int    // sampling stride of a sampled tap
	src    []int    // -1 for a sampled tap, else the tap whose samples it reuses
}

// newSplitPlan plans the pass for taps of these shapes; it fails where the
// reference does: a first tap not larger than the grid (no samples to
// reuse) or samples that do not regroup into a tap's channels for some
// offsets.
func newSplitPlan(shape [][3]int, names []string, grid int) (*splitPlan, error) {
	p := &splitPlan{shape: shape, stride: make([]int, len(shape)), src: make([]int, len(shape))}
	last := -1
	for l, s := range shape {
		if max(s[1], s[2]) > grid {
			p.src[l], p.stride[l], last = -1, max(s[1], s[2])/grid, l
			continue
		}
		if last < 0 {
			return nil, fmt.Errorf("reference mode: tap %s is %dx%d px, not larger than %d, with no earlier sampled tap: the reference's final pass fails here; use a larger --size", names[l], s[2], s[1], grid)
		}
		p.src[l], p.stride[l] = last, 1
		ls, st := shape[last], p.stride[last]
		for a := 0; a < st; a++ {
			for b := 0; b < st; b++ {
				n := ceilDiv(ls[1]-a, st) * ceilDiv(ls[2]-b, st)
				if ls[0]*n%s[0] != 0 {
					return nil, fmt.Errorf("reference mode: the final pass would regroup %d samples of tap %s (%d channels) into the %d channels of tap %s, which the reference cannot (it fails); use another --size, such as 512 or 1024", n, names[last], ls[0], s[0], names[l])
				}
			}
		}
	}
	return p, nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// draw returns one step's samples: the offsets of the sampled taps, rows
// then columns, in tap order.
func (p *splitPlan) draw(rng *pyRandom) []Sample {
	s := make([]Sample, len(p.shape))
	for l := range s {
		s[l] = Sample{Stride: p.stride[l]}
		if p.src[l] < 0 {
			s[l].Y0 = rng.below(p.stride[l])
			s[l].X0 = rng.below(p.stride[l])
		}
	}
	return s
}

// splitStep is one step's loss; grad is the Backward callback.
type splitStep struct {
	be      Backend
	plan    *splitPlan
	taps    []Tensor // the output's taps
	style   []Tensor // each tap's stacked style features (compact)
	samples []Sample
	sampled map[int]*tensor.T // a source tap's samples, C x 1 x n
	extra   map[int]*tensor.T // gradient of a source tap from the taps reusing it
	losses  []Tensor
	err     error
}

func newSplitStep(be Backend, plan *splitPlan, taps, style []Tensor, samples []Sample) *splitStep {
	return &splitStep{be: be, plan: plan, taps: taps, style: style, samples: samples, sampled: map[int]*tensor.T{}, extra: map[int]*tensor.T{}}
}

// grad returns the gradient of tap l's loss with respect to tap l (nil
// for a tap that reuses samples: its gradient goes to their tap). Taps come
// last first, so the reusing taps come before their source.
func (s *splitStep) grad(l int) Tensor {
	be := s.be
	j := s.plan.src[l]
	if j < 0 {
		loss, g := be.SplitLoss(s.taps[l], []Tensor{s.style[l]}, s.samples[l])
		s.losses = append(s.losses, loss)
		if e := s.extra[l]; e != nil {
			u := be.Upload(e)
			be.Axpy(1, u, g)
			be.Free(u)
		}
		return g
	}
	x, err := s.samplesOf(j)
	if err != nil {
		s.err = err
		return nil
	}
	c := s.plan.shape[l][0]
	v := &tensor.T{C: c, H: 1, W: len(x.Data) / c, Data: x.Data}
	xt := be.Upload(v)
	loss, g := be.SplitLoss(xt, []Tensor{s.style[l]}, Sample{Stride: 1})
	be.Free(xt)
	s.losses = append(s.losses, loss)
	gh, err := be.Download(g)
	be.Free(g)
	if err != nil {
		s.err = err
		return nil
	}
	e := s.extra[j]
	if e == nil {
		sh := s.plan.shape[j]
		e = tensor.New(sh[0], sh[1], sh[2])
		s.extra[j] = e
	}
	scatter(e, gh.Data, s.samples[j])
	return nil
}

// samplesOf returns tap j's samples (channels, then positions row-major).
func (s *splitStep) samplesOf(j int) (*tensor.T, error) {
	if x := s.sampled[j]; x != nil {
		return x, nil
	}
	t, err := s.be.Download(s.taps[j])
	if err != nil {
		return nil, err
	}
	pos := samplePositions(t.H, t.W, s.samples[j])
	x := tensor.New(t.C, 1, len(pos))
	for c := 0; c < t.C; c++ {
		src, dst := t.Plane(c), x.Data[c*len(pos):(c+1)*len(pos)]
		for i, p := range pos {
			dst[i] = src[p]
		}
	}
	s.sampled[j] = x
	return x, nil
}

// scatter adds g (channels, then positions, as samplesOf) into e at the
// sampled positions.
func scatter(e *tensor.T, g []float32, smp Sample) {
	pos := samplePositions(e.H, e.W, smp)
	for c := 0; c < e.C; c++ {
		dst, src := e.Plane(c), g[c*len(pos):(c+1)*len(pos)]
		for i, p := range pos {
			dst[p] += src[i]
		}
	}
}

// samplePositions is the flat positions of rows Y0, Y0+Stride, ... and
// columns X0, X0+Stride, ... of an h x w plane, row-major.
func samplePositions(h, w int, s Sample) []int {
	var pos []int
	for y := s.Y0; y < h; y += s.Stride {
		for x := s.X0; x < w; x += s.Stride {
			pos = append(pos, y*w+x)
		}
	}
	return pos
}

// referenceStack stacks one tap's style features along the rows as the
// reference does. parts[k] is the tap of the style turned k quarter turns
// counter-clockwise (torch.rot90); the reference's rotations are those by
// 270, 180 and 90 degrees, the first and last transposed (not turned
// back), after the style's own: parts 0, T(3), 2, T(1).
func referenceStack(parts []*tensor.T) *tensor.T {
	order := []int{0, 3, 2, 1}[:len(parts)]
	first := parts[0]
	out := tensor.New(first.C, first.H*len(parts), first.W)
	plane := first.H * first.W
	for i, k := range order {
		p := parts[k]
		if k%2 == 1 {
			p = transpose(p)
		}
		if !p.SameShape(first) {
			panic(fmt.Sprintf("nnst: referenceStack: part %d is %v, the first %v", k, p, first))
		}
		for c := 0; c < p.C; c++ {
			copy(out.Data[c*plane*len(parts)+i*plane:], p.Plane(c))
		}
	}
	return out
}

// transpose swaps rows and columns.
func transpose(t *tensor.T) *tensor.T {
	out := tensor.New(t.C, t.W, t.H)
	for c := 0; c < t.C; c++ {
		src, dst := t.Plane(c), out.Plane(c)
		for y := 0; y < t.H; y++ {
			for x := 0; x < t.W; x++ {
				dst[x*t.H+y] = src[y*t.W+x]
			}
		}
	}
	return out
}

// referenceStyleTaps returns each tap's style features stacked as the
// reference does (one rotation only without Flip), compact for the tap's
// stride.
func (r *run) referenceStyleTaps(style Tensor, plan *splitPlan) ([]Tensor, error) {
	be := r.be
	nt := len(plan.shape)
	parts := make([][]*tensor.T, nt)
	for k := 0; k < r.rotations(); k++ {
		img, free := turned(be, style, k)
		tr := be.Forward(img, false)
		free()
		for l, t := range tr.Taps {
			h, err := be.Download(t)
			if err != nil {
				be.Release(tr)
				return nil, err
			}
			parts[l] = append(parts[l], h)
		}
		be.Release(tr)
	}
	out := make([]Tensor, nt)
	for l := range out {
		x := be.Upload(referenceStack(parts[l]))
		parts[l] = nil
		out[l] = be.Compact(x, plan.stride[l], nil)
		be.Free(x)
	}
	return out, be.Err()
}

// referenceFinal is the reference's final pass over all of p's levels.
func (r *run) referenceFinal(p []Tensor, style, content Tensor) error {
	be := r.be
	steps := max(r.o.Steps-1, 0)
	r.tick(Progress{Stage: StageFinal, Steps: steps}, true)
	_, ch, cw := p[0].Shape()
	plan, err := newSplitPlan(r.tapShapes(ch, cw), r.s.model.Taps, 64)
	if err != nil {
		return err
	}
	styleTaps, err := r.referenceStyleTaps(style, plan)
	defer be.Free(styleTaps...)
	if err != nil {
		return err
	}
	rng := newPyRandom(r.o.Seed)
	// The reference's content loss stops after its step 100 (0-based).
	l := loop{steps: steps, lr: func(int) float32 { return r.o.LR }, units: 2, stage: StageFinal, content: content, contentSteps: 101}
	return r.adamSteps(p, l, func(_ int, tr *Trace) (Tensor, []Tensor, error) {
		st := newSplitStep(be, plan, tr.Taps, styleTaps, plan.draw(rng))
		g := be.Backward(tr, st.grad)
		return g, st.losses, st.err
	})
}
