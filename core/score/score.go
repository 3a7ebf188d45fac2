// Package score measures a stylized image against its content and style
// with NNST's own objectives and two classic ones, independent of how the
// image was made: one yardstick for every mode.
package score

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"nnst/core/gemm"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// Grid is the largest sampling grid (per side) of the nearest-neighbour
// scores: larger feature maps are sampled with a stride.
const Grid = 128

// Scores of one output. Lower is better for Split, Hyper, Gram and Content
// (Content: lower keeps more of the photo); SSIM is higher for more.
type Scores struct {
	Split   float64 `json:"split"`   // final-pass objective, summed over taps
	Hyper   float64 `json:"hyper"`   // per-scale objective on hypercolumns
	Gram    float64 `json:"gram"`    // Gatys' style loss (relu1_1..relu4_1)
	Content float64 `json:"content"` // centred cosine distance to the content's hypercolumns
	SSIM    float64 `json:"ssim"`    // luminance SSIM to the content
	// SplitTaps is Split by tap, in the model's tap order.
	SplitTaps []float64 `json:"split_taps"`
}

// GramTaps are the layers of the Gram score.
var GramTaps = []string{"relu1_1", "relu2_1", "relu3_1", "relu4_1"}

// Scorer scores images with one model on one backend.
type Scorer struct {
	be   nnst.Backend
	taps []string
}

// New loads m into be (the CPU backend for `nnst score`).
func New(be nnst.Backend, m *model.Model) (*Scorer, error) {
	if err := be.LoadModel(m); err != nil {
		return nil, err
	}
	return &Scorer{be: be, taps: m.Taps}, nil
}

// Images scores out (RGB in [0,1]) against content and style, which are
// resized as a run would resize them for out's size.
func (sr *Scorer) Images(content, style, out *tensor.T) (Scores, error) {
	size := max(out.H, out.W)
	c, err := nnst.Fit(content, size, "content")
	if err != nil {
		return Scores{}, err
	}
	if c.H != out.H || c.W != out.W {
		if math.Abs(float64(c.H)/float64(c.W)-float64(out.H)/float64(out.W)) > 0.02 {
			return Scores{}, fmt.Errorf("the output is %dx%d px but the content's shape fits %dx%d: is this output made from this content?", out.W, out.H, c.W, c.H)
		}
		c = imageio.Resize(content, out.H, out.W)
	}
	s, err := nnst.Fit(style, size, "style")
	if err != nil {
		return Scores{}, err
	}
	return sr.Compute(c, s, out, Grid)
}

// Compute scores out against content (out's size) and style, both already
// resized; grid is the largest sampling grid of the neighbour scores.
func (sr *Scorer) Compute(content, style, out *tensor.T, grid int) (Scores, error) {
	be, taps := sr.be, sr.taps
	if !content.SameShape(out) {
		return Scores{}, fmt.Errorf("content %v and output %v differ in shape", content, out)
	}
	var sc Scores
	isGram := make([]bool, len(taps))
	for _, name := range GramTaps {
		for l, t := range taps {
			isGram[l] = isGram[l] || t == name
		}
	}
	if !slices.Contains(isGram, true) {
		return sc, fmt.Errorf("the model taps none of %v, which the Gram score needs", GramTaps)
	}
	// The output's hypercolumns at a quarter size, a part per tap, wait
	// for the content's (at 2048 px, 1.9 GB each).
	ohc := make([]*tensor.T, len(taps))
	of, err := sr.features(out, grid, isGram, func(l int, part *tensor.T) { ohc[l] = part })
	if err != nil {
		return sc, err
	}
	sf, err := sr.features(style, grid, isGram, nil)
	if err != nil {
		return sc, err
	}
	for l := range of.taps {
		d, err := nearestDistance(be, of.taps[l], sf.taps[l])
		if err != nil {
			return sc, err
		}
		sc.Split += d
		sc.SplitTaps = append(sc.SplitTaps, d)
		if isGram[l] {
			sc.Gram += gramDistance(of.grams[l], sf.grams[l])
		}
	}
	if sc.Hyper, err = nearestDistance(be, of.hc, sf.hc); err != nil {
		return sc, err
	}
	sf = features{}
	var pd positions
	if _, err = sr.features(content, grid, nil, func(l int, part *tensor.T) {
		pd.add(ohc[l], part)
		ohc[l] = nil
	}); err != nil {
		return sc, err
	}
	sc.Content = pd.distance()
	sc.SSIM = LumaSSIM(out, content)
	return sc, be.Err()
}

// features is what the scores need of one image: each tap sampled to the
// grid, the Gram matrices of the taps marked, and the hypercolumns at a
// quarter of the size sampled to the grid. The network runs a tap at a time
// (on a TapStreamer) and each, when set, gets each tap's part of the
// hypercolumns at a quarter size: at print sizes the taps are gigabytes.
type features struct {
	taps  []*tensor.T
	grams [][]float32
	hc    *tensor.T
}

