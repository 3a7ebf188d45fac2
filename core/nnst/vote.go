package nnst

import (
	"math"

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
	// Rotation k is read through turn, not copied: at print sizes the
	// style is large.
	type rot struct{ k, gh, gw, base, sh, sw int }
	rots := make([]rot, len(grids))
	base := 0
	for k, g := range grids {
		sh, sw := style.H, style.W
		if k%2 == 1 {
			sh, sw = sw, sh
		}
		rots[k] = rot{k, g[0], g[1], base, sh, sw}
		base += g[0] * g[1]
	}
	sy, sx := spacing(h, qh), spacing(w, qw)
	sigma := max(sy, sx, 1) * sharp
	r := int(math.Ceil(max(sy, sx, 1)))
	wt := make([]float32, 2*r+1)
	for d := -r; d <= r; d++ {
		wt[d+r] = float32(math.Exp(-float64(d*d) / (2 * sigma * sigma)))
	}
	out := tensor.New(3, h, w)
	sum := make([]float32, h*w)
	plane := style.H * style.W
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
			py := int(math.Round(float64(gy) * spacing(rt.sh, rt.gh)))
			px := int(math.Round(float64(gx) * spacing(rt.sw, rt.gw)))
			for dy := -r; dy <= r; dy++ {
				oy, syy := cy+dy, min(max(py+dy, 0), rt.sh-1)
				if oy < 0 || oy >= h {
					continue
				}
				for dx := -r; dx <= r; dx++ {
					ox, sxx := cx+dx, min(max(px+dx, 0), rt.sw-1)
					if ox < 0 || ox >= w {
						continue
					}
					v := wt[dy+r] * wt[dx+r]
					o := oy*w + ox
					s := turn(rt.k, syy, sxx, style.H, style.W)
					sum[o] += v
					for c := 0; c < 3; c++ {
						out.Data[c*h*w+o] += v * style.Data[c*plane+s]
					}
				}
			}
		}
	}
	for o, s := range sum {
		if s > 0 {
			for c := 0; c < 3; c++ {
				out.Data[c*h*w+o] /= s
			}
		}
	}
	return out
}

// turn is the index in an h x w plane of position (i, j) of the plane
// turned k quarter turns counter-clockwise (as ops.Rot90).
func turn(k, i, j, h, w int) int {
	switch k {
	case 1:
		return j*w + w - 1 - i
	case 2:
		return (h-1-i)*w + w - 1 - j
	case 3:
		return (h-1-j)*w + i
	}
	return i*w + j
}

// spacing is the distance in pixels between grid positions when a grid of
// n spans a side of size px corner to corner.
func spacing(px, n int) float64 {
	if n <= 1 {
		return 0
	}
	return float64(px-1) / float64(n-1)
}
