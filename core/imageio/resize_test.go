package imageio

import (
	"math"
	"testing"

	"nnst/core/tensor"
)

func filled(c, h, w int, f func(c, y, x int) float32) *tensor.T {
	t := tensor.New(c, h, w)
	for k := 0; k < c; k++ {
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				t.Set(k, y, x, f(k, y, x))
			}
		}
	}
	return t
}

func maxDev(t *tensor.T, want float32) float64 {
	d := 0.0
	for _, v := range t.Data {
		d = max(d, math.Abs(float64(v-want)))
	}
	return d
}

func TestResizeExactSize(t *testing.T) {
	src := filled(3, 37, 53, func(c, y, x int) float32 { return float32(x*y%7) / 7 })
	for _, s := range [][2]int{{1, 1}, {1, 200}, {37, 53}, {10, 10}, {100, 13}, {512, 700}, {36, 54}} {
		out := Resize(src, s[0], s[1])
		if out.C != 3 || out.H != s[0] || out.W != s[1] || len(out.Data) != 3*s[0]*s[1] {
			t.Errorf("Resize to %v gave %v with %d values", s, out, len(out.Data))
		}
	}
	one := filled(2, 1, 1, func(c, y, x int) float32 { return float32(c) + 0.25 })
	out := Resize(one, 7, 9)
	for c := 0; c < 2; c++ {
		for _, v := range out.Plane(c) {
			if math.Abs(float64(v-(float32(c)+0.25))) > 1e-6 {
				t.Fatalf("upscaled single pixel gives %v in channel %d", v, c)
			}
		}
	}
}

func TestResizeSameSizeCopies(t *testing.T) {
	src := filled(3, 8, 8, func(c, y, x int) float32 { return float32(c*64+y*8+x) / 200 })
	out := Resize(src, 8, 8)
	if out == src || &out.Data[0] == &src.Data[0] {
		t.Fatal("Resize to the same size must not alias its input")
	}
	for i := range src.Data {
		if out.Data[i] != src.Data[i] {
			t.Fatal("Resize to the same size changed values")
		}
	}
}

func TestResizeConstant(t *testing.T) {
	for _, c := range []int{1, 3, 5} {
		src := filled(c, 100, 130, func(k, y, x int) float32 { return 0.37 + 0.1*float32(k) })
		for _, s := range [][2]int{{37, 211}, {300, 50}, {7, 7}, {1000, 1300}} {
			out := Resize(src, s[0], s[1])
			for k := 0; k < c; k++ {
				want := 0.37 + 0.1*float32(k)
				for _, v := range out.Plane(k) {
					if math.Abs(float64(v-want)) > 1e-5 {
						t.Fatalf("%d channels to %v: channel %d has %v, want %v", c, s, k, v, want)
					}
				}
			}
		}
	}
}

// naiveBilinear samples without a low-pass filter (PyTorch's bilinear,
// align_corners=False), to show that the checkerboard test can tell.
func naiveBilinear(t *tensor.T, h, w int) *tensor.T {
	out := tensor.New(t.C, h, w)
	for c := 0; c < t.C; c++ {
		for y := 0; y < h; y++ {
			sy := max((float64(y)+0.5)*float64(t.H)/float64(h)-0.5, 0)
			y0 := min(int(sy), t.H-1)
			y1 := min(y0+1, t.H-1)
			fy := float32(sy - float64(y0))
			for x := 0; x < w; x++ {
				sx := max((float64(x)+0.5)*float64(t.W)/float64(w)-0.5, 0)
				x0 := min(int(sx), t.W-1)
				x1 := min(x0+1, t.W-1)
				fx := float32(sx - float64(x0))
				top := t.At(c, y0, x0)*(1-fx) + t.At(c, y0, x1)*fx
				bot := t.At(c, y1, x0)*(1-fx) + t.At(c, y1, x1)*fx
				out.Set(c, y, x, top*(1-fy)+bot*fy)
			}
		}
	}
	return out
}

