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

// taps holds, for every output index i along one axis, the contiguous run
// of source indices first[i] .. first[i]+count[i]-1 that contribute to it and
// their normalised weights, stored at weight[i*n:].
type taps struct {
	n      int // weight slots per output
	first  []int
	count  []int
	weight []float32 // len out*n; the count[i] used ones of each run sum to 1
}

func (tp *taps) at(i int) (first int, w []float32) {
	return tp.first[i], tp.weight[i*tp.n : i*tp.n+tp.count[i]]
}

// tapsPer returns the number of weight slots per output when resampling
// in samples to out.
func tapsPer(in, out int) int {
	fs := max(float64(in)/float64(out), 1)
	return int(math.Ceil(kernel.Support*fs))*2 + 1
}

func makeTaps(in, out int) taps {
	scale := float64(in) / float64(out)
	fs := max(scale, 1) // filter scale: widen the kernel when shrinking
	support := kernel.Support * fs
	n := tapsPer(in, out)
	tp := taps{n: n, first: make([]int, out), count: make([]int, out), weight: make([]float32, out*n)}
	ws := make([]float64, n)
	for i := 0; i < out; i++ {
		centre := (float64(i)+0.5)*scale - 0.5 // in source pixel coordinates
		// Taps outside the source are dropped and the rest renormalised
		// (rather than repeating the edge pixel, which would over-weight it
		// when shrinking).
		lo := max(int(math.Ceil(centre-support)), 0)
		hi := min(int(math.Floor(centre+support)), in-1, lo+n-1)
		sum := 0.0
		ws = ws[:0]
		for j := lo; j <= hi; j++ {
			v := 0.0
			if d := math.Abs(float64(j)-centre) / fs; d < kernel.Support {
				v = kernel.At(d)
			}
			ws = append(ws, v)
			sum += v
		}
		tp.first[i], tp.count[i] = lo, len(ws)
		for k, v := range ws {
			tp.weight[i*n+k] = float32(v / sum)
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
	// Order the passes to do the fewer multiply-adds; on a tie, vertical
	// first (its inner loop streams whole rows, which is faster).
	nW := float64(tapsPer(t.W, w))
	nH := float64(tapsPer(t.H, h))
	hFirst := float64(t.H)*float64(w)*nW + float64(h)*float64(w)*nH
	vFirst := float64(h)*float64(t.W)*nH + float64(h)*float64(w)*nW
	horizFirst := hFirst < 0.8*vFirst
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
			tp.row(t.Data[r*t.W:(r+1)*t.W], out.Data[r*w:(r+1)*w])
		}
	})
	return out
}

// row resamples the row src into dst.
func (tp *taps) row(src, dst []float32) {
	for i := range dst {
		first, wt := tp.at(i)
		seg := src[first : first+len(wt)]
		var s float32
		for k, v := range seg {
			s += wt[k] * v
		}
		dst[i] = s
	}
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
			first, wt := tp.at(i)
			for k, wk := range wt {
				if wk == 0 {
					continue
				}
				j := first + k
				row := src[j*W : (j+1)*W]
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
