//go:build js && wasm

package webgpu

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestBenchParts times a hypercolumn-loss step of the full-width VGG19
// (random weights) at the first bench size with the binding limit at
// NNST_BENCH_BINDING KiB (default a quarter of relu1_1: the first two
// blocks' layers in parts) against the same step uncapped, alternating,
// and compares their gradients (relative L2 difference; a ReLU that flips
// between the two makes a large difference at a point). NNST_BENCH=1
// runs it.
func TestBenchParts(t *testing.T) {
	if os.Getenv("NNST_BENCH") == "" {
		t.Skip("set NNST_BENCH=1 (make bench-webgpu)")
	}
	size := benchSizes()[0]
	limit := int64(size * size * 64)
	if n, err := strconv.Atoi(os.Getenv("NNST_BENCH_BINDING")); err == nil && n > 0 {
		limit = int64(n) << 10
	}
	step, done := hypercolumnStep(t, nil, size)
	defer done()
	full := gpu.binding
	defer func() { gpu.binding = full }()
	times := map[int64][]time.Duration{}
	var grads [2][]float32
	blocks, parted := 0, 0
	for rep := range 3 {
		for i, b := range []int64{full, limit} {
			gpu.binding = b
			b0, p0 := gpu.blocks, gpu.parted
			start := time.Now()
			g := step()
			syncGPU(t, g)
			times[b] = append(times[b], time.Since(start))
			if rep == 0 {
				grads[i] = down(t, g).Data
			}
			gpu.Free(g)
			if b == limit {
				blocks, parted = gpu.blocks-b0, gpu.parted-p0
			}
		}
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
	var maxAbs, maxDiff, sq, sqDiff float64
	for i, v := range grads[0] {
		d := float64(v - grads[1][i])
		maxAbs, maxDiff = max(maxAbs, math.Abs(float64(v))), max(maxDiff, math.Abs(d))
		sq, sqDiff = sq+float64(v)*float64(v), sqDiff+d*d
	}
	rel := math.Sqrt(sqDiff / sq)
	fmt.Printf("VGG19 hypercolumn-loss step at %d px: uncapped %.2f s, bindings of %d KiB %.2f s (best of 3; ratio %.2f), %d conv blocks and %d tensors in parts a step; gradient: relative L2 difference %.2g, max |diff| %.3g of max |g| %.3g\n",
		size, best(times[full]), limit>>10, best(times[limit]), best(times[limit])/best(times[full]), blocks, parted, rel, maxDiff, maxAbs)
	if rel > 1e-4 {
		t.Errorf("gradient in parts: relative L2 difference %.2g", rel)
	}
}

// best returns the shortest of ds in seconds.
func best(ds []time.Duration) float64 {
	m := ds[0]
	for _, d := range ds {
		m = min(m, d)
	}
	return m.Seconds()
}
