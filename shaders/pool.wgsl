// Max-pool 2x2 stride 2 (output size floors), its backward in gather form
// (the arg-max recomputed from the input), and the ReLU backward. One invocation per
// element; dispatches may be 2-D for large tensors. For tensors in channel
// parts, a dispatch takes c channels from channel xc of x's buffer (and
// dx's) and yc of y's (g's).

//! maxpool
struct P { c: u32, h: u32, w: u32, xc: u32, yc: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

// argmax is the flat index in x of the first maximum of output (c, oy, ox)'s window.
fn argmax(c: u32, oy: u32, ox: u32) -> u32 {
	var best = (p.xc + c) * p.h * p.w + 2u * oy * p.w + 2u * ox;
	var bv = x[best];
	let cand = array<u32, 3>(best + 1u, best + p.w, best + p.w + 1u);
	for (var i = 0u; i < 3u; i++) {
		let v = x[cand[i]];
		if (v > bv) {
			best = cand[i];
			bv = v;
		}
	}
	return best;
}


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let o = gid(wg, nw, lid);
	let oh = p.h / 2u;
	let ow = p.w / 2u;
	if (o >= p.c * oh * ow) {
		return;
	}
	let c = o / (oh * ow);
	let r = o % (oh * ow);
	y[p.yc * oh * ow + o] = x[argmax(c, r / ow, r % ow)];
}

//! maxpool_back
// dx is g at each window's arg-max in x (the pool's input), zero elsewhere.
struct P { c: u32, h: u32, w: u32, xc: u32, yc: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

// argmax is the flat index in x of the first maximum of output (c, oy, ox)'s window.
fn argmax(c: u32, oy: u32, ox: u32) -> u32 {
	var best = (p.xc + c) * p.h * p.w + 2u * oy * p.w + 2u * ox;
	var bv = x[best];
	let cand = array<u32, 3>(best + 1u, best + p.w, best + p.w + 1u);
	for (var i = 0u; i < 3u; i++) {
		let v = x[cand[i]];
		if (v > bv) {
			best = cand[i];
			bv = v;
		}
	}
	return best;
}


@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	let hw = p.h * p.w;
	if (i >= p.c * hw) {
		return;
	}
	let c = i / hw;
	let yy = (i % hw) / p.w;
	let xx = i % p.w;
	let oh = p.h / 2u;
	let ow = p.w / 2u;
	var v = 0.0;
	if (yy / 2u < oh && xx / 2u < ow) {
		let o = ((p.yc + c) * oh + yy / 2u) * ow + xx / 2u;
		if (argmax(c, yy / 2u, xx / 2u) == p.xc * hw + i) {
			v = g[o];
		}
	}
	dx[p.xc * hw + i] = v;
}

//! relu_back
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	dx[i] = select(0.0, g[i], y[i] > 0.0);
}
