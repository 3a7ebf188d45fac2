package nnst

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"nnst/core/imageio"
	"nnst/core/tensor"
)

// run is the state of one stylization.
type run struct {
	s        *Stylizer
	be       Backend
	ctx      context.Context
	o        Options
	report   func(Progress)
	start    time.Time
	done     float64 // work units done
	total    float64
	lastTick time.Time
	p        Progress
	out      []Tensor // the output pyramid (for previews)
	key      string   // bestKey, once made
}

// Run stylizes content (RGB in [0,1], any size) in the style of style. It
// resizes both so their long side is o.Size, runs NNST-Opt and, unless
// o.Color is off, colour-matches the result. report, if not nil, is called
// with progress at most a few times a second and at each stage change.
func (s *Stylizer) Run(ctx context.Context, content, style *tensor.T, o Options, report func(Progress)) (*tensor.T, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Compat == CompatReference {
		return s.runReference(ctx, content, style, o, report) // reference.go
	}
	c, err := Fit(content, o.Size, "content")
	if err != nil {
		return nil, err
	}
	st, err := Fit(style, o.Size, "style")
	if err != nil {
		return nil, err
	}
	r := &run{s: s, be: s.be, ctx: ctx, o: o, report: report, start: time.Now()}
	if o.Mode == ModeFast {
		if err := r.resumeVote(c, st); err != nil {
			return nil, err
		}
		return r.fast(c, st)
	}
	return r.stylize(c, st)
}

// Fit resizes an image so its long side is size and checks the short side.
func Fit(t *tensor.T, size int, what string) (*tensor.T, error) {
	if _, _, err := FitSize(t.H, t.W, size, what); err != nil {
		return nil, err
	}
	return imageio.FitLongSide(t, size), nil
}

// FitSize returns the size Fit resizes an h x w image to, or why it
// cannot (with size and what bound, an imageio.Fit: it decodes an image
// straight to a run's size).
func FitSize(h, w, size int, what string) (int, int, error) {
	fh, fw := imageio.FitDims(h, w, size)
	if min(fh, fw) < MinSide {
		return 0, 0, fmt.Errorf("%s image is %dx%d px, which is %dx%d at %d px: the short side must stay at least %d px (the image is too narrow for this size)", what, w, h, fw, fh, size, MinSide)
	}
	return fh, fw, nil
}

// scalesFor returns the number of scales (at most want) an h x w image
// allows: the coarsest must keep at least 8 px on its short side for the
// network.
func scalesFor(want, h, w int) int {
	n := 1
	for s := min(h, w) / 2; n < want && s >= 8 && n <= Levels(h, w); s /= 2 {
		n++
	}
	return n
}

func (r *run) stylize(content, style *tensor.T) (*tensor.T, error) {
	be := r.be
	o := r.o
	ch, cw := content.H, content.W
	// The coarsest scale must keep both images big enough for the network.
	nScales := min(scalesFor(o.Scales, ch, cw), scalesFor(o.Scales, style.H, style.W))
	lc, ls := Levels(ch, cw), Levels(style.H, style.W)

	r.bestWork(nScales, o.Steps)

	cT := be.Upload(content)
	sT := be.Upload(style)
	defer be.Free(cT, sT)
	C := Dec(be, cT, lc)
	S := Dec(be, sT, ls)
	O := Dec(be, cT, lc)
	defer func() { be.Free(C...); be.Free(S...); be.Free(O...) }()
	r.out = O
	if err := blurStart(be, O, ch, cw); err != nil {
		return nil, err
	}

	k0, err := r.resumeScales(O, content, style, nScales)
	if err != nil {
		return nil, err
	}
	for k, scl := k0, nScales-1-k0; scl >= 0; k, scl = k+1, scl-1 {
		if err := r.cancelled(); err != nil {
			return nil, err
		}
		r.p.Scale = k + 1
		r.tick(Progress{Stage: StageMatch, Scale: k + 1, Scales: nScales}, true)
		styleS := Syn(be, S[scl:])
		contentS := Syn(be, C[scl:])
		query := r.scaleQuery(C, O, contentS, scl, k)
		target := r.matchTarget(query, styleS)
		be.Free(query)
		r.add(10 * math.Pow(0.25, float64(scl)))
		if err := be.Err(); err != nil {
			be.Free(target, contentS)
			return nil, err
		}
		err := r.optimiseHypercolumn(O[scl:], target, contentS, k+1, nScales, math.Pow(0.25, float64(scl)), o.Steps, func(int) float32 { return o.LR })
		be.Free(target, contentS)
		if err != nil {
			return nil, err
		}
		r.offerScale(O, content, style, scl, k+1, nScales)
	}

	if err := r.optimiseFinal(O, sT, cT, r.bestFinal()); err != nil {
		return nil, err
	}
	return r.finish(content, style, O)
}