func (sr *Scorer) features(img *tensor.T, grid int, grams []bool, each func(l int, part *tensor.T)) (features, error) {
	be := sr.be
	var f features
	var parts []*tensor.T // each tap's hypercolumns, sampled
	var err error
	h, w := max(img.H/4, 1), max(img.W/4, 1)
	t := be.Upload(img)
	nnst.ForwardTaps(be, t, func(l int, tp nnst.Tensor) {
		x, e := be.Download(tp)
		hc := be.Hypercolumns([]nnst.Tensor{tp}, h, w) // the tap's part of them all
		part, e2 := be.Download(hc)
		be.Free(hc)
		if err = cmp.Or(err, e, e2); err != nil {
			return
		}
		f.taps = append(f.taps, sample(x, grid))
		var g []float32
		if l < len(grams) && grams[l] {
			g = gram(x)
		}
		f.grams = append(f.grams, g)
		parts = append(parts, sample(part, grid))
		if each != nil {
			each(l, part)
		}
	})
	be.Free(t)
	if err != nil {
		return f, err
	}
	f.hc = concat(parts)
	return f, nil
}

// concat stacks ts (of one height and width) along the channels.
func concat(ts []*tensor.T) *tensor.T {
	c := 0
	for _, t := range ts {
		c += t.C
	}
	o := tensor.New(c, ts[0].H, ts[0].W)
	off := 0
	for _, t := range ts {
		off += copy(o.Data[off:], t.Data)
	}
	return o
}

// sample keeps rows and columns 0, s, 2s, ... of t, with the stride s that
// leaves at most grid of each.
func sample(t *tensor.T, grid int) *tensor.T {
	s := (max(t.H, t.W) + grid - 1) / grid
	if s <= 1 {
		return t
	}
	h, w := (t.H+s-1)/s, (t.W+s-1)/s
	o := tensor.New(t.C, h, w)
	for c := 0; c < t.C; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				o.Set(c, y, x, t.At(c, y*s, x*s))
			}
		}
	}
	return o
}

// nearestDistance is the mean over out's vectors of the centred cosine
// distance to the nearest style vector (each side centred on its own mean):
// the backend's feature-splitting loss without subsampling.
func nearestDistance(be nnst.Backend, out, style *tensor.T) (float64, error) {
	o, s := be.Upload(out), be.Upload(style)
	loss, grad := be.SplitLoss(o, []nnst.Tensor{s}, nnst.Sample{Stride: 1})
	l, err := be.Download(loss)
	be.Free(o, s, loss, grad)
	if err != nil {
		return 0, err
	}
	return float64(l.Data[0]), nil
}

// gram returns F F^T / (C H W) for the C x HW matrix F of t.
func gram(t *tensor.T) []float32 {
	c, n := t.C, t.H*t.W
	g := make([]float32, c*c)
	gemm.SgemmParallel(false, true, c, c, n, 1/float32(c*n), t.Data, n, t.Data, n, 0, g, c)
	return g
}

// gramDistance is the mean squared difference of two Gram matrices.
func gramDistance(ga, gb []float32) float64 {
	var s float64
	for i := range ga {
		d := float64(ga[i]) - float64(gb[i])
		s += d * d
	}
	return s / float64(len(ga))
}

// positions is the mean over positions of 1 - cos between the vectors of
// two images' hypercolumns at the same position, each centred on its own
// mean, summed over their channels a part at a time.
type positions struct {
	dot, na, nb []float64
}

// add sums parts a and b (the same channels of each image).
func (p *positions) add(a, b *tensor.T) {
	if p.dot == nil {
		n := a.H * a.W
		p.dot, p.na, p.nb = make([]float64, n), make([]float64, n), make([]float64, n)
	}
	ma, mb := channelMeans(a), channelMeans(b)
	for c := 0; c < a.C; c++ {
		pa, pb := a.Plane(c), b.Plane(c)
		for i := range pa {
			x, y := float64(pa[i])-ma[c], float64(pb[i])-mb[c]
			p.dot[i] += x * y
			p.na[i] += x * x
			p.nb[i] += y * y
		}
	}
}

func (p *positions) distance() float64 {
	var s float64
	for i := range p.dot {
		s += 1 - p.dot[i]/math.Max(math.Sqrt(p.na[i]*p.nb[i]), 1e-16)
	}
	return s / float64(len(p.dot))
}

func channelMeans(t *tensor.T) []float64 {
	m := make([]float64, t.C)
	for c := range m {
		var s float64
		for _, v := range t.Plane(c) {
			s += float64(v)
		}
		m[c] = s / float64(t.H*t.W)
	}
	return m
}
