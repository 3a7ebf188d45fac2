package nnst_test

import (
	"context"
	"os"
	"testing"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/nnst"
)

func BenchmarkRun256(b *testing.B) {
	if os.Getenv("NNST_MODEL") == "" {
		b.Skip()
	}
	t := &testing.T{}
	m := realModel(t)
	s, _ := nnst.New(cpu.New(), m)
	c, _ := imageio.DecodeFile("../../../shared/images/content-c1.jpg")
	st, _ := imageio.DecodeFile("../../../shared/images/style-s4.jpg")
	o := nnst.Defaults(false)
	o.Size, o.Steps = 256, 3
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(context.Background(), c, st, o, nil); err != nil {
			b.Fatal(err)
		}
	}
}