// bestWork sets the work units of Best's scales and final pass (a step at
// scale scl costs about 4^-scl of a full-size step) and reports them.
func (r *run) bestWork(nScales, steps int) {
	for k := 0; k < nScales; k++ {
		r.total += float64(steps+10) * math.Pow(0.25, float64(nScales-1-k))
	}
	r.total += float64(steps)*2 + 10
	r.tick(Progress{Stage: StagePrepare, Scales: nScales}, true)
}

// blurStart zeroes the finest bands of the output pyramid O of an ch x cw
// content: Best starts from the blurred content.
func blurStart(be Backend, O []Tensor, ch, cw int) error {
	z := 3
	if max(ch, cw) >= 1024 {
		z = 2
	}
	for i := 0; i < min(z, len(O)-1); i++ {
		c, h, w := O[i].Shape()
		be.Free(O[i])
		O[i] = be.Zeros(c, h, w)
	}
	return be.Err()
}

// scaleQuery is the query matched at scale scl, the k-th: the current
// output with the content's band at scl, mixed with the content at that
// scale (contentS) by the content weight 1 - alpha (none at the first).
func (r *run) scaleQuery(C, O []Tensor, contentS Tensor, scl, k int) Tensor {
	a := float32(1 - r.o.Alpha)
	if k == 0 {
		a = 0
	}
	probe := Syn(r.be, append([]Tensor{C[scl]}, O[scl+1:]...))
	query := r.be.Axpby(a, probe, 1-a, contentS)
	r.be.Free(probe)
	return query
}

// finish downloads the output pyramid's image and colour-matches it.
func (r *run) finish(content, style *tensor.T, O []Tensor) (*tensor.T, error) {
	out, err := r.image(O)
	if err != nil {
		return nil, err
	}
	return r.finishImage(content, style, out)
}

// image downloads the output pyramid's image.
func (r *run) image(O []Tensor) (*tensor.T, error) {
	be := r.be
	img := Syn(be, O)
	out, err := be.Download(img)
	be.Free(img)
	if err != nil {
		return nil, err
	}
	return out, be.Err()
}

// finishImage clamps the output and colour-matches it.
func (r *run) finishImage(content, style, out *tensor.T) (*tensor.T, error) {
	clamp01(out)
	if r.o.Color {
		r.tick(Progress{Stage: StageColor}, true)
		out = ColorMatch(content, style, out)
	}
	r.done = r.total
	r.tick(Progress{Stage: StageDone}, true)
	return out, nil
}

// contentLoss adds the gradient of the optional content loss to g, in
// place, and returns g; ref is the content at img's size.
func (r *run) contentLoss(img, ref, g Tensor) Tensor {
	be := r.be
	_, h, w := img.Shape()
	sh, sw := h, w
	if r.o.Compat == CompatReference {
		sh, sw = referenceLowSize(h, w)
	} else if h >= w {
		sh, sw = 32, max(1, int(math.Round(float64(w)*32/float64(h))))
	} else {
		sh, sw = max(1, int(math.Round(float64(h)*32/float64(w)))), 32
	}
	a := be.Resize(img, sh, sw, true)
	b := be.Resize(ref, sh, sw, true)
	loss, gs := be.ColorDistanceLoss(a, b)
	gi := be.ResizeBackward(gs, h, w, true)
	be.Axpy(1, gi, g)
	be.Free(a, b, loss, gs, gi)
	return g
}

