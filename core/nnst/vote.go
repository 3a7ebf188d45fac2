package nnst

import (
	"math"

	"nnst/core/ops"
	"nnst/core/tensor"
)

// Vote paints an h x w image with the style's own pixels along a
// nearest-neighbour field. The field has a value per position of a qh x qw
// grid spread over the image (corners on corners, as hypercolumns are): the
// index of the matched vector in the concatenation of the style rotations'
// grids (grids[k] is rotation k's grid, over the style turned k quarter
// turns counter-clockwise). Each grid position pastes the style patch
// around its match, weighted by a Gaussian of the distance from its centre
// (sigma the grid spacing times sharp); each pixel is the weighted mean of
// what covers it. Patches are clamped to the style's edges.
func Vote(style *tensor.T, grids [][2]int, field []int32, qh, qw, h, w int, sharp float64) *tensor.T {
	type rot struct {
		img          *tensor.T
		gh, gw, base int
	}
	rots := make([]rot, len(grids))
	base := 0
	for k, g := range grids {
		rots[k] = rot{ops.Rot90(style, k), g[0], g[1], base}
		base += g[0] * g[1]
	}
	sy, sx := spacing(h, qh), spacing(w, qw)
	sigma := max(sy, sx, 1) * sharp
	r := int(math.Ceil(max(sy, sx, 1)))
	wt := make([]float64, 2*r+1)
	for d := -r; d <= r; d++ {
		wt[d+r] = math.Exp(-float64(d*d) / (2 * sigma * sigma))
	}
	acc := make([]float64, 3*h*w)
	sum := make([]float64, h*w)
	for i := 0; i < qh; i++ {
		cy := int(math.Round(float64(i) * sy))
		for j := 0; j < qw; j++ {
			cx := int(math.Round(float64(j) * sx))
			f := int(field[i*qw+j])
			k := 0
			for k < len(rots)-1 && f >= rots[k+1].base {
				k++
			}
			rt := rots[k]
			f -= rt.base
			gy, gx := f/rt.gw, f%rt.gw
			src := rt.img
			py := int(math.Round(float64(gy) * spacing(src.H, rt.gh)))
			px := int(math.Round(float64(gx) * spacing(src.W, rt.gw)))
			for dy := -r; dy <= r; dy++ {
				oy, syy := cy+dy, min(max(py+dy, 0), src.H-1)
				if oy < 0 || oy >= h {
					continue
				}
				for dx := -r; dx <= r; dx++ {
					ox, sxx := cx+dx, min(max(px+dx, 0), src.W-1)
					if ox < 0 || ox >= w {
						continue
					}
					v := wt[dy+r] * wt[dx+r]
					o := oy*w + ox
					s := syy*src.W + sxx
					sum[o] += v
					for c := 0; c < 3; c++ {
						acc[c*h*w+o] += v * float64(src.Data[c*src.H*src.W+s])
					}
				}
			}
		}
	}
	out := tensor.New(3, h, w)
	for c := 0; c < 3; c++ {
		for o, s := range sum {
			if s > 0 {
				out.Data[c*h*w+o] = float32(acc[c*h*w+o] / s)
			}
		}
	}
	return out
}

// spacing is the distance in pixels between grid positions when a grid of
// n spans a side of size px corner to corner.
func spacing(px, n int) float64 {
	if n <= 1 {
		return 0
	}
	return float64(px-1) / float64(n-1)
}
