package webgpu

// The backend's layout: buffer rounding, the pool's policy, conv tiles and
// their split along K. Untagged: the dry run's sizes (sizes.go) use them.

import "nnst/core/nnst"

// roundSize is the size of a buffer of n bytes (the pool's size classes).
func roundSize(n int64) int64 { return max(16, (n+255)/256*256) }

// arenaSize is the size of the uniform arena: one 256-byte slot per dispatch.
const arenaSize = 1 << 20

// chunkRows is the number of bank rows one workgroup of the search scans.
const chunkRows = 1024

// hostStride is the smallest sampling stride for which Compact keeps its
// copy in host memory: SplitLoss then uploads at most 1/64 of it.
const hostStride = 8

// spareBytes is how much freed memory the backend's buffer pool may hold
// before it flushes to destroy it (without a budget; see bufferPool).
const spareBytes = 16 << 20

// retainBytes is how much of the freed buffers due for destruction (big
// ones at a flush, others unused for two flushes) the pool keeps, the most
// recently freed, for the next optimisation step or forward pass to reuse
// instead of creating them again (without it a VGG19 forward at 512 px
// created about 200 MiB of buffers, a step about 460 MiB). Within a run's
// budget the pool keeps what fits instead; Estimate's room for these two
// is then what the pool holds at the peak.
const retainBytes = 192 << 20

// convGrid returns a conv's workgroups over pixels (tiles) and channels
// (mt), and its split-K slices and K rows per slice: the direct kernel's,
// or Winograd's if wino; step 2 doubles the K step (TK 32, WC 8).
func convGrid(h, w, cin, cout int, wino bool, step int) (tiles, mt, split, kper int) {
	if wino {
		tiles, mt = winoBlocks(h, w), (cout+winoTM-1)/winoTM
		split, kper = splitK(tiles*mt, cin, winoWC*step, minSliceChannels)
		return
	}
	tiles, mt = (h*w+convTN-1)/convTN, (cout+convTM-1)/convTM
	split, kper = splitK(tiles*mt, cin*9, 16*step, minSliceRows)
	return
}

// The conv kernel's tiles (shaders/conv.wgsl): convTN pixels x convTM
// channels.
const (
	convTN = 128
	convTM = 64
)

// narrowConv is the most output channels for which a conv runs as
// conv3x3_narrow (one invocation per pixel) instead of in tiles.
const narrowConv = 4

// Winograd's kernel (conv3x3_wino): workgroups of 8x8 outputs x winoTM
// channels, winoWC input channels per step. winoDefault says whether the
// backend uses it (Backend.wino).
const (
	winoTM      = 32
	winoWC      = 4
	winoDefault = true
)

// winoConv reports whether a conv with cin inputs and cout outputs can run
// by Winograd's kernel: its weights are read as vec4s of channels, and
// for fewer than 8 inputs (VGG's first layer) the direct kernel does less.
func winoConv(cin, cout int) bool { return cin >= 8 && cout%4 == 0 && cout > narrowConv }

// winoBlocks is the number of 8x8 output blocks of an h x w conv.
func winoBlocks(h, w int) int { return (h + 7) / 8 * ((w + 7) / 8) }

// fillGroups is the number of conv workgroups that keeps a large GPU busy
// (about four per multiprocessor on a 132-SM GPU); a split slice sums at
// least minSliceRows K rows (taps), or minSliceChannels input channels in
// Winograd's kernel.
const (
	fillGroups       = 512
	minSliceRows     = 128
	minSliceChannels = 32
)

// splitK returns how many slices to split a conv's k rows into, and the rows
// per slice (a multiple of the kernel's tk rows per step), for a grid of
// groups workgroups: enough to reach fillGroups, each slice at least
// least rows.
func splitK(groups, k, tk, least int) (split, kper int) {
	split = min((fillGroups+groups-1)/groups, k/least)
	if split <= 1 {
		return 1, k
	}
	kper = ((k+split-1)/split + tk - 1) / tk * tk
	return (k + kper - 1) / kper, kper
}

// stageKeep is the largest readback staging buffer kept for the next
// readback; larger ones are made for one readback.
const stageKeep = 64 << 20

// phaseBlock returns the rows, columns and (even) length of one block of a
// stride-phase copy of a c x h x w tensor.
func phaseBlock(c, h, w, s int) (hs, ws, bl int) {
	hs, ws = (h+s-1)/s, (w+s-1)/s
	bl = c * hs * ws
	return hs, ws, bl + bl%2
}

// gridDims returns the rows and columns of the sample grid s over an
// h x w tensor.
func gridDims(h, w int, s nnst.Sample) (sh, sw int) {
	stride := max(s.Stride, 1)
	if s.Y0 < h {
		sh = (h - s.Y0 + stride - 1) / stride
	}
	if s.X0 < w {
		sw = (w - s.X0 + stride - 1) / stride
	}
	return sh, sw
}

// bankRowBytes is the bytes of a bank row of d channels: an even number of
// fp16 or f32 words.
func bankRowBytes(d int, f16 bool) int64 {
	b := int64((d+1)&^1) * 4
	if f16 {
		b /= 2
	}
	return b
}

// partRows is the rows of each part of a bank of capacity rows, each part
// and its spare row within lim bytes (a multiple of 64 rows, at least 64).
func partRows(capacity int, rowBytes, lim int64) int {
	return int(min(int64(max(capacity, 1)), max(((lim&^255)/rowBytes-1)/64*64, 64)))
}

// searchSlots is the number of partial results per query of a search over
// m rows in parts of rows: one per chunkRows rows of each part.
func searchSlots(m, rows int) int {
	slots := 0
	for r := 0; r < m; r += rows {
		slots += (min(rows, m-r) + chunkRows - 1) / chunkRows
	}
	return slots
}

// partChans is the channels of each part of a c x h x w float32 tensor
// whose buffers hold at most lim bytes (0: no limit): c when it fits one,
// else a multiple of 4 (fp16 words never span two parts, and Winograd's
// conv takes blocks of 4 channels); c when even four channels do not fit
// (the buffer then fails as too large).
func partChans(c, h, w int, lim int64) int {
	if lim <= 0 || roundSize(int64(c*h*w)*4) <= lim {
		return c
	}
	cp := int((lim &^ 255) / (int64(h*w) * 4) &^ 3)
	if cp < 4 {
		return c
	}
	return cp
}

// partSizes is the channels of each part of a c x h x w float32 tensor
// in buffers of at most lim bytes (partChans): one entry when it is whole.
func partSizes(c, h, w int, lim int64) []int {
	cp := partChans(c, h, w, lim)
	if cp >= c {
		return []int{c}
	}
	var n []int
	for c0 := 0; c0 < c; c0 += cp {
		n = append(n, min(cp, c-c0))
	}
	return n
}

// queryCols is the queries of each part of a search's d x n query
// columns, each part within lim bytes (0: no limit).
func queryCols(d, n int, lim int64) int {
	if lim <= 0 || roundSize(int64(d*n)*4) <= lim {
		return max(n, 1)
	}
	return max(int((lim&^255)/(int64(d)*4)), 1)
}

// scanCols is the queries a search scans at a time, so that their partial
// results (slots each, of one bank part) fit lim bytes (0: no limit).
func scanCols(slots, n int, lim int64) int {
	if lim <= 0 || roundSize(int64(slots*n)*4) <= lim {
		return max(n, 1)
	}
	return max(int((lim&^255)/(int64(slots)*4)), 1)
}
