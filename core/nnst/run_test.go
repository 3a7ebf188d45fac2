package nnst_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// testImage is a smooth random colour field with some structure.
func testImage(h, w int, seed uint64) *tensor.T {
	r := rand.New(rand.NewPCG(seed, 1))
	t := tensor.New(3, h, w)
	var f [3][4]float64
	for c := range f {
		for k := range f[c] {
			f[c][k] = r.Float64()*6 + 1
		}
	}
	for c := 0; c < 3; c++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := 0.5 + 0.25*math.Sin(f[c][0]*float64(x)/float64(w)+f[c][1]) + 0.25*math.Cos(f[c][2]*float64(y)/float64(h)+f[c][3]*float64(x)/float64(w))
				t.Set(c, y, x, float32(v))
			}
		}
	}
	return t
}

func TestRunTinyModel(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	s, err := nnst.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps, o.Scales = 64, 5, 3
	var stages []string
	out, err := s.Run(context.Background(), testImage(64, 80, 1), testImage(70, 64, 2), o, func(p nnst.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if out.C != 3 || out.W != 64 || out.H != 51 {
		t.Fatalf("output %v, want 3x51x64", out)
	}
	t.Logf("stages %v", stages)
}

// realModel loads the model named by NNST_MODEL (make test sets it).
func realModel(t *testing.T) *model.Model {
	path := os.Getenv("NNST_MODEL")
	if path == "" {
		t.Skip("NNST_MODEL not set (make test sets it to the built default model)")
	}
	m, err := model.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// styleDistance is the mean over H(img)'s vectors of the centred cosine
// distance to the nearest vector of bank (brute force, float64).
func styleDistance(be nnst.Backend, img *tensor.T, bank [][]float64) float64 {
	hv := hypercolumnVectors(be, img)
	centre(hv)
	var sum float64
	for _, q := range hv {
		best := -2.0
		for _, s := range bank {
			var d float64
			for i := range q {
				d += q[i] * s[i]
			}
			best = math.Max(best, d)
		}
		sum += 1 - best
	}
	return sum / float64(len(hv))
}

func hypercolumnVectors(be nnst.Backend, img *tensor.T) [][]float64 {
	x := be.Upload(img)
	tr := be.Forward(x, false)
	hc := be.Hypercolumns(tr.Taps, img.H/4, img.W/4)
	h, _ := be.Download(hc)
	be.Release(tr)
	be.Free(x, hc)
	n := h.H * h.W
	vecs := make([][]float64, n)
	for p := range vecs {
		vecs[p] = make([]float64, h.C)
		for c := 0; c < h.C; c++ {
			vecs[p][c] = float64(h.Data[c*n+p])
		}
	}
	return vecs
}

// centre subtracts the mean vector and normalises each vector.
func centre(v [][]float64) {
	mean := make([]float64, len(v[0]))
	for _, x := range v {
		for i, e := range x {
			mean[i] += e / float64(len(v))
		}
	}
	for _, x := range v {
		var s float64
		for i := range x {
			x[i] -= mean[i]
			s += x[i] * x[i]
		}
		s = math.Sqrt(math.Max(s, 1e-16))
		for i := range x {
			x[i] /= s
		}
	}
}

func TestRunRealModel(t *testing.T) {
	m := realModel(t)
	be := cpu.New()
	s, err := nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	content, err := imageio.DecodeFile("../../../shared/images/content-c1.jpg")
	if err != nil {
		t.Skip("shared images not available: ", err)
	}
	style, err := imageio.DecodeFile("../../../shared/images/style-s4.jpg")
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps, o.Scales = 96, 6, 3
	losses := map[string][]float64{}
	out, err := s.Run(context.Background(), content, style, o, func(p nnst.Progress) {
		// NaN: a report that read no loss (a checkpoint's, at a scale's end).
		if (p.Stage == nnst.StageScale || p.Stage == nnst.StageFinal) && p.Step > 0 && !math.IsNaN(p.Loss) {
			k := fmt.Sprintf("%s %d", p.Stage, p.Scale)
			losses[k] = append(losses[k], p.Loss)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(losses) != 4 {
		t.Fatalf("losses reported for %d stages, want 4: %v", len(losses), losses)
	}
	for k, l := range losses {
		if len(l) < 2 || !(l[len(l)-1] < l[0]) {
			t.Errorf("%s: loss did not fall: %v", k, l)
		}
	}
	c, _ := nnst.Fit(content, 96, "content")
	st, _ := nnst.Fit(style, 96, "style")
	bank := hypercolumnVectors(be, st)
	centre(bank)
	dOut, dContent := styleDistance(be, out, bank), styleDistance(be, c, bank)
	t.Logf("distance to style: output %.4f, content %.4f", dOut, dContent)
	if !(dOut < dContent) {
		t.Errorf("output's hypercolumns are not nearer the style's (%.4f) than the content's (%.4f)", dOut, dContent)
	}
	_, ao, bo := labMeans(out)
	_, as, bs := labMeans(st)
	if math.Abs(ao-as) > 0.01 || math.Abs(bo-bs) > 0.01 {
		t.Errorf("colour matching: output a/b mean (%.4f, %.4f), style (%.4f, %.4f)", ao, bo, as, bs)
	}
}

// labMeans returns the mean OkLab L, a, b of an RGB image (sRGB values fed
// as linear, as colour matching does).
func labMeans(t *tensor.T) (L, a, b float64) {
	n := t.H * t.W
	for p := 0; p < n; p++ {
		r, g, bl := float64(t.Data[p]), float64(t.Data[n+p]), float64(t.Data[2*n+p])
		l := math.Cbrt(0.4122214708*r + 0.5363325363*g + 0.0514459929*bl)
		m := math.Cbrt(0.2119034982*r + 0.6806995451*g + 0.1073969566*bl)
		s := math.Cbrt(0.0883024619*r + 0.2817188376*g + 0.6299787005*bl)
		L += 0.2104542553*l + 0.7936177850*m - 0.0040720468*s
		a += 1.9779984951*l - 2.4285922050*m + 0.4505937099*s
		b += 0.0259040371*l + 0.7827717662*m - 0.8086757660*s
	}
	return L / float64(n), a / float64(n), b / float64(n)
}

func TestRunDeterministic(t *testing.T) {
	m := model.Random(model.VGG19, 16, 5)
	run := func(seed uint64) *tensor.T {
		s, err := nnst.New(cpu.New(), m)
		if err != nil {
			t.Fatal(err)
		}
		o := nnst.Defaults(false)
		o.Size, o.Steps, o.Scales, o.Seed = 136, 2, 2, seed // relu1 taps at 136 px are sampled with stride 2
		out, err := s.Run(context.Background(), testImage(136, 120, 3), testImage(120, 136, 4), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	same := func(x, y *tensor.T) bool {
		for i := range x.Data {
			if x.Data[i] != y.Data[i] {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("two runs with the same seed differ")
	}
	if same(a, c) {
		t.Error("runs with different seeds are identical: the seed is not used")
	}
}

func TestRunCancel(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 5))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := nnst.Defaults(false)
	o.Size, o.Steps = 96, 1000
	steps := 0
	_, err = s.Run(ctx, testImage(96, 96, 3), testImage(96, 96, 4), o, func(p nnst.Progress) {
		if p.Stage == nnst.StageScale {
			steps++
			cancel()
		}
	})
	if !errors.Is(err, nnst.ErrCancelled) {
		t.Fatalf("err = %v, want ErrCancelled", err)
	}
	if steps != 1 {
		t.Errorf("%d progress reports after cancelling, want 1", steps)
	}
}

func TestRunRejects(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 5))
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Alpha = -0.1
	if _, err := s.Run(context.Background(), testImage(96, 96, 3), testImage(96, 96, 4), o, nil); err == nil || !strings.Contains(err.Error(), "alpha") {
		t.Errorf("alpha -0.1: %v", err)
	}
	o = nnst.Defaults(false)
	o.Size = 256
	// 64 x 600 is a valid input, but only 27 px tall at 256 px.
	if _, err := s.Run(context.Background(), testImage(64, 600, 3), testImage(96, 96, 4), o, nil); err == nil || !strings.Contains(err.Error(), "too narrow") {
		t.Errorf("narrow content: %v", err)
	}
}

// TestRunSmallStyle: a style image smaller than the content at the coarsest
// scale must cap the scales, not feed the network a 0-pixel map.
func TestRunSmallStyle(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 5))
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps = 64, 1
	if _, err := s.Run(context.Background(), testImage(64, 64, 3), testImage(48, 64, 4), o, nil); err != nil {
		t.Fatal(err)
	}
}

// searchOrder wraps a backend and fails when the matching target is made
// while the search's query copy is still alive (the two D x N buffers and
// a bank together once set the GPU peak at 1024 px).
type searchOrder struct {
	nnst.Backend
	t       *testing.T
	query   bool // a query copy is alive
	d       int  // its vector length
	targets int
}

func (b *searchOrder) NewSearch(q nnst.Tensor) nnst.Search {
	b.query = true
	b.d, _, _ = q.Shape()
	return b.Backend.NewSearch(q)
}

func (b *searchOrder) EndSearch(s nnst.Search) {
	b.query = false
	b.Backend.EndSearch(s)
}

func (b *searchOrder) SearchGather(s nnst.Search, k nnst.Bank, i int, target nnst.Tensor) {
	b.query = false
	b.Backend.SearchGather(s, k, i, target)
}

func (b *searchOrder) Zeros(c, h, w int) nnst.Tensor {
	if c == b.d && h > 1 {
		b.targets++
		if b.query {
			b.t.Errorf("a %dx%dx%d target is made while the query copy is alive", c, h, w)
		}
	}
	return b.Backend.Zeros(c, h, w)
}

func TestRunSearchOrder(t *testing.T) {
	be := &searchOrder{Backend: cpu.New(), t: t}
	s, err := nnst.New(be, model.Random(model.VGG19, 16, 7))
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps, o.Scales = 64, 1, 2
	if _, err := s.Run(context.Background(), testImage(64, 64, 1), testImage(64, 56, 2), o, nil); err != nil {
		t.Fatal(err)
	}
	if be.targets == 0 {
		t.Error("no matching target was made: the check saw nothing")
	}
}
