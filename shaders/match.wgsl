// Nearest-neighbour search in centred cosine distance. Vectors are the
// positions of C x H x W tensors on a sample grid (rows y0, y0+stride, ...;
// sw columns per row; n positions). A bank holds rows of dp (even, >= C)
// words: unit-norm centred vectors, fp16 packed two to a u32 (F16) or f32
// bits. The search tiles bank rows x queries through workgroup memory and
// keeps a running arg-max of similarity per query; never the full matrix.
override F16: bool = true;
// SRC16: colnorm and pack_rows read a compact tensor (fp16 pairs).
override SRC16: bool = false;

// Sample i of a dispatch is sample i0 + i of the tensor; off and noff say
// where its bank row and its norm go. x may be one part of a tensor held
// in parts (channel ranges): its c channels are c0 .. c0+c of the vectors.
// pack_rows writes wn words of each row from word c0/2 (c0 is even);
// colnorm's mode: bit 0 adds to the squared norms earlier parts left, bit
// 1 (the last part) takes the root.
struct S { c: u32, h: u32, w: u32, stride: u32, y0: u32, x0: u32, sw: u32, n: u32, off: u32, dp: u32, i0: u32, noff: u32, c0: u32, wn: u32, mode: u32 }

fn spos(s: S, i: u32) -> u32 {
	return (s.y0 + (i / s.sw) * s.stride) * s.w + s.x0 + (i % s.sw) * s.stride;
}

//! colnorm
// norms[off + i] = max(|x_i - mean|, 1e-8) for sample i.
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;
@group(0) @binding(3) var<uniform> p: S;

fn ld(i: u32) -> f32 {
	if (SRC16) {
		return half_at(x[i / 2u], i);
	}
	return bitcast<f32>(x[i]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	let pos = spos(p, i);
	let hw = p.h * p.w;
	var s = 0.0;
	if ((p.mode & 1u) != 0u) {
		s = norms[p.off + i];
	}
	for (var c = 0u; c < p.c; c++) {
		let v = ld(c * hw + pos) - mean[p.c0 + c];
		s = fma(v, v, s);
	}
	if ((p.mode & 2u) != 0u) {
		s = max(sqrt(s), 1e-8);
	}
	norms[p.off + i] = s;
}

//! pack_rows
// Bank row off+i = (x_i - mean) / norm, zero padded to dp: the wn words
// from word c0/2 (channels c0 ..), channels past c zero.
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read_write> bank: array<u32>;
@group(0) @binding(4) var<uniform> p: S;

fn ld(i: u32) -> f32 {
	if (SRC16) {
		return half_at(x[i / 2u], i);
	}
	return bitcast<f32>(x[i]);
}

// val is channel c0 + k of the row.
fn val(pos: u32, k: u32, inv: f32) -> f32 {
	if (k >= p.c) {
		return 0.0;
	}
	return (ld(k * p.h * p.w + pos) - mean[p.c0 + k]) * inv;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	var per = p.dp;
	var w0 = p.c0;
	if (F16) {
		per = p.dp / 2u;
		w0 = p.c0 / 2u;
	}
	if (e >= p.n * p.wn) {
		return;
	}
	let i = e / p.wn;
	let k = e % p.wn;
	let pos = spos(p, p.i0 + i);
	let inv = 1.0 / norms[p.noff + i];
	let at = (p.off + i) * per + w0 + k;
	if (F16) {
		bank[at] = pack2x16float(vec2<f32>(val(pos, 2u * k, inv), val(pos, 2u * k + 1u, inv)));
	} else {
		bank[at] = bitcast<u32>(val(pos, k, inv));
	}
}

//! centre_cols
// q[c0 + c, i] = (x_{i0+i}[c] - mean[c0 + c]) / norms[i0 + i]: queries
// i0 .. i0+n as D x n columns (q may be one part of the queries).
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mean: array<f32>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read_write> q: array<f32>;
@group(0) @binding(4) var<uniform> p: S;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	if (e >= p.c * p.n) {
		return;
	}
	let c = e / p.n;
	let i = e % p.n;
	let inv = 1.0 / norms[p.i0 + i];
	q[(p.c0 + c) * p.n + i] = (x[c * p.h * p.w + spos(p, p.i0 + i)] - mean[p.c0 + c]) * inv;
}

