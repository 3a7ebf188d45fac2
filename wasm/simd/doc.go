// Package simd runs the CPU backend's heavy kernels (3x3 conv forward and
// backward-data, nearest-neighbour search) in the browser with WebAssembly
// SIMD128 on several threads: kernels.wat, assembled with wabt's wat2wasm,
// runs in a pool of Web Workers over one shared memory (web/simd.js and
// web/simd-worker.js). Go copies operands into the shared memory, starts a
// kernel on every worker and waits on a promise, so it never blocks the
// JS event loop. It needs a cross-origin isolated page (COOP/COEP).
//
// Go 1.27's simd package (GOEXPERIMENT=simd) does emit SIMD128 on wasm,
// but Go's wasm port has no threads, so the kernels stay in WebAssembly
// text for now.
package simd
