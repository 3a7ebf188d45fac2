// Losses and their gradients: cosine loss (squared norms clamped to
// [1e-8, 1e8]), the feature-splitting loss's gradient and scatter, and the
// colour-distance loss. Means are finished by reduce.wgsl.

//! cos_stats
// Per position: st[p] = 1 - cos, st[n+p] = ka, st[2n+p] = kb, where the
// gradient is ka*t + kb*f.
struct P { c: u32, n: u32 }
@group(0) @binding(0) var<storage, read> f: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> st: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	var d = 0.0;
	var ff = 0.0;
	var tt = 0.0;
	for (var c = 0u; c < p.c; c++) {
		let a = f[c * p.n + i];
		let b = t[c * p.n + i];
		d = fma(a, b, d);
		ff = fma(a, a, ff);
		tt = fma(b, b, tt);
	}
	let fsq = clamp(ff, 1e-8, 1e8);
	let tsq = clamp(tt, 1e-8, 1e8);
	let fnorm = sqrt(fsq);
	let tn = sqrt(tsq);
	let cs = d / (fnorm * tn);
	let nf = f32(p.n);
	st[i] = 1.0 - cs;
	st[p.n + i] = -1.0 / (fnorm * tn) / nf;
	var kb = 0.0;
	if (ff > 1e-8 && ff < 1e8) {
		kb = cs / fsq / nf;
	}
	st[2u * p.n + i] = kb;
}

//! cos_grad
struct P { c: u32, n: u32 }
@group(0) @binding(0) var<storage, read> f: array<f32>;
@group(0) @binding(1) var<storage, read> t: array<f32>;
@group(0) @binding(2) var<storage, read> st: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	if (e >= p.c * p.n) {
		return;
	}
	let i = e % p.n;
	g[e] = st[p.n + i] * t[e] + st[2u * p.n + i] * f[e];
}

//! split_grad
// raw[c, i] = -(y[idx_i, c] - sim_i * x[c, i]) / norm_i / n, with x the
// centred unit output columns and y the f32 style rows (dp words each):
// for the queries q0 .. q0+nq (x and raw hold those columns) whose row is
// in this bank part (base .. base+m).
struct P { c: u32, n: u32, dp: u32, base: u32, m: u32, q0: u32, nq: u32 }
@group(0) @binding(0) var<storage, read> rows: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> sim: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> norms: array<f32>;
@group(0) @binding(5) var<storage, read_write> raw: array<f32>;
@group(0) @binding(6) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	if (e >= p.c * p.nq) {
		return;
	}
	let c = e / p.nq;
	let i = p.q0 + e % p.nq;
	let m = idx[i];
	if (m < p.base || m >= p.base + p.m) {
		return;
	}
	let y = bitcast<f32>(rows[(m - p.base) * p.dp + c]);
	raw[e] = -(y - sim[i] * x[e]) / norms[i] / f32(p.n);
}

//! split_scatter
// g = raw minus its per-channel mean (the centring's adjoint) at the
// sampled positions (g is zero elsewhere): samples q0 .. q0+nq (raw holds
// those columns), channels c0 .. c0+c of raw into g (a part of the
// gradient, for a tensor in channel parts).
struct P { c: u32, h: u32, w: u32, stride: u32, y0: u32, x0: u32, sw: u32, q0: u32, nq: u32, c0: u32 }
@group(0) @binding(0) var<storage, read> raw: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> g: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	if (e >= p.c * p.nq) {
		return;
	}
	let c = e / p.nq;
	let i = p.q0 + e % p.nq;
	let yy = p.y0 + (i / p.sw) * p.stride;
	let xx = p.x0 + (i % p.sw) * p.stride;
	g[(c * p.h + yy) * p.w + xx] = raw[(p.c0 + c) * p.nq + e % p.nq] - mean[p.c0 + c];
}

//! color_dist
// Per pixel i: part[i] = sum_j |D(x)_ij - D(r)_ij| and its gradient
// g[:, i] = 2/n^2 * sum_j sign(a - r) (x_i - x_j) / a.
struct P { n: u32 }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> r: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> g: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	let n = p.n;
	if (i >= n) {
		return;
	}
	let xi = vec3<f32>(x[i], x[n + i], x[2u * n + i]);
	let ri = vec3<f32>(r[i], r[n + i], r[2u * n + i]);
	var l = 0.0;
	var gi = vec3<f32>(0.0);
	for (var j = 0u; j < n; j++) {
		let dx = xi - vec3<f32>(x[j], x[n + j], x[2u * n + j]);
		let dr = ri - vec3<f32>(r[j], r[n + j], r[2u * n + j]);
		let a = sqrt(dot(dx, dx));
		let b = sqrt(dot(dr, dr));
		l += abs(a - b);
		if (a > 0.0 && a != b) {
			gi += select(1.0, -1.0, a < b) * dx / a;
		}
	}
	part[i] = l;
	let k = 2.0 / f32(n) / f32(n);
	g[i] = gi.x * k;
	g[n + i] = gi.y * k;
	g[2u * n + i] = gi.z * k;
}