type adam struct {
	m, v []Tensor
}

func newAdam(be Backend, p []Tensor) *adam {
	a := &adam{}
	for _, t := range p {
		c, h, w := t.Shape()
		a.m = append(a.m, be.Zeros(c, h, w))
		a.v = append(a.v, be.Zeros(c, h, w))
	}
	return a
}

func (a *adam) free(be Backend) { be.Free(a.m...); be.Free(a.v...) }

// step updates p with gradients g at step t (1-based) and frees g.
func (a *adam) step(be Backend, p, g []Tensor, t int, lr float32) {
	for i := range p {
		be.Adam(p[i], g[i], a.m[i], a.v[i], t, lr)
	}
	be.Free(g...)
}

// loop is what the Adam loops over the pyramid levels share.
type loop struct {
	steps         int
	lr            func(t int) float32 // learning rate of step t (1-based)
	units         float64             // progress work units per step
	stage         string
	scale, scales int
	// The optional colour-distance content loss runs against content for
	// the first contentSteps steps.
	content      Tensor
	contentSteps int
}

// adamSteps runs l.steps Adam steps on the levels p (updated in place):
// grad returns the gradient of the image for step t's forward trace and
// the losses to report (freed after the report); an error it returns ends
// the loop after the step.
func (r *run) adamSteps(p []Tensor, l loop, grad func(t int, tr *Trace) (Tensor, []Tensor, error)) error {
	be := r.be
	opt := newAdam(be, p)
	defer opt.free(be)
	for t := 1; t <= l.steps; t++ {
		if err := r.cancelled(); err != nil {
			return err
		}
		img := Syn(be, p)
		g, losses, err := grad(t, be.Forward(img, true))
		if r.o.ContentLoss && t <= l.contentSteps {
			g = r.contentLoss(img, l.content, g)
		}
		be.Free(img)
		opt.step(be, p, SynBackward(be, g, p), t, l.lr(t))
		r.add(l.units)
		r.step(l.stage, l.scale, l.scales, t, l.steps, losses...)
		be.Free(losses...)
		if err != nil {
			return err
		}
		if err := be.Err(); err != nil {
			return err
		}
	}
	return nil
}

// optimiseHypercolumn runs the per-scale optimisation of the pyramid levels
// p (updated in place) towards the target hypercolumns.
func (r *run) optimiseHypercolumn(p []Tensor, target, contentS Tensor, scale, scales int, cost float64, steps int, lr func(t int) float32) error {
	be := r.be
	l := loop{steps: steps, lr: lr, units: cost, stage: StageScale, scale: scale, scales: scales, content: contentS, contentSteps: steps}
	err := r.adamSteps(p, l, func(_ int, tr *Trace) (Tensor, []Tensor, error) {
		taps := tr.Taps
		loss, coef := be.HypercolumnLoss(taps, target)
		g := be.Backward(tr, func(l int) Tensor { return be.HypercolumnLossBackward(coef, taps, target, l) })
		be.Free(coef)
		return g, []Tensor{loss}, nil
	})
	if err != nil {
		return err
	}
	// Re-decompose the image into the same number of levels.
	img := Syn(be, p)
	np := Dec(be, img, len(p)-1)
	be.Free(img)
	be.Free(p...)
	copy(p, np)
	return be.Err()
}

// finalPass configures the feature-splitting pass.
type finalPass struct {
	steps   int
	lr      func(t int) float32 // learning rate of step t (1-based)
	grid    int                 // taps larger than grid are sampled to about grid x grid
	rots    int                 // style rotations searched
	targets []target            // hypercolumns the output is also pulled towards
	// styleTaps, when set, are the style's compact taps of each rotation
	// made already (see styleTaps); the pass does not free them.
	styleTaps [][]Tensor
	units     float64 // progress work units per step
	// The optional colour-distance content loss runs for this many steps.
	contentSteps int
}

