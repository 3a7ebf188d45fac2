package main

import (
	"testing"

	"nnst/core/model"
)

func TestZZScoreEst(t *testing.T) {
	m, err := model.Load("/work/main/build/models/vgg19.safetensors")
	if err != nil {
		t.Skip()
	}
	for _, s := range []int{256, 512} {
		h := s * 616 / 768
		e, _ := scoreEstimate(m, [2]int{s, s}, [2]int{h, s})
		t.Logf("%d: %d MB, weights %d MB", s, e>>20, weightBytes(m)>>20)
	}
}
