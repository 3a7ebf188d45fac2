package cpu_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
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

// stagePeaks loads m into be and returns its peak bytes by stage.
func stagePeaks(t *testing.T, be nnst.Backend, m *model.Model, o nnst.Options, content, style *tensor.T) []int64 {
	s, err := nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	return backendtest.StagePeaks(t, s, o, content, style, be.PeakBytes, be.ResetPeak, true)
}