// target is hypercolumns the final pass pulls the output towards, with the
// weight of their cosine loss.
type target struct {
	hc     Tensor
	weight float32
}

// bestFinal is NNST.md's final pass.
func (r *run) bestFinal() finalPass {
	return finalPass{steps: r.o.Steps, lr: func(int) float32 { return r.o.LR }, grid: 64, rots: r.rotations(), units: 2, contentSteps: 100}
}

// optimiseFinal is the feature-splitting pass at full resolution.
func (r *run) optimiseFinal(p []Tensor, style, content Tensor, f finalPass) error {
	be := r.be
	r.tick(Progress{Stage: StageFinal, Steps: f.steps}, true)
	nt := len(r.s.model.Taps)
	_, ch, cw := p[0].Shape()
	plan := r.samples(ch, cw, f.grid, f.steps)
	styleTaps := f.styleTaps
	if styleTaps == nil {
		styleTaps = make([][]Tensor, nt)
		for k := 0; k < f.rots; k++ {
			img, free := turned(be, style, k)
			r.styleImageTaps(styleTaps, img, k, ch, cw, f.grid, f.steps)
			free()
		}
		defer func() {
			for _, ts := range styleTaps {
				be.Free(ts...)
			}
		}()
	}
	l := loop{steps: f.steps, lr: f.lr, units: f.units, stage: StageFinal, content: content, contentSteps: f.contentSteps}
	return r.adamSteps(p, l, func(t int, tr *Trace) (Tensor, []Tensor, error) {
		// The losses and gradients are computed as the backward pass
		// reaches each tap.
		samples := plan[t-1]
		taps := tr.Taps
		losses := make([]Tensor, nt, nt+len(f.targets))
		coefs := make([]Tensor, len(f.targets))
		for i, tg := range f.targets {
			var loss Tensor
			loss, coefs[i] = be.HypercolumnLoss(taps, tg.hc)
			losses = append(losses, be.Axpby(tg.weight, loss, 0, nil))
			be.Free(loss)
		}
		g := be.Backward(tr, func(l int) Tensor {
			loss, g := be.SplitLoss(taps[l], styleTaps[l], samples[l])
			losses[l] = loss
			for i, tg := range f.targets {
				gc := be.HypercolumnLossBackward(coefs[i], taps, tg.hc, l)
				be.Axpy(tg.weight, gc, g) // in place: at the largest tap, a third tap-sized tensor was the run's peak
				be.Free(gc)
			}
			return g
		})
		be.Free(coefs...)
		return g, losses, nil
	})
}

// styleTaps appends rotation k's style tap features, turned back and kept
// compact as a final pass of this grid at h x w samples them.
// Only the phases that steps steps sample are kept.
func (r *run) styleTaps(into [][]Tensor, tr *Trace, k, h, w, grid, steps int) {
	phases := tapPhases(r.samples(h, w, grid, steps), len(tr.Taps))
	for l, t := range tr.Taps {
		r.compactTap(into, l, t, k, h, w, grid, phases[l])
	}
}

// styleImageTaps is styleTaps of img's forward pass, a tap at a time.
func (r *run) styleImageTaps(into [][]Tensor, img Tensor, k, h, w, grid, steps int) {
	phases := tapPhases(r.samples(h, w, grid, steps), len(into))
	ForwardTaps(r.be, img, func(l int, t Tensor) {
		r.compactTap(into, l, t, k, h, w, grid, phases[l])
	})
}

func (r *run) compactTap(into [][]Tensor, l int, t Tensor, k, h, w, grid int, phases [][2]int) {
	th, tw := r.tapSize(l, h, w)
	x, free := turned(r.be, t, -k)
	into[l] = append(into[l], r.be.Compact(x, sampleStride(th, tw, grid), phases))
	free()
}

