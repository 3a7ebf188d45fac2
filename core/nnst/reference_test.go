package nnst_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"nnst/core/cpu"
	"nnst/core/internal/torchfix"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
)

// The fixtures of testdata/torchgen/reference.py.
func refFixtures(t *testing.T) *torchfix.Fixtures {
	return torchfix.LoadSet(t, "reference.json", "reference.bin")
}

// TestReferenceFitTorch: the reference's input resize (bilinear(ac), no
// antialiasing, truncated sizes) against torch.
func TestReferenceFitTorch(t *testing.T) {
	f := refFixtures(t)
	var meta struct {
		Fit  []int   `json:"fit"`
		Dims [][]int `json:"dims"`
	}
	f.Decode(t, &meta)
	img := f.CHW(t, "fit/img")
	for _, size := range meta.Fit {
		want := f.CHW(t, fmt.Sprintf("fit/%d", size))
		h, w := nnst.ReferenceDims(img.H, img.W, size)
		if h != want.H || w != want.W {
			t.Fatalf("size %d: %dx%d, want %dx%d", size, w, h, want.W, want.H)
		}
		got := ops.Resize(img, h, w, true)
		torchfix.CloseAll(t, fmt.Sprint("fit ", size), got.Data, want.Data, 1e-5, 1e-6)
	}
	rounded := 0
	for _, d := range meta.Dims {
		h, w := nnst.ReferenceDims(d[0], d[1], d[2])
		if h != d[3] || w != d[4] {
			t.Errorf("ReferenceDims(%d, %d, %d) = %d, %d, want %d, %d", d[0], d[1], d[2], h, w, d[3], d[4])
		}
		if ph, pw := fitDims(d[0], d[1], d[2]); ph != h || pw != w {
			rounded++
		}
	}
	if rounded == 0 {
		t.Fatal("no case where the reference's sizes differ from the default mode's: the table tests nothing")
	}
}

// fitDims is the default mode's size (rounded).
func fitDims(h, w, size int) (int, int) {
	c, err := nnst.Fit(tensor.New(1, h, w), size, "x")
	if err != nil {
		return 0, 0
	}
	return c.H, c.W
}

// TestReferenceFitRefuses: both images need 256 px on their short side.
func TestReferenceFitRefuses(t *testing.T) {
	if _, _, err := nnst.ReferenceFitSize(300, 400, 341, "style"); err == nil || !strings.Contains(err.Error(), "at least 256 px") {
		t.Fatalf("300x400 at 341 px: %v, want a refusal naming 256 px", err)
	}
	if h, w, err := nnst.ReferenceFitSize(300, 400, 342, "style"); err != nil || h != 256 || w != 342 {
		t.Fatalf("300x400 at 342 px: %d, %d, %v", h, w, err)
	}
}

// TestReferenceChunkTorch: replace_features centres content vectors per
// chunk of positions; the chunk size follows the number of style vectors.
func TestReferenceChunkTorch(t *testing.T) {
	f := refFixtures(t)
	var meta struct {
		Chunk     [][2]int `json:"chunk"`
		ChunkSize int      `json:"chunk_size"`
	}
	f.Decode(t, &meta)
	for _, c := range meta.Chunk {
		if got := nnst.ReferenceChunk(c[0]); got != c[1] {
			t.Errorf("ReferenceChunk(%d) = %d, want %d", c[0], got, c[1])
		}
	}
	be := cpu.New()
	styles := []*tensor.T{f.CHW(t, "chunk/style0"), f.CHW(t, "chunk/style1")}
	mean := nnst.BankMean(be, 2, func(k int) nnst.Tensor { return be.Upload(styles[k]) })
	bank := func(k int) nnst.Bank {
		b := be.NewBank(mean, styles[k].H*styles[k].W)
		x := be.Upload(styles[k])
		be.BankAdd(b, x)
		be.Free(x)
		return b
	}
	query := f.CHW(t, "chunk/query")
	want := f.CHW(t, "chunk/target")
	match := func(chunk int) *tensor.T {
		q := be.Upload(query)
		out, err := nnst.ChunkedMatch(be, q, chunk, 2, bank)
		if err != nil {
			t.Fatal(err)
		}
		return download(t, be, out)
	}
	torchfix.CloseAll(t, "chunked target", match(meta.ChunkSize).Data, want.Data, 1e-6, 1e-6)
	whole := match(query.H * query.W)
	same := true
	for i := range whole.Data {
		same = same && whole.Data[i] == want.Data[i]
	}
	if same {
		t.Fatal("centring globally gives the chunked target too: the fixture tests nothing")
	}
}

// TestReferenceStackTorch: the final pass's style features of the
// rotations, stacked as the reference stacks them (identity features).
func TestReferenceStackTorch(t *testing.T) {
	f := refFixtures(t)
	x := f.CHW(t, "stack/x")
	parts := make([]*tensor.T, 4)
	for k := range parts {
		parts[k] = ops.Rot90(x, k)
	}
	got := nnst.ReferenceStack(parts)
	want := f.CHW(t, "stack/out")
	if !got.SameShape(want) {
		t.Fatalf("stack %v, want %v", got, want)
	}
	torchfix.CloseAll(t, "stack", got.Data, want.Data, 0, 0)
}

