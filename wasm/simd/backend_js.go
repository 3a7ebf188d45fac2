//go:build js && wasm

package simd

import (
	"syscall/js"

	"nnst/core/cpu"
	"nnst/core/nnst"
)

// Available reports whether the SIMD kernels can run here: web/simd.js is
// loaded, the page is cross-origin isolated (SharedArrayBuffer) and
// WebAssembly SIMD128 validates.
func Available() bool {
	s := shim()
	return s.Type() == js.TypeObject && s.Call("available").Bool()
}

// Threads is the default worker count: min(hardwareConcurrency, 4), or 1
// without web/simd.js.
func Threads() int {
	if s := shim(); s.Type() == js.TypeObject {
		return s.Call("threads").Int()
	}
	return 1
}

// NewBackend returns the CPU backend with the SIMD kernels on Threads()
// workers. Call it, and the backend, from a goroutine that may block (not
// inside a js.Func callback).
func NewBackend() (nnst.Backend, error) { return NewBackendThreads(Threads()) }

// NewBackendThreads is NewBackend on n workers.
func NewBackendThreads(n int) (*cpu.Backend, error) {
	k, err := NewKernels(n)
	if err != nil {
		return nil, err
	}
	return cpu.NewWith(k), nil
}

// NewKernels returns the SIMD kernels on n workers, for cpu.NewWith.
func NewKernels(n int) (cpu.Kernels, error) {
	p, err := open(max(1, n))
	if err != nil {
		return cpu.Kernels{}, err
	}
	return cpu.Kernels{Name: "wasm-simd", NewConv: p.newConv, Nearest: p.nearest, Forward: p.forward, Err: p.Err}, nil
}