// samples draws the samples of each tap at each step of a final pass of
// this grid at h x w, in the order the pass draws them.
func (r *run) samples(h, w, grid, steps int) [][]Sample {
	rng := rand.New(rand.NewPCG(r.o.Seed, 0x4e4e5354))
	nt := len(r.s.model.Taps)
	out := make([][]Sample, steps)
	for t := range out {
		out[t] = make([]Sample, nt)
		for l := range out[t] {
			th, tw := r.tapSize(l, h, w)
			s := Sample{Stride: sampleStride(th, tw, grid)}
			if max(th, tw) > grid {
				s.Y0, s.X0 = rng.IntN(s.Stride), rng.IntN(s.Stride)
			}
			out[t][l] = s
		}
	}
	return out
}

// tapPhases lists each of nt taps' distinct offsets over the steps'
// samples (none without steps).
func tapPhases(samples [][]Sample, nt int) [][][2]int {
	out := make([][][2]int, nt)
	for l := range out {
		out[l] = [][2]int{}
		seen := map[[2]int]bool{}
		for _, st := range samples {
			p := [2]int{st[l].Y0, st[l].X0}
			if !seen[p] {
				seen[p] = true
				out[l] = append(out[l], p)
			}
		}
	}
	return out
}

// tapSize is the size of tap l for an h x w input: halved at each pool
// before the tap's layer.
func (r *run) tapSize(l, h, w int) (int, int) {
	for _, ly := range r.s.model.Layers {
		if ly.Kind == "conv" && ly.ReLU() == r.s.model.Taps[l] {
			break
		}
		if ly.Kind == "pool" {
			h, w = h/2, w/2
		}
	}
	return h, w
}

// SampleStride is the final pass's sampling stride for an h x w tap: taps
// larger than 64 are subsampled to about 64 x 64.
func SampleStride(h, w int) int { return sampleStride(h, w, 64) }

func sampleStride(h, w, grid int) int {
	if m := max(h, w); m > grid {
		return m / grid
	}
	return 1
}

func (r *run) cancelled() error {
	if r.ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrCancelled, context.Cause(r.ctx))
	}
	return nil
}

func (r *run) add(units float64) { r.done += units }

// step reports a finished optimisation step, reading the loss back only
// when a report is due.
func (r *run) step(stage string, scale, scales, t, steps int, losses ...Tensor) {
	if r.report == nil {
		return
	}
	first, last := t == 1, t == steps
	if time.Since(r.lastTick) < 250*time.Millisecond && !first && !last {
		return
	}
	loss := 0.0
	for _, l := range losses {
		h, err := r.be.Download(l)
		if err != nil {
			loss = math.NaN()
			break
		}
		loss += float64(h.Data[0])
	}
	r.tick(Progress{Stage: stage, Scale: scale, Scales: scales, Step: t, Steps: steps, Loss: loss}, first || last)
}

func (r *run) tick(p Progress, force bool) {
	if r.report == nil {
		return
	}
	now := time.Now()
	if !force && now.Sub(r.lastTick) < 250*time.Millisecond {
		return
	}
	r.lastTick = now
	p.Elapsed = now.Sub(r.start)
	p.Fraction = min(1, r.done/r.total)
	if p.Fraction > 0.02 && p.Fraction < 1 {
		p.ETA = time.Duration(float64(p.Elapsed) * (1 - p.Fraction) / p.Fraction)
	}
	if p.Stage != StagePrepare && p.Stage != StageDone && r.out != nil {
		p.Preview = func() (*tensor.T, error) {
			img := Syn(r.be, r.out)
			defer r.be.Free(img)
			t, err := r.be.Download(img)
			if err == nil && !isDry(r.be) { // a dry run's are zeros
				clamp01(t)
			}
			return t, err
		}
	}
	if p.Stage == StageMatch || p.Stage == StageColor || p.Stage == StagePrepare || p.Stage == StageDone {
		p.Loss = math.NaN()
	}
	r.report(p)
}

func clamp01(t *tensor.T) {
	for i, v := range t.Data {
		t.Data[i] = min(max(v, 0), 1)
	}
}
