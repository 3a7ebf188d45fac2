// Bilinear resize (PyTorch upsample_bilinear2d, both align modes) and its
// adjoint in gather form. The per-axis tables come from the host, built as
// core/ops builds them: for an axis of `in` source and `out` resized
// indices, words [4d, 4d+4) hold i0, i1, w0, w1 of resized index d; then
// in+1 offsets into a list of (d, w) pairs giving, for each source index,
// the resized indices that read it and with what weight.
// The forward multiplies by scale and writes at channel offset c0 of y
// (hypercolumn assembly); the backward reads channels from c0 of g. Both
// handle channels x0 .. x0+c of x (forward) or dx (backward): a tensor in
// parts (channel ranges) is resized part by part.
struct P {
	c: u32, ih: u32, iw: u32, oh: u32, ow: u32,
	scale: f32,
	c0: u32, // dst channel offset (forward), src channel offset (backward)
	x0: u32, // channel offset in x (forward) or dx (backward)
}

//! resize
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> ty: array<u32>;
@group(0) @binding(2) var<storage, read> tx: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
	let o = gid(wg, nw, lid);
	let ohw = p.oh * p.ow;
	if (o >= p.c * ohw) {
		return;
	}
	let c = o / ohw;
	let oy = (o % ohw) / p.ow;
	let ox = o % p.ow;
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
	y[p.c0 * ohw + o] = v * p.scale;
}

//! resize_back
@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> ty: array<u32>;
@group(0) @binding(2) var<storage, read> tx: array<u32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<uniform> p: P;

// Here (ih, iw) is the size of dx and (oh, ow) the size of g.
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
	let ohw = p.oh * p.ow;
	let src = (p.c0 + c) * ohw;
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
			row += bitcast<f32>(tx[entx + 2u * b + 1u]) * g[src + dy * p.ow + dxx];
		}
		acc += wy * row;
	}
	dx[p.x0 * ihw + i] = acc * p.scale;
}
