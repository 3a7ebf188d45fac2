// 3x3 convolution, stride 1, zero padding 1, as an implicit GEMM:
// y[m, p] = sum_k wt[k, m] * col[k, p], k = (ci, ky, kx), col built on the
// fly from x. The weights are K-major (row k holds every output channel),
// so tile loads are contiguous. Tiles of 64 channels x 128 pixels per
// workgroup of 256 invocations, K in steps of TK through workgroup memory
// held as vec4s; each invocation owns 4 channels x two runs of 4 pixels in
// 8 vec4 registers, read with three vec4 loads per K row. The accumulators
// are named, not an array: a dynamically indexed array of them can end in
// slow memory (an array of 16 made the kernel 5x slower on an NVIDIA GPU).
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

//! conv3x3
const TM = 64u;
const TN = 128u;
override TK: u32 = 16u; // K rows per step: 16, or 32 where workgroup memory allows

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

var<workgroup> As: array<vec4<f32>, TK * TM / 4u>; // [TK][TM / 4]
var<workgroup> Bs: array<vec4<f32>, TK * TN / 4u>; // [TK][TN / 4]

// put writes outputs gn..gn+3 of channel gm at y[base + ...]; bias and
// ReLU only when not split.
fn put(base: u32, gm: u32, gn: u32, o: vec4<f32>) {
	let hw = p.h * p.w;
	if (gm >= p.cout) {
		return;
	}
	let split = (p.flags & 4u) != 0u;
	var bv = 0.0;
	if (!split && (p.flags & 1u) != 0u) {
		bv = bias[gm];
	}
	for (var j = 0u; j < 4u; j++) {
		if (gn + j < hw) {
			var v = o[j] + bv;
			if (!split && (p.flags & 2u) != 0u) {
				v = max(v, 0.0);
			}
			y[base + gm * hw + gn + j] = v;
		}
	}
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let hw = p.h * p.w;
	let split = (p.flags & 4u) != 0u;
	let K = p.cin * 9u;
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
	// A tile: this invocation loads channel am of rows ak + 4i.
	let am = t % TM;
	let ak = t / TM;
	let inM = m0 + am < p.cout;
	// B tile: this invocation loads pixel bn of rows bk + 2i; the
	// pixel's coordinates are fixed, and (ci, r), the channel and tap of
	// row k0 + bk, advance with k0, so the loop has no runtime division.
	let bn = t % TN;
	let bk = t / TN;
	let gn = n0 + bn;
	let inN = gn < hw;
	let py = i32(gn / p.w);
	let px = i32(gn % p.w);
	var ci0 = (kBeg + bk) / 9u;
	var r0 = (kBeg + bk) % 9u;
	// c[2i + h]: channel m0 + 4 lid.y + i, pixels n0 + 64 h + 4 lid.x + 0..3.
	var c0 = vec4<f32>();
	var c1 = vec4<f32>();
	var c2 = vec4<f32>();
	var c3 = vec4<f32>();
	var c4 = vec4<f32>();
	var c5 = vec4<f32>();
	var c6 = vec4<f32>();
	var c7 = vec4<f32>();
	for (var k0 = kBeg; k0 < kEnd; k0 += TK) {
		for (var i = 0u; i < TK / 4u; i++) {
			let kk = ak + 4u * i;
			var v = 0.0;
			if (inM && k0 + kk < kEnd) {
				v = wt[(k0 + kk) * p.cout + m0 + am];
			}
			As[kk * (TM / 4u) + am / 4u][am % 4u] = v;
		}
		var ci = ci0;
		var r = r0;
		for (var i = 0u; i < TK / 2u; i++) {
			let kk = bk + 2u * i;
			let dy = (r * 11u) >> 5u; // r / 3 for r < 9
			let yy = py + i32(dy) - 1;
			let xx = px + i32(r - 3u * dy) - 1;
			var v = 0.0;
			if (inN && k0 + kk < kEnd && yy >= 0 && yy < i32(p.h) && xx >= 0 && xx < i32(p.w)) {
				v = x[ci * hw + u32(yy) * p.w + u32(xx)];
			}
			Bs[kk * (TN / 4u) + bn / 4u][bn % 4u] = v;
			r += 2u;
			if (r >= 9u) {
				r -= 9u;
				ci += 1u;
			}
		}
		// Row k0 + TK + bk.
		ci0 += TK / 9u;
		r0 += TK % 9u;
		if (r0 >= 9u) {
			r0 -= 9u;
			ci0 += 1u;
		}
		workgroupBarrier();
		for (var kk = 0u; kk < TK; kk++) {
			let a = As[kk * (TM / 4u) + lid.y];
			let b0 = Bs[kk * (TN / 4u) + lid.x];
			let b1 = Bs[kk * (TN / 4u) + 16u + lid.x];
			c0 = fma(vec4<f32>(a.x), b0, c0);
			c1 = fma(vec4<f32>(a.x), b1, c1);
			c2 = fma(vec4<f32>(a.y), b0, c2);
			c3 = fma(vec4<f32>(a.y), b1, c3);
			c4 = fma(vec4<f32>(a.z), b0, c4);
			c5 = fma(vec4<f32>(a.z), b1, c5);
			c6 = fma(vec4<f32>(a.w), b0, c6);
			c7 = fma(vec4<f32>(a.w), b1, c7);
		}
		workgroupBarrier();
	}
	var base = 0u;
	if (split) {
		base = wg.z * p.cout * hw;
	}
	let gm = m0 + 4u * lid.y;
	let gn0 = n0 + 4u * lid.x;
	put(base, gm + 0u, gn0, c0);
	put(base, gm + 0u, gn0 + 64u, c1);
	put(base, gm + 1u, gn0, c2);
	put(base, gm + 1u, gn0 + 64u, c3);
	put(base, gm + 2u, gn0, c4);
	put(base, gm + 2u, gn0 + 64u, c5);
	put(base, gm + 3u, gn0, c6);
	put(base, gm + 3u, gn0 + 64u, c7);
}

