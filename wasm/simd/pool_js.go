//go:build js && wasm

package simd

import (
	"errors"
	"fmt"
	"nnst/wasm/jsutil"
	"runtime"
	"strings"
	"sync"
	"syscall/js"
	"unsafe"
)

// pool is the worker pool of web/simd.js and its shared memory.
type pool struct {
	threads int
	mem     js.Value // WebAssembly.Memory

	mu   sync.Mutex // guards heap and err
	heap *heap
	err  error
	run  sync.Mutex // one kernel at a time
}

// maxMem is the memory's maximum size (65536 pages).
const maxMem = 1 << 32

var (
	poolMu sync.Mutex
	shared *pool
)

func shim() js.Value { return js.Global().Get("nnstSimd") }

// open starts (or reuses) the pool with n workers.
func open(n int) (*pool, error) {
	poolMu.Lock()
	defer poolMu.Unlock()
	if shared != nil && shared.threads == n && shared.Err() == nil {
		return shared, nil
	}
	if !Available() {
		return nil, errors.New("simd: needs web/simd.js, SharedArrayBuffer, cross-origin isolation and WebAssembly SIMD")
	}
	if shared != nil {
		// The shim replaces its workers and memory: the old pool is done.
		shared.fail(errors.New("simd: pool replaced by one with another thread count"))
		shared = nil
	}
	mem, err := await(shim().Call("start", n))
	if err != nil {
		return nil, fmt.Errorf("simd: starting %d workers: %w", n, err)
	}
	// Bytes 0-63 are the shim's: its control block (web/simd.js).
	shared = &pool{threads: n, mem: mem, heap: newHeap(64)}
	return shared, nil
}

// Err returns the pool's first failure.
func (p *pool) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *pool) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
}

// alloc reserves n bytes of shared memory, growing it as needed; it
// returns -1 after a failure.
func (p *pool) alloc(n int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return -1
	}
	off := p.heap.alloc(n)
	if p.heap.top > maxMem {
		p.heap.release(off)
		p.err = fmt.Errorf("simd: out of shared memory (%d MiB more wanted)", n>>20)
		return -1
	}
	size := p.mem.Get("buffer").Get("byteLength").Int()
	if p.heap.top > size {
		// Only what is needed: the memory never shrinks, and its peak is
		// the tab's.
		pages := (p.heap.top - size + 65535) / 65536
		if err := grow(p.mem, pages); err != nil {
			p.heap.release(off)
			p.err = fmt.Errorf("simd: growing shared memory to %d MiB: %w", (size>>20)+pages>>4, err)
			return -1
		}
	}
	return off
}

func grow(mem js.Value, pages int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	mem.Call("grow", pages)
	return nil
}

func (p *pool) free(offs ...int) {
	p.mu.Lock()
	for _, o := range offs {
		if o >= 0 {
			p.heap.release(o)
		}
	}
	p.mu.Unlock()
}

func bytesOf[T float32 | int32](s []T) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4)
}

// view is a Uint8Array over n bytes of shared memory at off.
func (p *pool) view(off, n int) js.Value {
	return js.Global().Get("Uint8Array").New(p.mem.Get("buffer"), off, n)
}

// put copies s to shared memory at off.
func put[T float32 | int32](p *pool, off int, s []T) {
	if off >= 0 && len(s) > 0 {
		js.CopyBytesToJS(p.view(off, len(s)*4), bytesOf(s))
		runtime.KeepAlive(s)
	}
}

// get copies shared memory at off to s.
func get[T float32 | int32](p *pool, off int, s []T) {
	if off >= 0 && len(s) > 0 {
		js.CopyBytesToGo(bytesOf(s), p.view(off, len(s)*4))
		runtime.KeepAlive(s)
	}
}

// call runs kernel fn on every worker over tiles tiles, with scratch bytes
// of scratch per worker and the kernel's words (from word 4 on).
func (p *pool) call(fn string, tiles, scratch int, words ...int) bool {
	return p.startSeq([]kernel{{fn, tiles, scratch, words}})()
}

// kernel is one call of a list: as call's arguments.
type kernel struct {
	fn             string
	tiles, scratch int
	words          []int
}

// startSeq starts ks in order in one round trip to the workers (each
// starts when every worker has finished the one before) and returns the
// wait for the last; the caller may work in between (no other kernel
// starts until then). Kernels with no tiles are left out.
func (p *pool) startSeq(ks []kernel) (wait func() bool) {
	p.run.Lock()
	list := []int32{0}
	stride := 64 // one scratch block per worker, as large as any kernel's
	for _, k := range ks {
		stride = max(stride, (k.scratch+63)&^63)
	}
	scr := p.alloc(stride * p.threads)
	offs := []int{scr} // freed at the end
	for _, k := range ks {
		if k.tiles <= 0 {
			continue
		}
		w := make([]int32, 4+len(k.words))
		w[1] = int32(k.tiles)
		w[2] = int32(uint32(scr))
		w[3] = int32(stride)
		for i, v := range k.words {
			w[4+i] = int32(uint32(v))
		}
		par := p.alloc(4 * len(w))
		put(p, par, w)
		offs = append(offs, par)
		list = append(list, int32(kernelIndex(k.fn)), int32(uint32(par)))
		list[0]++
	}
	at := p.alloc(4 * len(list))
	put(p, at, list)
	offs = append(offs, at)
	end := func() { p.free(offs...); p.run.Unlock() }
	if p.Err() != nil {
		end()
		return func() bool { return false }
	}
	if list[0] == 0 {
		end()
		return func() bool { return true }
	}
	done := shim().Call("run", at)
	return func() bool {
		defer end()
		if _, err := await(done); err != nil {
			p.fail(fmt.Errorf("simd: kernel %s: %w", names(ks), err))
			return false
		}
		return true
	}
}

// kernelIndex is fn's index in web/simd.js's kernel names.
func kernelIndex(fn string) int {
	i := shim().Get("names").Call("indexOf", fn).Int()
	if i < 0 {
		panic("simd: no kernel " + fn)
	}
	return i
}

// names lists the kernels of ks for an error message.
func names(ks []kernel) string {
	var s []string
	for _, k := range ks {
		s = append(s, k.fn)
	}
	return strings.Join(s, ", ")
}

// await is the shared promise helper (wasm/jsutil).
var await = jsutil.Await

// MemoryBytes is the size of the kernels' shared memory now: 0 before a
// pool starts.
func MemoryBytes() int64 {
	poolMu.Lock()
	defer poolMu.Unlock()
	if shared == nil {
		return 0
	}
	return int64(shared.mem.Get("buffer").Get("byteLength").Float())
}
