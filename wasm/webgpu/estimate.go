package webgpu

import (
	"slices"

	"nnst/core/model"
	"nnst/core/nnst"
)

// EstimateBytes estimates the peak GPU memory of the WebGPU backend for a
// run at size px (square content and style, the worst case) with the
// bundled VGG19, so that the app can refuse a size before starting.
func EstimateBytes(size int, flip bool) int64 {
	return EstimateModelBytes(model.VGG19, 1, size, size, flip)
}

// EstimateModelBytes is EstimateBytes for a spec with its channel widths
// divided by shrink (as model.Random) and an h x w image.
func EstimateModelBytes(spec model.Spec, shrink, h, w int, flip bool) int64 {
	return estimate(spec, shrink, h, w, flip, spareBytes+retainBytes, hostStride)
}

// LargestBufferBytes is the largest single GPU buffer of a run at size px
// with the bundled VGG19: it must fit the device's maxBufferSize and
// maxStorageBufferBindingSize.
func LargestBufferBytes(size int) int64 {
	return largestBuffer(model.VGG19, 1, size, size)
}

// largestBuffer is the largest of the biggest layer output (f32), the
// hypercolumns of the h x w image (D x h/4 x w/4, f32) and SplitLoss's f32
// bank of four rotations' sampled style features at a tap.
func largestBuffer(spec model.Spec, shrink, h, w int) int64 {
	ls, _ := layers(spec, shrink, h, w)
	var big, d int64
	for _, l := range ls {
		big = max(big, l.bytes())
		if l.tap {
			d += l.c
			s := l.stride()
			m := (l.h + s - 1) / s * ((l.w + s - 1) / s)
			big = max(big, 4*m*(l.c+1)*4)
		}
	}
	return roundSize(max(big, d*int64(h/4)*int64(w/4)*4))
}

// roundSize is the size of a buffer of n bytes (the pool's size classes).
func roundSize(n int64) int64 { return max(16, (n+255)/256*256) }

// arenaSize is the size of the uniform arena: one 256-byte slot per dispatch.
const arenaSize = 1 << 20

// chunkRows is the number of bank rows one workgroup of the search scans.
const chunkRows = 1024

// hostStride is the smallest sampling stride for which Compact keeps its
// copy in host memory: SplitLoss then uploads at most 1/64 of it.
const hostStride = 8

// spareBytes is how much freed memory the backend's buffer pool may hold
// before it flushes to destroy it (without a budget; see Backend.budget).
const spareBytes = 16 << 20

// retainBytes is how much of the freed buffers due for destruction (big
// ones at a flush, others unused for two flushes) the pool keeps, the most
// recently freed, for the next optimisation step or forward pass to reuse
// instead of creating them again (without it a VGG19 forward at 512 px
// created about 200 MiB of buffers, a step about 460 MiB). Within a run's
// budget the pool keeps what fits instead; the estimate's room for these
// two is then what the pool holds at the peak.
const retainBytes = 192 << 20

// layer is one layer's output in the estimate (in: its input channels).
type layer struct {
	c, h, w, in int64
	tap         bool
	pool        bool
}

func (l layer) bytes() int64 { return l.c * l.h * l.w * 4 }

// part is the bytes of a conv's split-K partial sums, 0 when not split:
// the most of the forward and the backward-data pass by either kernel
// with either K step (Tune may choose any).
func (l layer) part() int64 {
	if l.pool {
		return 0
	}
	var most int64
	for _, io := range [][2]int64{{l.in, l.c}, {l.c, l.in}} {
		if io[1] <= narrowConv {
			continue
		}
		for _, wino := range []bool{false, winoConv(int(io[0]), int(io[1]))} {
			for _, step := range []int{1, 2} {
				if _, _, s, _ := convGrid(int(l.h), int(l.w), int(io[0]), int(io[1]), wino, step); s > 1 {
					most = max(most, int64(s)*io[1]*l.h*l.w*4)
				}
			}
		}
	}
	return most
}

