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

// MaxBuffer is the most bytes one buffer may have on the device (the
// binding limit the backend keeps to).
func (b *Backend) MaxBuffer() int64 { return b.binding }

// setBinding sets the most bytes a buffer may have (tests: lower than the
// device's limits, so that every split path runs).
func (b *Backend) setBinding(n int64) {
	b.binding = n
	b.maxSize = n
}
