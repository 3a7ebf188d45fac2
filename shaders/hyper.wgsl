// Hypercolumn kernels that read a tap directly: the tap's part of the
// hypercolumns (the tap bilinear(align corners) resized to the oh x ow grid
// with resize.wgsl's tables, times scale = 1/C) is computed on the fly, so
// the D x N hypercolumns are never stored. A dispatch handles one tap,
// whose channels are off .. off+c of the D hypercolumn channels; n is the
// number of positions (oh*ow) or, for hc_pack, of rows.
// mode: bit 0 adds to what earlier taps left, bit 1 marks the last tap.
// A dispatch may handle channels x0 .. x0+c of the tap only (hc_stats and
// hc_grad, against a target in parts: off is then the channel in t's part).
struct P {
	c: u32, ih: u32, iw: u32, oh: u32, ow: u32,
	scale: f32,
	off: u32, d: u32, mode: u32,
	dp: u32, row0: u32, i0: u32, nrow: u32, n: u32,
	x0: u32,
}
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ty: array<u32>;
@group(0) @binding(2) var<storage, read> tx: array<u32>;

// hc is hypercolumn channel off+c at grid position q (as resize computes it).
fn hc(c: u32, q: u32) -> f32 {
	let oy = q / p.ow;
	let ox = q % p.ow;
	let src = (p.x0 + c) * p.ih * p.iw;
	let r0 = src + ty[4u * oy] * p.iw;
	let r1 = src + ty[4u * oy + 1u] * p.iw;
	let wy0 = bitcast<f32>(ty[4u * oy + 2u]);
	let wy1 = bitcast<f32>(ty[4u * oy + 3u]);
	let i0 = tx[4u * ox];
	let i1 = tx[4u * ox + 1u];
	let wx0 = bitcast<f32>(tx[4u * ox + 2u]);
	let wx1 = bitcast<f32>(tx[4u * ox + 3u]);
	let v = wy0 * (wx0 * x[r0 + i0] + wx1 * x[r0 + i1]) + wy1 * (wx0 * x[r1 + i0] + wx1 * x[r1 + i1]);
	return v * p.scale;
}

//! hc_stats
// Cosine loss statistics per position against target (D x n): st holds
// <f,t>, |f|^2, |t|^2 (rows 0, 1, 2) until the last tap, which turns them
// into 1 - cos, ka and kb (gradient ka*t + kb*f; squared norms clamped to
// [1e-8, 1e8]), as loss.wgsl's cos_stats.
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read_write> st: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let q = gid(wg, nw, lid);
	let n = p.n;
	if (q >= n) {
		return;
	}
	var d = 0.0;
	var ff = 0.0;
	var tt = 0.0;
	if ((p.mode & 1u) != 0u) {
		d = st[q];
		ff = st[n + q];
		tt = st[2u * n + q];
	}
	for (var c = 0u; c < p.c; c++) {
		let a = hc(c, q);
		let b = t[(p.off + c) * n + q];
		d = fma(a, b, d);
		ff = fma(a, a, ff);
		tt = fma(b, b, tt);
	}
	if ((p.mode & 2u) == 0u) {
		st[q] = d;
		st[n + q] = ff;
		st[2u * n + q] = tt;
		return;
	}
	let fsq = clamp(ff, 1e-8, 1e8);
	let tsq = clamp(tt, 1e-8, 1e8);
	let fnorm = sqrt(fsq);
	let tn = sqrt(tsq);
	let cs = d / (fnorm * tn);
	let nf = f32(n);
	st[q] = 1.0 - cs;
	st[n + q] = -1.0 / (fnorm * tn) / nf;
	var kb = 0.0;
	if (ff > 1e-8 && ff < 1e8) {
		kb = cs / fsq / nf;
	}
	st[2u * n + q] = kb;
}

//! hc_grad
// The gradient of the tap (c x ih x iw): resize_back of
// ka*t + kb*f over the tap's channels, times scale.
@group(0) @binding(3) var<storage, read> t: array<f32>;
@group(0) @binding(4) var<storage, read> st: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<uniform> p: P;

fn g(c: u32, q: u32) -> f32 {
	return st[p.n + q] * t[(p.off + c) * p.n + q] + st[2u * p.n + q] * hc(c, q);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	let ihw = p.ih * p.iw;
	if (i >= p.c * ihw) {
		return;
	}
	let c = i / ihw;
	let iy = (i % ihw) / p.iw;
	let ix = i % p.iw;
	let offy = 4u * p.oh;
	let offx = 4u * p.ow;
	let enty = offy + p.ih + 1u;
	let entx = offx + p.iw + 1u;
	var acc = 0.0;
	for (var a = ty[offy + iy]; a < ty[offy + iy + 1u]; a++) {
		let dy = ty[enty + 2u * a];
		let wy = bitcast<f32>(ty[enty + 2u * a + 1u]);
		var row = 0.0;
		for (var b = tx[offx + ix]; b < tx[offx + ix + 1u]; b++) {
			let dxx = tx[entx + 2u * b];
			row += bitcast<f32>(tx[entx + 2u * b + 1u]) * g(c, dy * p.ow + dxx);
		}
		acc += wy * row;
	}
	dx[p.x0 * ihw + i] = acc * p.scale;
}

//! hc_norm
// Bank norms: norms[nrow + q] = max(|h_q - mean|, 1e-8), the squared norm
// summed over the taps in norms until the last tap.
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> norms: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let q = gid(wg, nw, lid);
	if (q >= p.n) {
		return;
	}
	var s = 0.0;
	if ((p.mode & 1u) != 0u) {
		s = norms[p.nrow + q];
	}
	for (var c = 0u; c < p.c; c++) {
		let v = hc(c, q) - mean[p.off + c];
		s = fma(v, v, s);
	}
	if ((p.mode & 2u) != 0u) {
		s = max(sqrt(s), 1e-8);
	}
	norms[p.nrow + q] = s;
}

//! hc_pack
// fp16 bank rows (dp channels, two to a u32): row row0 + i of this part is
// (h_q - mean) / norm for grid position q = i0 + i, norm at nrow + i. A
// dispatch writes the words that hold the tap's channels: a word shared
// with the previous tap keeps that tap's half; channels past the tap are 0
// until the next tap's dispatch.
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read> norms: array<f32>;
@group(0) @binding(5) var<storage, read_write> bank: array<u32>;
@group(0) @binding(6) var<uniform> p: P;

fn val(old: f32, k: u32, q: u32, inv: f32) -> f32 {
	if (k < p.off) {
		return old;
	}
	if (k >= p.off + p.c) {
		return 0.0;
	}
	return (hc(k - p.off, q) - mean[k]) * inv;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	let w0 = p.off / 2u;
	let words = (p.off + p.c + 1u) / 2u - w0;
	if (e >= p.n * words) {
		return;
	}
	let i = e / words;
	let k = w0 + e % words;
	let q = p.i0 + i;
	let inv = 1.0 / norms[p.nrow + i];
	let at = (p.row0 + i) * (p.dp / 2u) + k;
	var old = vec2<f32>(0.0);
	if (2u * k < p.off) {
		old = unpack2x16float(bank[at]);
	}
	bank[at] = pack2x16float(vec2<f32>(val(old.x, 2u * k, q, inv), val(old.y, 2u * k + 1u, q, inv)));
}
