//go:build js && wasm

package webgpu

import (
	"fmt"
	"slices"
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
)

// A dry run with the backend's Sizes counts its live buffers' peak of each
// stage and its largest buffer to the byte, in both modes, with rotations,
// the content loss and style taps on the device or in host memory. Within
// a run's budget, as the app reserves it (the dry run's peak and the
// pool's room), the pool holds nothing past it: beyond the budget are only
// buffers in use. (Those may pass it: under the budget a pooled buffer up
// to twice the size serves, so the buffers in use hold more than the dry
// run counts. Without a budget the pool may hold more than its room:
// buffers under Backend.big stay for two flushes.)
func TestDryPeaks(t *testing.T) {
	m := model.Random(model.VGG19, 16, 5)
	best, fast := nnst.Defaults(false), nnst.FastDefaults()
	best.Size, best.Scales, best.Steps, best.Color, best.ContentLoss = 64, 2, 1, false, true
	fast.Size, fast.Steps, fast.Color, fast.ContentLoss = 96, 2, false, true
	fast.Fast.MatchSize, fast.Fast.HalfSteps = 64, 2
	// Pool big buffers and flush them as a 512 px run does, scaled to this
	// model's largest tensor (64 KiB here, 64 MiB there).
	gpu.big, gpu.spare, gpu.retain = 16<<10, 16<<10, 192<<10
	defer func() { gpu.big, gpu.spare, gpu.retain, gpu.hostStride = bigBuf, spareBytes, retainBytes, hostStride }()
	room := gpu.spare + gpu.retain
	for _, c := range []struct {
		o              nnst.Options
		ch, cw, sh, sw int
		host           int
		budget         bool
	}{{best, 64, 56, 60, 64, hostStride, false}, {best, 64, 56, 60, 64, 1, false}, {fast, 96, 80, 72, 96, hostStride, false},
		{best, 64, 56, 60, 64, hostStride, true}, {fast, 96, 80, 72, 96, hostStride, true}} {
		name := fmt.Sprintf("%s, host stride %d, budget %v", c.o.Mode, c.host, c.budget)
		content, style := smooth(c.ch, c.cw, 1), smooth(c.sh, c.sw, 2)
		sizes := Sizes{Binding: gpu.MaxBuffer(), HostStride: c.host}
		dry := nnst.NewDry(sizes)
		want := backendtest.StagePeaks(t, stylizer(t, dry, m), c.o, content, style, dry.PeakBytes, dry.ResetPeak, false)

		// Start as the dry run does: no resize tables, the model loaded
		// (what other tests hold is left out), the pool empty.
		gpu.hostStride = c.host
		for _, buf := range gpu.tables {
			gpu.freeBuf(buf)
		}
		clear(gpu.tables)
		gs := stylizer(t, gpu, m)
		weights := nnst.NewDry(sizes)
		weights.LoadModel(m)
		base := gpu.LiveBytes() - weights.LiveBytes()
		gpu.Flush()
		gpu.trim(true)
		gpu.largest = 0
		gpu.ResetPeak()
		if c.budget {
			gpu.budget = gpu.alloc + want[len(want)-1] + room - weights.LiveBytes()
		}
		got := backendtest.StagePeaks(t, gs, c.o, content, style, func() int64 { return gpu.livePeak - base }, func() { gpu.livePeak = gpu.live }, false)
		gpu.budget = 0
		if err := gpu.Err(); err != nil {
			t.Fatal(err)
		}
		u, all := dry.Usage(), gpu.PeakBytes()-base
		t.Logf("%s: live peaks %v, dry %v; all buffers %d bytes (dry peak and the pool's room: %d); largest %d, dry %d", name, got, want, all, want[len(want)-1]+room, gpu.LargestBytes(), u.Largest)
		switch {
		case c.budget && all > max(want[len(want)-1]+room, got[len(got)-1]):
			t.Errorf("%s: %d bytes of buffers at the peak, %d in use, over the budget of the dry run's %d and the pool's room %d", name, all, got[len(got)-1], want[len(want)-1], room)
		case c.budget: // pooled buffers up to twice the size serve
		case !slices.Equal(got, want):
			t.Errorf("%s: live peaks by stage %v bytes, the dry run's %v", name, got, want)
		case gpu.LargestBytes() != u.Largest:
			t.Errorf("%s: largest buffer %d bytes, the dry run's %d", name, gpu.LargestBytes(), u.Largest)
		}
	}
}

// stylizer loads m into be.
func stylizer(t *testing.T, be nnst.Backend, m *model.Model) *nnst.Stylizer {
	t.Helper()
	s, err := nnst.New(be, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
