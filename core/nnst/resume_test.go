package nnst_test

import (
	"context"
	"errors"
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// faultRun runs o and fails it (as a lost device would) at the first
// report after the after-th checkpoint; it returns the checkpoints seen
// and the output (nil when it failed).
func faultRun(t *testing.T, s *nnst.Stylizer, o nnst.Options, after int) ([]*nnst.Checkpoint, *tensor.T) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	lost := errors.New("device lost")
	var cks []*nnst.Checkpoint
	out, err := s.Run(ctx, testImage(64, 80, 1), testImage(70, 64, 2), o, func(p nnst.Progress) {
		if after > 0 && len(cks) == after {
			cancel(lost)
		}
		if p.Checkpoint != nil {
			ck, err := p.Checkpoint()
			if err != nil {
				t.Fatal(err)
			}
			cks = append(cks, ck)
		}
	})
	switch {
	case after > 0 && !errors.Is(context.Cause(ctx), lost):
		t.Fatalf("the run ended (%v) before the fault", err)
	case after > 0 && !errors.Is(err, nnst.ErrCancelled):
		t.Fatalf("the failed run: %v", err)
	case after == 0 && err != nil:
		t.Fatal(err)
	}
	return cks, out
}

// resumed runs o from ck, and lists the scales the run optimised.
func resumed(t *testing.T, s *nnst.Stylizer, o nnst.Options, ck *nnst.Checkpoint) (*tensor.T, []int) {
	t.Helper()
	o.Resume = ck
	var scales []int
	out, err := s.Run(context.Background(), testImage(64, 80, 1), testImage(70, 64, 2), o, func(p nnst.Progress) {
		if p.Stage == nnst.StageScale && (len(scales) == 0 || scales[len(scales)-1] != p.Scale) {
			scales = append(scales, p.Scale)
		}
	})
	if err != nil {
		t.Fatalf("resumed from %s: %v", ck.Stage(), err)
	}
	return out, scales
}

func maxDiff(a, b *tensor.T) float64 {
	if a.C != b.C || a.H != b.H || a.W != b.W {
		return 1e9
	}
	d := 0.0
	for i := range a.Data {
		d = max(d, float64(abs32(a.Data[i]-b.Data[i])))
	}
	return d
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

// A Best run that fails after a scale and resumes from that scale's
// checkpoint, in a fresh stylizer, gives the uninterrupted run's output,
// without optimising the finished scales again.
func TestResumeBest(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	newStylizer := func() *nnst.Stylizer {
		s, err := nnst.New(cpu.New(), m)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	o := nnst.Defaults(false)
	o.Size, o.Steps, o.Scales = 64, 2, 3
	cks, want := faultRun(t, newStylizer(), o, 0)
	if len(cks) != 3 {
		t.Fatalf("%d checkpoints, want one per scale (3)", len(cks))
	}
	for i, ck := range cks {
		if ck.Mode != nnst.ModeBest || ck.Scale != i+1 || ck.Scales != 3 {
			t.Errorf("checkpoint %d: %s %d of %d", i, ck.Mode, ck.Scale, ck.Scales)
		}
	}
	for _, after := range []int{1, 3} {
		failed, _ := faultRun(t, newStylizer(), o, after)
		ck := failed[len(failed)-1]
		got, scales := resumed(t, newStylizer(), o, ck)
		if d := maxDiff(got, want); d != 0 {
			t.Errorf("resumed from %s: differs from the uninterrupted run by %g", ck.Stage(), d)
		}
		for _, sc := range scales {
			if sc <= ck.Scale {
				t.Errorf("resumed from %s: scale %d optimised again (scales %v)", ck.Stage(), sc, scales)
			}
		}
		if len(scales) != 3-ck.Scale {
			t.Errorf("resumed from %s: scales optimised %v", ck.Stage(), scales)
		}
	}
	// Another balance, or a Fast run, is another run.
	for _, b := range []nnst.Options{{Alpha: 0.5}, {Mode: nnst.ModeFast}} {
		ob := o
		if b.Alpha > 0 {
			ob.Alpha = b.Alpha
		}
		if b.Mode != "" {
			ob.Mode = b.Mode
		}
		ob.Resume = cks[0]
		_, err := newStylizer().Run(context.Background(), testImage(64, 80, 1), testImage(70, 64, 2), ob, nil)
		if !errors.Is(err, nnst.ErrCheckpoint) {
			t.Errorf("alpha %g mode %s: %v, want ErrCheckpoint", ob.Alpha, ob.Mode, err)
		}
	}
}

// A Fast run that fails after its search resumes from the vote, in a
// fresh stylizer, without searching again, and gives the uninterrupted
// run's output.
func TestResumeFast(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	o := nnst.FastDefaults()
	o.Size, o.Steps, o.Fast.HalfSteps = 64, 2, 1
	s, err := nnst.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	cks, want := faultRun(t, s, o, 0)
	if len(cks) != 1 || cks[0].Mode != nnst.ModeFast || len(cks[0].Images) != 1 || cks[0].Target == nil {
		t.Fatalf("checkpoints %+v, want the vote and the matched hypercolumns", cks)
	}
	s, _ = nnst.New(cpu.New(), m)
	failed, _ := faultRun(t, s, o, 1)
	be := nnst.Count(cpu.New())
	s, err = nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := resumed(t, s, o, failed[0])
	if d := maxDiff(got, want); d > 0 {
		t.Errorf("resumed: differs from the uninterrupted run by %g", d)
	}
	// The resumed run does the final passes only; a whole run searches.
	if n := matchFlops(be); n != 0 {
		t.Errorf("the resumed run searched again (%.3g operations)", n)
	}
	be.Reset()
	s, _ = nnst.New(be, m)
	if _, err := s.Run(context.Background(), testImage(64, 80, 1), testImage(70, 64, 2), o, nil); err != nil {
		t.Fatal(err)
	}
	if matchFlops(be) == 0 {
		t.Error("a whole run counts no search")
	}
	// The vote belongs to its images: one pixel of the style changed is
	// another run.
	style := testImage(70, 64, 2)
	style.Data[len(style.Data)/2] += 1e-3
	ob := o
	ob.Resume = failed[0]
	s, _ = nnst.New(cpu.New(), m)
	if _, err := s.Run(context.Background(), testImage(64, 80, 1), style, ob, nil); !errors.Is(err, nnst.ErrCheckpoint) {
		t.Errorf("resumed with another style: %v, want ErrCheckpoint", err)
	}
}

func matchFlops(c *nnst.Counter) float64 {
	for _, op := range c.ByOp() {
		if op.Op == "match" {
			return op.Flops
		}
	}
	return 0
}
