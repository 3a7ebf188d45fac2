package webgpu

import "errors"

// Errors a run can end with that the app tells apart. They are declared
// without a build tag so that code built natively can test for them.
var (
	// ErrOutOfMemory is returned by Reserve when the device cannot hold a
	// run, and wrapped by the errors of a run that runs out of GPU memory.
	ErrOutOfMemory = errors.New("out of GPU memory")
	// ErrDeviceLost is wrapped by the errors of a run whose GPU device was
	// lost.
	ErrDeviceLost = errors.New("GPU device lost")
)
