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
	"context"
	"fmt"
	"strings"
	"syscall/js"
	"time"

	"nnst/core/model"
	"nnst/core/nnst"
)

// Tensor is a C x H x W float32 tensor in a GPU buffer, or in parts
// (channel ranges of cp channels, each its own buffer) when one buffer
// would pass the binding limit (parts.go); a compact one (half) holds
// fp16 pairs and is only read as a SplitLoss style input, from the GPU
// buffer or, when it is kept off the device, from host (a JS Uint16Array).
type Tensor struct {
	c, h, w int
	buf     *buffer
	parts   []*buffer // with buf nil: channels i*cp .. of the tensor
	cp      int
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

// Backend is the WebGPU backend.
type Backend struct {
	// The device and its errors (backend.go).
	dev, queue js.Value
	Info       AdapterInfo
	Limits     Limits
	scopes     []js.Value    // popErrorScope promises not yet awaited
	compiles   []compileInfo // shader compilation messages not yet read
	err        error
	lost       chan string
	lostE      error

	bufferPool // the storage buffers (pool.go)

	// Pipelines and the commands recorded (pipeline.go).
	pipes      map[pipeKey]*pipe
	groups     map[groupKey]js.Value // bind groups, reused while their buffers live
	dynOff     js.Value              // a Uint32Array(1): the uniforms' offset for setBindGroup
	groupsMade int                   // bind groups made (not found in groups)
	enc, pass  js.Value              // open encoder and compute pass, or undefined
	staged     []js.Value            // staging buffers of copyIn, destroyed at the flush
	passPipe   *pipe                 // the pipeline last set in the open pass
	arena      []byte                // the recorded dispatches' uniforms, a slot each
	arenaBuf   js.Value              // the arena on the GPU, written at the flush
	arenaOff   int                   // the next slot's offset
	slot       int                   // bytes per slot: 256 or the device's uniform offset alignment
	dispatchN  int                   // dispatches recorded so far
	// With dry set, dispatches are recorded without their workgroups: a test
	// walks a whole run's allocations at sizes a software adapter cannot
	// compute in time (TestPeakStages with NNST_PEAK_DRY).
	dry bool
	// prof, when set, times each dispatch on the GPU (benches only).
	prof *profile

	// Transfers (transfer.go): the staging buffer readbacks reuse (stage),
	// its size and whether a readback is using it.
	stageBuf   js.Value
	stageSize  int64
	stageBusy  bool
	hostStride int // Compact keeps copies with this stride or more in host memory

	// Ops and the network (ops.go, network.go, match.go, tune.go).
	tables map[[3]int]*buffer // resize tables (table)
	// wino: convs where winoConv allows run by Winograd's F(2x2, 3x3)
	// (conv3x3_wino) unless Tune chose otherwise; LoadModel prepares the
	// weights for it.
	wino bool
	// tuned holds Tune's choices by conv shape; tuneAny lets Tune time
	// kernels on a fallback adapter (tests).
	tuned   map[tuneKey]convChoice
	tuneAny bool
	// tuneLog, when set, gets each conv's candidates and their times.
	tuneLog   func(k tuneKey, cands []tuneCand, times []time.Duration)
	partLimit int64 // tests: bytes per bank part, if > 0
	// binding is the most bytes a buffer may have: the device's limits,
	// or lower in tests (setBinding), so that every split path runs.
	binding int64
	parted  int // tensors and query copies made in parts (tests)
	blocks  int // conv dispatches over tensors in parts (tests)
	model   *model.Model
	convs   []*convLayer
	tapOf   []int
	last    int
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
		pipes: map[pipeKey]*pipe{}, groups: map[groupKey]js.Value{}, dynOff: js.Global().Get("Uint32Array").New(1), tables: map[[3]int]*buffer{},
		enc: js.Undefined(), pass: js.Undefined(),
		arena: make([]byte, arenaSize), lost: make(chan string, 1), wino: winoDefault, tuned: map[tuneKey]convChoice{},
		hostStride: hostStride,
	}
	b.binding = min(lim.MaxBufferSize, lim.MaxStorageBufferBindingSize)
	b.bufferPool = newBufferPool(b, b.binding)
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

// createBuffer and destroyBuffer make and destroy the pool's storage
// buffers.
func (b *Backend) createBuffer(size int64) handle {
	return b.dev.Call("createBuffer", jsObject(map[string]any{"size": size, "usage": storageUsages}))
}

func (b *Backend) destroyBuffer(buf *buffer) { buf.v.Call("destroy") }

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

// gpuError turns a GPUError into a Go error; out-of-memory errors wrap
// ErrOutOfMemory.
func gpuError(v js.Value) error {
	if c := v.Get("constructor"); !c.IsUndefined() && c.Get("name").String() == "GPUOutOfMemoryError" {
		return fmt.Errorf("%w: %s", ErrOutOfMemory, jsString(v.Get("message")))
	}
	return fmt.Errorf("WebGPU error: %s", jsString(v))
}

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