//! conv3x3_narrow
// The same convolution for at most 4 output channels (conv1_1's backward
// pass to the image), where a 64-channel tile would waste most of its
// work: one invocation per pixel computes every output channel, with the
// weights (K-major) staged through workgroup memory 256 K rows at a time.
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

var<workgroup> Ws: array<vec4<f32>, 256>; // K rows, one vec4 of channels each

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let hw = p.h * p.w;
	let K = p.cin * 9u;
	let n = (wg.y * nw.x + wg.x) * 256u + lid.x;
	let inN = n < hw;
	let py = i32(n / p.w);
	let px = i32(n % p.w);
	var acc = vec4<f32>();
	var ci = 0u;
	var r = 0u; // channel and tap of row k0 + kk
	for (var k0 = 0u; k0 < K; k0 += 256u) {
		var wv = vec4<f32>();
		if (k0 + lid.x < K) {
			for (var m = 0u; m < p.cout; m++) {
				wv[m] = wt[(k0 + lid.x) * p.cout + m];
			}
		}
		Ws[lid.x] = wv;
		workgroupBarrier();
		let kn = min(256u, K - k0);
		for (var kk = 0u; kk < kn; kk++) {
			let dy = (r * 11u) >> 5u; // r / 3 for r < 9
			let yy = py + i32(dy) - 1;
			let xx = px + i32(r - 3u * dy) - 1;
			if (inN && yy >= 0 && yy < i32(p.h) && xx >= 0 && xx < i32(p.w)) {
				acc = fma(vec4<f32>(x[ci * hw + u32(yy) * p.w + u32(xx)]), Ws[kk], acc);
			}
			r += 1u;
			if (r == 9u) {
				r = 0u;
				ci += 1u;
			}
		}
		workgroupBarrier();
	}
	if (!inN) {
		return;
	}
	for (var m = 0u; m < p.cout; m++) {
		var v = acc[m];
		if ((p.flags & 1u) != 0u) {
			v += bias[m];
		}
		if ((p.flags & 2u) != 0u) {
			v = max(v, 0.0);
		}
		y[m * hw + n] = v;
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
