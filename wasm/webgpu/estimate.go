package webgpu

import "nnst/core/model"

// EstimateBytes estimates the peak GPU memory of the WebGPU backend for a
// run at size px (square content and style, the worst case) with the
// bundled VGG19, so that the app can refuse a size before starting.
func EstimateBytes(size int, flip bool) int64 {
	return EstimateModelBytes(model.VGG19, 1, size, size, flip)
}

// EstimateModelBytes is EstimateBytes for a spec with its channel widths
// divided by shrink (as model.Random) and an h x w image.
func EstimateModelBytes(spec model.Spec, shrink, h, w int, flip bool) int64 {
	const f = 4
	width := func(l string) int64 { return int64(max(2, spec.Width[l]/shrink)) }
	var weights, all, taps, largest, d int64
	in := int64(3)
	ch, cw := int64(h), int64(w)
	for _, l := range spec.Layers {
		if l[:4] == "pool" {
			ch, cw = ch/2, cw/2
			n := in * ch * cw * f
			all += 2 * n // output and arg-max indices
			largest = max(largest, n)
			continue
		}
		out := width(l)
		weights += (2*in*out*9 + out) * f
		n := out * ch * cw * f
		all += n
		largest = max(largest, n)
		taps += n // every conv up to relu4_3 but conv3_4 is a tap
		d += out
		in = out
	}
	hc := d * int64(h/4) * int64(w/4) * f
	rots := int64(1)
	if flip {
		rots = 4
	}
	img := int64(3*h*w) * f
	match := rots*hc + rots*hc/2 + taps + 2*largest
	step := all + 4*hc + taps + 2*largest
	final := rots*taps + all + taps + 2*largest
	return weights + 12*img + max(match, step, final) + 1<<20
}
