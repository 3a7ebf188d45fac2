package webgpu

import (
	"slices"

	"nnst/core/model"
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
	return estimate(spec, shrink, h, w, flip, spareBytes)
}

// spareBytes is how much freed memory the backend's buffer pool may hold
// before it flushes to destroy it.
const spareBytes = 16 << 20

// estimate models the three stages' peaks; spare is what the buffer pool
// may hold beyond the live buffers (see Backend.spare).
func estimate(spec model.Spec, shrink, h, w int, flip bool, spare int64) int64 {
	const f = 4
	width := func(l string) int64 { return int64(max(2, spec.Width[l]/shrink)) }
	var weights, all, taps, largest, lastTap, d int64
	in := int64(3)
	ch, cw := int64(h), int64(w)
	for _, l := range spec.Layers {
		if l[:4] == "pool" {
			ch, cw = ch/2, cw/2
			all += in * ch * cw * f
			continue
		}
		out := width(l)
		weights += (2*in*out*9 + out) * f
		n := out * ch * cw * f
		all += n
		largest = max(largest, n)
		if slices.Contains(model.DefaultTaps, "relu"+l[4:]) {
			taps += n
			lastTap = n
			d += out
		}
		in = out
	}
	hc := d * int64(h/4) * int64(w/4) * f
	rots := int64(1)
	if flip {
		rots = 4
	}
	img := int64(3*h*w) * f
	// Matching: the fp16 bank, one rotation's forward taps (plus a pooled
	// output in flight) and hypercolumns.
	match := rots*hc/2 + taps + largest/2 + hc
	// Hypercolumn step: the kept trace, target, features and gradient.
	step := all + 3*hc
	// Final pass: fp16 style taps, the kept trace and SplitLoss's f32
	// bank, queries and gradients at the last tap (stride 1).
	final := rots*taps/2 + all + (rots+3)*lastTap
	return weights + 12*img + max(match, step, final) + spare + 1<<20
}
