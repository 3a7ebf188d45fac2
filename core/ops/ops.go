package ops

import (
	"math"

	"nnst/core/model"
	"nnst/core/tensor"
)

// MaxPool2 is a 2x2, stride 2 max-pool (output size floors). It returns the
// output and, for each output element, the flat index of its input maximum
// (the first one on ties, as PyTorch).
func MaxPool2(x *tensor.T) (*tensor.T, []int32) {
	oh, ow := x.H/2, x.W/2
	y := tensor.New(x.C, oh, ow)
	idx := make([]int32, len(y.Data))
	parallelFor(x.C, func(c int) {
		base := c * x.H * x.W
		src := x.Plane(c)
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				best := 2*oy*x.W + 2*ox
				bv := src[best]
				for _, p := range [3]int{best + 1, best + x.W, best + x.W + 1} {
					if v := src[p]; v > bv || v != v {
						best, bv = p, v
					}
				}
				o := (c*oh+oy)*ow + ox
				y.Data[o] = bv
				idx[o] = int32(base + best)
			}
		}
	})
	return y, idx
}

// MaxPool2Backward scatters g into an input-shaped gradient using idx.
func MaxPool2Backward(g *tensor.T, idx []int32, c, h, w int) *tensor.T {
	x := tensor.New(c, h, w)
	MaxPool2BackwardAdd(x, g, idx)
	return x
}

// MaxPool2BackwardAdd adds MaxPool2Backward's result into x.
func MaxPool2BackwardAdd(x, g *tensor.T, idx []int32) {
	for i, v := range g.Data {
		x.Data[idx[i]] += v
	}
}

// ReLUBackward zeroes g where the ReLU output y is not positive, in place.
func ReLUBackward(g, y []float32) {
	for i, v := range y {
		if !(v > 0) {
			g[i] = 0
		}
	}
}

// Rot90 rotates each channel by k*90 degrees, as torch.rot90(x, k, (1, 2)):
// positive k turns counter-clockwise.
func Rot90(x *tensor.T, k int) *tensor.T {
	k = ((k % 4) + 4) % 4
	h, w := x.H, x.W
	if k%2 == 1 {
		h, w = w, h
	}
	y := tensor.New(x.C, h, w)
	for c := 0; c < x.C; c++ {
		src := x.Plane(c)
		dst := y.Plane(c)
		for i := 0; i < h; i++ {
			for j := 0; j < w; j++ {
				var si, sj int
				switch k {
				case 0:
					si, sj = i, j
				case 1: // y[i][j] = x[j][W-1-i]
					si, sj = j, x.W-1-i
				case 2:
					si, sj = x.H-1-i, x.W-1-j
				case 3: // y[i][j] = x[H-1-j][i]
					si, sj = x.H-1-j, i
				}
				dst[i*w+j] = src[si*x.W+sj]
			}
		}
	}
	return y
}

// Normalize maps an RGB image in [0,1] to the network's input convention.
func Normalize(x *tensor.T, n model.Normalization) *tensor.T {
	y := tensor.New(3, x.H, x.W)
	for c := 0; c < 3; c++ {
		src := c
		if n.Order == "bgr" {
			src = 2 - c
		}
		s, m, sd := n.Scale, n.Mean[c], n.Std[c]
		in, out := x.Plane(src), y.Plane(c)
		for i, v := range in {
			out[i] = (v*s - m) / sd
		}
	}
	return y
}

// NormalizeBackward maps a gradient of the network input back to RGB.
func NormalizeBackward(g *tensor.T, n model.Normalization) *tensor.T {
	x := tensor.New(3, g.H, g.W)
	for c := 0; c < 3; c++ {
		dst := c
		if n.Order == "bgr" {
			dst = 2 - c
		}
		k := n.Scale / n.Std[c]
		in, out := g.Plane(c), x.Plane(dst)
		for i, v := range in {
			out[i] = v * k
		}
	}
	return x
}

// Axpby returns a*x + b*y (y may be nil).
func Axpby(a float32, x *tensor.T, b float32, y *tensor.T) *tensor.T {
	z := tensor.New(x.C, x.H, x.W)
	if y == nil {
		for i, v := range x.Data {
			z.Data[i] = a * v
		}
		return z
	}
	if !x.SameShape(y) {
		panic("ops.Axpby: shape mismatch " + x.String() + " vs " + y.String())
	}
	for i, v := range x.Data {
		z.Data[i] = a*v + b*y.Data[i]
	}
	return z
}

// Dot returns the float64 inner product of two equal-length slices.
func Dot(a, b []float32) float64 {
	var s float64
	for i, v := range a {
		s += float64(v) * float64(b[i])
	}
	return s
}

// Norm returns the Euclidean norm of a.
func Norm(a []float32) float64 { return math.Sqrt(Dot(a, a)) }

// Adam updates p in place as torch.optim.Adam (betas 0.9/0.999, eps 1e-8,
// no weight decay) at step t, counted from 1.
func Adam(p, g, m, v []float32, t int, lr float32) {
	const b1, b2, eps = 0.9, 0.999, 1e-8
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	step := float32(float64(lr) / bc1)
	sq := float32(math.Sqrt(bc2))
	for i, gi := range g {
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		denom := float32(math.Sqrt(float64(v[i])))/sq + eps
		p[i] -= step * m[i] / denom
	}
}
