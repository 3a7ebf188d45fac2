//go:build js && wasm

package webgpu

import (
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// TestLimits runs both modes with the binding limit far below the
// device's (96 KiB at 64 px with the 1/16 model: the hypercolumns, the
// search's queries and targets, Fast's blends of them and the banks of
// every search then come in parts, the network's tensors do not), and
// gets the uncapped run's result and the CPU's, with no buffer over the
// limit. The dry run counts the same parts.
func TestLimits(t *testing.T) {
	const limit = 96 << 10
	m := model.Random(model.VGG19, 16, 5)
	best, fast := nnst.Defaults(false), nnst.FastDefaults()
	best.Size, best.Scales, best.Steps, best.Color, best.ContentLoss = 64, 2, 2, false, true
	fast.Size, fast.Steps, fast.Color, fast.ContentLoss = 64, 2, false, true
	fast.Fast.MatchSize, fast.Fast.HalfSteps = 64, 2
	content, style := smooth(64, 56, 1), smooth(60, 64, 2)
	full := gpu.binding
	defer gpu.setBinding(full)
	run := func(be nnst.Backend, o nnst.Options) *tensor.T { return stylize(t, be, m, content, style, o) }
	for _, c := range []struct {
		o      nnst.Options
		minCPU float64 // as the pipeline tests; Fast's half-size steps cost it more at 64 px (31.8 dB uncapped)
	}{{best, 40}, {fast, 30}} {
		mode := string(c.o.Mode)
		u, err := nnst.DryRun(m, c.o, Sizes{Binding: limit, HostStride: hostStride}, 64, 64)
		if err != nil {
			t.Fatal(err)
		}
		whole, err := nnst.DryRun(m, c.o, Sizes{Binding: full, HostStride: hostStride}, 64, 64)
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
		gpu.largest, gpu.parted = 0, 0
		got := run(gpu, c.o)
		if err := gpu.Err(); err != nil {
			t.Fatal(err)
		}
		p, pc := psnr(got, want), psnr(got, cpu)
		t.Logf("%s 64 px, buffers of %d KiB at most: PSNR %.1f dB against the uncapped run, %.1f against the CPU (uncapped %.1f); %d tensors in parts, largest buffer %d bytes (dry run %d, uncapped %d)",
			mode, limit>>10, p, pc, psnr(want, cpu), gpu.parted, gpu.LargestBytes(), u.Largest, whole.Largest)
		if gpu.parted == 0 {
			t.Errorf("%s: no tensor was split", mode)
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
