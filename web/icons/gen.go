//go:build ignore

// Draws the app icons: go run gen.go (in web/icons). A disc on a navy
// square: its left half a smooth "photo" gradient, its right half painted
// in swirling strokes.
package main

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
)

var (
	navy  = [3]float64{0x20, 0x30, 0x4a}
	sky   = [3]float64{0x7d, 0xb4, 0xe8}
	sand  = [3]float64{0xf2, 0xd3, 0x9c}
	gold  = [3]float64{0xf5, 0xb7, 0x2e}
	blue  = [3]float64{0x2f, 0x5f, 0xb3}
	cream = [3]float64{0xfb, 0xf3, 0xdc}
)

func mix(a, b [3]float64, t float64) [3]float64 {
	return [3]float64{a[0] + (b[0]-a[0])*t, a[1] + (b[1]-a[1])*t, a[2] + (b[2]-a[2])*t}
}

// shade returns the colour at (x, y) in unit coordinates (0..1), and its
// coverage: round corners unless maskable (full bleed), disc radius r.
func shade(x, y float64, maskable bool) ([3]float64, float64) {
	r := 0.36
	if maskable {
		r = 0.30
	}
	cov := 1.0
	if !maskable {
		// Rounded square with corner radius 0.2.
		cx, cy := math.Max(math.Abs(x-0.5)-0.3, 0), math.Max(math.Abs(y-0.5)-0.3, 0)
		d := math.Hypot(cx, cy) - 0.2
		cov = math.Min(math.Max(0.5-d*512, 0), 1)
	}
	dx, dy := x-0.5, y-0.5
	d := math.Hypot(dx, dy)
	if d > r {
		return navy, cov
	}
	var c [3]float64
	if dx < 0 {
		c = mix(sky, sand, (dy+r)/(2*r))
	} else {
		a := math.Atan2(dy, dx)
		w := math.Sin(d*70 + 3*a)
		c = mix(blue, gold, 0.5+0.5*w)
		if w > 0.85 {
			c = cream
		}
	}
	// Anti-alias the disc's rim and the centre line.
	edge := math.Min(math.Max((r-d)*512, 0), 1)
	c = mix(navy, c, edge)
	if math.Abs(dx) < 0.008 {
		c = cream
	}
	return c, cov
}

func draw(size int, maskable bool, name string) {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	const ss = 4 // supersampling
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			var acc [3]float64
			var a float64
			for j := 0; j < ss; j++ {
				for i := 0; i < ss; i++ {
					c, cov := shade((float64(x)+(float64(i)+0.5)/ss)/float64(size), (float64(y)+(float64(j)+0.5)/ss)/float64(size), maskable)
					for k := range acc {
						acc[k] += c[k] * cov
					}
					a += cov
				}
			}
			if a == 0 {
				continue
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(acc[0]/a + 0.5), uint8(acc[1]/a + 0.5), uint8(acc[2]/a + 0.5), uint8(255*a/(ss*ss) + 0.5)})
		}
	}
	f, err := os.Create(name)
	if err != nil {
		panic(err)
	}
	if err := png.Encode(f, img); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	fmt.Println("wrote", name)
}

func main() {
	draw(192, false, "icon-192.png")
	draw(512, false, "icon-512.png")
	draw(512, true, "maskable-512.png")
}
