//go:build js && wasm

package simd

import (
	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/tensor"
)

// forward is cpu.Kernels.Forward on the pool: the activations stay in
// shared memory from layer to layer, the pools run in the kernel module,
// and each output the backend needs is copied out while the next layer
// runs (with each, handed to each then: zeros after a failure).
func (p *pool) forward(x *tensor.T, layers []model.Layer, convs []cpu.Conv, need []bool, idx bool, each func(i int, y *tensor.T)) ([]*tensor.T, [][]int32) {
	for i, l := range layers {
		if _, ok := convs[i].(*convLayer); l.Kind != "pool" && !ok {
			return cpu.Layers(x, layers, convs, need, idx, each)
		}
	}
	outs := make([]*tensor.T, len(layers))
	idxs := make([][]int32, len(layers))
	c, h, w := x.C, x.H, x.W
	cur := p.alloc(len(x.Data) * 4)
	put(p, cur, x.Data)
	ok := cur >= 0
	back := func() {} // copies the previous layer's output out
	for i, l := range layers {
		oc, n := c, c*(h/2)*(w/2)
		if l.Kind != "pool" {
			oc, n = l.Conv.Out, l.Conv.Out*h*w
		}
		next, io := p.alloc(n*4), 0
		if l.Kind == "pool" && idx {
			idxs[i], io = make([]int32, n), p.alloc(n*4)
		}
		var wait func() bool
		switch {
		case next < 0 || io < 0 || !ok:
			ok, wait = false, func() bool { return false }
		case l.Kind == "pool":
			wait = p.startPool(cur, c, h, w, next, io)
		default:
			cl := convs[i].(*convLayer)
			wait = p.startConv(cl.regs.fwd, cl.in, cl.out, cl.regs.bias, true, cur, h, w, next)
		}
		back()
		ok = wait() && ok
		p.free(cur)
		if l.Kind == "pool" {
			h, w = h/2, w/2
		}
		c, cur = oc, next
		back = func() {}
		if need[i] || io > 0 {
			var y *tensor.T
			if need[i] {
				y = tensor.New(c, h, w)
				if each == nil {
					outs[i] = y
				}
			}
			at, iat, i := next, io, i
			back = func() {
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
			}
		}
	}
	back()
	p.free(cur)
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
