package nnst_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/cpu"
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