// convGrid returns a conv's workgroups over pixels (tiles) and channels
// (mt), and its split-K slices and K rows per slice: the direct kernel's,
// or Winograd's if wino; step 2 doubles the K step (TK 32, WC 8).
func convGrid(h, w, cin, cout int, wino bool, step int) (tiles, mt, split, kper int) {
	if wino {
		tiles, mt = winoBlocks(h, w), (cout+winoTM-1)/winoTM
		split, kper = splitK(tiles*mt, cin, winoWC*step, minSliceChannels)
		return
	}
	tiles, mt = (h*w+convTN-1)/convTN, (cout+convTM-1)/convTM
	split, kper = splitK(tiles*mt, cin*9, 16*step, minSliceRows)
	return
}

// The conv kernel's tiles (shaders/conv.wgsl): convTN pixels x convTM
// channels.
const (
	convTN = 128
	convTM = 64
)

// narrowConv is the most output channels for which a conv runs as
// conv3x3_narrow (one invocation per pixel) instead of in tiles.
const narrowConv = 4

// Winograd's kernel (conv3x3_wino): workgroups of 8x8 outputs x winoTM
// channels, winoWC input channels per step. winoDefault says whether the
// backend uses it (Backend.wino).
const (
	winoTM      = 32
	winoWC      = 4
	winoDefault = true
)

// winoConv reports whether a conv with cin inputs and cout outputs can run
// by Winograd's kernel: its weights are read as vec4s of channels, and
// for fewer than 8 inputs (VGG's first layer) the direct kernel does less.
func winoConv(cin, cout int) bool { return cin >= 8 && cout%4 == 0 && cout > narrowConv }

// winoBlocks is the number of 8x8 output blocks of an h x w conv.
func winoBlocks(h, w int) int { return (h + 7) / 8 * ((w + 7) / 8) }

// convBytes is the bytes of a conv's weights, forward and backward (one
// buffer for both when Winograd's kernel runs both).
func convBytes(cin, cout int, wino bool) int64 {
	n := int64(cin * cout * 4)
	fwd, bwd := wino && winoConv(cin, cout), wino && winoConv(cout, cin)
	switch {
	case fwd && bwd:
		return 16 * n
	case fwd || bwd:
		return 25 * n
	}
	return 18 * n
}

// fillGroups is the number of conv workgroups that keeps a large GPU busy
// (about four per multiprocessor on a 132-SM GPU); a split slice sums at
// least minSliceRows K rows (taps), or minSliceChannels input channels in
// Winograd's kernel.
const (
	fillGroups       = 512
	minSliceRows     = 128
	minSliceChannels = 32
)

// splitK returns how many slices to split a conv's k rows into, and the rows
// per slice (a multiple of the kernel's tk rows per step), for a grid of
// groups workgroups: enough to reach fillGroups, each slice at least
// least rows.
func splitK(groups, k, tk, least int) (split, kper int) {
	split = min((fillGroups+groups-1)/groups, k/least)
	if split <= 1 {
		return 1, k
	}
	kper = ((k+split-1)/split + tk - 1) / tk * tk
	return (k + kper - 1) / kper, kper
}

// stride is the final pass's sampling stride at a tap of this size.
func (l layer) stride() int64 { return int64(nnst.SampleStride(int(l.h), int(l.w))) }

// layers returns the outputs of spec's layers (widths divided by shrink)
// for an h x w input, and the bytes of the forward and flipped backward
// weights with the biases.
func layers(spec model.Spec, shrink, h, w int) (ls []layer, weights int64) {
	in := int64(3)
	ch, cw := int64(h), int64(w)
	for _, name := range spec.Layers {
		if name[:4] == "pool" {
			ch, cw = ch/2, cw/2
			ls = append(ls, layer{c: in, h: ch, w: cw, pool: true})
			continue
		}
		out := int64(max(2, spec.Width[name]/shrink))
		weights += max(convBytes(int(in), int(out), false), convBytes(int(in), int(out), true)) + out*4 // either format (Tune)
		ls = append(ls, layer{c: out, h: ch, w: cw, in: in, tap: slices.Contains(model.DefaultTaps, "relu"+name[4:])})
		in = out
	}
	return ls, weights
}

