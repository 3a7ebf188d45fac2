// 3x3 convolution, stride 1, zero padding 1, as an implicit GEMM:
// y[m, p] = sum_k wt[m, k] * col[k, p], k = (ci, ky, kx), col built on the
// fly from x. Tiles of 64 channels x 128 pixels per workgroup, K in steps
// of 16 through workgroup memory; each invocation owns a 4 x 8 block
// (strided).
// The backward-data pass is the same kernel with the flipped, transposed
// weights (prepared on upload) and no bias or ReLU.
// Split K (flags bit 2), for grids too small to fill a GPU: workgroup z
// sums K rows [z * kper, (z + 1) * kper) into its own slice of y, and
// conv_sum adds the slices, the bias and the ReLU.
struct P {
	cout: u32, cin: u32, h: u32, w: u32,
	flags: u32, // bit 0: add bias, bit 1: ReLU, bit 2: split K
	kper: u32, // K rows per slice (a multiple of TK) when split; conv_sum: slices
}
const TM = 64u;
const TN = 128u;
const TK = 16u;

//! conv3x3
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

var<workgroup> As: array<f32, 1024>; // [TK][TM]
var<workgroup> Bs: array<f32, 2048>; // [TK][TN]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let hw = p.h * p.w;
	let split = (p.flags & 4u) != 0u;
	let K = p.cin * 9u; // the weights' row length
	var kBeg = 0u;
	var kEnd = K;
	var n0 = (wg.z * nw.x + wg.x) * TN; // pixel tiles over x, then z
	if (split) {
		kBeg = wg.z * p.kper;
		kEnd = min(K, kBeg + p.kper);
		n0 = wg.x * TN;
	}
	let m0 = wg.y * TM;
	let t = lid.y * 16u + lid.x;
	// This invocation loads pixel gn of the B tile for rows kb + 2i; the
	// pixel's coordinates are fixed, and (ci, r), the channel and tap of
	// row k0 + kb, advance with k0, so the loop has no runtime division.
	let gn = n0 + t % TN;
	let kb = t / TN;
	let inN = gn < hw;
	let py = i32(gn / p.w);
	let px = i32(gn % p.w);
	var ci0 = (kBeg + kb) / 9u;
	var r0 = (kBeg + kb) % 9u;
	var acc: array<f32, 32>;
	for (var k0 = kBeg; k0 < kEnd; k0 += TK) {
		for (var i = 0u; i < 4u; i++) {
			let e = t + i * 256u;
			let mm = e / TK;
			let kk = e % TK;
			let gm = m0 + mm;
			let gk = k0 + kk;
			var v = 0.0;
			if (gm < p.cout && gk < kEnd) {
				v = wt[gm * K + gk];
			}
			As[kk * TM + mm] = v;
		}
		var ci = ci0;
		var r = r0;
		for (var i = 0u; i < 8u; i++) {
			let kk = kb + 2u * i;
			let dy = (r * 11u) >> 5u; // r / 3 for r < 9
			let yy = py + i32(dy) - 1;
			let xx = px + i32(r - 3u * dy) - 1;
			var v = 0.0;
			if (inN && k0 + kk < kEnd && yy >= 0 && yy < i32(p.h) && xx >= 0 && xx < i32(p.w)) {
				v = x[ci * hw + u32(yy) * p.w + u32(xx)];
			}
			Bs[kk * TN + t % TN] = v;
			r += 2u;
			if (r >= 9u) {
				r -= 9u;
				ci += 1u;
			}
		}
		// Row k0 + TK + kb: 16 = 9 + 7.
		ci0 += 1u;
		r0 += 7u;
		if (r0 >= 9u) {
			r0 -= 9u;
			ci0 += 1u;
		}
		workgroupBarrier();
		for (var kk = 0u; kk < TK; kk++) {
			var a: array<f32, 4>;
			var b: array<f32, 8>;
			for (var i = 0u; i < 4u; i++) {
				a[i] = As[kk * TM + lid.y + 16u * i];
			}
			for (var j = 0u; j < 8u; j++) {
				b[j] = Bs[kk * TN + lid.x + 16u * j];
			}
			for (var i = 0u; i < 4u; i++) {
				for (var j = 0u; j < 8u; j++) {
					acc[i * 8u + j] = fma(a[i], b[j], acc[i * 8u + j]);
				}
			}
		}
		workgroupBarrier();
	}
	if (split) {
		let base = wg.z * p.cout * hw;
		for (var i = 0u; i < 4u; i++) {
			let gm = m0 + lid.y + 16u * i;
			for (var j = 0u; j < 8u; j++) {
				let gn = n0 + lid.x + 16u * j;
				if (gm < p.cout && gn < hw) {
					y[base + gm * hw + gn] = acc[i * 8u + j];
				}
			}
		}
		return;
	}
	for (var i = 0u; i < 4u; i++) {
		let gm = m0 + lid.y + 16u * i;
		if (gm >= p.cout) {
			continue;
		}
		var bv = 0.0;
		if ((p.flags & 1u) != 0u) {
			bv = bias[gm];
		}
		for (var j = 0u; j < 8u; j++) {
			let gn = n0 + lid.x + 16u * j;
			if (gn < hw) {
				var v = acc[i * 8u + j] + bv;
				if ((p.flags & 2u) != 0u) {
					v = max(v, 0.0);
				}
				y[gm * hw + gn] = v;
			}
		}
	}
}

//! conv_sum
// y[m, p] = act(sum over slices of part[s, m, p] + bias[m]); one invocation
// per output, p.h * p.w pixels, p.kper slices.
@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
	let i = gid.y * nw.x * 256u + gid.x;
	let hw = p.h * p.w;
	let n = p.cout * hw;
	if (i >= n) {
		return;
	}
	var v = 0.0;
	for (var s = 0u; s < p.kper; s++) {
		v += part[s * n + i];
	}
	if ((p.flags & 1u) != 0u) {
		v += bias[i / hw];
	}
	if ((p.flags & 2u) != 0u) {
		v = max(v, 0.0);
	}
	y[i] = v;
}
