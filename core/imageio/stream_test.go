package imageio

import (
	"math/rand/v2"
	"testing"
)

// TestResamplerMatchesResize streams rows through the resampler in batches
// and gets exactly Resize's horizontal-first passes.
func TestResamplerMatchesResize(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range [][4]int{
		{300, 200, 64, 43},   // shrink, several batches
		{70, 90, 200, 257},   // enlarge
		{150, 80, 150, 40},   // width only
		{150, 80, 37, 80},    // height only
		{90, 120, 90, 120},   // same size
		{2000, 3, 512, 1},    // a tall strip
		{65, 9000, 4, 512},   // a wide one (batches of few rows)
		{129, 131, 300, 40},  // taller, narrower
		{64, 64, 1024, 1000}, // a large enlargement
	} {
		H, W, h, w := c[0], c[1], c[2], c[3]
		src := filled(3, H, W, func(int, int, int) float32 { return r.Float32() })
		rs := newResampler(H, W, h, w)
		for y := 0; y < H; y++ {
			R, G, B := rs.row()
			copy(R, src.Plane(0)[y*W:])
			copy(G, src.Plane(1)[y*W:])
			copy(B, src.Plane(2)[y*W:])
		}
		got := rs.finish()
		want := resizeH(resizeW(src, w), h)
		if !got.SameShape(want) {
			t.Fatalf("%v: got %v, want %v", c, got, want)
		}
		for i, v := range want.Data {
			if got.Data[i] != v {
				t.Fatalf("%v: value %d = %v, want %v", c, i, got.Data[i], v)
			}
		}
	}
}
