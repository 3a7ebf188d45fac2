//go:build js && wasm

// Pipelines and dispatch: the kernels compiled once and cached with their
// bind group layouts, bind groups reused while their buffers live, the
// uniform arena, and the one open command encoder and compute pass that
// dispatches are recorded into until Flush.

package webgpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"syscall/js"

	"nnst/shaders"
)

type pipe struct {
	v      js.Value
	layout js.Value // its bind group layout: storage buffers, then the uniforms at a dynamic offset
	nbuf   int      // storage buffers
	nparam int      // uniform words (the fields of its WGSL struct)
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

// pipeKey names a compiled kernel: family, kernel and overrides.
type pipeKey struct {
	family, name string
	over         overrides
}

// pipeline returns the cached pipeline of a kernel.
func (b *Backend) pipeline(family, name string, over overrides) *pipe {
	key := pipeKey{family, name, over}
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
	family, name := key.family, key.name
	mod := b.dev.Call("createShaderModule", jsObject(map[string]any{"code": src, "label": family + "/" + name}))
	// Not awaited here (a round trip to the GPU process per new kernel):
	// Err reads it.
	b.compiles = append(b.compiles, compileInfo{family + "/" + name, mod.Call("getCompilationInfo")})
	layout, nbuf, err := bindLayout(b.dev, src)
	if err != nil {
		panic(fmt.Sprintf("kernel %s/%s: %v", family, name, err))
	}
	fields, err := shaders.Params(src)
	if err == nil && len(fields) > paramWords {
		err = fmt.Errorf("%d uniform words, more than an arena slot's %d", len(fields), paramWords)
	}
	if err != nil {
		panic(fmt.Sprintf("kernel %s/%s: %v", family, name, err))
	}
	comp := map[string]any{"module": mod, "entryPoint": "main"}
	if cs := key.over.constants(src); cs != nil {
		comp["constants"] = jsObject(cs)
	}
	var v js.Value
	label := fmt.Sprintf("%s/%s/%d", family, name, key.over)
	if err := try(func() {
		pl := b.dev.Call("createPipelineLayout", jsObject(map[string]any{"bindGroupLayouts": jsArray(layout)}))
		v = b.dev.Call("createComputePipeline", jsObject(map[string]any{"layout": pl, "compute": jsObject(comp), "label": label}))
	}); err != nil {
		b.fail(fmt.Errorf("pipeline %s: %w", label, err))
	}
	p := &pipe{v: v, layout: layout, nbuf: nbuf, nparam: len(fields)}
	b.pipes[key] = p
	return p
}

// compileInfo is a shader module's getCompilationInfo promise and its
// kernel.
type compileInfo struct {
	label string
	info  js.Value
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

// params are a kernel's uniform words, one per field of its WGSL struct.
type params []uint32

// paramWords is the most uniform words a kernel has: its slot of the
// arena binds 64 bytes.
const paramWords = 16

func f32(v float32) uint32 { return math.Float32bits(v) }

// run1 dispatches one invocation per element (256 per workgroup, 2-D grid
// when needed).
func (b *Backend) run1(family, name string, over overrides, n int, ps params, bufs ...*buffer) {
	g := (n + 255) / 256
	if g == 0 {
		return
	}
	mx := b.Limits.MaxComputeWorkgroupsPerDim
	gx, gy := g, 1
	if g > mx {
		gx, gy = mx, (g+mx-1)/mx
	}
	b.dispatch(family, name, over, gx, gy, ps, bufs...)
}

// dispatch records one dispatch of kernel family/name over the workgroup
// grid gx x gy, compiled with the overrides over; bufs bind to 0..n-1 and
// the params to n.
func (b *Backend) dispatch(family, name string, over overrides, gx, gy int, ps params, bufs ...*buffer) {
	b.dispatch3(family, name, over, gx, gy, 1, ps, bufs...)
}

func (b *Backend) dispatch3(family, name string, over overrides, gx, gy, gz int, ps params, bufs ...*buffer) {
	if gx == 0 || gy == 0 || gz == 0 {
		return
	}
	p := b.pipeline(family, name, over)
	if len(ps) != p.nparam {
		panic(fmt.Sprintf("kernel %s/%s takes %d uniform words, not %d", family, name, p.nparam, len(ps)))
	}
	if len(bufs) != p.nbuf {
		panic(fmt.Sprintf("kernel %s/%s binds %d buffers, not %d", family, name, p.nbuf, len(bufs)))
	}
	for _, buf := range bufs {
		if buf == nil {
			// A tensor in parts given to a kernel that takes it whole.
			b.fail(fmt.Errorf("webgpu: %s/%s: a tensor over the binding limit (%d MiB), held in parts, where one buffer is needed", family, name, b.binding>>20))
			return
		}
	}
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
	for i := len(ps); i < paramWords; i++ {
		binary.LittleEndian.PutUint32(b.arena[off+4*i:], 0)
	}
	b.arenaOff += b.slot
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
		ents.SetIndex(p.nbuf, jsObject(map[string]any{"binding": p.nbuf, "resource": jsObject(map[string]any{"buffer": b.arenaBuf, "size": 4 * paramWords})}))
		p.desc = jsObject(map[string]any{"layout": p.layout, "entries": ents})
	}
	for i, buf := range bufs {
		p.res[i].Set("buffer", buf.v)
	}
	return b.dev.Call("createBindGroup", p.desc)
}

// Dispatches returns the number of dispatches recorded so far.
func (b *Backend) Dispatches() int { return b.dispatchN }

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
	b.flushed()
}
