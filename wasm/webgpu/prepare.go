//go:build js && wasm

package webgpu

import (
	"nnst/core/model"
	"nnst/core/nnst"
)

// The backend prepares for runs (Need and MaxBuffer here, Reserve and
// Idle in backend.go, Tune and its kin in tune.go) and has the unfused
// ops the tests use.
var (
	_ nnst.Preparer = (*Backend)(nil)
	_ nnst.Unfused  = (*Backend)(nil)
)

// Need is Estimate on this device.
func (b *Backend) Need(m *model.Model, o nnst.Options, h, w int) (nnst.Need, error) {
	return Estimate(m, o, h, w, b.MaxBuffer())
}

// MaxBuffer is the most bytes one buffer may have on the device.
func (b *Backend) MaxBuffer() int64 {
	return min(b.Limits.MaxBufferSize, b.Limits.MaxStorageBufferBindingSize)
}
