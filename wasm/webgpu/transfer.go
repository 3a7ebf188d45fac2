//go:build js && wasm

// Transfers between host and GPU: uploads (ordered after recorded
// commands), readbacks through a kept staging buffer, and the fp16 copies
// of Compact, on the GPU or in host memory in stride-phase order.

package webgpu

import (
	"encoding/binary"
	"fmt"
	"syscall/js"
	"unsafe"

	"github.com/x448/float16"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

func (b *Backend) Upload(t *tensor.T) nnst.Tensor {
	out := b.anyTensor(t.C, t.H, t.W) // write orders itself after recorded commands
	hw := t.H * t.W
	for _, v := range out.views() {
		b.write(v.buf, floatBytes(t.Data[v.c0*hw:(v.c0+v.c)*hw]))
	}
	return out
}

// write copies data into buf: while commands are recorded, by a copy among
// them (buf may be a pooled buffer they use, and a queue write would land
// before them).
func (b *Backend) write(buf *buffer, data []byte) {
	if !b.enc.IsUndefined() && len(data)%4 == 0 && len(data) > 0 {
		b.copyIn(buf, len(data), func(dst js.Value) { js.CopyBytesToJS(dst, data) })
		return
	}
	if !b.enc.IsUndefined() {
		b.Flush()
	}
	if len(data) >= stagedWrite && len(data)%4 == 0 {
		// One copy into a mapped staging buffer instead of two (Go to a
		// JavaScript array, then writeBuffer's into its own staging).
		st := b.dev.Call("createBuffer", jsObject(map[string]any{"size": len(data), "usage": usageMapWrite | usageCopySrc, "mappedAtCreation": true}))
		js.CopyBytesToJS(js.Global().Get("Uint8Array").New(st.Call("getMappedRange")), data)
		st.Call("unmap")
		enc := b.dev.Call("createCommandEncoder")
		enc.Call("copyBufferToBuffer", st, 0, buf.v, 0, len(data))
		b.queue.Call("submit", jsArray(enc.Call("finish")))
		st.Call("destroy")
		return
	}
	if len(data) > 0 {
		b.queue.Call("writeBuffer", buf.v, 0, bytesToJS(data))
	}
}

// stagedWrite is the size from which write goes through a mapped staging
// buffer.
const stagedWrite = 1 << 20

// copyIn records a copy of n bytes (a multiple of 4), which fill writes
// into a Uint8Array, into buf among the recorded commands, so buf may be
// one they use: through a staging buffer created mapped, destroyed after
// the submit.
func (b *Backend) copyIn(buf *buffer, n int, fill func(dst js.Value)) {
	st := b.dev.Call("createBuffer", jsObject(map[string]any{"size": n, "usage": usageMapWrite | usageCopySrc, "mappedAtCreation": true}))
	fill(js.Global().Get("Uint8Array").New(st.Call("getMappedRange")))
	st.Call("unmap")
	b.open()
	b.pass.Call("end")
	b.enc.Call("copyBufferToBuffer", st, 0, buf.v, 0, n)
	b.pass = b.enc.Call("beginComputePass")
	b.passPipe = nil
	b.staged = append(b.staged, st)
}

func u32bytes(d []uint32) []byte {
	out := make([]byte, 4*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// floatBytes views d as bytes (wasm is little-endian, as WebGPU buffers).
func floatBytes(d []float32) []byte {
	if len(d) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&d[0])), 4*len(d))
}