//! nearest
// Workgroup (x: 64 queries, y: chunk of bank rows). Tiles of 128 bank rows
// x 64 queries go TK dimensions at a time through workgroup memory held as
// vec4s; each invocation scores 8 rows (4 lid.y + 0..3 and 64 + 4 lid.y +
// 0..3) x 4 queries (4 lid.x + 0..3) in 8 named vec4 accumulators (three
// vec4 loads per 32 multiply-adds, as conv3x3) and keeps its best row per
// query; the 16 invocations sharing a query reduce through the tile's
// workgroup memory. Ties go to the lower row. Result slot slot0 + chunk.
// The n queries are columns qc0 .. qc0+n of q, which holds qn columns;
// their results go to columns qoff .. of rsim and ridx, of nall each.
struct P { m: u32, d: u32, dp: u32, n: u32, base: u32, chunk: u32, slot0: u32, qoff: u32, nall: u32, qc0: u32, qn: u32 }
@group(0) @binding(0) var<storage, read> bank: array<u32>;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read_write> rsim: array<f32>;
@group(0) @binding(3) var<storage, read_write> ridx: array<u32>;
@group(0) @binding(4) var<uniform> p: P;

const TM = 128u;
const TN = 64u;
const TK = 16u;
var<workgroup> As: array<vec4<f32>, TK * TM / 4u>; // [TK][TM / 4] bank rows; at the end [16][TN / 4] scores, then rows
var<workgroup> Bs: array<vec4<f32>, TK * TN / 4u>; // [TK][TN / 4] queries

// bank_pair returns elements k and k + 1 (k even) of bank row m (rows
// are zero padded to dp, which is even).
fn bank_pair(m: u32, k: u32) -> vec2<f32> {
	if (F16) {
		return unpack2x16float(bank[(m * p.dp + k) / 2u]);
	}
	return vec2<f32>(bitcast<f32>(bank[m * p.dp + k]), bitcast<f32>(bank[m * p.dp + k + 1u]));
}

// keep updates the best scores and rows of 4 queries with row's scores c.
fn keep(best: ptr<function, vec4<f32>>, bi: ptr<function, vec4<u32>>, c: vec4<f32>, row: u32, mend: u32) {
	if (row < mend) {
		let gt = c > *best;
		*best = select(*best, c, gt);
		*bi = select(*bi, vec4<u32>(p.base + row), gt);
	}
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let t = lid.y * 16u + lid.x;
	let n0 = wg.x * TN;
	let mstart = wg.y * p.chunk;
	let mend = min(p.m, mstart + p.chunk);
	var best = vec4<f32>(-3.0e38);
	var bi = vec4<u32>();
	for (var mt = mstart; mt < mend; mt += TM) {
		// c[i]: row mt + 4 lid.y + i, c[4 + i]: row mt + 64 + 4 lid.y + i.
		var c0 = vec4<f32>();
		var c1 = vec4<f32>();
		var c2 = vec4<f32>();
		var c3 = vec4<f32>();
		var c4 = vec4<f32>();
		var c5 = vec4<f32>();
		var c6 = vec4<f32>();
		var c7 = vec4<f32>();
		for (var k0 = 0u; k0 < p.d; k0 += TK) {
			// Bank rows: 128 rows x TK / 2 pairs, 4 per invocation.
			for (var i = 0u; i < 4u; i++) {
				let e = t + 256u * i;
				let mm = e / (TK / 2u);
				let kk = 2u * (e % (TK / 2u));
				var v = vec2<f32>();
				if (mt + mm < mend && k0 + kk < p.d) {
					v = bank_pair(mt + mm, k0 + kk);
				}
				As[kk * (TM / 4u) + mm / 4u][mm % 4u] = v.x;
				As[(kk + 1u) * (TM / 4u) + mm / 4u][mm % 4u] = v.y;
			}
			// Queries: TK x 64, 4 per invocation.
			for (var i = 0u; i < 4u; i++) {
				let e = t + 256u * i;
				let kk = e / TN;
				let nn = e % TN;
				var v = 0.0;
				if (k0 + kk < p.d && n0 + nn < p.n) {
					v = q[(k0 + kk) * p.qn + p.qc0 + n0 + nn];
				}
				Bs[kk * (TN / 4u) + nn / 4u][nn % 4u] = v;
			}
			workgroupBarrier();
			for (var kk = 0u; kk < TK; kk++) {
				let a0 = As[kk * (TM / 4u) + lid.y];
				let a1 = As[kk * (TM / 4u) + 16u + lid.y];
				let b = Bs[kk * (TN / 4u) + lid.x];
				c0 = fma(vec4<f32>(a0.x), b, c0);
				c1 = fma(vec4<f32>(a0.y), b, c1);
				c2 = fma(vec4<f32>(a0.z), b, c2);
				c3 = fma(vec4<f32>(a0.w), b, c3);
				c4 = fma(vec4<f32>(a1.x), b, c4);
				c5 = fma(vec4<f32>(a1.y), b, c5);
				c6 = fma(vec4<f32>(a1.z), b, c6);
				c7 = fma(vec4<f32>(a1.w), b, c7);
			}
			workgroupBarrier();
		}
		// In increasing row order: the first of equal scores stays.
		let r0 = mt + 4u * lid.y;
		keep(&best, &bi, c0, r0, mend);
		keep(&best, &bi, c1, r0 + 1u, mend);
		keep(&best, &bi, c2, r0 + 2u, mend);
		keep(&best, &bi, c3, r0 + 3u, mend);
		keep(&best, &bi, c4, r0 + 64u, mend);
		keep(&best, &bi, c5, r0 + 65u, mend);
		keep(&best, &bi, c6, r0 + 66u, mend);
		keep(&best, &bi, c7, r0 + 67u, mend);
	}
	workgroupBarrier();
	As[lid.y * (TN / 4u) + lid.x] = best;
	As[16u * (TN / 4u) + lid.y * (TN / 4u) + lid.x] = bitcast<vec4<f32>>(bi);
	workgroupBarrier();
	if (t < TN) {
		let col = t;
		var b = As[col / 4u][col % 4u];
		var bidx = bitcast<u32>(As[16u * (TN / 4u) + col / 4u][col % 4u]);
		for (var r = 1u; r < 16u; r++) {
			let s = As[r * (TN / 4u) + col / 4u][col % 4u];
			let si = bitcast<u32>(As[16u * (TN / 4u) + r * (TN / 4u) + col / 4u][col % 4u]);
			if (s > b || (s == b && si < bidx)) {
				b = s;
				bidx = si;
			}
		}
		if (n0 + col < p.n) {
			rsim[(p.slot0 + wg.y) * p.nall + p.qoff + n0 + col] = b;
			ridx[(p.slot0 + wg.y) * p.nall + p.qoff + n0 + col] = bidx;
		}
	}
}

