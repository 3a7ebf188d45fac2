package webgpu

import "testing"

func TestSplitK(t *testing.T) {
	for _, c := range []struct{ groups, k, tk, split, kper int }{
		{1024, 4608, 16, 1, 4608}, // a full grid is not split
		{64, 4608, 16, 8, 576},    // 512->512 at 32 x 32
		{256, 4608, 16, 2, 2304},  // 512->512 at 64 x 64
		{4, 360, 16, 2, 192},      // slices of at least 128 rows
		{4, 200, 16, 1, 200},
		{32, 576, 16, 4, 144},
		{32, 576, 32, 4, 160}, // steps of 32 rows
		{64, 4608, 32, 8, 576},
	} {
		split, kper := splitK(c.groups, c.k, c.tk, minSliceRows)
		if split != c.split || kper != c.kper {
			t.Errorf("splitK(%d, %d, %d) = %d, %d; want %d, %d", c.groups, c.k, c.tk, split, kper, c.split, c.kper)
		}
		if split > 1 && (kper%c.tk != 0 || (split-1)*kper >= c.k || split*kper < c.k) {
			t.Errorf("splitK(%d, %d, %d) = %d x %d does not cover K in slices of whole steps", c.groups, c.k, c.tk, split, kper)
		}
	}
	// Winograd's kernel splits input channels, 4 per step, at least 32 per
	// slice: 512->512 at 8 x 8 (16 workgroups), at 32 x 32 (256).
	for _, c := range []struct{ groups, k, split, kper int }{{16, 512, 16, 32}, {256, 512, 2, 256}, {16, 40, 1, 40}, {16, 70, 2, 36}} {
		if split, kper := splitK(c.groups, c.k, winoWC, minSliceChannels); split != c.split || kper != c.kper {
			t.Errorf("splitK(%d, %d, 4, 32) = %d, %d; want %d, %d", c.groups, c.k, split, kper, c.split, c.kper)
		}
	}
}
