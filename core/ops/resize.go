// Package ops holds the plain CPU operations of the pipeline (resampling,
// pooling, rotations, elementwise maths) and their adjoints, with PyTorch's
// semantics where NNST.md names them.
package ops

import (
	"nnst/core/tensor"
)

// Axis holds the two source indices and weights of each output index of a
// 1-D linear interpolation. The WebGPU backend uploads the same tables.
type Axis struct {
	I0, I1 []int
	W0, W1 []float32
}

// LinearAxis follows PyTorch's upsample_bilinear2d source-index rule
// (no antialiasing; size given, not scale factor).
func LinearAxis(in, out int, alignCorners bool) Axis {
	a := Axis{make([]int, out), make([]int, out), make([]float32, out), make([]float32, out)}
	// PyTorch computes the source index in float32.
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
		i0 := int(s)
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := i0
		if i0 < in-1 {
			i1 = i0 + 1
		}
		l := s - float32(i0)
		a.I0[d], a.I1[d], a.W0[d], a.W1[d] = i0, i1, 1-l, l
	}
	return a
}

// Resize is bilinear interpolation to h x w (F.interpolate mode "bilinear").
func Resize(x *tensor.T, h, w int, alignCorners bool) *tensor.T {
	y := tensor.New(x.C, h, w)
	ay := LinearAxis(x.H, h, alignCorners)
	ax := LinearAxis(x.W, w, alignCorners)
	parallelFor(x.C, func(c int) {
		src := x.Plane(c)
		dst := y.Plane(c)
		for oy := 0; oy < h; oy++ {
			r0 := src[ay.I0[oy]*x.W:]
			r1 := src[ay.I1[oy]*x.W:]
			wy0, wy1 := ay.W0[oy], ay.W1[oy]
			row := dst[oy*w : (oy+1)*w]
			for ox := range row {
				i0, i1 := ax.I0[ox], ax.I1[ox]
				row[ox] = wy0*(ax.W0[ox]*r0[i0]+ax.W1[ox]*r0[i1]) + wy1*(ax.W0[ox]*r1[i0]+ax.W1[ox]*r1[i1])
			}
		}
	})
	return y
}

// ResizeBackward is the adjoint of Resize: given the gradient g of an h' x w'
// output, it returns the gradient of the h x w input.
func ResizeBackward(g *tensor.T, h, w int, alignCorners bool) *tensor.T {
	x := tensor.New(g.C, h, w)
	ay := LinearAxis(h, g.H, alignCorners)
	ax := LinearAxis(w, g.W, alignCorners)
	parallelFor(g.C, func(c int) {
		src := g.Plane(c)
		dst := x.Plane(c)
		for oy := 0; oy < g.H; oy++ {
			r0 := dst[ay.I0[oy]*w : (ay.I0[oy]+1)*w]
			r1 := dst[ay.I1[oy]*w : (ay.I1[oy]+1)*w]
			wy0, wy1 := ay.W0[oy], ay.W1[oy]
			for ox, v := range src[oy*g.W : (oy+1)*g.W] {
				i0, i1 := ax.I0[ox], ax.I1[ox]
				a, b := v*ax.W0[ox], v*ax.W1[ox]
				r0[i0] += wy0 * a
				r0[i1] += wy0 * b
				r1[i0] += wy1 * a
				r1[i1] += wy1 * b
			}
		}
	})
	return x
}
