// Package conv is the CPU 3x3 convolution (stride 1, zero padding 1) of one
// channel-major (CHW) image, and its gradient with respect to the input.
//
// It is an implicit GEMM: out (cout x pixels) = W (cout x cin*9) * cols, where
// the micro-kernel reads the columns straight from a zero-padded copy of a
// band of input rows through a table of offsets, so nothing is im2col'ed.
// W is packed once per layer in the micro-kernel's panel layout.
package conv

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"nnst/core/gemm"
)

// Micro-tile (output channels x pixels of one row) and cache blocks.
const (
	mr = 6
	nr = 16
	kc = 288 // 32 input channels x 9 taps
	mc = 144
)

// Layer is a 3x3 conv with its weights prepacked for forward and backward.
// It is read-only after NewLayer: safe for concurrent use. Inputs and
// outputs of one call must not overlap.
type Layer struct {
	In, Out int
	fwd     packed    // Out x In*9, rows (ci, ky, kx): OIHW as is
	bwd     packed    // In x Out*9, rows (co, ky, kx), kernel flipped
	bias    []float32 // padded to a multiple of mr
}

// packed is an m x k matrix in kc blocks of mr-row panels: block p0 starts
// at p0*mp, its panel ir at p0*mp + ir*kb, element (i, p) at + (p-p0)*mr + i-ir.
type packed struct {
	m, k, mp int
	data     []float32
}

func pack(w []float32, m, k int) packed {
	mp := (m + mr - 1) / mr * mr
	d := make([]float32, mp*k)
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		for i := 0; i < m; i++ {
			ir := i / mr * mr
			blk := d[p0*mp+ir*kb:]
			for p := 0; p < kb; p++ {
				blk[p*mr+i-ir] = w[i*k+p0+p]
			}
		}
	}
	return packed{m: m, k: k, mp: mp, data: d}
}

// Flip returns the weights of the backward-data pass of a 3x3 conv from
// in to out channels with OIHW weights: the conv from out to in channels
// with the kernel turned by 180 degrees (OIHW, in x out x 3 x 3).
func Flip(weight []float32, in, out int) []float32 {
	t := make([]float32, in*out*9)
	for co := 0; co < out; co++ {
		for ci := 0; ci < in; ci++ {
			for k := 0; k < 9; k++ {
				t[(ci*out+co)*9+8-k] = weight[(co*in+ci)*9+k]
			}
		}
	}
	return t
}

// NewLayer builds a layer from OIHW weights (len out*in*9) and bias (len out).
func NewLayer(in, out int, weight, bias []float32) *Layer {
	if in <= 0 || out <= 0 || len(weight) != out*in*9 || len(bias) != out {
		panic(fmt.Sprintf("conv: NewLayer(%d, %d): weight len %d, bias len %d", in, out, len(weight), len(bias)))
	}
	l := &Layer{In: in, Out: out}
	l.fwd = pack(weight, out, in*9)
	l.bwd = pack(Flip(weight, in, out), in, out*9)
	l.bias = make([]float32, l.fwd.mp)
	copy(l.bias, bias)
	return l
}

// Forward writes out (Out x h x w) = conv(in) + bias, then ReLU if relu.
func (l *Layer) Forward(in []float32, h, w int, relu bool, out []float32) {
	checkLen("Forward in", in, l.In*h*w)
	checkLen("Forward out", out, l.Out*h*w)
	run(&l.fwd, l.In, in, h, w, out, l.bias, relu)
}

// BackwardData writes dIn (In x h x w) = gradient of the conv (without bias
// and ReLU) with respect to its input, given dOut (Out x h x w).
func (l *Layer) BackwardData(dOut []float32, h, w int, dIn []float32) {
	checkLen("BackwardData dOut", dOut, l.Out*h*w)
	checkLen("BackwardData dIn", dIn, l.In*h*w)
	run(&l.bwd, l.Out, dOut, h, w, dIn, nil, false)
}

func checkLen(what string, s []float32, n int) {
	if len(s) < n {
		panic(fmt.Sprintf("conv: %s has len %d, need %d", what, len(s), n))
	}
}

// Band sizing: about bandPixels output pixels per band (small bands measured
// fastest: their input rows and output rows stay in L2), and a band's padded
// input copy stays under bandBudget floats.
const (
	bandBudget = 1 << 20
	bandPixels = 512
)

var bufPool sync.Pool

