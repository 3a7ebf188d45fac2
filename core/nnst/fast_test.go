package nnst_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/score"
	"nnst/core/tensor"
)

func TestFastRun(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 7))
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.FastDefaults()
	o.Size, o.Steps = 96, 3
	o.Fast.MatchSize = 64
	var stages []string
	last, previews := 0.0, 0
	content := testImage(96, 80, 1)
	out, err := s.Run(context.Background(), content, testImage(70, 96, 2), o, func(p nnst.Progress) {
		if len(stages) == 0 || stages[len(stages)-1] != p.Stage {
			stages = append(stages, p.Stage)
		}
		if p.Fraction < last {
			t.Errorf("progress went back from %g to %g", last, p.Fraction)
		}
		last = p.Fraction
		if p.Preview != nil && p.Stage == nnst.StageFinal {
			if img, err := p.Preview(); err != nil || img.W != 80 {
				t.Errorf("preview: %v, %v", img, err)
			}
			previews++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{nnst.StagePrepare, nnst.StageMatch, nnst.StageFinal, nnst.StageColor, nnst.StageDone}
	if !slices.Equal(stages, want) || last != 1 || previews == 0 {
		t.Errorf("stages %v (want %v), last fraction %g, %d previews", stages, want, last, previews)
	}
	if out.H != 96 || out.W != 80 {
		t.Fatalf("output %v", out)
	}
	if d := meanAbs(out, content); d < 0.02 {
		t.Errorf("the output is the content (mean difference %g)", d)
	}
}

func meanAbs(a, b *tensor.T) float64 {
	var s float64
	for i := range a.Data {
		d := float64(a.Data[i] - b.Data[i])
		s += max(d, -d)
	}
	return s / float64(len(a.Data))
}

func TestFastCancel(t *testing.T) {
	s, err := nnst.New(cpu.New(), model.Random(model.VGG19, 16, 5))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	o := nnst.FastDefaults()
	o.Size, o.Steps = 96, 1000
	steps := 0
	_, err = s.Run(ctx, testImage(96, 96, 3), testImage(96, 96, 4), o, func(p nnst.Progress) {
		if p.Stage == nnst.StageFinal && p.Step > 0 {
			steps++
			cancel()
		}
	})
	if !errors.Is(err, nnst.ErrCancelled) || steps != 1 {
		t.Fatalf("err = %v after %d steps, want ErrCancelled after 1", err, steps)
	}
}

// In the fast mode alpha governs the whole run: with the real model and a
// real photo and painting, the content score falls as alpha rises.
func TestFastAlpha(t *testing.T) {
	m := realModel(t)
	content, err := imageio.DecodeFile("../../../shared/images/content-c1.jpg")
	if err != nil {
		t.Skip("shared images not available: ", err)
	}
	style, err := imageio.DecodeFile("../../../shared/images/style-s1.jpg")
	if err != nil {
		t.Fatal(err)
	}
	sr, err := score.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	var prev float64
	for i, a := range []float64{0, 0.5, 1} {
		s, err := nnst.New(cpu.New(), m)
		if err != nil {
			t.Fatal(err)
		}
		o := nnst.FastDefaults()
		o.Size, o.Steps, o.Alpha = 160, 8, a
		out, err := s.Run(context.Background(), content, style, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := sr.Images(content, style, out)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("alpha %g: %+v", a, sc)
		if i > 0 && !(sc.Content < prev) {
			t.Errorf("alpha %g: content %g, not below %g", a, sc.Content, prev)
		}
		prev = sc.Content
	}
}

// A re-run with another alpha reuses the vote (no search) and gives what a
// fresh run gives.
func TestFastReuse(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	o := nnst.FastDefaults()
	o.Size, o.Steps = 96, 2
	o.Fast.MatchSize = 64
	content, style := testImage(96, 80, 1), testImage(70, 96, 2)
	c := nnst.Count(cpu.New())
	s, err := nnst.New(c, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), content, style, o, nil); err != nil {
		t.Fatal(err)
	}
	first := c.Flops()
	c.Reset()
	o.Alpha = 0.3
	again, err := s.Run(context.Background(), content, style, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range c.ByOp() {
		if r.Op == "match" && r.Flops > 0 {
			t.Errorf("the re-run searched again (%.3g of %.3g FLOP)", r.Flops, first)
		}
	}
	fresh, err := nnst.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	want, err := fresh.Run(context.Background(), content, style, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := meanAbs(again, want); d != 0 {
		t.Errorf("the re-run differs from a fresh run by %g", d)
	}
	// Another style image is searched anew.
	c.Reset()
	if _, err := s.Run(context.Background(), content, testImage(70, 96, 9), o, nil); err != nil {
		t.Fatal(err)
	}
	if c.Flops() < first/2 {
		t.Errorf("a new style counted %.3g FLOP, the first run %.3g", c.Flops(), first)
	}
}

// Above the pass size, Fast runs its passes at the pass size and keeps the
// vote's finer bands: the device memory does not grow with the size, and
// the output keeps detail that a pass-size run scaled up lacks.
func TestFastPrint(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	o := nnst.FastDefaults()
	o.Steps, o.Color = 2, false
	o.Fast.MatchSize, o.Fast.PassSize, o.Fast.HalfSteps = 64, 64, -1
	var peaks []int64
	for _, size := range []int{128, 256} {
		o.Size = size
		u, err := nnst.DryRun(m, o, nil, size*3/4, size)
		if err != nil {
			t.Fatal(err)
		}
		peaks = append(peaks, u.Peak)
	}
	if peaks[0] != peaks[1] {
		t.Errorf("device peak %d bytes at 128 px, %d at 256 px: want the same", peaks[0], peaks[1])
	}
	s, err := nnst.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	content, style := testImage(192, 256, 1), grainy(200, 256, 2)
	run := func(size int) *tensor.T {
		o.Size = size
		out, err := s.Run(context.Background(), content, style, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := run(256)
	if out.H != 192 || out.W != 256 {
		t.Fatalf("output %dx%d, want 256x192", out.W, out.H)
	}
	up := imageio.Resize(run(64), out.H, out.W)
	f, fu := fine(out), fine(up)
	t.Logf("finest band: %.4g, a 64 px run scaled up: %.4g", f, fu)
	if f < 2*fu {
		t.Errorf("finest band %.4g, a 64 px run scaled up %.4g: want at least twice", f, fu)
	}
}

// grainy is testImage with pixel noise: fine detail to vote with.
func grainy(h, w int, seed uint64) *tensor.T {
	t := testImage(h, w, seed)
	r := rand.New(rand.NewPCG(seed, 2))
	for i := range t.Data {
		t.Data[i] = min(max(t.Data[i]+0.3*(r.Float32()-0.5), 0), 1)
	}
	return t
}

// fine is the mean magnitude of x's finest Laplacian band.
func fine(x *tensor.T) float64 {
	return meanAbs(x, ops.Resize(ops.Resize(x, x.H/2, x.W/2, false), x.H, x.W, false))
}

// gridProbe records the grids of the hypercolumn targets a run asks for,
// beside its deepest tap's.
type gridProbe struct {
	nnst.Backend
	target, tap [][2]int
}

func (g *gridProbe) HypercolumnLoss(taps []nnst.Tensor, target nnst.Tensor) (nnst.Tensor, nnst.Tensor) {
	_, th, tw := target.Shape()
	_, h, w := taps[len(taps)-1].Shape()
	g.target, g.tap = append(g.target, [2]int{th, tw}), append(g.tap, [2]int{h, w})
	return g.Backend.HypercolumnLoss(taps, target)
}

// The final pass's hypercolumn target sits on the deepest tap's grid
// where the match grid is finer (no tap upsampled to it); FineGrid keeps
// the match grid.
func TestFastTargetGrid(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	for _, fine := range []bool{false, true} {
		o := nnst.FastDefaults()
		o.Size, o.Steps, o.Fast.HalfSteps = 96, 1, 1
		o.Fast.MatchSize, o.Fast.FineGrid = 64, fine // match grid 16 x 16; relu4 12 x 10 at 96 px
		g := &gridProbe{Backend: cpu.New()}
		s, err := nnst.New(g, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Run(context.Background(), testImage(96, 80, 1), testImage(70, 96, 2), o, nil); err != nil {
			t.Fatal(err)
		}
		if len(g.target) != 2 {
			t.Fatalf("fine %v: %d hypercolumn losses, want one per step of 2", fine, len(g.target))
		}
		for i, tg := range g.target {
			want := g.tap[i]
			if fine {
				want = [2]int{16, 13}
			}
			if tg != want {
				t.Errorf("fine %v, step %d: target grid %v, want %v (deepest tap %v)", fine, i+1, tg, want, g.tap[i])
			}
		}
	}
}
