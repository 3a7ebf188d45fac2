// Package conv is the CPU 3x3 convolution (stride 1, zero padding 1) of one
// channel-major (CHW) image, and its gradient with respect to the input, as
// GEMMs over tiles of output pixels.
package conv

import (
	"fmt"
	"sync"
	"sync/atomic"

	"nnst/core/gemm"
)

// Layer is a 3x3 conv with its weights prepacked for forward and backward.
type Layer struct {
	In, Out int
	fwd     []float32 // Out x In*9, rows (ci, ky, kx): OIHW as is
	bwd     []float32 // In x Out*9, rows (co, ky, kx), kernel flipped
	bias    []float32
}

// NewLayer builds a layer from OIHW weights (len out*in*9) and bias (len out).
func NewLayer(in, out int, weight, bias []float32) *Layer {
	if len(weight) != out*in*9 || len(bias) != out {
		panic(fmt.Sprintf("conv: NewLayer(%d, %d): weight len %d, bias len %d", in, out, len(weight), len(bias)))
	}
	l := &Layer{In: in, Out: out}
	l.fwd = append([]float32(nil), weight...)
	l.bias = append([]float32(nil), bias...)
	l.bwd = make([]float32, in*out*9)
	for co := 0; co < out; co++ {
		for ci := 0; ci < in; ci++ {
			for k := 0; k < 9; k++ {
				l.bwd[(ci*out+co)*9+8-k] = weight[(co*in+ci)*9+k]
			}
		}
	}
	return l
}

// Forward writes out (Out x h x w) = conv(in) + bias, then ReLU if relu.
func (l *Layer) Forward(in []float32, h, w int, relu bool, out []float32) {
	checkLen("Forward in", in, l.In*h*w)
	checkLen("Forward out", out, l.Out*h*w)
	run(l.fwd, l.Out, l.In, in, h, w, out, l.bias, relu)
}

// BackwardData writes dIn (In x h x w) = gradient of the conv (without bias
// and ReLU) with respect to its input, given dOut (Out x h x w).
func (l *Layer) BackwardData(dOut []float32, h, w int, dIn []float32) {
	checkLen("BackwardData dOut", dOut, l.Out*h*w)
	checkLen("BackwardData dIn", dIn, l.In*h*w)
	run(l.bwd, l.In, l.Out, dOut, h, w, dIn, nil, false)
}

func checkLen(what string, s []float32, n int) {
	if len(s) < n {
		panic(fmt.Sprintf("conv: %s has len %d, need %d", what, len(s), n))
	}
}

// colBudget bounds the im2col buffer of one goroutine (floats).
const colBudget = 1 << 21

var colPool sync.Pool

// run computes dst (cout x h*w) = wm (cout x cin*9) * im2col(src) [+ bias, ReLU]
// over tiles of output pixels, on gemm.Threads() goroutines.
func run(wm []float32, cout, cin int, src []float32, h, w int, dst []float32, bias []float32, relu bool) {
	hw := h * w
	if hw == 0 || cout == 0 {
		return
	}
	k := cin * 9
	th := gemm.Threads()
	// Tile: a multiple of 16 pixels, within the buffer budget, and enough
	// tiles to keep every goroutine busy.
	p := max(16, colBudget/k/16*16)
	if per := (hw + 2*th - 1) / (2 * th); per < p {
		p = max(16, (per+15)/16*16)
	}
	p = min(p, hw)
	ntiles := (hw + p - 1) / p
	var next atomic.Int64
	work := func() {
		buf, _ := colPool.Get().(*[]float32)
		if buf == nil || cap(*buf) < k*p {
			b := make([]float32, k*p)
			buf = &b
		}
		col := (*buf)[:k*p]
		for {
			t := int(next.Add(1)) - 1
			if t >= ntiles {
				break
			}
			j0 := t * p
			n := min(p, hw-j0)
			im2col(src, cin, h, w, j0, n, col)
			gemm.Sgemm(false, false, cout, n, k, 1, wm, k, col, n, 0, dst[j0:], hw)
			if bias != nil || relu {
				for co := 0; co < cout; co++ {
					row := dst[co*hw+j0 : co*hw+j0+n]
					var b float32
					if bias != nil {
						b = bias[co]
					}
					if relu {
						for i, v := range row {
							row[i] = max(v+b, 0)
						}
					} else {
						for i := range row {
							row[i] += b
						}
					}
				}
			}
		}
		colPool.Put(buf)
	}
	nw := min(th, ntiles)
	var wg sync.WaitGroup
	for i := 1; i < nw; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
}

// im2col writes col (cin*9 x n, row stride n): row (ci, ky, kx), column j is
// src[ci][y+ky-1][x+kx-1] (0 outside) for output pixel j0+j = y*w+x.
func im2col(src []float32, cin, h, w, j0, n int, col []float32) {
	for ci := 0; ci < cin; ci++ {
		plane := src[ci*h*w : (ci+1)*h*w]
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				row := col[((ci*3+ky)*3+kx)*n : ((ci*3+ky)*3+kx+1)*n]
				j := 0
				for j < n {
					y, x := (j0+j)/w, (j0+j)%w
					seg := min(w-x, n-j)
					d := row[j : j+seg]
					sy := y + ky - 1
					if sy < 0 || sy >= h {
						clear(d)
					} else {
						s := plane[sy*w : sy*w+w]
						for i := range d {
							sx := x + i + kx - 1
							if sx < 0 || sx >= w {
								d[i] = 0
							} else {
								d[i] = s[sx]
							}
						}
					}
					j += seg
				}
			}
		}
	}
}
