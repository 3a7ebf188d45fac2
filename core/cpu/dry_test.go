package cpu_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// The dry run with HostMemory counts the CPU backend's peak of each stage
// to the byte, in both modes, with every option that allocates (rotations,
// content loss, the fast mode's half-size steps) and previews at each
// report.
func TestDryPeak(t *testing.T) {
	m := model.Random(model.VGG19, 16, 7)
	r := rand.New(rand.NewPCG(3, 4))
	content, style := randT(r, 3, 96, 80), randT(r, 3, 72, 96)
	for _, o := range []nnst.Options{nnst.Defaults(false), nnst.FastDefaults()} {
		o.Size, o.Steps, o.Scales, o.ContentLoss = 96, 2, 2, true
		o.Fast.MatchSize, o.Fast.HalfSteps = 64, 2
		want, got := stagePeaks(t, cpu.New(), m, o, content, style), stagePeaks(t, nnst.NewDry(nil), m, o, content, style)
		t.Logf("%s: peaks %v on the CPU, %v dry", o.Mode, want, got)
		if !slices.Equal(got, want) || len(want) < 3 {
			t.Errorf("%s: the dry run's peaks by stage are %v bytes, the CPU's %v", o.Mode, got, want)
		}
	}
}

// stagePeaks runs o on be and returns the peak of each stage (each scale
// of a stage on its own) and of the whole run.
func stagePeaks(t *testing.T, be nnst.Backend, m *model.Model, o nnst.Options, content, style *tensor.T) []int64 {
	s, err := nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	var peaks []int64
	all, last := int64(0), ""
	_, err = s.Run(context.Background(), content, style, o, func(p nnst.Progress) {
		if k := fmt.Sprint(p.Stage, p.Scale); k != last {
			all = max(all, be.PeakBytes())
			peaks = append(peaks, be.PeakBytes())
			be.ResetPeak()
			last = k
		}
		nnst.Previews(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(peaks, max(all, be.PeakBytes()))
}
