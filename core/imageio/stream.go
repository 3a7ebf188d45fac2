package imageio

import "nnst/core/tensor"

// A resampler resizes an RGB image that arrives row by row, top to bottom,
// to h x w without holding it whole: each batch of rows is resampled
// horizontally and added into the output rows it contributes to. The
// result is Resize's with the horizontal pass first.
type resampler struct {
	out        *tensor.T
	srcH, srcW int
	tx, ty     taps      // n == 0 where the side keeps its size
	batch      []float32 // rows of R, G and B, srcW each
	hr         []float32 // the batch resampled horizontally: R, G, B, w each
	n, used    int       // rows per batch, rows filled
	y          int       // the first source row of the batch
	open       int       // the first output row still being added to
}

func newResampler(srcH, srcW, h, w int) *resampler {
	r := &resampler{out: tensor.New(3, h, w), srcH: srcH, srcW: srcW}
	if srcH == h && srcW == w {
		return r // rows go straight into out
	}
	if w != srcW {
		r.tx = makeTaps(srcW, w)
	}
	if h != srcH {
		r.ty = makeTaps(srcH, h)
	}
	r.n = min(max((4<<20)/(12*srcW), 1), 64, srcH) // about 4 MB of rows
	r.batch = make([]float32, r.n*3*srcW)
	if r.tx.n > 0 {
		r.hr = make([]float32, r.n*3*w)
	}
	return r
}

// row returns where to write the next source row's R, G and B.
func (r *resampler) row() (R, G, B []float32) {
	if r.batch == nil {
		h, w := r.out.H, r.out.W
		o := r.y * w
		r.y++
		return r.out.Data[o : o+w], r.out.Data[h*w+o : h*w+o+w], r.out.Data[2*h*w+o : 2*h*w+o+w]
	}
	if r.used == r.n {
		r.flush()
	}
	W := r.srcW
	o := r.used * 3 * W
	r.used++
	return r.batch[o : o+W], r.batch[o+W : o+2*W], r.batch[o+2*W : o+3*W]
}

// finish returns the output once every source row has been written.
func (r *resampler) finish() *tensor.T {
	if r.batch != nil {
		r.flush()
	}
	return r.out
}

func (r *resampler) flush() {
	n, W, h, w := r.used, r.srcW, r.out.H, r.out.W
	hr := r.batch
	if tp := r.tx; tp.n > 0 {
		hr = r.hr
		parallel(3*n, 3*n*w*tp.n, func(lo, hi int) {
			for k := lo; k < hi; k++ {
				tp.row(r.batch[k*W:(k+1)*W], hr[k*w:(k+1)*w])
			}
		})
	}
	y0, y1 := r.y, r.y+n
	r.y, r.used = y1, 0
	if r.ty.n == 0 { // the height stays: copy the rows
		for j := y0; j < y1; j++ {
			for c := 0; c < 3; c++ {
				copy(r.out.Data[(c*h+j)*w:(c*h+j+1)*w], hr[((j-y0)*3+c)*w:])
			}
		}
		return
	}
	// Output rows lo..hi-1 take some of source rows y0..y1-1; each adds
	// them in order, as resizeH does.
	tp := r.ty
	for r.open < h && tp.first[r.open]+tp.count[r.open] <= y0 {
		r.open++
	}
	lo, hi := r.open, r.open
	for hi < h && tp.first[hi] < y1 {
		hi++
	}
	parallel(hi-lo, (hi-lo)*3*w*n, func(a, b int) {
		for i := lo + a; i < lo+b; i++ {
			first, wt := tp.at(i)
			for j := max(first, y0); j < min(first+len(wt), y1); j++ {
				wk := wt[j-first]
				if wk == 0 {
					continue
				}
				for c := 0; c < 3; c++ {
					dst := r.out.Data[(c*h+i)*w : (c*h+i+1)*w]
					for x, v := range hr[((j-y0)*3+c)*w : ((j-y0)*3+c+1)*w] {
						dst[x] += wk * v
					}
				}
			}
		}
	})
}
