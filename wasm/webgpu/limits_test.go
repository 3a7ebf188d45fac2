//go:build js && wasm

package webgpu

import (
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// TestLimits runs both modes with the binding limit far below the
// device's (64 KiB at 64 px with a VGG19 of 8 channels a layer: the first
// block's layers and their gradients, 128 KiB whole, the hypercolumns, the
// search's queries and targets, Fast's blends of them and the banks of
// every search then come in parts), and gets the uncapped run's result and
// the CPU's, with no buffer over the limit. The dry run counts the same
// parts.
func TestLimits(t *testing.T) {
	const size, limit = 64, 64 << 10
	narrow := model.VGG19
	narrow.Width = map[string]int{}
	for k := range model.VGG19.Width {
		narrow.Width[k] = 8
	}
	m := model.Random(narrow, 1, 5)
	best, fast := nnst.Defaults(false), nnst.FastDefaults()
	best.Size, best.Scales, best.Steps, best.Color, best.ContentLoss = size, 2, 2, false, true
	fast.Size, fast.Steps, fast.Color, fast.ContentLoss = size, 2, false, true
	fast.Fast.MatchSize, fast.Fast.HalfSteps = 64, 2
	content, style := smooth(size, size*7/8, 1), smooth(size*15/16, size, 2)
	full := gpu.binding
	defer gpu.setBinding(full)
	run := func(be nnst.Backend, o nnst.Options) *tensor.T { return stylize(t, be, m, content, style, o) }
	for _, c := range []struct {
		o      nnst.Options
		minCPU float64 // as the pipeline tests; Fast's half-size steps cost it more at 64 px (31.8 dB uncapped)
	}{{best, 40}, {fast, 30}} {
		mode := string(c.o.Mode)
		u, err := nnst.DryRun(m, c.o, Sizes{Binding: limit, HostStride: hostStride}, size, size)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := nnst.DryRun(m, c.o, Sizes{Binding: full, HostStride: hostStride}, size, size)
		if err != nil {
			t.Fatal(err)
		}
		if u.Largest > limit || whole.Largest <= limit {
			t.Fatalf("%s: largest buffer %d bytes within the limit, %d without: the limit tests nothing", mode, u.Largest, whole.Largest)
		}
		gpu.setBinding(full)
		want, cpu := run(gpu, c.o), run(ref, c.o)
		gpu.setBinding(limit)
		gpu.Flush()
		gpu.trim(true)
		gpu.largest, gpu.parted, gpu.blocks = 0, 0, 0
		got := run(gpu, c.o)
		if err := gpu.Err(); err != nil {
			t.Fatal(err)
		}
		p, pc := psnr(got, want), psnr(got, cpu)
		t.Logf("%s %d px, buffers of %d KiB at most: PSNR %.1f dB against the uncapped run, %.1f against the CPU (uncapped %.1f); %d tensors in parts, %d conv blocks, largest buffer %d bytes (dry run %d, uncapped %d)",
			mode, size, limit>>10, p, pc, psnr(want, cpu), gpu.parted, gpu.blocks, gpu.LargestBytes(), u.Largest, whole.Largest)
		if gpu.parted == 0 || gpu.blocks == 0 {
			t.Errorf("%s: %d tensors split, %d conv blocks", mode, gpu.parted, gpu.blocks)
		}
		if gpu.LargestBytes() > limit {
			t.Errorf("%s: a buffer of %d bytes, over the limit %d", mode, gpu.LargestBytes(), limit)
		}
		if p < 50 {
			t.Errorf("%s: PSNR %.1f dB against the uncapped run < 50", mode, p)
		}
		if pc < c.minCPU {
			t.Errorf("%s: PSNR %.1f dB against the CPU < %.0f", mode, pc, c.minCPU)
		}
	}
}
