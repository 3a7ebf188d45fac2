// Helpers shared by every family: Kernel puts them before the family's
// prelude.

// gid is the index of an invocation of a 256-wide workgroup in a grid of
// up to two dimensions (Backend.run1).
fn gid(wg: vec3<u32>, nw: vec3<u32>, lid: vec3<u32>) -> u32 {
	return (wg.y * nw.x + wg.x) * 256u + lid.x;
}

// half_at is element i of a tensor of fp16 pairs packed two to a u32,
// given its word w (word i / 2).
fn half_at(w: u32, i: u32) -> f32 {
	let v = unpack2x16float(w);
	return select(v.x, v.y, (i & 1u) == 1u);
}
