//go:build !(js && wasm)

package webgpu

// handle is a GPU object; built natively (the pool's tests) there are none.
type handle = struct{}