func TestResizeAntialias(t *testing.T) {
	// One-pixel checkerboard, shrunk 4000 -> 512 wide and 1000 -> 128 high.
	src := filled(1, 1000, 4000, func(c, y, x int) float32 { return float32((x + y) % 2) })
	out := Resize(src, 128, 512)
	if d := maxDev(out, 0.5); d > 0.02 {
		t.Errorf("checkerboard shrunk to %v deviates from mid-grey by %.3f", out, d)
	}
	if d := maxDev(naiveBilinear(src, 128, 512), 0.5); d < 0.2 {
		t.Errorf("test is too weak: naive bilinear deviates only %.3f", d)
	}
	// Vertical stripes: only the horizontal pass can remove them.
	stripes := filled(3, 300, 999, func(c, y, x int) float32 { return float32(x % 2) })
	out = Resize(stripes, 300, 77)
	if d := maxDev(out, 0.5); d > 0.03 {
		t.Errorf("stripes shrunk deviate from mid-grey by %.3f", d)
	}
	// And horizontal ones, the vertical pass.
	stripes = filled(1, 999, 64, func(c, y, x int) float32 { return float32(y % 2) })
	out = Resize(stripes, 100, 64)
	if d := maxDev(out, 0.5); d > 0.03 {
		t.Errorf("horizontal stripes shrunk deviate from mid-grey by %.3f", d)
	}
}

func TestResizeAlignment(t *testing.T) {
	// Pixel centres: output pixel i covers source pixels 2i and 2i+1, so a
	// ramp v = x shrinks to 2i + 0.5 away from the edges.
	src := filled(1, 4, 256, func(c, y, x int) float32 { return float32(x) })
	out := Resize(src, 4, 128)
	for i := 4; i < 124; i++ {
		if got := out.At(0, 1, i); math.Abs(float64(got)-(2*float64(i)+0.5)) > 1e-3 {
			t.Fatalf("pixel %d = %v, want %v", i, got, 2*float64(i)+0.5)
		}
	}
}

func TestResizeUpscaleSmooth(t *testing.T) {
	// A smooth signal upscaled 4x matches the signal sampled finely, and a
	// ramp stays monotonic.
	f := func(x float64) float64 { return 0.5 + 0.4*math.Sin(2*math.Pi*x/40) }
	src := filled(1, 64, 64, func(c, y, x int) float32 { return float32(f(float64(x) + 0.5)) })
	out := Resize(src, 256, 256)
	for x := 8; x < 248; x++ {
		want := f((float64(x) + 0.5) / 4)
		if got := float64(out.At(0, 100, x)); math.Abs(got-want) > 0.01 {
			t.Fatalf("upscaled x=%d: %v, want %v", x, got, want)
		}
	}
	ramp := filled(1, 64, 64, func(c, y, x int) float32 { return float32(x+y) / 126 })
	out = Resize(ramp, 250, 250)
	for y := 0; y < 250; y++ {
		for x := 1; x < 250; x++ {
			step := out.At(0, y, x) - out.At(0, y, x-1)
			if step < -1e-6 || step > 1.0/126/3 {
				t.Fatalf("upscaled ramp step at (%d,%d) = %v", y, x, step)
			}
		}
	}
}

func TestFitLongSide(t *testing.T) {
	for _, tc := range []struct{ h, w, size, wh, ww int }{
		{768, 1000, 512, 393, 512}, // landscape: 393.2
		{1000, 768, 512, 512, 393}, // portrait
		{3000, 4000, 512, 384, 512},
		{600, 600, 512, 512, 512},
		{200, 300, 512, 341, 512}, // upscale: 341.33
		{201, 300, 512, 343, 512}, // 343.04
		{3, 1000, 512, 2, 512},    // 1.536 rounds to 2
		{1, 1000, 512, 1, 512},    // 0.512 rounds to 1
		{1000, 1, 100, 100, 1},    // at least 1
	} {
		if h, w := FitDims(tc.h, tc.w, tc.size); h != tc.wh || w != tc.ww {
			t.Errorf("FitDims(%dx%d, %d) = %dx%d, want %dx%d", tc.h, tc.w, tc.size, h, w, tc.wh, tc.ww)
		}
		if tc.h*tc.w > 1_000_000 {
			continue // FitLongSide resizes for real: keep the test fast
		}
		src := tensor.New(3, tc.h, tc.w)
		out := FitLongSide(src, tc.size)
		if out.H != tc.wh || out.W != tc.ww {
			t.Errorf("FitLongSide(%dx%d, %d) = %dx%d, want %dx%d", tc.h, tc.w, tc.size, out.H, out.W, tc.wh, tc.ww)
		}
	}
	src := tensor.New(3, 400, 512)
	if FitLongSide(src, 512) != src {
		t.Error("FitLongSide should return the input when the long side already fits")
	}
}

func BenchmarkFit4000To512(b *testing.B) {
	src := filled(3, 3000, 4000, func(c, y, x int) float32 { return float32((x ^ y) & 1) })
	b.ResetTimer()
	for b.Loop() {
		FitLongSide(src, 512)
	}
}
