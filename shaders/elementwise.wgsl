// Element-wise kernels: axpby, axpy, fp16 packing (plain, stride-phase order, crop), fill, rot90, input normalisation and its
// backward, Adam. One invocation per element.

//! axpby
// z = a*x + b*y; with has_y == 0, y is not read (bind any buffer).
struct P { n: u32, a: f32, b: f32, has_y: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	if (p.has_y != 0u) {
		z[i] = p.a * x[i] + p.b * y[i];
	} else {
		z[i] = p.a * x[i];
	}
}

//! axpy
// y += a*x, in place.
struct P { n: u32, a: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i < p.n) {
		y[i] += p.a * x[i];
	}
}

//! pack_half
// y[i] = fp16 pair (x[2i], x[2i+1]), zero past n: a compact tensor.
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (2u * i >= p.n) {
		return;
	}
	var b = 0.0;
	if (2u * i + 1u < p.n) {
		b = x[2u * i + 1u];
	}
	y[i] = pack2x16float(vec2<f32>(x[2u * i], b));
}

//! pack_half_phase
// Packs x (c x h x w) as fp16 in stride-phase order: block (dy, dx) holds
// x[ch][dy + s*i][dx + s*j] for i < hs, j < ws (zero outside x), each block
// padded to an even length bl; y[k] is the pair (2k, 2k+1) of that order.
struct P { n: u32, c: u32, h: u32, w: u32, s: u32, hs: u32, ws: u32, bl: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;

fn phase_at(e: u32) -> f32 {
	let blk = e / p.bl;
	let r = e % p.bl;
	let plane = p.hs * p.ws;
	if (r >= p.c * plane) {
		return 0.0;
	}
	let ch = r / plane;
	let i = (r % plane) / p.ws;
	let j = r % p.ws;
	let yy = blk / p.s + p.s * i;
	let xx = blk % p.s + p.s * j;
	if (yy >= p.h || xx >= p.w) {
		return 0.0;
	}
	return x[(ch * p.h + yy) * p.w + xx];
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let k = gid(wg, nw, lid);
	if (2u * k >= p.n) {
		return;
	}
	y[k] = pack2x16float(vec2<f32>(phase_at(2u * k), phase_at(2u * k + 1u)));
}

//! crop_half
// y (c x sh*sw, fp16 pairs) = rows r0.. and columns c0.. of x, one phase
// block of pack_half_phase (c x hs x ws, fp16 pairs).
struct P { n: u32, hs: u32, ws: u32, r0: u32, c0: u32, sh: u32, sw: u32 }
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> p: P;

fn crop_at(e: u32) -> f32 {
	if (e >= p.n) {
		return 0.0;
	}
	let m = p.sh * p.sw;
	let ch = e / m;
	let i = (e % m) / p.sw;
	let j = e % p.sw;
	let src = (ch * p.hs + p.r0 + i) * p.ws + p.c0 + j;
	return half_at(x[src / 2u], src);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let k = gid(wg, nw, lid);
	if (2u * k >= p.n) {
		return;
	}
	y[k] = pack2x16float(vec2<f32>(crop_at(2u * k), crop_at(2u * k + 1u)));
}

//! fill
struct P { n: u32, v: f32 }
@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i < p.n) {
		z[i] = p.v;
	}
}

//! rot90
// torch.rot90(x, k, (1, 2)), k in 0..3; (h, w) is the input size.
struct P { c: u32, h: u32, w: u32, k: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let o = gid(wg, nw, lid);
	let hw = p.h * p.w;
	if (o >= p.c * hw) {
		return;
	}
	var oh = p.h;
	var ow = p.w;
	if (p.k % 2u == 1u) {
		oh = p.w;
		ow = p.h;
	}
	let c = o / hw;
	let i = (o % hw) / ow;
	let j = o % ow;
	var si = i;
	var sj = j;
	switch p.k {
		case 1u: { si = j; sj = p.w - 1u - i; }
		case 2u: { si = p.h - 1u - i; sj = p.w - 1u - j; }
		case 3u: { si = p.h - 1u - j; sj = i; }
		default: {}
	}
	y[o] = x[c * hw + si * p.w + sj];
}

//! normalize
// y[c] = (x[src(c)] * scale - mean[c]) / std[c]; src(c) = 2-c when bgr.
struct P { n: u32, bgr: u32, scale: f32, m0: f32, m1: f32, m2: f32, s0: f32, s1: f32, s2: f32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let o = gid(wg, nw, lid);
	if (o >= 3u * p.n) {
		return;
	}
	let c = o / p.n;
	var src = c;
	if (p.bgr != 0u) {
		src = 2u - c;
	}
	let m = array<f32, 3>(p.m0, p.m1, p.m2);
	let s = array<f32, 3>(p.s0, p.s1, p.s2);
	y[o] = (x[src * p.n + o % p.n] * p.scale - m[c]) / s[c];
}

//! normalize_back
// dx[dst(c)] = g[c] * k[c] with k = scale / std (from the host).
struct P { n: u32, bgr: u32, k0: f32, k1: f32, k2: f32 }
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let o = gid(wg, nw, lid);
	if (o >= 3u * p.n) {
		return;
	}
	let c = o / p.n;
	var dst = c;
	if (p.bgr != 0u) {
		dst = 2u - c;
	}
	let k = array<f32, 3>(p.k0, p.k1, p.k2);
	dx[dst * p.n + o % p.n] = g[o] * k[c];
}

//! adam
// torch.optim.Adam, betas 0.9/0.999, eps 1e-8; step = lr / (1 - b1^t) and
// sq = sqrt(1 - b2^t) come from the host.
struct P { n: u32, step: f32, sq: f32 }
@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	let gi = g[i];
	let mi = 0.9 * m[i] + 0.1 * gi;
	let vi = 0.999 * v[i] + 0.001 * gi * gi;
	m[i] = mi;
	v[i] = vi;
	x[i] = x[i] - p.step * mi / (sqrt(vi) / p.sq + 1e-8);
}