//! nearest_reduce
// Best over the result slots of each query, its index plus off, into
// query q0 + i; with acc, it replaces the sim and idx there only when
// strictly better.
struct P { n: u32, slots: u32, acc: u32, off: u32, q0: u32 }
@group(0) @binding(0) var<storage, read> rsim: array<f32>;
@group(0) @binding(1) var<storage, read> ridx: array<u32>;
@group(0) @binding(2) var<storage, read_write> sim: array<f32>;
@group(0) @binding(3) var<storage, read_write> idx: array<u32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	if (i >= p.n) {
		return;
	}
	var b = rsim[i];
	var bi = ridx[i];
	for (var s = 1u; s < p.slots; s++) {
		let v = rsim[s * p.n + i];
		let vi = ridx[s * p.n + i];
		if (v > b || (v == b && vi < bi)) {
			b = v;
			bi = vi;
		}
	}
	let j = p.q0 + i;
	if (p.acc != 0u && !(b > sim[j])) {
		return;
	}
	sim[j] = b;
	idx[j] = bi + p.off;
}

//! gather
// out[c, i] = channel c0 + c of bank row idx[i] * norms[idx[i] - nbase] +
// mean[c0 + c], for the rows in this bank part (base .. base+m); out may
// be one part (channels c0 .. c0+c) of the target.
struct P { c: u32, n: u32, dp: u32, base: u32, m: u32, nbase: u32, c0: u32 }
@group(0) @binding(0) var<storage, read> bank: array<u32>;
@group(0) @binding(1) var<storage, read> idx: array<u32>;
@group(0) @binding(2) var<storage, read> norms: array<f32>;
@group(0) @binding(3) var<storage, read> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<uniform> p: P;

fn bank_at(m: u32, k: u32) -> f32 {
	if (F16) {
		return half_at(bank[(m * p.dp + k) / 2u], k);
	}
	return bitcast<f32>(bank[m * p.dp + k]);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let e = gid(wg, nw, lid);
	if (e >= p.c * p.n) {
		return;
	}
	let c = e / p.n;
	let i = e % p.n;
	let m = idx[i];
	if (m < p.base || m >= p.base + p.m) {
		return;
	}
	out[e] = bank_at(m - p.base, p.c0 + c) * norms[m - p.nbase] + mean[p.c0 + c];
}
