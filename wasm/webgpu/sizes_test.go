package webgpu

import (
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
)

// modeOptions are a mode's defaults at a size, as the app runs them.
func modeOptions(mode nnst.Mode, size int, flip bool) nnst.Options {
	o := nnst.Defaults(size >= 1024)
	if mode == nnst.ModeFast {
		o = nnst.FastDefaults()
	}
	o.Size, o.Flip = size, flip
	return o
}

func estimate(t *testing.T, m *model.Model, mode nnst.Mode, size int, flip bool) nnst.Need {
	t.Helper()
	n, err := Estimate(m, modeOptions(mode, size, flip), size, size, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// runBytes is Estimate's bytes for a Best run at size px with VGG19.
func runBytes(t *testing.T, size int, flip bool) int64 {
	return estimate(t, model.Shapes(model.VGG19, 1), nnst.ModeBest, size, flip).Bytes
}

// The estimate grows with the size (Fast's only up to its pass size, 512
// px: above it the device does the same work) and the rotations, and stays
// within what the app offers on an 8 GiB GPU.
func TestEstimate(t *testing.T) {
	m := model.Shapes(model.VGG19, 1)
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	for _, mode := range []nnst.Mode{nnst.ModeBest, nnst.ModeFast} {
		prev := int64(0)
		for _, size := range []int{256, 512, 1024, 2048} {
			if mode == nnst.ModeBest && size > 1024 {
				break
			}
			if mode == nnst.ModeFast && size > 512 {
				if e := estimate(t, m, mode, size, true).Bytes; e != prev {
					t.Errorf("fast %d px: %.1f MiB, want the 512 px run's %.1f", size, mib(e), mib(prev))
				}
				continue
			}
			e, noFlip := estimate(t, m, mode, size, true), estimate(t, m, mode, size, false)
			t.Logf("%s %4d px: %7.1f MiB (buffers %.1f, staging %.1f, largest %.1f); without rotations %.1f MiB",
				mode, size, mib(e.Bytes), mib(e.Peak), mib(e.Staging), mib(e.Largest), mib(noFlip.Bytes))
			if e.Bytes <= prev || noFlip.Bytes > e.Bytes {
				t.Errorf("%s %d px: %.1f MiB, %.1f without rotations, after %.1f at the size below", mode, size, mib(e.Bytes), mib(noFlip.Bytes), mib(prev))
			}
			if e.Bytes > 4<<30 {
				t.Errorf("%s %d px: %.1f MiB, over half the app's 8 GiB budget", mode, size, mib(e.Bytes))
			}
			prev = e.Bytes
		}
	}
}

// Best's largest buffer is the hypercolumns of the image (every tap's
// channels at a quarter of its size, f32) at 1024 px; Fast's, at 1024 px, a
// first tap at its pass size (512 px): its photo's hypercolumns are made a
// tap at a time, straight at the target's grid.
func TestLargest(t *testing.T) {
	m := model.Shapes(model.VGG19, 1)
	chans, err := m.TapChannels()
	if err != nil {
		t.Fatal(err)
	}
	d := 0
	for _, c := range chans {
		d += c
	}
	if got, want := estimate(t, m, nnst.ModeBest, 1024, true).Largest, int64(d*256*256*4); got != want {
		t.Errorf("best: largest buffer %d bytes, want the hypercolumns' %d", got, want)
	}
	if got, want := estimate(t, m, nnst.ModeFast, 1024, true).Largest, int64(chans[0]*512*512*4); got != want {
		t.Errorf("fast: largest buffer %d bytes, want the first tap's at 512 px, %d", got, want)
	}
}

// Tuned counts the most any choice of Tune needs: more weights and partial
// sums than the defaults.
func TestTuned(t *testing.T) {
	m := model.Shapes(model.VGG19, 1)
	o := modeOptions(nnst.ModeBest, 256, true)
	var peaks [2]int64
	for i, tuned := range []bool{false, true} {
		u, err := nnst.DryRun(m, o, Sizes{Binding: 1 << 30, HostStride: hostStride, Tuned: tuned}, 256, 256)
		if err != nil {
			t.Fatal(err)
		}
		peaks[i] = u.Peak
	}
	if peaks[1] <= peaks[0] {
		t.Errorf("peak %d bytes tuned, %d with the defaults", peaks[1], peaks[0])
	}
}

// With WebGPU's default limits (128 MiB a binding), which phones and many
// integrated GPUs barely pass, the buffers that grow with the size are
// split, the network's layers too: both modes fit at every size. With a
// 16 MiB limit a 4-channel part of Best's 2048 px layers does not fit.
func TestDefaultLimits(t *testing.T) {
	m := model.Shapes(model.VGG19, 1)
	for _, c := range []struct {
		mode  nnst.Mode
		size  int
		limit int64
		fits  bool
	}{
		{nnst.ModeFast, 512, 128 << 20, true}, {nnst.ModeFast, 4096, 128 << 20, true},
		{nnst.ModeBest, 512, 128 << 20, true}, {nnst.ModeBest, 1024, 128 << 20, true}, {nnst.ModeBest, 2048, 128 << 20, true},
		{nnst.ModeBest, 2048, 16 << 20, false},
	} {
		limit := c.limit
		n, err := Estimate(m, modeOptions(c.mode, c.size, true), c.size, c.size, limit)
		if err != nil {
			t.Fatal(err)
		}
		if fits := n.Largest <= limit; fits != c.fits {
			t.Errorf("%s %d px: largest buffer %.1f MiB within %d MiB: %v, want %v", c.mode, c.size, float64(n.Largest)/(1<<20), limit>>20, fits, c.fits)
		}
		whole, err := Estimate(m, modeOptions(c.mode, c.size, true), c.size, c.size, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s %d px, %d MiB a binding: largest buffer %.1f MiB (%.1f in one buffer), %.1f MiB in all (%.1f)", c.mode, c.size, limit>>20,
			float64(n.Largest)/(1<<20), float64(whole.Largest)/(1<<20), float64(n.Bytes)/(1<<20), float64(whole.Bytes)/(1<<20))
	}
}
