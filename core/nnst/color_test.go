package nnst_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// okLab converts sRGB values in [0,1] (treated as linear, as NNST.md
// section 7 says) to OkLab, per Björn Ottosson's published definition.
func okLab(r, g, b float64) (L, A, B float64) {
	l := 0.4122214708*r + 0.5363325363*g + 0.0514459929*b
	m := 0.2119034982*r + 0.6806995451*g + 0.1073969566*b
	s := 0.0883024619*r + 0.2817188376*g + 0.6299787005*b
	l, m, s = math.Cbrt(l), math.Cbrt(m), math.Cbrt(s)
	return 0.2104542553*l + 0.7936177850*m - 0.0040720468*s,
		1.9779984951*l - 2.4285922050*m + 0.4505937099*s,
		0.0259040371*l + 0.7827717662*m - 0.8086757660*s
}

// labStats returns the mean of L, a, b and the max |a|, |b| of an RGB image.
func labStats(t *tensor.T) (mean [3]float64, maxAB float64) {
	n := t.H * t.W
	for p := 0; p < n; p++ {
		L, a, b := okLab(float64(t.Data[p]), float64(t.Data[n+p]), float64(t.Data[2*n+p]))
		mean[0] += L / float64(n)
		mean[1] += a / float64(n)
		mean[2] += b / float64(n)
		maxAB = max(maxAB, math.Abs(a), math.Abs(b))
	}
	return mean, maxAB
}

// tinted returns a smooth random image around colour c with noise amp.
func tinted(r *rand.Rand, h, w int, c [3]float64, amp float64) *tensor.T {
	t := tensor.New(3, h, w)
	n := h * w
	ph := [3]float64{r.Float64() * 6, r.Float64() * 6, r.Float64() * 6}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := y*w + x
			shade := 0.15 * math.Sin(float64(x)*0.3+float64(y)*0.2+ph[0])
			for ch := 0; ch < 3; ch++ {
				v := c[ch] + shade + 0.08*math.Sin(float64(x)*0.5*float64(ch+1)+ph[ch]) + amp*(r.Float64()*2-1)
				t.Data[ch*n+p] = float32(min(max(v, 0), 1))
			}
		}
	}
	return t
}

func checkImage(t *testing.T, name string, got *tensor.T, h, w int) {
	t.Helper()
	if got.C != 3 || got.H != h || got.W != w {
		t.Fatalf("%s: shape %v, want 3x%dx%d", name, got, h, w)
	}
	for i, v := range got.Data {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("%s: value [%d] = %v outside [0,1]", name, i, v)
		}
	}
}

// TestColorMatchMean: the output takes the style's OkLab a/b mean.
func TestColorMatchMean(t *testing.T) {
	r := rand.New(rand.NewPCG(91, 92))
	cases := []struct{ content, style [3]float64 }{
		{[3]float64{0.7, 0.35, 0.3}, [3]float64{0.3, 0.45, 0.7}}, // red -> blue
		{[3]float64{0.4, 0.6, 0.35}, [3]float64{0.65, 0.5, 0.3}}, // green -> orange
		{[3]float64{0.5, 0.5, 0.5}, [3]float64{0.6, 0.3, 0.6}},   // grey -> purple
	}
	for i, c := range cases {
		content := tinted(r, 32, 24, c.content, 0.05)
		style := tinted(r, 20, 28, c.style, 0.05)
		out := tinted(r, 32, 24, c.content, 0.1) // the optimised image, close to the content
		got := nnst.ColorMatch(content, style, out)
		checkImage(t, "ColorMatch", got, 32, 24)
		gm, _ := labStats(got)
		sm, _ := labStats(style)
		cm, _ := labStats(content)
		da := math.Hypot(gm[1]-sm[1], gm[2]-sm[2])
		before := math.Hypot(cm[1]-sm[1], cm[2]-sm[2])
		t.Logf("case %d: a/b mean: content (%.4f %.4f) style (%.4f %.4f) output (%.4f %.4f), distance %.4f (was %.4f)", i, cm[1], cm[2], sm[1], sm[2], gm[1], gm[2], da, before)
		if da > 2e-3 {
			t.Errorf("case %d: output a/b mean (%.4f, %.4f) is %.4f from the style's (%.4f, %.4f); content was %.4f away", i, gm[1], gm[2], da, sm[1], sm[2], before)
		}
	}
}

// TestColorMatchGreyStyle: a flat grey style has a tiny a/b covariance,
// which selects ZCA on all channels; the result must be finite, in [0,1]
// and grey.
func TestColorMatchGreyStyle(t *testing.T) {
	r := rand.New(rand.NewPCG(93, 94))
	content := tinted(r, 16, 20, [3]float64{0.7, 0.35, 0.3}, 0.05)
	out := tinted(r, 16, 20, [3]float64{0.6, 0.4, 0.3}, 0.1)
	for _, flat := range []bool{false, true} {
		style := tensor.New(3, 12, 10)
		n := 120
		for p := 0; p < n; p++ {
			v := float32(0.5)
			if !flat {
				v = 0.3 + 0.4*r.Float32() // grey with varying lightness
			}
			style.Data[p], style.Data[n+p], style.Data[2*n+p] = v, v, v
		}
		got := nnst.ColorMatch(content, style, out)
		checkImage(t, "grey style", got, 16, 20)
		_, maxAB := labStats(got)
		if maxAB > 2e-3 {
			t.Errorf("flat=%v: output not grey: max |a|,|b| = %.4g", flat, maxAB)
		}
	}
}