// TestReferenceSplitTorch: one final-pass step with taps not larger than
// the grid reusing the last sampled tap's samples, regrouped; loss and
// gradients against torch's autograd, offsets against Python's random.
func TestReferenceSplitTorch(t *testing.T) {
	f := refFixtures(t)
	var meta struct {
		Split struct {
			Grid    int      `json:"grid"`
			Seed    uint64   `json:"seed"`
			Offsets [][3]int `json:"offsets"`
		} `json:"split"`
	}
	f.Decode(t, &meta)
	be := cpu.New()
	var taps, style []nnst.Tensor
	for i := 0; i < 4; i++ {
		taps = append(taps, be.Upload(f.CHW(t, fmt.Sprintf("split/tap%d", i))))
		style = append(style, be.Upload(f.CHW(t, fmt.Sprintf("split/style%d", i))))
	}
	loss, grads, samples, err := nnst.ReferenceSplit(be, taps, style, meta.Split.Grid, meta.Split.Seed)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range meta.Split.Offsets {
		if s := samples[i]; s.Stride != o[0] || s.Y0 != o[1] || s.X0 != o[2] {
			t.Fatalf("tap %d sampled %+v, want stride %d at (%d, %d)", i, s, o[0], o[1], o[2])
		}
	}
	want, _ := f.Raw(t, "split/loss")
	if d := loss - float64(want[0]); d > 1e-5 || d < -1e-5 {
		t.Fatalf("loss %.7f, want %.7f", loss, want[0])
	}
	for i, g := range grads {
		w := f.CHW(t, fmt.Sprintf("split/grad%d", i))
		if g == nil {
			g = be.Zeros(w.C, w.H, w.W)
		}
		torchfix.CloseAll(t, fmt.Sprint("grad of tap ", i), download(t, be, g).Data, w.Data, 1e-4, 1e-5)
	}
}

// TestReferenceSplitRefuses: where the reference's final pass fails.
func TestReferenceSplitRefuses(t *testing.T) {
	for _, c := range []struct {
		shapes [][3]int
		want   string
	}{
		{[][3]int{{2, 4, 4}, {4, 2, 2}}, "no earlier sampled tap"},
		// 2 x 9 x 9 sampled with stride 2 gives 25 or 20 or 16 samples
		// of 2 channels; 8 channels do not divide 50.
		{[][3]int{{2, 9, 9}, {8, 4, 4}}, "cannot"},
	} {
		err := nnst.ReferenceSplitPlan(c.shapes, 4)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.shapes, err, c.want)
		}
	}
	if err := nnst.ReferenceSplitPlan([][3]int{{2, 8, 8}, {8, 4, 4}}, 4); err != nil {
		t.Errorf("8x8 with stride 2 regroups (32 values into 8 channels): %v", err)
	}
}

// TestPyRandom: random.seed(s) then random.randint(0, n-1), as Python.
func TestPyRandom(t *testing.T) {
	f := refFixtures(t)
	var meta struct {
		Random []struct {
			Seed string `json:"seed"`
			N    []int  `json:"n"`
			V    []int  `json:"v"`
		} `json:"random"`
	}
	f.Decode(t, &meta)
	for _, c := range meta.Random {
		seed, err := strconv.ParseUint(c.Seed, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		draw := nnst.PyRandom(seed)
		for i, n := range c.N {
			if v := draw(n); v != c.V[i] {
				t.Fatalf("seed %d, draw %d of randint(0, %d): %d, want %d", seed, i, n-1, v, c.V[i])
			}
		}
	}
}

// TestReferenceOptions: Best only, known names.
func TestReferenceOptions(t *testing.T) {
	o := nnst.FastDefaults()
	o.Compat = nnst.CompatReference
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "best mode only") {
		t.Fatalf("fast with compat reference: %v", err)
	}
	if _, err := nnst.ParseCompat("bogus"); err == nil {
		t.Fatal("ParseCompat accepted bogus")
	}
	if c, err := nnst.ParseCompat("none"); err != nil || c != nnst.CompatNone {
		t.Fatalf("ParseCompat(none) = %q, %v", c, err)
	}
}

// TestReferenceRun: a run in reference mode with a tiny model. The
// reference drops each pass's last step, so one step gives what no step
// gives (the default mode's differ); the output is in 1/255 steps; images
// under 256 px on a side are refused.
func TestReferenceRun(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 7))
	if err != nil {
		t.Fatal(err)
	}
	content, style := testImage(256, 320, 1), testImage(320, 256, 2)
	run := func(compat nnst.Compat, steps int) *tensor.T {
		o := nnst.Defaults(false)
		o.Size, o.Scales, o.Steps, o.Compat = 320, 2, steps, compat
		out, err := s.Run(context.Background(), content, style, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	one, none := run(nnst.CompatReference, 1), run(nnst.CompatReference, 0)
	if one.H != 256 || one.W != 320 {
		t.Fatalf("output %v, want 3x256x320", one)
	}
	torchfix.CloseAll(t, "one step against none", one.Data, none.Data, 0, 0)
	for i, v := range one.Data {
		if q := float32(int(v*255+0.5)) / 255; q != v {
			t.Fatalf("value %d is %v, not a multiple of 1/255", i, v)
		}
	}
	a, b := run(nnst.CompatNone, 1), run(nnst.CompatNone, 0)
	diff := 0
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			diff++
		}
	}
	if diff == 0 {
		t.Fatal("the default mode's step changed nothing: the test cannot tell")
	}
	o := nnst.Defaults(false)
	o.Size, o.Compat = 256, nnst.CompatReference
	if _, err := s.Run(context.Background(), testImage(200, 256, 1), style, o, nil); err == nil || !strings.Contains(err.Error(), "256 px") {
		t.Fatalf("200x256 content: %v, want a refusal", err)
	}
}
