package score

import (
	"math"

	"nnst/core/tensor"
)

// LumaSSIM is the mean structural similarity (Wang et al. 2004: an 11 x 11
// Gaussian window of sigma 1.5, K1 0.01, K2 0.03, range 1, over the window
// positions that fit inside the image) of the luminances (BT.601) of two RGB
// images of one size. Images under 11 px on a side use a window of their
// short side.
func LumaSSIM(a, b *tensor.T) float64 {
	ya, yb := luma(a), luma(b)
	h, w := a.H, a.W
	k := min(11, h, w)
	win := gaussian(k, 1.5)
	const c1, c2 = 0.01 * 0.01, 0.03 * 0.03
	// Separable filtering: rows, then columns, of the five moment images.
	moments := [][]float64{ya, yb, mul(ya, ya), mul(yb, yb), mul(ya, yb)}
	var f [5][]float64
	for i, m := range moments {
		f[i] = filter(m, h, w, win)
	}
	var s float64
	n := len(f[0])
	for i := 0; i < n; i++ {
		ma, mb := f[0][i], f[1][i]
		va, vb, cov := f[2][i]-ma*ma, f[3][i]-mb*mb, f[4][i]-ma*mb
		s += (2*ma*mb + c1) * (2*cov + c2) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
	}
	return s / float64(n)
}

func luma(t *tensor.T) []float64 {
	r, g, b := t.Plane(0), t.Plane(1), t.Plane(2)
	y := make([]float64, len(r))
	for i := range y {
		y[i] = 0.299*float64(r[i]) + 0.587*float64(g[i]) + 0.114*float64(b[i])
	}
	return y
}

func mul(a, b []float64) []float64 {
	o := make([]float64, len(a))
	for i := range a {
		o[i] = a[i] * b[i]
	}
	return o
}

func gaussian(k int, sigma float64) []float64 {
	w := make([]float64, k)
	var s float64
	for i := range w {
		d := float64(i) - float64(k-1)/2
		w[i] = math.Exp(-d * d / (2 * sigma * sigma))
		s += w[i]
	}
	for i := range w {
		w[i] /= s
	}
	return w
}

// filter correlates an h x w image with win along both axes, keeping only
// the positions where the window fits ("valid").
func filter(x []float64, h, w int, win []float64) []float64 {
	k := len(win)
	ow, oh := w-k+1, h-k+1
	rows := make([]float64, h*ow)
	for y := 0; y < h; y++ {
		for j := 0; j < ow; j++ {
			var s float64
			for t, v := range win {
				s += v * x[y*w+j+t]
			}
			rows[y*ow+j] = s
		}
	}
	out := make([]float64, oh*ow)
	for i := 0; i < oh; i++ {
		for j := 0; j < ow; j++ {
			var s float64
			for t, v := range win {
				s += v * rows[(i+t)*ow+j]
			}
			out[i*ow+j] = s
		}
	}
	return out
}
