// Parallel reductions: per-channel sums over a sampled grid of positions
// (one workgroup per channel) and the sum of a vector (one workgroup).
// Both reduce 256 partial sums through workgroup memory as a tree.
var<workgroup> part: array<f32, 256>;

// SRC16: chansum reads a compact tensor (fp16 packed two to a u32).
override SRC16: bool = false;

fn tree(l: u32) {
	for (var s = 128u; s > 0u; s >>= 1u) {
		workgroupBarrier();
		if (l < s) {
			part[l] += part[l + s];
		}
	}
	workgroupBarrier();
}

//! chansum
// out[c] = scale * ((out[c] if acc) + sum over the sample grid of x[c]);
// grid: rows y0, y0+stride, ... and columns x0, ..., sw per row, n in all.
// x may be one part of a tensor (its channels c0 ..): out[c0 + c].
struct P { c: u32, h: u32, w: u32, stride: u32, y0: u32, x0: u32, sw: u32, n: u32, acc: u32, scale: f32, c0: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

fn ld(i: u32) -> f32 {
	if (SRC16) {
		return half_at(x[i / 2u], i);
	}
	return bitcast<f32>(x[i]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let c = wg.x;
	let base = c * p.h * p.w;
	var s = 0.0;
	for (var i = lid.x; i < p.n; i += 256u) {
		let pos = (p.y0 + (i / p.sw) * p.stride) * p.w + p.x0 + (i % p.sw) * p.stride;
		s += ld(base + pos);
	}
	part[lid.x] = s;
	tree(lid.x);
	if (lid.x == 0u) {
		var v = part[0];
		if (p.acc != 0u) {
			v += out[p.c0 + c];
		}
		out[p.c0 + c] = v * p.scale;
	}
}

//! sum
// out[0] = scale * sum_i f(x[off + i]), f(v) = v (mode 0) or 1 - v (mode 1).
struct P { n: u32, off: u32, mode: u32, scale: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
	var s = 0.0;
	for (var i = lid.x; i < p.n; i += 256u) {
		var v = x[p.off + i];
		if (p.mode == 1u) {
			v = 1.0 - v;
		}
		s += v;
	}
	part[lid.x] = s;
	tree(lid.x);
	if (lid.x == 0u) {
		out[0] = part[0] * p.scale;
	}
}
