package nnst_test

import (
	"context"
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
)

// A forward pass counts 2 * 9 * in * out per output position of every conv
// (plus one per ReLU output and the input's normalisation).
func TestCountForward(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	c := nnst.Count(cpu.New())
	if err := c.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	h, w := 40, 56
	img := c.Upload(testImage(h, w, 1))
	c.Release(c.Forward(img, false))
	want := float64(2 * 3 * h * w)
	for _, l := range m.Layers {
		if l.Kind == "pool" {
			h, w = h/2, w/2
			continue
		}
		want += float64(h*w*l.Conv.Out) * float64(18*l.Conv.In+1)
	}
	if got := c.Flops(); got != want {
		t.Errorf("forward counted %.0f, want %.0f", got, want)
	}
}

func dryRun(t *testing.T, be nnst.Backend, m *model.Model, o nnst.Options, ch, cw, sh, sw int) *nnst.Counter {
	t.Helper()
	c := nnst.Count(be)
	s, err := nnst.New(c, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Run(context.Background(), testImage(ch, cw, 1), testImage(sh, sw, 2), o, nil); err != nil {
		t.Fatal(err)
	}
	return c
}

// The dry-run backend dispatches what a computing backend does: the same
// counts in both modes.
func TestDryMatchesCPU(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	for _, o := range []nnst.Options{nnst.Defaults(false), nnst.FastDefaults()} {
		o.Size, o.Steps, o.Scales = 96, 2, 2
		o.Fast.MatchSize = 64
		real := dryRun(t, cpu.New(), m, o, 96, 80, 72, 96)
		dry := dryRun(t, nnst.NewDry(nil), m, o, 96, 80, 72, 96)
		if real.Flops() != dry.Flops() || real.Flops() == 0 {
			t.Errorf("%s: counted %.0f on the CPU, %.0f dry", o.Mode, real.Flops(), dry.Flops())
		}
	}
}

// Issue 16's budget: the fast mode does at most 1/25 of Best's work at
// 512 px with the defaults (counted in a dry run of each with VGG19's
// shapes).
func TestFastBudget(t *testing.T) {
	m := model.Random(model.VGG19, 1, 7)
	best := dryRun(t, nnst.NewDry(nil), m, nnst.Defaults(false), 512, 512, 384, 512)
	fast := dryRun(t, nnst.NewDry(nil), m, nnst.FastDefaults(), 512, 512, 384, 512)
	t.Logf("512 px: best %.1f TFLOP, fast %.2f TFLOP (1/%.1f)", best.Flops()/1e12, fast.Flops()/1e12, best.Flops()/fast.Flops())
	for _, r := range fast.ByOp() {
		t.Logf("fast %-18s %.3f TFLOP", r.Op, r.Flops/1e12)
	}
	if fast.Flops() > best.Flops()/25 {
		t.Errorf("fast counts %.2f TFLOP, over 1/25 of best's %.1f", fast.Flops()/1e12, best.Flops()/1e12)
	}
}

func TestRate(t *testing.T) {
	c := nnst.Count(cpu.New())
	if err := c.LoadModel(model.Random(model.VGG19, 16, 7)); err != nil {
		t.Fatal(err)
	}
	r, err := c.Rate()
	if err != nil || !(r > 1e6) || c.Flops() != 0 {
		t.Errorf("rate %g, %v; counts left %g", r, err, c.Flops())
	}
	u, err := nnst.DryRun(model.Random(model.VGG19, 16, 7), nnst.FastDefaults(), nil, 96, 128)
	if err != nil || u.Flops <= 0 || u.Peak <= 0 {
		t.Errorf("dry run: %+v, %v", u, err)
	}
}

// As finds an optional interface on a backend and through a Counter, and
// only where the backend has it.
func TestAs(t *testing.T) {
	be := cpu.New()
	for _, b := range []nnst.Backend{be, nnst.Count(be), nnst.Count(nnst.Count(be))} {
		if u, ok := nnst.As[nnst.Unfused](b); !ok || u != nnst.Unfused(be) {
			t.Errorf("As[Unfused](%T) = %v, %v; want the CPU backend", b, u, ok)
		}
		if _, ok := nnst.As[nnst.Preparer](b); ok {
			t.Errorf("As[Preparer](%T) found one; the CPU backend has none", b)
		}
	}
	if _, ok := nnst.As[nnst.Unfused](nnst.Count(nnst.NewDry(nil))); ok {
		t.Error("As[Unfused] found one on a counted dry run, which has none")
	}
}
