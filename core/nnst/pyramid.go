package nnst

// Levels returns the number of Laplacian levels for an h x w image: 8, or
// fewer so that the coarsest band is at least one pixel on each side.
func Levels(h, w int) int {
	l := 0
	for s := min(h, w); l < 8 && s/2 >= 1; s /= 2 {
		l++
	}
	return l
}

// Dec is the Laplacian pyramid of x with l levels (at most Levels of its
// size): l band-pass tensors, finest first, then the low-pass residual. x itself is not freed.
func Dec(be Backend, x Tensor, l int) []Tensor {
	_, h0, w0 := x.Shape()
	l = min(l, Levels(h0, w0)) // never halve a side to zero
	p := make([]Tensor, 0, l+1)
	cur := x
	for i := 0; i < l; i++ {
		_, h, w := cur.Shape()
		small := be.Resize(cur, h/2, w/2, false)
		up := be.Resize(small, h, w, false)
		p = append(p, be.Axpby(1, cur, -1, up))
		be.Free(up)
		if cur != x {
			be.Free(cur)
		}
		cur = small
	}
	if cur == x {
		cur = be.Axpby(1, x, 0, nil)
	}
	return append(p, cur)
}

// Syn rebuilds the image from a pyramid (finest first). p is not freed.
func Syn(be Backend, p []Tensor) Tensor {
	cur := be.Axpby(1, p[len(p)-1], 0, nil)
	for i := len(p) - 2; i >= 0; i-- {
		_, h, w := p[i].Shape()
		up := be.Resize(cur, h, w, false)
		be.Free(cur)
		cur = be.Axpby(1, p[i], 1, up)
		be.Free(up)
	}
	return cur
}

// SynBackward returns the gradient of each pyramid level given the gradient
// g of Syn(p); g becomes the first entry.
func SynBackward(be Backend, g Tensor, p []Tensor) []Tensor {
	grads := make([]Tensor, len(p))
	grads[0] = g
	for i := 1; i < len(p); i++ {
		_, h, w := p[i].Shape()
		grads[i] = be.ResizeBackward(grads[i-1], h, w, false)
	}
	return grads
}
