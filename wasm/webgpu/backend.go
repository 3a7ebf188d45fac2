//go:build js && wasm

// Package webgpu implements the nnst Backend with WGSL compute shaders on
// WebGPU, through syscall/js. Dispatches are recorded into one open
// command encoder (one compute pass) and submitted together on Download,
// Err, Flush, or when the uniform arena fills; nothing is read back except
// by Download.
//
// New, Download, Err and the first use of each kernel wait on JS promises:
// call them from a goroutine, never from inside a JS callback (a js.FuncOf
// handler), or the page deadlocks.
//
// Precision: all maths in f32; the style bank of Match is fp16 (packed
// two to a u32, no shader-f16 needed), so a few near-tied matches differ
// from the CPU backend and gathered targets carry fp16 rounding (about
// 5e-4 relative). SplitLoss matches in f32, on style features that the
// driver keeps in fp16 (Compact).
package webgpu

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"
	"unsafe"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/ops"
	"nnst/core/tensor"
	"nnst/shaders"
)

// Tensor is a C x H x W float32 tensor in a GPU buffer; a compact one
// (half) holds fp16 pairs and is only read as a SplitLoss style input,
// from the GPU buffer or, when it is kept off the device, from host (a JS
// Uint16Array).
type Tensor struct {
	c, h, w int
	buf     *buffer
	half    bool
	host    js.Value // a host copy (Compact): fp16 in stride-phase order
	phase   int      // the host copy's stride
}

// Shape returns the tensor's shape.
func (t *Tensor) Shape() (int, int, int) { return t.c, t.h, t.w }

func (t *Tensor) n() int { return t.c * t.h * t.w }

func gt(t nnst.Tensor) *Tensor {
	if t == nil {
		return nil
	}
	return t.(*Tensor)
}

type pipe struct {
	v      js.Value
	layout js.Value // its bind group layout: storage buffers, then the uniforms at a dynamic offset
	nbuf   int      // storage buffers
	// A bind group descriptor kept for reuse: a new bind group sets its
	// buffers in it (createBindGroup copies it), far fewer calls into
	// JavaScript than building it anew.
	desc js.Value
	res  []js.Value // resource objects of the buffers
}

// maxBuffers is the most storage buffers a kernel binds.
const maxBuffers = 10

// groupKey names a cached bind group: a pipeline's and its buffers (the
// uniforms are the arena's, at a dynamic offset).
type groupKey struct {
	p    *pipe
	bufs [maxBuffers]*buffer
}

// maxGroups is the most bind groups cached; past it the cache starts
// anew (entries of destroyed buffers are never hit again, and go then).
const maxGroups = 4096

// pipeKey names a compiled kernel: family, kernel and overrides (the
// f16 bits of pipeline).
type pipeKey struct {
	family, name string
	f16          int
}

// Backend is the WebGPU backend.
type Backend struct {
	dev, queue js.Value
	Info       AdapterInfo
	Limits     Limits

	pipes      map[pipeKey]*pipe
	groups     map[groupKey]js.Value // bind groups, reused while their buffers live
	dynOff     js.Value              // a Uint32Array(1): the uniforms' offset for setBindGroup
	groupsMade int                   // bind groups made (not found in groups)
	pool       map[int64][]*buffer
	tables     map[[3]int]*buffer
	big        int64 // pooled buffers of this size or more go at the next flush (see trim)
	spare      int64 // flushSpare flushes when the pool holds more big bytes
	pooled     int64 // bytes of big pooled buffers freed since the last flush
	retain     int64 // pooled buffers kept past trim, at most (bytes)
	kept       int64 // bytes of pooled buffers kept past trim
	// With budget set (by Reserve, for a run), the pool keeps every freed
	// buffer while all buffers allocated fit in it; a new buffer that
	// would pass it takes a pooled one up to twice its size, else first
	// destroys the least recently freed (evict). Steps then reuse their
	// buffers. Idle clears it.
	budget int64
	frees  int64 // buffers freed so far (buffer.freed)

	live, alloc, peak int64
	livePeak          int64 // the peak of live (tests: the dry run's peak)
	largest           int64 // the largest buffer allocated
	// With tracePeak set, peakInfo says what made the last new peak.
	tracePeak bool
	// With dry set, dispatches are recorded without their workgroups: a test
	// walks a whole run's allocations at sizes a software adapter cannot
	// compute in time (TestPeakStages with NNST_PEAK_DRY).
	dry bool
	// wino: convs where winoConv allows run by Winograd's F(2x2, 3x3)
	// (conv3x3_wino) unless Tune chose otherwise; LoadModel prepares the
	// weights for it.
	wino bool
	// tuned holds Tune's choices by conv shape; tuneAny lets Tune time
	// kernels on a fallback adapter (tests).
	tuned   map[tuneKey]convChoice
	tuneAny bool
	// tuneLog, when set, gets each conv's candidates and their times.
	tuneLog func(k tuneKey, cands []tuneCand, times []time.Duration)
	// prof, when set, times each dispatch on the GPU (benches only).
	prof *profile
	// The staging buffer readbacks reuse (stage), its size and whether a
	// readback is using it.
	stageBuf  js.Value
	stageSize int64
	stageBusy bool
	// created and createdBytes count the buffers created (not reused).
	created, createdBytes int64
	peakInfo              string
	flushes               int

	enc, pass js.Value   // open encoder and compute pass, or undefined
	staged    []js.Value // staging buffers of copyIn, destroyed at the flush
	passPipe  *pipe      // the pipeline last set in the open pass
	arena     []byte
	arenaBuf  js.Value
	arenaOff  int
	slot      int
	dispatchN int

	scopes   []js.Value    // popErrorScope promises not yet awaited
	compiles []compileInfo // shader compilation messages not yet read
	err      error
	lost     chan string
	lostE    error

	hostStride int // Compact keeps copies with this stride or more in host memory

	partLimit int64 // tests: bytes per bank part, if > 0

	model *model.Model
	convs []*convLayer
	tapOf []int
	last  int
}