// estimate models the peaks of the three stages (matching, hypercolumn
// steps, final pass) from the buffers each holds at its worst moment;
// spare is what the buffer pool may hold beyond the live buffers (see
// Backend.spare), host the stride from which Compact keeps style taps in
// host memory (Backend.hostStride).
func estimate(spec model.Spec, shrink, h, w int, flip bool, spare int64, host int) int64 {
	const f = 4
	ls, weights := layers(spec, shrink, h, w)
	var all, taps, d int64
	for _, l := range ls {
		all += l.bytes()
		if l.tap {
			taps += l.bytes()
			d += l.c
		}
	}
	img := int64(3*h*w) * f
	// Forward without keep: the taps so far, an untapped input and the output.
	var fwd, sofar int64
	for i, l := range ls {
		x := img
		if i > 0 && !ls[i-1].tap {
			x = ls[i-1].bytes()
		}
		fwd = max(fwd, sofar+x+l.bytes()+l.part())
		if l.tap {
			sofar += l.bytes()
		}
	}
	// Backward with the trace: at layer i, the layers up to i and the
	// gradients in flight (extra(i) more at a tap: its loss's buffers).
	backward := func(extra func(i int) int64) int64 {
		var peak, prefix int64
		pre := make([]int64, len(ls))
		for i, l := range ls {
			prefix += l.bytes()
			pre[i] = prefix
		}
		for i := len(ls) - 1; i >= 0; i-- {
			y := ls[i].bytes()
			x, below := img, int64(0)
			if i > 0 {
				x, below = ls[i-1].bytes(), pre[i-1]
			}
			if ls[i].pool {
				peak = max(peak, pre[i]+y+x)
				continue
			}
			if ls[i].tap {
				peak = max(peak, pre[i]+max(3*y, y+extra(i)))
			}
			peak = max(peak, pre[i]+2*y+ls[i].part(), below+y+x+ls[i].part())
		}
		return max(peak, 2*img)
	}
	n := int64(h/4) * int64(w/4)
	hc := d * n * f
	rots := int64(1)
	if flip {
		rots = 4
	}
	// Matching, one rotation's fp16 bank at a time: the mean pass (taps and
	// hypercolumns), the query (hypercolumns and centred copy), then the
	// search and gather passes (query copy or target, a forward pass and
	// the bank, the search's partial results).
	bank := d*n*2 + n*f
	slots := (n + chunkRows - 1) / chunkRows
	match := max(fwd, taps+hc, 2*hc+n*f,
		hc+2*n*f+max(fwd, taps+bank, bank+2*slots*n*f+2*n*f))
	// Hypercolumn step: the target, the loss coefficients and the kept
	// trace with the backward's gradients.
	step := hc + 3*n*f + backward(func(int) int64 { return 0 })
	// Final pass: the fp16 style taps of every rotation kept on the device,
	// the trace, and at each tap SplitLoss's uploaded style samples, f32
	// bank, sampled output and its gradient.
	var style int64
	for _, l := range ls {
		if l.tap && l.stride() < int64(host) {
			style += rots * l.bytes() / 2
		}
	}
	final := style + backward(func(i int) int64 {
		l := ls[i]
		s := l.stride()
		m := (l.h + s - 1) / s * ((l.w + s - 1) / s)
		sl := (rots*m + chunkRows - 1) / chunkRows
		up := int64(0)
		if s >= int64(host) {
			up = rots * m * l.c * 2
		}
		return up + rots*m*(l.c+1)*f + 3*l.c*m*f + (2*sl+4)*m*f + l.bytes()
	})
	return weights + 12*img + max(match, step, final) + spare + arenaSize
}
