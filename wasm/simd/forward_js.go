//go:build js && wasm

package simd

import (
	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/tensor"
)

// batchBytes bounds the outputs of the layers run in one round trip to
// the workers: small layers go together (a round trip costs about as much
// as a 64 px layer), large ones alone, so that what the backend needs is
// copied out while the next layers run.
var batchBytes = 8 << 20

// forward is cpu.Kernels.Forward on the pool: the activations stay in
// shared memory from layer to layer, the pools run in the kernel module,
// and each output the backend needs is copied out while the next layers
// run (with each, handed to each then: zeros after a failure).
func (p *pool) forward(x *tensor.T, layers []model.Layer, convs []cpu.Conv, need []bool, idx bool, each func(i int, y *tensor.T)) ([]*tensor.T, [][]int32) {
	for i, l := range layers {
		if _, ok := convs[i].(*convLayer); l.Kind != "pool" && !ok {
			return cpu.Layers(x, layers, convs, need, idx, each)
		}
	}
	outs := make([]*tensor.T, len(layers))
	idxs := make([][]int32, len(layers))
	// A buffer is freed when the last layer reading it has run and what
	// is copied from it has been.
	refs := map[int]int{}
	hold := func(b int) { refs[b]++ }
	drop := func(b int) {
		if refs[b]--; refs[b] <= 0 {
			delete(refs, b)
			p.free(b)
		}
	}
	c, h, w := x.C, x.H, x.W
	cur := p.alloc(len(x.Data) * 4)
	put(p, cur, x.Data)
	hold(cur)
	ok := cur >= 0
	var (
		batch  []kernel
		inputs []int    // read by the batch
		copies []func() // its outputs to copy out
		bytes  int
	)
	back := func() {} // copies the previous batch's outputs out
	flush := func() {
		wait := p.startSeq(batch)
		back()
		ok = wait() && ok
		for _, b := range inputs {
			drop(b)
		}
		cs := copies
		back = func() {
			for _, f := range cs {
				f()
			}
		}
		batch, inputs, copies, bytes = nil, nil, nil, 0
	}
	for i, l := range layers {
		oc, n := c, c*(h/2)*(w/2)
		if l.Kind != "pool" {
			oc, n = l.Conv.Out, l.Conv.Out*h*w
		}
		next, io := p.alloc(n*4), 0
		if l.Kind == "pool" && idx {
			idxs[i], io = make([]int32, n), p.alloc(n*4)
		}
		hold(next)
		switch {
		case next < 0 || io < 0 || !ok:
			ok = false
		case l.Kind == "pool":
			batch = append(batch, p.poolKernel(cur, c, h, w, next, io))
		default:
			cl := convs[i].(*convLayer)
			batch = append(batch, p.convKernel(cl.regs.fwd, cl.in, cl.out, cl.regs.bias, true, cur, h, w, next))
		}
		inputs = append(inputs, cur)
		bytes += n * 4
		if l.Kind == "pool" {
			h, w = h/2, w/2
		}
		c, cur = oc, next
		if need[i] || io > 0 {
			var y *tensor.T
			if need[i] {
				y = tensor.New(c, h, w)
				if each == nil {
					outs[i] = y
				}
			}
			at, iat, i := next, io, i
			hold(at)
			copies = append(copies, func() {
				if y != nil {
					get(p, at, y.Data)
					if each != nil {
						if !ok {
							clear(y.Data)
						}
						each(i, y)
					}
				}
				if iat > 0 {
					get(p, iat, idxs[i])
					p.free(iat)
				}
				drop(at)
			})
		}
		if bytes >= batchBytes || i == len(layers)-1 {
			flush()
		}
	}
	back()
	drop(cur)
	if !ok {
		// Zeros, and pool indices that Backward can still use.
		for i, y := range outs {
			if y != nil {
				clear(y.Data)
			}
			clear(idxs[i])
		}
	}
	return outs, idxs
}
