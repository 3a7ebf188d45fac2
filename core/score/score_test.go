package score

import (
	"math"
	"testing"

	"nnst/core/cpu"
	"nnst/core/internal/torchfix"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

type fixMeta struct {
	Grid   int                `json:"grid"`
	Shrink int                `json:"shrink"`
	Scores map[string]float64 `json:"scores"`
}

// fixtureModel is the small network of testdata/torchgen/score.py.
func fixtureModel(t *testing.T, f *torchfix.Fixtures, shrink int) *model.Model {
	spec := model.Spec{Name: "tiny", Layers: model.VGG19.Layers, Width: map[string]int{}}
	for k, w := range model.VGG19.Width {
		spec.Width[k] = w / shrink
	}
	m, err := model.Build(spec, model.Caffe, func(name string, in, out int) (*model.Conv, error) {
		w, _ := f.Raw(t, "w/"+name)
		b, _ := f.Raw(t, "b/"+name)
		return &model.Conv{In: in, Out: out, Weight: w, Bias: b}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestScoresAgainstTorch(t *testing.T) {
	f := torchfix.LoadSet(t, "score.json", "score.bin")
	var meta fixMeta
	f.Decode(t, &meta)
	m := fixtureModel(t, f, meta.Shrink)
	sr, err := New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sr.Compute(f.CHW(t, "content"), f.CHW(t, "style"), f.CHW(t, "output"), meta.Grid)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"split", got.Split}, {"hyper", got.Hyper}, {"gram", got.Gram}, {"content", got.Content}, {"ssim", got.SSIM}} {
		want := meta.Scores[c.name]
		if d := math.Abs(c.v - want); !(d <= 2e-5*math.Abs(want)+1e-6) {
			t.Errorf("%s = %.8g, torch %.8g (diff %.2g)", c.name, c.v, want, d)
		}
	}
	t.Logf("%+v", got)
}

// The scores order images as they should: the content scores itself
// perfectly on content and SSIM, the style scores itself zero on the style
// objectives, and a mix sits between.
func TestScoresOrder(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	sr, err := New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	content := noise(3, 64, 64, 1)
	style := noise(3, 64, 64, 2)
	self, err := sr.Compute(content, style, content, Grid)
	if err != nil {
		t.Fatal(err)
	}
	if self.Content > 1e-6 || math.Abs(self.SSIM-1) > 1e-9 {
		t.Errorf("content against itself: content %g, ssim %g", self.Content, self.SSIM)
	}
	st, err := sr.Compute(content, style, style, Grid)
	if err != nil {
		t.Fatal(err)
	}
	if st.Split > 1e-5 || st.Hyper > 1e-5 || st.Gram > 1e-9 {
		t.Errorf("style against itself: %+v", st)
	}
	if !(st.Content > self.Content && st.SSIM < self.SSIM && self.Split > st.Split && self.Gram > st.Gram) {
		t.Errorf("content %+v and style %+v out of order", self, st)
	}
}

// Images resizes as a run would and refuses an output of another shape.
func TestImagesResize(t *testing.T) {
	m := model.Random(model.VGG19, 32, 7)
	sr, err := New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	content := noise(3, 200, 160, 1)
	style := noise(3, 90, 120, 2)
	out, err := nnst.Fit(content, 100, "content")
	if err != nil {
		t.Fatal(err)
	}
	s, err := sr.Images(content, style, out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Content > 1e-6 {
		t.Errorf("the fitted content scores content %g against itself", s.Content)
	}
	if _, err := sr.Images(content, style, noise(3, 80, 100, 3)); err == nil {
		t.Error("an output of another shape was scored")
	}
}

func noise(c, h, w int, seed uint64) *tensor.T {
	t := tensor.New(c, h, w)
	x := seed*2654435761 + 1
	for i := range t.Data {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		t.Data[i] = float32(x%1000) / 1000
	}
	return t
}