type convLayer struct {
	in, out  int
	conv     *model.Conv
	fwd, bwd convWeights
	bias     *buffer
}

// convWeights are one direction of a conv's weights: the 3x3 taps K-major
// (row ci*9 + tap holds every output channel), or with wino set Winograd's
// transformed weights (row ci*16 + e); with tr set too, the forward conv's
// (the same buffer), read transposed and turned for the backward pass.
type convWeights struct {
	buf      *buffer
	wino, tr bool
	convRun
}

// convRun is how a conv pass runs: step is the kernel's K step, 1 (TK 16
// rows, or WC 4 input channels in Winograd's kernel) or 2 (TK 32, WC 8:
// 24 KiB of workgroup memory); with nosplit set a small grid is not split
// along K (fillGroups).
type convRun struct {
	step    int
	nosplit bool
}

// New opens the GPU device. ctx is unused for now except for cancelling
// while waiting for the device.
func New(ctx context.Context) (*Backend, error) {
	type res struct {
		b   *Backend
		err error
	}
	ch := make(chan res, 1)
	go func() {
		dev, info, lim, err := openDevice()
		if err != nil {
			ch <- res{err: err}
			return
		}
		ch <- res{b: newBackend(dev, info, lim)}
	}()
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func newBackend(dev js.Value, info AdapterInfo, lim Limits) *Backend {
	b := &Backend{
		dev: dev, queue: dev.Get("queue"), Info: info, Limits: lim,
		pipes: map[pipeKey]*pipe{}, groups: map[groupKey]js.Value{}, dynOff: js.Global().Get("Uint32Array").New(1), pool: map[int64][]*buffer{}, tables: map[[3]int]*buffer{},
		enc: js.Undefined(), pass: js.Undefined(),
		arena: make([]byte, arenaSize), lost: make(chan string, 1), big: bigBuf, spare: spareBytes, retain: retainBytes, wino: winoDefault, tuned: map[tuneKey]convChoice{},
		hostStride: hostStride,
	}
	b.slot = max(256, lim.MinUniformBufferOffsetAlignment)
	b.arenaBuf = dev.Call("createBuffer", jsObject(map[string]any{"size": arenaSize, "usage": usageUniform | usageCopyDst}))
	var onLost, onErr js.Func
	onLost = js.FuncOf(func(_ js.Value, args []js.Value) any {
		msg := "unknown reason"
		if len(args) > 0 {
			msg = jsString(args[0].Get("reason")) + ": " + jsString(args[0])
		}
		select {
		case b.lost <- msg:
		default:
		}
		return nil
	})
	dev.Get("lost").Call("then", onLost)
	onErr = js.FuncOf(func(_ js.Value, args []js.Value) any {
		if b.err == nil && len(args) > 0 {
			b.err = gpuError(args[0].Get("error"))
		}
		return nil
	})
	dev.Call("addEventListener", "uncapturederror", onErr)
	return b
}

func (b *Backend) Name() string { return "webgpu: " + b.Info.Name() }

func (b *Backend) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

// Err submits what is recorded, waits for the error scopes and returns the
// first error of any call so far.
func (b *Backend) Err() error {
	b.Flush()
	// Compilation messages first: they say where a WGSL error is, the
	// validation error it also causes does not.
	for _, c := range b.compiles {
		ci, err := await(c.info)
		if err != nil {
			continue
		}
		msgs := ci.Get("messages")
		for i := 0; i < msgs.Length(); i++ {
			if m := msgs.Index(i); m.Get("type").String() == "error" {
				b.fail(fmt.Errorf("WGSL %s:%d:%d: %s", c.label, m.Get("lineNum").Int(), m.Get("linePos").Int(), m.Get("message").String()))
				break
			}
		}
	}
	b.compiles = b.compiles[:0]
	for _, s := range b.scopes {
		v, err := await(s)
		if err != nil {
			b.fail(err)
		} else if !v.IsNull() && !v.IsUndefined() {
			b.fail(gpuError(v))
		}
	}
	b.scopes = b.scopes[:0]
	b.checkLost()
	if b.lostE != nil {
		return b.lostE
	}
	return b.err
}

func (b *Backend) checkLost() {
	select {
	case msg := <-b.lost:
		b.lostE = fmt.Errorf("%w: %s", ErrDeviceLost, msg)
	default:
	}
}

// LiveBytes is the size of the buffers held by tensors, banks, the model
// and caches; PeakBytes the peak of all GPU buffers allocated, pooled
// ones included.
func (b *Backend) LiveBytes() int64 { return b.live }
func (b *Backend) PeakBytes() int64 { return b.peak }

// describePeak says what is allocated at a new peak: live and pooled bytes
// and the calls that asked for the new buffer.
func (b *Backend) describePeak(size int64) string {
	pc := make([]uintptr, 12)
	n := runtime.Callers(3, pc)
	fr := runtime.CallersFrames(pc[:n])
	var calls []string
	for {
		f, more := fr.Next()
		if i := strings.LastIndex(f.Function, "."); i >= 0 && !strings.HasPrefix(f.Function, "runtime.") && !strings.HasPrefix(f.Function, "testing.") {
			calls = append(calls, fmt.Sprintf("%s:%d", f.Function[i+1:], f.Line))
		}
		if !more {
			break
		}
	}
	return fmt.Sprintf("%.1f MiB allocated: %.1f live, %.1f pooled (big), %.1f kept, new buffer %.1f MiB from %s",
		float64(b.alloc)/(1<<20), float64(b.live)/(1<<20), float64(b.pooled)/(1<<20), float64(b.kept)/(1<<20), float64(size)/(1<<20), strings.Join(calls, " < "))
}

// Reserve asks the device, before a run, for bytes more of GPU memory:
// WebGPU does not say how much memory a GPU has, so it creates and clears
// buffers of that total, waits for an out-of-memory error and destroys
// them. Pooled buffers are freed first.
func (b *Backend) Reserve(bytes int64) error { return b.reserve(bytes, reserveChunk) }

// reserveChunk is the size of Reserve's buffers: smaller than the buffer
// limits and than the largest allocation some drivers make.
const reserveChunk = 256 << 20

func (b *Backend) reserve(bytes, chunk int64) error {
	if err := b.Err(); err != nil { // Err flushes, so the pool can go
		return err
	}
	b.budget = 0 // set again below if the device holds the bytes
	b.trim(true)
	chunk = min(chunk, b.Limits.MaxBufferSize, b.Limits.MaxStorageBufferBindingSize) &^ 255
	b.dev.Call("pushErrorScope", "out-of-memory")
	// Clearing a buffer that failed to allocate is a validation error, of
	// no interest once the out-of-memory error is known.
	b.dev.Call("pushErrorScope", "validation")
	enc := b.dev.Call("createCommandEncoder")
	var bufs []js.Value
	for left := bytes; left > 0; left -= chunk {
		buf := b.dev.Call("createBuffer", jsObject(map[string]any{"size": roundSize(min(left, chunk)), "usage": storageUsages}))
		enc.Call("clearBuffer", buf)
		bufs = append(bufs, buf)
	}
	b.queue.Call("submit", jsArray(enc.Call("finish")))
	inval, err1 := await(b.dev.Call("popErrorScope"))
	v, err := await(b.dev.Call("popErrorScope"))
	_, done := await(b.queue.Call("onSubmittedWorkDone"))
	for _, buf := range bufs {
		buf.Call("destroy")
	}
	switch {
	case err != nil:
		return err
	case done != nil:
		return done
	case !v.IsNull() && !v.IsUndefined():
		return fmt.Errorf("%w: the GPU could not set aside %.1f GiB (%s)", ErrOutOfMemory, float64(bytes)/(1<<30), strings.TrimSpace(strings.SplitN(jsString(v.Get("message")), "\n", 2)[0]))
	case err1 != nil:
		return err1
	case !inval.IsNull() && !inval.IsUndefined():
		return gpuError(inval)
	}
	b.checkLost()
	if b.lostE == nil {
		b.budget = b.alloc + bytes
	}
	return b.lostE
}

// gpuError turns a GPUError into a Go error; out-of-memory errors wrap
// ErrOutOfMemory.
func gpuError(v js.Value) error {
	if c := v.Get("constructor"); !c.IsUndefined() && c.Get("name").String() == "GPUOutOfMemoryError" {
		return fmt.Errorf("%w: %s", ErrOutOfMemory, jsString(v.Get("message")))
	}
	return fmt.Errorf("WebGPU error: %s", jsString(v))
}

// ResetPeak sets the peak to the bytes allocated now.
func (b *Backend) ResetPeak() { b.peak, b.livePeak = b.alloc, b.live }

// Close frees every buffer and destroys the device.
func (b *Backend) Close() {
	b.Idle()
	b.dev.Call("destroy")
}

// Idle frees what the backend keeps only for speed (the pooled buffers and
// the readback staging buffer, the cached bind groups): for when it waits
// for the next run.
func (b *Backend) Idle() {
	b.Flush()
	b.budget = 0
	b.trim(true)
	clear(b.groups) // most name destroyed buffers now
	if b.stageSize > 0 && !b.stageBusy {
		b.stageBuf.Call("destroy")
		b.stageSize = 0
	}
}

// count adds a newly created buffer of size bytes to the allocation, the
// peak and the largest buffer.
func (b *Backend) count(size int64) {
	b.created++
	b.createdBytes += size
	b.alloc += size
	b.largest = max(b.largest, size)
	if b.alloc > b.peak && b.tracePeak {
		b.peakInfo = b.describePeak(size)
	}
	b.peak = max(b.peak, b.alloc)
}

// LargestBytes returns the largest buffer allocated so far.
func (b *Backend) LargestBytes() int64 { return b.largest }

func (b *Backend) newBuf(bytes int64) *buffer {
	size := roundSize(bytes)
	if size > b.Limits.MaxBufferSize || size > b.Limits.MaxStorageBufferBindingSize {
		b.fail(fmt.Errorf("a GPU buffer of %d MiB exceeds the device limit (%d MiB): use a smaller size", size>>20, min(b.Limits.MaxBufferSize, b.Limits.MaxStorageBufferBindingSize)>>20))
		size = 256
	}
	from := size
	if len(b.pool[size]) == 0 && b.budget > 0 && b.alloc+size > b.budget {
		// Rather than destroy buffers to make room, a pooled one up to
		// twice the size serves (the smallest).
		for s, l := range b.pool {
			if len(l) > 0 && s > size && s <= 2*size && (from == size || s < from) {
				from = s
			}
		}
	}
	if l := b.pool[from]; len(l) > 0 {
		// The oldest buffer: a pass that repeats gets the same buffers in
		// the same places, and so its cached bind groups.
		i := 0
		for j, c := range l {
			if c.id < l[i].id {
				i = j
			}
		}
		buf := l[i]
		b.pool[from] = slices.Delete(l, i, i+1)
		b.unpool(buf)
		b.live += from
		b.livePeak = max(b.livePeak, b.live)
		return buf
	}
	b.live += size
	b.livePeak = max(b.livePeak, b.live)
	if b.budget > 0 && b.alloc+size > b.budget {
		b.evict(b.alloc + size - b.budget)
	}
	b.count(size)
	v := b.dev.Call("createBuffer", jsObject(map[string]any{"size": size, "usage": storageUsages}))
	return &buffer{v: v, size: size, id: b.created}
}

// bigBuf is the size from which freed buffers are reused until the next
// flush and then destroyed, but for retainBytes of them: they would hold
// much memory.
const bigBuf = 16 << 20

// freeBuf pools a buffer: commands recorded later may reuse it, since they
// run after the ones recorded before.
func (b *Backend) freeBuf(buf *buffer) {
	if buf == nil {
		return
	}
	b.live -= buf.size
	buf.idle, buf.freed = b.flushes, b.frees
	b.frees++
	b.pool[buf.size] = append(b.pool[buf.size], buf)
	if buf.size >= b.big {
		b.pooled += buf.size
	}
}

// flushSpare flushes, destroying big pooled buffers, when the pool holds
// more than the spare bytes beyond what trim would keep.
func (b *Backend) flushSpare() {
	if b.budget == 0 && b.pooled+b.kept > b.retain+b.spare {
		b.Flush()
		b.trim(false)
	}
}

// trim destroys the pooled buffers that are big or unused for two flushes
// (all if all), but for the most recently freed of them, up to b.retain
// bytes, which it keeps for the next step or pass to reuse.
func (b *Backend) trim(all bool) {
	if b.budget > 0 && !all {
		return // evict makes room
	}
	var old []*buffer
	for size, l := range b.pool {
		k := 0
		for _, buf := range l {
			switch {
			case all:
				buf.v.Call("destroy")
				b.alloc -= buf.size
			case size >= b.big || b.flushes-buf.idle >= 2:
				old = append(old, buf)
			default:
				l[k] = buf
				k++
			}
		}
		b.pool[size] = l[:k]
	}
	// In a fixed order (the pool's map is not): passes that repeat get the
	// same buffers in the same places, and so their cached bind groups.
	slices.SortFunc(old, func(x, y *buffer) int {
		return cmp.Or(y.idle-x.idle, cmp.Compare(y.size, x.size), cmp.Compare(x.id, y.id))
	})
	b.kept = 0
	for _, buf := range old {
		if b.kept+buf.size <= b.retain {
			buf.kept = true
			b.kept += buf.size
			b.pool[buf.size] = append(b.pool[buf.size], buf)
		} else {
			buf.v.Call("destroy")
			b.alloc -= buf.size
		}
	}
	b.pooled = 0
}

// unpool takes a buffer leaving the pool out of the kept or pooled bytes.
func (b *Backend) unpool(buf *buffer) {
	if buf.kept {
		b.kept -= buf.size
		buf.kept = false
	} else if buf.size >= b.big {
		b.pooled -= buf.size
	}
}

// evict destroys pooled buffers, the least recently freed first, until
// need bytes are gone or the pool is empty; it flushes first, since
// recorded commands may use them.
func (b *Backend) evict(need int64) {
	var all []*buffer
	for _, l := range b.pool {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	b.Flush()
	slices.SortFunc(all, func(x, y *buffer) int { return cmp.Compare(x.freed, y.freed) })
	gone := map[*buffer]bool{}
	for _, buf := range all {
		if need <= 0 {
			break
		}
		buf.v.Call("destroy")
		b.alloc -= buf.size
		need -= buf.size
		gone[buf] = true
		b.unpool(buf)
	}
	for size, l := range b.pool {
		b.pool[size] = slices.DeleteFunc(l, func(buf *buffer) bool { return gone[buf] })
	}
}

func (b *Backend) tensor(c, h, w int) *Tensor {
	return &Tensor{c: c, h: h, w: w, buf: b.newBuf(int64(c*h*w) * 4)}
}

// Flush submits the recorded commands.
func (b *Backend) Flush() {
	if b.enc.IsUndefined() {
		return
	}
	b.pass.Call("end")
	cmd := b.enc.Call("finish")
	b.queue.Call("writeBuffer", b.arenaBuf, 0, bytesToJS(b.arena[:b.arenaOff]))
	b.queue.Call("submit", jsArray(cmd))
	for _, st := range b.staged {
		st.Call("destroy") // freed when the submitted copies are done
	}
	b.staged = b.staged[:0]
	b.scopes = append(b.scopes, b.dev.Call("popErrorScope"), b.dev.Call("popErrorScope"))
	b.enc, b.pass = js.Undefined(), js.Undefined()
	b.arenaOff = 0
	b.flushes++
	b.trim(false)
}

func (b *Backend) open() {
	if !b.enc.IsUndefined() {
		return
	}
	b.dev.Call("pushErrorScope", "out-of-memory")
	b.dev.Call("pushErrorScope", "validation")
	b.enc = b.dev.Call("createCommandEncoder")
	b.pass = b.enc.Call("beginComputePass")
	b.passPipe = nil
}

// pipeline returns the cached pipeline of a kernel.
func (b *Backend) pipeline(family, name string, f16 int) *pipe {
	key := pipeKey{family, name, f16}
	if p, ok := b.pipes[key]; ok {
		return p
	}
	src, err := shaders.Kernel(family, name)
	if err != nil {
		panic(err)
	}
	return b.compile(key, src)
}

// compile makes and caches the pipeline of a kernel's WGSL source.
func (b *Backend) compile(key pipeKey, src string) *pipe {
	family, name, f16 := key.family, key.name, key.f16
	mod := b.dev.Call("createShaderModule", jsObject(map[string]any{"code": src, "label": family + "/" + name}))
	// Not awaited here (a round trip to the GPU process per new kernel):
	// Err reads it.
	b.compiles = append(b.compiles, compileInfo{family + "/" + name, mod.Call("getCompilationInfo")})
	layout, nbuf, err := bindLayout(b.dev, src)
	if err != nil {
		panic(fmt.Sprintf("kernel %s/%s: %v", family, name, err))
	}
	comp := map[string]any{"module": mod, "entryPoint": "main"}
	if f16 >= 0 {
		// Bit 0 sets F16 (bank storage), bit 1 SRC16 (compact input), bit
		// 2 doubles the conv's K step: TK 32 instead of 16, WC 8 instead
		// of 4.
		cs := map[string]any{}
		if strings.Contains(src, "override TK") {
			cs["TK"] = 16 << (f16 >> 2 & 1)
		}
		if strings.Contains(src, "override WC") {
			cs["WC"] = winoWC << (f16 >> 2 & 1)
		}
		if strings.Contains(src, "override F16") {
			cs["F16"] = f16 & 1
		}
		if strings.Contains(src, "override SRC16") {
			cs["SRC16"] = f16 >> 1 & 1
		}
		comp["constants"] = jsObject(cs)
	}
	var v js.Value
	label := fmt.Sprintf("%s/%s/%d", family, name, f16)
	if err := try(func() {
		pl := b.dev.Call("createPipelineLayout", jsObject(map[string]any{"bindGroupLayouts": jsArray(layout)}))
		v = b.dev.Call("createComputePipeline", jsObject(map[string]any{"layout": pl, "compute": jsObject(comp), "label": label}))
	}); err != nil {
		b.fail(fmt.Errorf("pipeline %s: %w", label, err))
	}
	p := &pipe{v: v, layout: layout, nbuf: nbuf}
	b.pipes[key] = p
	return p
}

// compileInfo is a shader module's getCompilationInfo promise and its
// kernel.
type compileInfo struct {
	label string
	info  js.Value
}

// params are a kernel's uniform words.
type params []uint32

func f32(v float32) uint32 { return math.Float32bits(v) }

// dispatch records one dispatch of kernel family/name over the workgroup
// grid gx x gy; bufs bind to 0..n-1 and the params to n. f16 >= 0 sets the
// F16 override.
func (b *Backend) dispatch(family, name string, f16 int, gx, gy int, ps params, bufs ...*buffer) {
	b.dispatch3(family, name, f16, gx, gy, 1, ps, bufs...)
}

func (b *Backend) dispatch3(family, name string, f16 int, gx, gy, gz int, ps params, bufs ...*buffer) {
	if gx == 0 || gy == 0 || gz == 0 {
		return
	}
	p := b.pipeline(family, name, f16)
	if b.arenaOff+b.slot > arenaSize {
		b.Flush()
	}
	b.open()
	if b.prof != nil {
		b.prof.pass(b, name, ps)
	}
	off := b.arenaOff
	for i, w := range ps {
		binary.LittleEndian.PutUint32(b.arena[off+4*i:], w)
	}
	for i := len(ps); i < 16; i++ {
		binary.LittleEndian.PutUint32(b.arena[off+4*i:], 0)
	}
	b.arenaOff += b.slot
	if len(bufs) != p.nbuf {
		panic(fmt.Sprintf("kernel %s/%s binds %d buffers, not %d", family, name, p.nbuf, len(bufs)))
	}
	key := groupKey{p: p}
	copy(key.bufs[:], bufs)
	bg, ok := b.groups[key]
	if !ok {
		if len(b.groups) >= maxGroups {
			clear(b.groups)
		}
		bg = b.bindGroup(p, bufs)
		b.groups[key] = bg
		b.groupsMade++
	}
	if b.passPipe != p {
		b.pass.Call("setPipeline", p.v)
		b.passPipe = p
	}
	b.dynOff.SetIndex(0, off)
	b.pass.Call("setBindGroup", 0, bg, b.dynOff, 0, 1)
	if !b.dry {
		b.pass.Call("dispatchWorkgroups", gx, gy, gz)
	}
	b.dispatchN++
}

// bindGroup makes p's bind group of bufs and the uniform arena.
func (b *Backend) bindGroup(p *pipe, bufs []*buffer) js.Value {
	if p.res == nil {
		ents := js.Global().Get("Array").New(p.nbuf + 1)
		p.res = make([]js.Value, p.nbuf)
		for i := range p.nbuf {
			p.res[i] = jsObject(map[string]any{"buffer": b.arenaBuf})
			ents.SetIndex(i, jsObject(map[string]any{"binding": i, "resource": p.res[i]}))
		}
		ents.SetIndex(p.nbuf, jsObject(map[string]any{"binding": p.nbuf, "resource": jsObject(map[string]any{"buffer": b.arenaBuf, "size": 64})}))
		p.desc = jsObject(map[string]any{"layout": p.layout, "entries": ents})
	}
	for i, buf := range bufs {
		p.res[i].Set("buffer", buf.v)
	}
	return b.dev.Call("createBindGroup", p.desc)
}

// bindLayout makes the bind group layout of a kernel from its WGSL: its
// bindings must be storage buffers 0..n-1 and the uniforms at n, which
// take a dynamic offset (into the arena). It returns the layout and n.
func bindLayout(dev js.Value, src string) (js.Value, int, error) {
	m := bindingRE.FindAllStringSubmatch(src, -1)
	ents := js.Global().Get("Array").New(len(m))
	for i, b := range m {
		if b[1] != strconv.Itoa(i) {
			return js.Value{}, 0, fmt.Errorf("binding %s where %d was due", b[1], i)
		}
		access := strings.ReplaceAll(b[2], " ", "")
		buf := map[string]any{}
		switch {
		case access == "uniform" && i == len(m)-1:
			buf["type"], buf["hasDynamicOffset"] = "uniform", true
		case access == "storage,read_write" && i < len(m)-1:
			buf["type"] = "storage"
		case (access == "storage,read" || access == "storage") && i < len(m)-1:
			buf["type"] = "read-only-storage"
		default:
			return js.Value{}, 0, fmt.Errorf("binding %d is var<%s>: want storage buffers, then the uniforms", i, b[2])
		}
		ents.SetIndex(i, jsObject(map[string]any{"binding": i, "visibility": shaderStageCompute, "buffer": jsObject(buf)}))
	}
	if len(m) == 0 || len(m)-1 > maxBuffers {
		return js.Value{}, 0, fmt.Errorf("%d bindings", len(m))
	}
	return dev.Call("createBindGroupLayout", jsObject(map[string]any{"entries": ents})), len(m) - 1, nil
}

// bindingRE matches a binding of group 0 and its address space and access.
var bindingRE = regexp.MustCompile(`@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]*)>`)

// run1 dispatches one invocation per element (256 per workgroup, 2-D grid
// when needed).
func (b *Backend) run1(family, name string, f16 int, n int, ps params, bufs ...*buffer) {
	g := (n + 255) / 256
	if g == 0 {
		return
	}
	mx := b.Limits.MaxComputeWorkgroupsPerDim
	gx, gy := g, 1
	if g > mx {
		gx, gy = mx, (g+mx-1)/mx
	}
	b.dispatch(family, name, f16, gx, gy, ps, bufs...)
}

// Dispatches returns the number of dispatches recorded so far.
func (b *Backend) Dispatches() int { return b.dispatchN }

func (b *Backend) Upload(t *tensor.T) nnst.Tensor {
	out := b.tensor(t.C, t.H, t.W) // write orders itself after recorded commands
	b.write(out.buf, floatBytes(t.Data))
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

func u32bytes(d []uint32) []byte {
	out := make([]byte, 4*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint32(out[4*i:], v)
	}
	return out
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
	if !x.half {
		if err := b.readInto(x.buf, floatBytes(out.Data)); err != nil {
			return nil, err
		}
		return out, b.Err()
	}
	raw, err := b.readBytes(x.buf, x.n()*2)
	if err != nil {
		return nil, err
	}
	for i := range out.Data {
		out.Data[i] = halfToFloat(binary.LittleEndian.Uint16(raw[2*i:]))
	}
	return out, b.Err()
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
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	e := uint32(h>>10) & 31
	m := uint32(h) & 1023
	switch {
	case e == 31:
		return math.Float32frombits(sign | 0xff<<23 | m<<13)
	case e == 0:
		v := float32(m) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | (e+112)<<23 | m<<13)
}

// Compact packs x into fp16 pairs, in host memory for large strides.
func (b *Backend) Compact(x nnst.Tensor, stride int) nnst.Tensor {
	xt := gt(x)
	n := xt.n()
	if stride < b.hostStride {
		y := &Tensor{c: xt.c, h: xt.h, w: xt.w, half: true, buf: b.newBuf(int64((n+1)/2) * 4)}
		b.run1("elementwise", "pack_half", -1, (n+1)/2, params{uint32(n)}, xt.buf, y.buf)
		return y
	}
	// A host copy in stride-phase order: the samples of one step (one
	// phase) are then one contiguous block to upload.
	s := stride
	hs, ws, bl := phaseBlock(xt.c, xt.h, xt.w, s)
	tot := s * s * bl
	y := &Tensor{c: xt.c, h: xt.h, w: xt.w, half: true, phase: s}
	buf := b.newBuf(int64(tot/2) * 4)
	b.run1("elementwise", "pack_half_phase", -1, tot/2, params{uint32(tot), uint32(xt.c), uint32(xt.h), uint32(xt.w), uint32(s), uint32(hs), uint32(ws), uint32(bl)}, xt.buf, buf)
	a, err := b.readJS(buf, tot*2)
	b.freeBuf(buf)
	if err != nil {
		b.fail(err)
		return y
	}
	y.host = js.Global().Get("Uint16Array").New(a.Get("buffer"))
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
	b.run1("elementwise", "crop_half", -1, (n+1)/2, params{uint32(n), uint32(hs), uint32(ws), uint32(g.y0 / s), uint32(g.x0 / s), uint32(sh), uint32(g.sw)}, blk, y.buf)
	b.freeBuf(blk)
	return y
}

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

func (b *Backend) fill(buf *buffer, n int, v float32) {
	b.run1("elementwise", "fill", -1, n, params{uint32(n), f32(v)}, buf)
}

func (b *Backend) Zeros(c, h, w int) nnst.Tensor {
	t := b.tensor(c, h, w)
	b.fill(t.buf, t.n(), 0)
	return t
}

func (b *Backend) Free(ts ...nnst.Tensor) {
	for _, t := range ts {
		if x := gt(t); x != nil && x.buf != nil {
			b.freeBuf(x.buf)
			x.buf = nil
		} else if x != nil {
			x.host = js.Value{}
		}
	}
	b.flushSpare()
}

func (b *Backend) Axpby(a float32, x nnst.Tensor, c float32, y nnst.Tensor) nnst.Tensor {
	xt := gt(x)
	z := b.tensor(xt.c, xt.h, xt.w)
	yb, has := xt.buf, uint32(0)
	if yt := gt(y); yt != nil {
		if yt.c != xt.c || yt.h != xt.h || yt.w != xt.w {
			panic(fmt.Sprintf("webgpu: Axpby shape mismatch %dx%dx%d vs %dx%dx%d", xt.c, xt.h, xt.w, yt.c, yt.h, yt.w))
		}
		yb, has = yt.buf, 1
	}
	b.run1("elementwise", "axpby", -1, z.n(), params{uint32(z.n()), f32(a), f32(c), has}, xt.buf, yb, z.buf)
	return z
}

// table returns the resize table of one axis (see resize.wgsl), cached.
func (b *Backend) table(in, out int, align bool) *buffer {
	key := [3]int{in, out, 0}
	if align {
		key[2] = 1
	}
	if t, ok := b.tables[key]; ok {
		return t
	}
	a := ops.LinearAxis(in, out, align)
	words := make([]uint32, 0, 4*out+in+1+4*out)
	for d := 0; d < out; d++ {
		words = append(words, uint32(a.I0[d]), uint32(a.I1[d]), f32(a.W0[d]), f32(a.W1[d]))
	}
	type ent struct{ d, w uint32 }
	lists := make([][]ent, in)
	for d := 0; d < out; d++ {
		lists[a.I0[d]] = append(lists[a.I0[d]], ent{uint32(d), f32(a.W0[d])})
		lists[a.I1[d]] = append(lists[a.I1[d]], ent{uint32(d), f32(a.W1[d])})
	}
	n := 0
	for _, l := range lists {
		words = append(words, uint32(n))
		n += len(l)
	}
	words = append(words, uint32(n))
	for _, l := range lists {
		for _, e := range l {
			words = append(words, e.d, e.w)
		}
	}
	buf := b.newBuf(int64(len(words)) * 4) // write orders itself after recorded commands
	b.write(buf, u32bytes(words))
	b.tables[key] = buf
	return buf
}

// resize writes scale * bilinear(x) into channels c0.. of y (h x w).
func (b *Backend) resize(x *Tensor, y *Tensor, c0 int, scale float32, align bool) {
	ty := b.table(x.h, y.h, align)
	tx := b.table(x.w, y.w, align)
	b.run1("resize", "resize", -1, x.c*y.h*y.w, params{uint32(x.c), uint32(x.h), uint32(x.w), uint32(y.h), uint32(y.w), f32(scale), uint32(c0)}, x.buf, ty, tx, y.buf)
}

// resizeBack writes into dx the adjoint of resize applied to channels
// c0 .. c0+dx.c of g.
func (b *Backend) resizeBack(g *Tensor, c0 int, dx *Tensor, scale float32, align bool) {
	ty := b.table(dx.h, g.h, align)
	tx := b.table(dx.w, g.w, align)
	b.run1("resize", "resize_back", -1, dx.n(), params{uint32(dx.c), uint32(dx.h), uint32(dx.w), uint32(g.h), uint32(g.w), f32(scale), uint32(c0)}, g.buf, ty, tx, dx.buf)
}

func (b *Backend) Resize(x nnst.Tensor, h, w int, align bool) nnst.Tensor {
	xt := gt(x)
	y := b.tensor(xt.c, h, w)
	b.resize(xt, y, 0, 1, align)
	return y
}

func (b *Backend) ResizeBackward(g nnst.Tensor, h, w int, align bool) nnst.Tensor {
	gg := gt(g)
	dx := b.tensor(gg.c, h, w)
	b.resizeBack(gg, 0, dx, 1, align)
	return dx
}

func (b *Backend) Rot90(x nnst.Tensor, k int) nnst.Tensor {
	xt := gt(x)
	k = ((k % 4) + 4) % 4
	h, w := xt.h, xt.w
	if k%2 == 1 {
		h, w = w, h
	}
	y := b.tensor(xt.c, h, w)
	b.run1("elementwise", "rot90", -1, y.n(), params{uint32(xt.c), uint32(xt.h), uint32(xt.w), uint32(k)}, xt.buf, y.buf)
	return y
}

func (b *Backend) Adam(p, g, m, v nnst.Tensor, t int, lr float32) {
	const b1, b2 = 0.9, 0.999
	bc1 := 1 - math.Pow(b1, float64(t))
	bc2 := 1 - math.Pow(b2, float64(t))
	step := float32(float64(lr) / bc1)
	sq := float32(math.Sqrt(bc2))
	pt := gt(p)
	b.run1("elementwise", "adam", -1, pt.n(), params{uint32(pt.n()), f32(step), f32(sq)}, pt.buf, gt(g).buf, gt(m).buf, gt(v).buf)
}

var _ nnst.Backend = (*Backend)(nil)
