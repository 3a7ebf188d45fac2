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
// Blocks, for tensors held in channel parts: a dispatch may take input
// channels wci .. wci+cin and output channels wm .. wm+cout of weights for
// wcin inputs and wcout outputs, adding to what y holds (flags bit 4).
struct P {
	cout: u32, cin: u32, h: u32, w: u32,
	flags: u32, // bit 0: add bias, bit 1: ReLU, bit 2: split K, bit 3: transposed (conv3x3_wino), bit 4: add to y
	kper: u32, // K rows per slice (a multiple of TK) when split; conv_sum: slices
	wci: u32, wm: u32, wcin: u32, wcout: u32,
}

// act finishes output v of channel co, at y[i]: adds what y holds, the
// bias and the ReLU as the flags say, unless split (conv_sum does it to
// the summed slices). Every kernel below binds p, bias and y.
fn act(co: u32, v: f32, i: u32) -> f32 {
	if ((p.flags & 4u) != 0u) {
		return v;
	}
	var o = v;
	if ((p.flags & 16u) != 0u) {
		o += y[i];
	}
	if ((p.flags & 1u) != 0u) {
		o += bias[p.wm + co];
	}
	if ((p.flags & 2u) != 0u) {
		o = max(o, 0.0);
	}
	return o;
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

// put writes outputs gn..gn+3 of channel gm at y[base + ...].
fn put(base: u32, gm: u32, gn: u32, o: vec4<f32>) {
	let hw = p.h * p.w;
	if (gm >= p.cout) {
		return;
	}
	for (var j = 0u; j < 4u; j++) {
		if (gn + j < hw) {
			let i = base + gm * hw + gn + j;
			y[i] = act(gm, o[j], i);
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
				v = wt[(p.wci * 9u + k0 + kk) * p.wcout + p.wm + m0 + am];
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
				wv[m] = wt[(p.wci * 9u + k0 + lid.x) * p.wcout + p.wm + m];
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
		y[m * hw + n] = act(m, acc[m], m * hw + n);
	}
}

//! conv3x3_wino
// The same convolution by Winograd's F(2x2, 3x3): each 2x2 block of
// outputs (a tile) comes from its 4x4 input patch d as Y = A'[U * V]A with
// V = B'dB and U = GgG' the transformed weights (prepared on upload,
// wt[(ci * 16 + e) * cout / 4 + co / 4] as vec4s of channels), summed over
// input channels: 16 products per tile and channel instead of 36 multiply-
// adds. A workgroup owns 4x4 tiles (8x8 outputs) x 32 channels; each of its
// 16 groups of 16 invocations one element e of the 4x4 transforms, as a
// GEMM over input channels of 16 tiles x 32 channels, 4 tiles x 8 channels
// per invocation. Input channels go WC per step through workgroup memory
// (the input transform is done on the way in): 4, or 8 with 24 KiB of
// workgroup memory (flags as TK 32). At the end the products go back
// through workgroup memory, two channels of each octet at a time, and 128
// invocations each transform one tile of one channel (16 reads for 4
// outputs). Needs cout % 4 == 0. Split K as conv3x3, kper counting input
// channels (a multiple of WC). Flags bit 3: the backward-data pass, reading
// the forward conv's weights (cout of them per row: p.wcin here, a
// multiple of 4) transposed and turned, instead of weights of its own.
// Blocks: wm (wci when transposed) a multiple of 4.
override WC: u32 = 4u; // input channels per step: 4, or 8 where workgroup memory allows

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> wt: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

var<workgroup> Vs: array<vec4<f32>, 16u * WC * 4u>; // [e][c][tile row]: 4 tiles; at the end [e][q]
var<workgroup> Us: array<vec4<f32>, 16u * WC * 8u>; // [e][c][8]: 32 channels; at the end [e][q]

// flip maps element e of a kernel's transform to that element of the
// transform of the kernel turned by 180 degrees: G flips with rows 0 and 3
// swapped, so U[i][j] becomes U[f(i)][f(j)], f swapping 0 and 3.
fn flip(e: u32) -> u32 {
	let i = e / 4u;
	let j = e % 4u;
	return 4u * select(i, 3u - i, i == 0u || i == 3u) + select(j, 3u - j, j == 0u || j == 3u);
}

// row returns x[ci, yy, xx..xx+3], 0 outside the image.
fn row(ci: u32, yy: i32, xx: i32) -> vec4<f32> {
	var r = vec4<f32>();
	if (yy < 0 || yy >= i32(p.h)) {
		return r;
	}
	let base = (ci * p.h + u32(yy)) * p.w;
	for (var k = 0; k < 4; k++) {
		let xk = xx + k;
		if (xk >= 0 && xk < i32(p.w)) {
			r[k] = x[base + u32(xk)];
		}
	}
	return r;
}

// product returns element i of Vs[k] (half 0) or Us[k] (half 1).
fn product(half: u32, k: u32, i: u32) -> f32 {
	if (half == 0u) {
		return Vs[k][i];
	}
	return Us[k][i];
}

// put1 writes output (co, oy, ox) of the conv if it is in the image.
fn put1(base: u32, co: u32, oy: u32, ox: u32, v: f32) {
	if (co >= p.cout || oy >= p.h || ox >= p.w) {
		return;
	}
	let i = base + (co * p.h + oy) * p.w + ox;
	y[i] = act(co, v, i);
}

// tile finishes channels 2r and 2r + 1 of every octet of this workgroup's
// tiles (8x8 outputs at y0, x0): the products of the invocation (e, q), q
// = tile row + 4 * octet, are in Vs[e * 16 + q] for channel 2r, Us[e * 16
// + q] for 2r + 1. Invocation t < 128 makes the 2x2 outputs Y = A'MA of
// tile t % 4 in tile row (t / 4) % 4 of octet (t / 16) % 4, channel 2r + t
// / 64.
fn tile(t: u32, r: u32, m0: u32, y0: u32, x0: u32, base: u32) {
	let i = t % 4u;
	let q = (t / 4u) % 16u;
	let half = t / 64u;
	// A' rows: (1, 1, 1, 0) and (0, 1, -1, -1); first along each row of M.
	var a = vec4<f32>(); // row sums (1, 1, 1, 0) of M's rows 0..3
	var b = vec4<f32>(); // and (0, 1, -1, -1)
	for (var k = 0u; k < 4u; k++) {
		let m = vec4<f32>(product(half, (4u * k) * 16u + q, i), product(half, (4u * k + 1u) * 16u + q, i), product(half, (4u * k + 2u) * 16u + q, i), product(half, (4u * k + 3u) * 16u + q, i));
		a[k] = m.x + m.y + m.z;
		b[k] = m.y - m.z - m.w;
	}
	let co = m0 + 8u * (q / 4u) + 2u * r + half;
	let oy = y0 + 2u * (q % 4u);
	let ox = x0 + 2u * i;
	put1(base, co, oy, ox, a.x + a.y + a.z);
	put1(base, co, oy, ox + 1u, b.x + b.y + b.z);
	put1(base, co, oy + 1u, ox, a.y - a.z - a.w);
	put1(base, co, oy + 1u, ox + 1u, b.y - b.z - b.w);
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let t = lid.x;
	let split = (p.flags & 4u) != 0u;
	var cBeg = 0u;
	var cEnd = p.cin;
	var blk = wg.z * nw.x + wg.x; // 8x8 output blocks over x, then z
	if (split) {
		cBeg = wg.z * p.kper;
		cEnd = min(p.cin, cBeg + p.kper);
		blk = wg.x;
	}
	let bw = (p.w + 7u) / 8u;
	let y0 = blk / bw * 8u;
	let x0 = blk % bw * 8u;
	let m0 = wg.y * 32u;
	let cv = p.wcout / 4u; // vec4s per weight row
	let tr = (p.flags & 8u) != 0u;
	// GEMM: element e, tile row tq, channels 8 kq..8 kq + 7.
	let e = t / 16u;
	let q = t % 16u;
	let tq = q % 4u;
	let kq = q / 4u;
	// c[j]: channel m0 + 8 kq + j of tiles 4 tq..4 tq + 3.
	var c0 = vec4<f32>();
	var c1 = vec4<f32>();
	var c2 = vec4<f32>();
	var c3 = vec4<f32>();
	var c4 = vec4<f32>();
	var c5 = vec4<f32>();
	var c6 = vec4<f32>();
	var c7 = vec4<f32>();
	for (var ci0 = cBeg; ci0 < cEnd; ci0 += WC) {
		// Input transform: item i makes row vi of V = B'dB for tile vt,
		// channel vc of the step (B' row vi is d[fa] + s d[fb]); WC / 4
		// items per invocation.
		for (var h = 0u; h < WC / 4u; h++) {
			let i = t + 256u * h;
			let vt = i % 16u;
			let vc = (i / 16u) % WC;
			let vi = i / (16u * WC);
			let fa = i32(select(select(1u, 2u, vi == 2u), 0u, vi == 0u));
			let fb = i32(select(select(2u, 1u, vi == 2u), 3u, vi == 3u));
			let s = select(-1.0, 1.0, vi == 1u);
			let vy = i32(y0 + 2u * (vt / 4u)) - 1;
			let vx = i32(x0 + 2u * (vt % 4u)) - 1;
			let ci = ci0 + vc;
			var r = vec4<f32>();
			if (ci < cEnd) {
				r = row(ci, vy + fa, vx) + s * row(ci, vy + fb, vx);
			}
			let vr = vec4<f32>(r.x - r.z, r.y + r.z, r.z - r.y, r.y - r.w); // r B
			for (var j = 0u; j < 4u; j++) {
				Vs[((4u * vi + j) * WC + vc) * 4u + vt / 4u][vt % 4u] = vr[j];
			}
		}
		// Weights: WC / 2 vec4s per invocation.
		for (var h = 0u; h < WC / 2u; h++) {
			let u = t + 256u * h;
			if (tr) {
				// u = [e][32 channels][WC / 4]: a vec4 of 4 steps' channels
				// from the forward conv's weights, stored across Us.
				let uc = 4u * (u % (WC / 4u));
				let uo = (u / (WC / 4u)) % 32u;
				let ue = u / (8u * WC);
				var w = vec4<f32>();
				if (ci0 + uc < cEnd && m0 + uo < p.cout) {
					w = wt[((p.wm + m0 + uo) * 16u + flip(ue)) * (p.wcin / 4u) + (p.wci + ci0 + uc) / 4u];
				}
				for (var k = 0u; k < 4u; k++) {
					Us[(ue * WC + uc + k) * 8u + uo / 4u][uo % 4u] = w[k];
				}
			} else {
				let uc = u / 128u; // u = [c][e][8]
				let ue = (u / 8u) % 16u;
				let uj = u % 8u;
				var w = vec4<f32>();
				if (ci0 + uc < cEnd && m0 + 4u * uj < p.cout) {
					w = wt[((p.wci + ci0 + uc) * 16u + ue) * cv + (p.wm + m0) / 4u + uj];
				}
				Us[(ue * WC + uc) * 8u + uj] = w;
			}
		}
		workgroupBarrier();
		let cn = min(WC, cEnd - ci0);
		for (var c = 0u; c < cn; c++) {
			let v = Vs[(e * WC + c) * 4u + tq];
			let u0 = Us[(e * WC + c) * 8u + 2u * kq];
			let u1 = Us[(e * WC + c) * 8u + 2u * kq + 1u];
			c0 = fma(v, vec4<f32>(u0.x), c0);
			c1 = fma(v, vec4<f32>(u0.y), c1);
			c2 = fma(v, vec4<f32>(u0.z), c2);
			c3 = fma(v, vec4<f32>(u0.w), c3);
			c4 = fma(v, vec4<f32>(u1.x), c4);
			c5 = fma(v, vec4<f32>(u1.y), c5);
			c6 = fma(v, vec4<f32>(u1.z), c6);
			c7 = fma(v, vec4<f32>(u1.w), c7);
		}
		workgroupBarrier();
	}
	var base = 0u;
	if (split) {
		base = wg.z * p.cout * p.h * p.w;
	}
	// Output transform, channels 2r and 2r + 1 of every octet at a time
	// (a loop, not four copies: the kernel compiles in less time).
	for (var r = 0u; r < 4u; r++) {
		var ca = c0;
		var cb = c1;
		switch (r) {
			case 1u: { ca = c2; cb = c3; }
			case 2u: { ca = c4; cb = c5; }
			case 3u: { ca = c6; cb = c7; }
			default: {}
		}
		workgroupBarrier();
		Vs[t] = ca;
		Us[t] = cb;
		workgroupBarrier();
		if (t < 128u) {
			tile(t, r, m0, y0, x0, base);
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
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let i = gid(wg, nw, lid);
	let hw = p.h * p.w;
	let n = p.cout * hw;
	if (i >= n) {
		return;
	}
	var v = 0.0;
	for (var s = 0u; s < p.kper; s++) {
		v += part[s * n + i];
	}
	y[i] = act(i / hw, v, i); // flags without the split bit
}
