//go:build js && wasm

package simd

import (
	"fmt"
	"runtime"

	"nnst/core/conv"
	"nnst/core/cpu"
)

// Kernel tiling (see kernels.wat): pixels per conv tile, conv k block,
// bytes of query panels per nearest tile.
const (
	convTile   = 128
	convKBlock = 256
	nearBytes  = 256 << 10
)

// pack uploads a (rows x k) and packs it in panels of 4 rows; it returns
// the packed block's offset (-1 after a failure).
func (p *pool) pack(a []float32, rows, k int) int {
	src := p.alloc(rows * k * 4)
	dst := p.alloc((rows + 3) / 4 * 4 * k * 4)
	defer p.free(src)
	put(p, src, a[:rows*k])
	panels := (rows + 3) / 4
	if !p.call("pack", (panels+15)/16, 0, src, rows, k, dst) {
		p.free(dst)
		return -1
	}
	return dst
}

// convLayer is a 3x3 conv with its packed weights in shared memory.
type convLayer struct {
	p       *pool
	in, out int
	regs    *convRegs
}

type convRegs struct{ fwd, bwd, bias int }

func (p *pool) newConv(in, out int, weight, bias []float32) cpu.Conv {
	if len(weight) != out*in*9 || len(bias) != out {
		panic(fmt.Sprintf("simd: newConv(%d, %d): weight len %d, bias len %d", in, out, len(weight), len(bias)))
	}
	// Backward-data is the conv with the kernel flipped and in/out swapped.
	bwd := conv.Flip(weight, in, out)
	r := &convRegs{fwd: p.pack(weight, out, in*9), bwd: p.pack(bwd, in, out*9), bias: p.alloc(out * 4)}
	put(p, r.bias, bias)
	l := &convLayer{p: p, in: in, out: out, regs: r}
	runtime.AddCleanup(l, func(r *convRegs) { p.free(r.fwd, r.bwd, r.bias) }, r)
	return l
}

func (l *convLayer) Forward(in []float32, h, w int, relu bool, out []float32) {
	l.p.conv(l.regs.fwd, l.in, l.out, l.regs.bias, relu, in, h, w, out)
	runtime.KeepAlive(l)
}

func (l *convLayer) BackwardData(dOut []float32, h, w int, dIn []float32) {
	l.p.conv(l.regs.bwd, l.out, l.in, 0, false, dOut, h, w, dIn)
	runtime.KeepAlive(l)
}

// conv runs the conv kernel: dst (cout x h*w) from src (cin x h*w).
func (p *pool) conv(a, cin, cout, bias int, relu bool, src []float32, h, w int, dst []float32) {
	hw := h * w
	if len(src) < cin*hw || len(dst) < cout*hw {
		panic(fmt.Sprintf("simd: conv %d->%d at %dx%d: src len %d, dst len %d", cin, cout, h, w, len(src), len(dst)))
	}
	if hw == 0 || cout == 0 {
		return
	}
	s := p.alloc(cin * hw * 4)
	d := p.alloc(cout * hw * 4)
	defer p.free(s, d)
	put(p, s, src[:cin*hw])
	if a >= 0 && s >= 0 && d >= 0 && p.startSeq([]kernel{p.convKernel(a, cin, cout, bias, relu, s, h, w, d)})() {
		get(p, d, dst[:cout*hw])
	} else {
		clear(dst[:cout*hw])
	}
}

// convKernel is the conv kernel on shared memory: d (cout x h*w) from
// s (cin x h*w) with the packed weights at a.
func (p *pool) convKernel(a, cin, cout, bias int, relu bool, s, h, w, d int) kernel {
	hw := h * w
	// Tiles of a multiple of 8 pixels, at least 2 per worker.
	nt := min(convTile, max(8, (hw+2*p.threads-1)/(2*p.threads)+7)&^7)
	kc := min(convKBlock, cin*9)
	r := 0
	if relu {
		r = 1
	}
	scratch := kc*nt*4 + (cout+3)/4*4*nt*4
	return kernel{"conv", (hw + nt - 1) / nt, scratch, []int{s, cin, h, w, a, cout, bias, r, d, nt, kc}}
}

// poolKernel is the maxpool kernel: d (c x h/2 x w/2) from s
// (c x h x w), and the argmax indices at idx unless it is 0.
func (p *pool) poolKernel(s, c, h, w, d, idx int) kernel {
	rows := c * (h / 2)
	rpt := max(1, (rows+8*p.threads-1)/(8*p.threads))
	return kernel{"maxpool", (rows + rpt - 1) / rpt, 0, []int{s, c, h, w, d, idx, rpt}}
}

// nearest is cpu.Kernels.Nearest on the pool.
func (p *pool) nearest(a []float32, m, d int, q []float32, n int) ([]int32, []float32) {
	idx := make([]int32, n)
	sim := make([]float32, n)
	if n == 0 || m == 0 {
		return idx, sim
	}
	pa := p.pack(a, m, d)
	qo := p.alloc(d * n * 4)
	io := p.alloc(n * 4)
	so := p.alloc(n * 4)
	defer p.free(pa, qo, io, so)
	put(p, qo, q[:d*n])
	// Panels of 8 queries per tile: the tile fits in nearBytes, and every
	// worker gets at least 2 tiles.
	np := max(1, min(nearBytes/(d*32), (n+16*p.threads-1)/(16*p.threads)))
	if pa >= 0 && p.call("nearest", (n+8*np-1)/(8*np), d*np*32+128+np*64, pa, m, d, qo, n, np, io, so) {
		get(p, io, idx)
		get(p, so, sim)
	}
	return idx, sim
}
