package webgpu

import (
	"fmt"

	"nnst/shaders"
)

// tuneVersion is bumped when the Go side of how a kernel choice runs
// changes (convGrid's split, the kernels' parameters): choices saved
// before no longer apply.
const tuneVersion = 1

// KernelsVersion names the kernels Tune's saved choices were timed with:
// the WGSL sources and tuneVersion.
func KernelsVersion() string { return fmt.Sprintf("%s/%d", shaders.Version(), tuneVersion) }
