package webgpu

// axis holds the two source indices and weights of each output index of a
// 1-D linear interpolation, as core/ops computes them.
type axis struct {
	i0, i1 []int
	w0, w1 []float32
}

// linearAxis follows PyTorch's upsample_bilinear2d source-index rule in
// float32, exactly as core/ops.linearAxis.
func linearAxis(in, out int, alignCorners bool) axis {
	a := axis{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	var scale float32
	if alignCorners {
		if out > 1 {
			scale = float32(in-1) / float32(out-1)
		}
	} else {
		scale = float32(in) / float32(out)
	}
	for d := 0; d < out; d++ {
		var s float32
		if alignCorners {
			s = scale * float32(d)
		} else {
			s = scale*(float32(d)+0.5) - 0.5
			if s < 0 {
				s = 0
			}
		}
		i0 := min(int(s), in-1)
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l := s - float32(i0)
		a.i0[d], a.i1[d], a.w0[d], a.w1[d] = i0, i1, 1-l, l
	}
	return a
}
