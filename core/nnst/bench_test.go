package nnst_test

import (
	"context"
	"os"
	"testing"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
)

// BenchmarkRun256 times a 256 px stylization, Best with 3 steps per stage
// and Fast with its defaults (for profiling: go test -bench Run256
// -cpuprofile).
func BenchmarkRun256(b *testing.B) {
	path := os.Getenv("NNST_MODEL")
	if path == "" {
		b.Skip("NNST_MODEL not set")
	}
	m, err := model.Load(path)
	if err != nil {
		b.Fatal(err)
	}
	s, err := nnst.New(cpu.New(), m)
	if err != nil {
		b.Fatal(err)
	}
	c, _ := imageio.DecodeFile("../../../shared/images/content-c1.jpg")
	st, _ := imageio.DecodeFile("../../../shared/images/style-s4.jpg")
	best, fast := nnst.Defaults(false), nnst.FastDefaults()
	best.Size, best.Steps, fast.Size = 256, 3, 256
	for _, o := range []nnst.Options{best, fast} {
		b.Run(string(o.Mode), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := s.Run(context.Background(), c, st, o, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
