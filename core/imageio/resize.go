package imageio

import (
	"math"
	"runtime"
	"sync"

	"golang.org/x/image/draw"

	"nnst/core/tensor"
)

// kernel is the resampling filter: Catmull-Rom (the cubic with B=0, C=1/2),
// as in golang.org/x/image/draw, applied here in float32 on any number of
// channels. When shrinking, its support is widened by the scale factor so
// that it also low-pass filters (antialiasing).
var kernel = draw.CatmullRom

// taps holds, for every output index along one axis, the source indices and
// normalised weights that contribute to it.
type taps struct {
	n      int       // taps per output
	index  []int32   // len out*n, clamped to the source range
	weight []float32 // len out*n, each run of n sums to 1
}

func makeTaps(in, out int) taps {
	scale := float64(in) / float64(out)
	fs := max(scale, 1) // filter scale: widen the kernel when shrinking
	support := kernel.Support * fs
	n := int(math.Ceil(support))*2 + 1
	tp := taps{n: n, index: make([]int32, out*n), weight: make([]float32, out*n)}
	ws := make([]float64, n)
	for i := 0; i < out; i++ {
		centre := (float64(i)+0.5)*scale - 0.5 // in source pixel coordinates
		lo := int(math.Ceil(centre - support))
		// Taps outside the source are dropped and the rest renormalised
		// (rather than repeating the edge pixel, which would over-weight it
		// when shrinking).
		sum := 0.0
		for k := range ws {
			ws[k] = 0
			j := lo + k
			if j < 0 || j >= in {
				continue
			}
			if d := math.Abs(float64(j)-centre) / fs; d < kernel.Support {
				ws[k] = kernel.At(d)
			}
			sum += ws[k]
		}
		for k := range ws {
			j := min(max(lo+k, 0), in-1) // weight 0 where clamped
			tp.index[i*n+k] = int32(j)
			tp.weight[i*n+k] = float32(ws[k] / sum)
		}
	}
	return tp
}

// Resize resamples every channel of t to exactly h x w with an antialiased
// separable Catmull-Rom filter. It works on any channel count and does not
// clamp (the cubic may overshoot slightly at sharp edges). Resizing to the
// same size returns a copy.
func Resize(t *tensor.T, h, w int) *tensor.T {
	if h <= 0 || w <= 0 {
		panic("imageio.Resize: target size must be positive")
	}
	if t.H == h && t.W == w {
		return t.Clone()
	}
	if t.H <= 0 || t.W <= 0 {
		panic("imageio.Resize: empty source tensor")
	}
	cur := t
	// Do the horizontal pass first when it shrinks more, so the second pass
	// has less to do.
	horizFirst := float64(w)/float64(t.W) <= float64(h)/float64(t.H)
	if horizFirst {
		cur = resizeW(cur, w)
		cur = resizeH(cur, h)
	} else {
		cur = resizeH(cur, h)
		cur = resizeW(cur, w)
	}
	return cur
}

func resizeW(t *tensor.T, w int) *tensor.T {
	if t.W == w {
		return t
	}
	tp := makeTaps(t.W, w)
	out := tensor.New(t.C, t.H, w)
	rows := t.C * t.H
	parallel(rows, rows*w*tp.n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			src := t.Data[r*t.W : (r+1)*t.W]
			dst := out.Data[r*w : (r+1)*w]
			for i := range dst {
				idx := tp.index[i*tp.n : (i+1)*tp.n]
				wt := tp.weight[i*tp.n : (i+1)*tp.n]
				var s float32
				for k, j := range idx {
					s += wt[k] * src[j]
				}
				dst[i] = s
			}
		}
	})
	return out
}

func resizeH(t *tensor.T, h int) *tensor.T {
	if t.H == h {
		return t
	}
	tp := makeTaps(t.H, h)
	out := tensor.New(t.C, h, t.W)
	W := t.W
	rows := t.C * h
	parallel(rows, rows*W*tp.n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			c, i := r/h, r%h
			src := t.Plane(c)
			dst := out.Data[r*W : (r+1)*W]
			idx := tp.index[i*tp.n : (i+1)*tp.n]
			wt := tp.weight[i*tp.n : (i+1)*tp.n]
			for k, j := range idx {
				wk := wt[k]
				if wk == 0 {
					continue
				}
				row := src[int(j)*W : (int(j)+1)*W]
				for x, v := range row {
					dst[x] += wk * v
				}
			}
		}
	})
	return out
}

// parallel splits [0,n) into chunks run on all CPUs when the work is large
// enough to be worth it.
func parallel(n, work int, fn func(lo, hi int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 || work < 1<<16 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// FitLongSide resizes t so that its long side is size, keeping the aspect
// ratio (the short side is rounded to nearest, at least 1). It returns t
// itself if the long side already is size.
func FitLongSide(t *tensor.T, size int) *tensor.T {
	if size <= 0 {
		panic("imageio.FitLongSide: size must be positive")
	}
	h, w := FitDims(t.H, t.W, size)
	if h == t.H && w == t.W {
		return t
	}
	return Resize(t, h, w)
}

// FitDims returns the h x w that FitLongSide would resize an h x w image to.
func FitDims(h, w, size int) (int, int) {
	if h >= w {
		return size, max(1, int((int64(w)*int64(size)*2+int64(h))/(2*int64(h))))
	}
	return max(1, int((int64(h)*int64(size)*2+int64(w))/(2*int64(w)))), size
}