// run computes dst (pw.m x h*w) = pw * cols(src) [+ bias, ReLU] over bands of
// output rows, on gemm.Threads() goroutines.
func run(pw *packed, cin int, src []float32, h, w int, dst []float32, bias []float32, relu bool) {
	if h <= 0 || w <= 0 {
		return
	}
	th := gemm.Threads()
	rs := w + 2 // padded row stride
	rows := (bandPixels + w - 1) / w
	rows = min(rows, bandBudget/(cin*rs)-2, (h+2*th-1)/(2*th))
	rows = max(rows, 1)
	ps := (rows + 2) * rs // padded plane stride
	bufLen := cin*ps + nr
	if bufLen > math.MaxInt32 {
		panic(fmt.Sprintf("conv: image too large (%d channels, width %d)", cin, w))
	}
	offs := make([]int32, cin*9)
	for ci := 0; ci < cin; ci++ {
		for ky := 0; ky < 3; ky++ {
			for kx := 0; kx < 3; kx++ {
				offs[ci*9+ky*3+kx] = int32(ci*ps + ky*rs + kx)
			}
		}
	}
	nb := (h + rows - 1) / rows
	var next atomic.Int64
	work := func() {
		bp, _ := bufPool.Get().(*[]float32)
		if bp == nil || cap(*bp) < bufLen {
			b := make([]float32, bufLen)
			bp = &b
		}
		buf := (*bp)[:bufLen]
		for {
			t := int(next.Add(1)) - 1
			if t >= nb {
				break
			}
			y0 := t * rows
			y1 := min(h, y0+rows)
			fillBand(src, cin, h, w, y0, y1, rs, ps, buf)
			band(pw, offs, buf, rs, h, w, y0, y1, dst, bias, relu)
		}
		bufPool.Put(bp)
	}
	nw := min(th, nb)
	var wg sync.WaitGroup
	for i := 1; i < nw; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); work() }()
	}
	work()
	wg.Wait()
}

// fillBand copies input rows y0-1 .. y1 of every channel into buf with a zero
// border: padded row r, column c holds src[ci][y0-1+r][c-1].
func fillBand(src []float32, cin, h, w, y0, y1, rs, ps int, buf []float32) {
	for ci := 0; ci < cin; ci++ {
		plane := src[ci*h*w : (ci+1)*h*w]
		for r := 0; r < y1-y0+2; r++ {
			row := buf[ci*ps+r*rs : ci*ps+r*rs+rs]
			sy := y0 - 1 + r
			if sy < 0 || sy >= h {
				clear(row)
				continue
			}
			row[0] = 0
			copy(row[1:w+1], plane[sy*w:sy*w+w])
			row[w+1] = 0
		}
	}
	clear(buf[len(buf)-nr:])
}

// band computes output rows [y0, y1) from the padded band buffer.
func band(pw *packed, offs []int32, buf []float32, rs, h, w, y0, y1 int, dst []float32, bias []float32, relu bool) {
	m, k, hw := pw.m, pw.k, h*w
	var tmp [mr * nr]float32
	for p0 := 0; p0 < k; p0 += kc {
		kb := min(kc, k-p0)
		flags := 0
		if p0 > 0 {
			flags |= 1
		}
		if relu && p0+kb == k {
			flags |= 2
		}
		blk := pw.data[p0*pw.mp : p0*pw.mp+pw.mp*kb]
		off := offs[p0 : p0+kb]
		for i0 := 0; i0 < m; i0 += mc {
			i1 := min(m, i0+mc)
			for y := y0; y < y1; y++ {
				for x0 := 0; x0 < w; x0 += nr {
					b := buf[(y-y0)*rs+x0:]
					cols := min(nr, w-x0)
					for ir := i0; ir < i1; ir += mr {
						a := blk[ir*kb : ir*kb+mr*kb]
						var bs []float32
						if bias != nil && p0 == 0 {
							bs = bias[ir : ir+mr]
						}
						rows := min(mr, m-ir)
						c := dst[ir*hw+y*w+x0:]
						if rows == mr && cols == nr {
							kernel(kb, a, off, b, c, hw, bs, flags)
							continue
						}
						if flags&1 != 0 {
							for i := 0; i < rows; i++ {
								copy(tmp[i*nr:i*nr+cols], c[i*hw:i*hw+cols])
							}
						}
						kernel(kb, a, off, b, tmp[:], nr, bs, flags)
						for i := 0; i < rows; i++ {
							copy(c[i*hw:i*hw+cols], tmp[i*nr:i*nr+cols])
						}
					}
				}
			}
		}
	}
}

// kernelGo is the portable micro-kernel: acc[i][j] = sum_p a[p*mr+i] *
// b[offs[p]+j], then + bias[i] (bias != nil), + C (flags&1), ReLU (flags&2).
// It works on 2x4 sub-tiles so that the accumulators stay in registers.
func kernelGo(k int, a []float32, offs []int32, b []float32, c []float32, ldc int, bias []float32, flags int) {
	var acc [mr][nr]float32
	a = a[:k*mr]
	offs = offs[:k]
	for i0 := 0; i0 < mr; i0 += 2 {
		for j0 := 0; j0 < nr; j0 += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p, o := range offs {
				bv := (*[4]float32)(b[int(o)+j0:])
				av := (*[2]float32)(a[p*mr+i0:])
				b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
				x, y := av[0], av[1]
				c00 += x * b0
				c01 += x * b1
				c02 += x * b2
				c03 += x * b3
				c10 += y * b0
				c11 += y * b1
				c12 += y * b2
				c13 += y * b3
			}
			*(*[4]float32)(acc[i0][j0:]) = [4]float32{c00, c01, c02, c03}
			*(*[4]float32)(acc[i0+1][j0:]) = [4]float32{c10, c11, c12, c13}
		}
	}
	for i := 0; i < mr; i++ {
		row := (*[nr]float32)(c[i*ldc:])
		r := &acc[i]
		if bias != nil {
			for j := range r {
				r[j] += bias[i]
			}
		}
		if flags&1 != 0 {
			for j := range r {
				r[j] += row[j]
			}
		}
		if flags&2 != 0 {
			for j := range r {
				r[j] = max(r[j], 0)
			}
		}
		*row = *r
	}
}
