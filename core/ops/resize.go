// Package ops holds the plain CPU operations of the pipeline (resampling,
// pooling, rotations, elementwise maths) and their adjoints, with PyTorch's
// semantics where NNST.md names them.
package ops

import (
	"sync"

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
// Upsampling rows, it is separable: each source row is interpolated along
// x once, with the same arithmetic as the 2-D formula.
func Resize(x *tensor.T, h, w int, alignCorners bool) *tensor.T {
	y := tensor.New(x.C, h, w)
	if h == x.H && w == x.W { // as PyTorch: a copy
		copy(y.Data, x.Data)
		return y
	}
	ay := LinearAxis(x.H, h, alignCorners)
	ax := LinearAxis(x.W, w, alignCorners)
	if h <= x.H { // rows read about once: no scratch
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
	// Where source row r's x-interpolation goes in a channel's scratch.
	slot := make([]int, x.H)
	n := 0
	for r := range slot {
		slot[r] = -1
	}
	for oy := 0; oy < h; oy++ {
		for _, r := range [2]int{ay.I0[oy], ay.I1[oy]} {
			if slot[r] < 0 {
				slot[r] = n
				n++
			}
		}
	}
	parallelFor(x.C, func(c int) {
		src := x.Plane(c)
		dst := y.Plane(c)
		tp := rows.Get().(*[]float32)
		t := grow(tp, n*w)
		for r, k := range slot {
			if k < 0 {
				continue
			}
			sr, tr := src[r*x.W:(r+1)*x.W], t[k*w:(k+1)*w]
			for ox := range tr {
				tr[ox] = ax.W0[ox]*sr[ax.I0[ox]] + ax.W1[ox]*sr[ax.I1[ox]]
			}
		}
		for oy := 0; oy < h; oy++ {
			t0 := t[slot[ay.I0[oy]]*w:][:w]
			t1 := t[slot[ay.I1[oy]]*w:][:w]
			wy0, wy1 := ay.W0[oy], ay.W1[oy]
			row := dst[oy*w : (oy+1)*w]
			for ox := range row {
				row[ox] = wy0*t0[ox] + wy1*t1[ox]
			}
		}
		rows.Put(tp)
	})
	return y
}

// rows holds scratch rows for Resize and ResizeBackward.
var rows = sync.Pool{New: func() any { return new([]float32) }}

// grow returns *p with room for n, zeroed.
func grow(p *[]float32, n int) []float32 {
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	s := (*p)[:n]
	clear(s)
	return s
}

// ResizeBackward is the adjoint of Resize: given the gradient g of an h' x w'
// output, it returns the gradient of the h x w input. For an upsampling
// Resize, gradient rows are added to their two source rows first, then each
// input column gathers the columns that read it.
func ResizeBackward(g *tensor.T, h, w int, alignCorners bool) *tensor.T {
	x := tensor.New(g.C, h, w)
	if h == g.H && w == g.W {
		copy(x.Data, g.Data)
		return x
	}
	ay := LinearAxis(h, g.H, alignCorners)
	ax := LinearAxis(w, g.W, alignCorners)
	if g.H <= h { // each gradient element scattered to its four sources
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
	tx := readers(ax, w)
	parallelFor(g.C, func(c int) {
		src := g.Plane(c)
		dst := x.Plane(c)
		tp := rows.Get().(*[]float32)
		t := grow(tp, h*g.W)
		for oy := 0; oy < g.H; oy++ {
			t0 := t[ay.I0[oy]*g.W:][:g.W]
			t1 := t[ay.I1[oy]*g.W:][:g.W]
			wy0, wy1 := ay.W0[oy], ay.W1[oy]
			for i, v := range src[oy*g.W : (oy+1)*g.W] {
				t0[i] += wy0 * v
				t1[i] += wy1 * v
			}
		}
		for iy := 0; iy < h; iy++ {
			tr := t[iy*g.W:][:g.W]
			for ix := range dst[iy*w : (iy+1)*w] {
				var s float32
				for k := tx.start[ix]; k < tx.start[ix+1]; k++ {
					s += tr[tx.out[k]] * tx.w[k]
				}
				dst[iy*w+ix] = s
			}
		}
		rows.Put(tp)
	})
	return x
}

// readersOf lists, for each source index of an Axis, the outputs that read
// it and with what weight: out[start[i]:start[i+1]].
type readersOf struct {
	start, out []int
	w          []float32
}

func readers(a Axis, in int) readersOf {
	r := readersOf{start: make([]int, in+1), out: make([]int, 2*len(a.I0)), w: make([]float32, 2*len(a.I0))}
	for o := range a.I0 {
		r.start[a.I0[o]+1]++
		r.start[a.I1[o]+1]++
	}
	for i := 0; i < in; i++ {
		r.start[i+1] += r.start[i]
	}
	next := append([]int(nil), r.start[:in]...)
	for o := range a.I0 {
		for _, e := range [2]struct {
			i int
			w float32
		}{{a.I0[o], a.W0[o]}, {a.I1[o], a.W1[o]}} {
			r.out[next[e.i]], r.w[next[e.i]] = o, e.w
			next[e.i]++
		}
	}
	return r
}