func (b *Backend) Download(t nnst.Tensor) (*tensor.T, error) {
	x := gt(t)
	if err := b.Err(); err != nil {
		return nil, err
	}
	if x.buf == nil && x.half && !x.host.IsUndefined() {
		return hostTensor(x), b.Err()
	}
	out := tensor.New(x.c, x.h, x.w)
	hw := x.h * x.w
	for _, v := range x.views() {
		d := out.Data[v.c0*hw : (v.c0+v.c)*hw]
		if !x.half {
			if err := b.readInto(v.buf, floatBytes(d)); err != nil {
				return nil, err
			}
			continue
		}
		raw, err := b.readBytes(v.buf, len(d)*2)
		if err != nil {
			return nil, err
		}
		for i := range d {
			d[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
		}
	}
	return out, b.Err()
}

func (b *Backend) downloadU32(buf *buffer, n int) ([]uint32, error) {
	raw, err := b.readBytes(buf, n*4)
	if err != nil {
		return nil, err
	}
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return out, nil
}

// readBytes copies the first n bytes of a buffer back to the host.
func (b *Backend) readBytes(buf *buffer, n int) ([]byte, error) {
	out := make([]byte, n)
	if err := b.readInto(buf, out); err != nil {
		return nil, err
	}
	return out, nil
}

// readJS copies the first n bytes of a buffer (rounded up to 4) into a new
// JS Uint8Array.
func (b *Backend) readJS(buf *buffer, n int) (js.Value, error) {
	var out js.Value
	err := b.mapRead(buf, n, func(r js.Value) { out = js.Global().Get("Uint8Array").New(r.Call("slice", 0)) })
	return out, err
}

// readInto copies the first len(dst) bytes of a buffer into dst, straight
// from the mapped staging buffer.
func (b *Backend) readInto(buf *buffer, dst []byte) error {
	return b.mapRead(buf, len(dst), func(r js.Value) {
		js.CopyBytesToGo(dst, js.Global().Get("Uint8Array").New(r))
	})
}

// mapRead copies n bytes (rounded up to 4) of buf to a staging buffer,
// maps it and passes the mapped ArrayBuffer to use before unmapping.
func (b *Backend) mapRead(buf *buffer, n int, use func(js.Value)) error {
	b.Flush()
	size := (int64(n) + 3) / 4 * 4
	st, done := b.stage(size)
	defer done()
	enc := b.dev.Call("createCommandEncoder")
	enc.Call("copyBufferToBuffer", buf.v, 0, st, 0, size)
	b.queue.Call("submit", jsArray(enc.Call("finish")))
	if _, err := await(st.Call("mapAsync", mapModeRead, 0, size)); err != nil {
		if e := b.Err(); e != nil {
			return e
		}
		return fmt.Errorf("reading back a GPU buffer: %w", err)
	}
	use(st.Call("getMappedRange", 0, size))
	st.Call("unmap")
	return nil
}

// stage returns a staging buffer of at least size bytes for a readback and
// what to call when done with it: the kept one, grown if needed, or, while
// that one is in use or for very large readbacks, one of its own.
func (b *Backend) stage(size int64) (js.Value, func()) {
	size = max(size, 4)
	newStage := func(size int64) js.Value {
		return b.dev.Call("createBuffer", jsObject(map[string]any{"size": size, "usage": usageMapRead | usageCopyDst}))
	}
	if size > stageKeep || b.stageBusy {
		st := newStage(size)
		return st, func() { st.Call("destroy") }
	}
	if b.stageSize < size {
		if b.stageSize > 0 {
			b.stageBuf.Call("destroy")
		}
		b.stageSize = min(stageKeep, max(size, 2*b.stageSize))
		b.stageBuf = newStage(b.stageSize)
	}
	b.stageBusy = true
	return b.stageBuf, func() { b.stageBusy = false }
}

// hostTensor reads a host copy (stride-phase order, see Compact) back into
// plain order.
func hostTensor(x *Tensor) *tensor.T {
	s := x.phase
	hs, ws, bl := phaseBlock(x.c, x.h, x.w, s)
	raw := make([]byte, s*s*bl*2)
	js.CopyBytesToGo(raw, js.Global().Get("Uint8Array").New(x.host.Get("buffer"), 0, len(raw)))
	out := tensor.New(x.c, x.h, x.w)
	for ch := 0; ch < x.c; ch++ {
		for yy := 0; yy < x.h; yy++ {
			for xx := 0; xx < x.w; xx++ {
				e := ((yy%s)*s+xx%s)*bl + (ch*hs+yy/s)*ws + xx/s
				out.Data[(ch*x.h+yy)*x.w+xx] = halfToFloat(binary.LittleEndian.Uint16(raw[2*e:]))
			}
		}
	}
	return out
}

// halfToFloat converts IEEE fp16 bits to float32.
func halfToFloat(h uint16) float32 { return float16.Frombits(h).Float32() }

// Compact packs x into fp16 pairs, in host memory for large strides; it
// keeps every phase. A tensor in parts packs part by part: on the device
// into parts of its own, into the host copy phase by phase.
func (b *Backend) Compact(x nnst.Tensor, stride int, _ [][2]int) nnst.Tensor {
	xt := gt(x)
	xs := xt.views()
	if stride < b.hostStride {
		y := &Tensor{c: xt.c, h: xt.h, w: xt.w, half: true, cp: xt.cp}
		for _, v := range xs {
			n := v.c * xt.h * xt.w
			buf := b.newBuf(int64((n+1)/2) * 4)
			b.run1("elementwise", "pack_half", noOverrides, (n+1)/2, params{uint32(n)}, v.buf, buf)
			if xt.parts == nil {
				y.buf = buf
			} else {
				y.parts = append(y.parts, buf)
			}
		}
		return y
	}
	// A host copy in stride-phase order: the samples of one step (one
	// phase) are then one contiguous block to upload.
	s := stride
	hs, ws, bl := phaseBlock(xt.c, xt.h, xt.w, s)
	y := &Tensor{c: xt.c, h: xt.h, w: xt.w, half: true, phase: s}
	host := js.Global().Get("Uint16Array").New(s * s * bl)
	for _, v := range xs {
		_, _, pbl := phaseBlock(v.c, xt.h, xt.w, s)
		tot := s * s * pbl
		buf := b.newBuf(int64(tot/2) * 4)
		b.run1("elementwise", "pack_half_phase", noOverrides, tot/2, params{uint32(tot), uint32(v.c), uint32(xt.h), uint32(xt.w), uint32(s), uint32(hs), uint32(ws), uint32(pbl)}, v.buf, buf)
		a, err := b.readJS(buf, tot*2)
		b.freeBuf(buf)
		if err != nil {
			b.fail(err)
			return y
		}
		part := js.Global().Get("Uint16Array").New(a.Get("buffer"))
		for ph := range s * s { // the part's channels of each phase block
			host.Call("set", part.Call("subarray", ph*pbl, ph*pbl+v.c*hs*ws), ph*bl+v.c0*hs*ws)
		}
	}
	y.host = host
	return y
}

// samples uploads the samples of g's host copy as a compact c x 1 x n
// tensor: the grid's phase block goes up as is and is cropped on the GPU.
func (b *Backend) samples(g grid) *Tensor {
	t := g.t
	y := &Tensor{c: t.c, h: 1, w: g.n, half: true, buf: b.newBuf(int64((t.c*g.n+1)/2) * 4)}
	if g.n == 0 {
		return y
	}
	s := g.stride
	if s != t.phase {
		b.fail(fmt.Errorf("webgpu: style tap kept for stride %d, sampled with stride %d", t.phase, s))
		return y
	}
	hs, ws, bl := phaseBlock(t.c, t.h, t.w, s)
	p := (g.y0%s)*s + g.x0%s
	blk := b.newBuf(int64(bl/2) * 4)
	b.copyIn(blk, 2*bl, func(dst js.Value) {
		dst.Call("set", js.Global().Get("Uint8Array").New(t.host.Get("buffer"), t.host.Get("byteOffset").Int()+2*p*bl, 2*bl))
	})
	sh := g.n / g.sw
	n := t.c * g.n
	b.run1("elementwise", "crop_half", noOverrides, (n+1)/2, params{uint32(n), uint32(hs), uint32(ws), uint32(g.y0 / s), uint32(g.x0 / s), uint32(sh), uint32(g.sw)}, blk, y.buf)
	b.freeBuf(blk)
	return y
}
