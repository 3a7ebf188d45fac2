package imageio

import (
	"image"
	"image/color"

	"nnst/core/tensor"
)

// rowFunc returns a function that converts row y (0 at the top of img's
// bounds) of img to straight (not premultiplied) RGB in [0,1], dropping
// alpha, one row at a time so that no full-size float copy is needed.
func rowFunc(img image.Image) func(y int, R, G, B []float32) {
	b := img.Bounds()
	w := b.Dx()
	switch m := img.(type) {
	case *image.YCbCr:
		return func(y int, R, G, B []float32) { ycbcrRow(m, y, R, G, B) }
	case *image.NYCbCrA:
		return func(y int, R, G, B []float32) { ycbcrRow(&m.YCbCr, y, R, G, B) }
	case *image.Gray:
		return func(y int, R, G, B []float32) {
			for x, v := range m.Pix[y*m.Stride : y*m.Stride+w] {
				f := float32(v) / 255
				R[x], G[x], B[x] = f, f, f
			}
		}
	case *image.Gray16:
		return func(y int, R, G, B []float32) {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := 0; x < w; x++ {
				f := float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 65535
				R[x], G[x], B[x] = f, f, f
			}
		}
	case *image.NRGBA:
		return func(y int, R, G, B []float32) {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				R[x], G[x], B[x] = float32(p[0])/255, float32(p[1])/255, float32(p[2])/255
			}
		}
	case *image.RGBA:
		return func(y int, R, G, B []float32) {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				R[x], G[x], B[x] = unpremul(uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]))
			}
		}
	case *image.NRGBA64:
		return func(y int, R, G, B []float32) {
			row := m.Pix[y*m.Stride : y*m.Stride+8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				R[x] = float32(uint16(p[0])<<8|uint16(p[1])) / 65535
				G[x] = float32(uint16(p[2])<<8|uint16(p[3])) / 65535
				B[x] = float32(uint16(p[4])<<8|uint16(p[5])) / 65535
			}
		}
	case *image.RGBA64:
		return func(y int, R, G, B []float32) {
			row := m.Pix[y*m.Stride : y*m.Stride+8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				R[x], G[x], B[x] = unpremul(
					uint32(p[0])<<8|uint32(p[1]), uint32(p[2])<<8|uint32(p[3]),
					uint32(p[4])<<8|uint32(p[5]), uint32(p[6])<<8|uint32(p[7]))
			}
		}
	case *image.Paletted:
		var lut [256][3]float32 // out-of-range indices: black
		for i, c := range m.Palette[:min(len(m.Palette), 256)] {
			lut[i][0], lut[i][1], lut[i][2] = straightRGB(c)
		}
		return func(y int, R, G, B []float32) {
			for x, idx := range m.Pix[y*m.Stride : y*m.Stride+w] {
				c := &lut[idx]
				R[x], G[x], B[x] = c[0], c[1], c[2]
			}
		}
	}
	return func(y int, R, G, B []float32) {
		for x := 0; x < w; x++ {
			R[x], G[x], B[x] = straightRGB(img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
}

// toTensor converts any image to a 3 x H x W tensor of straight RGB in
// [0,1], dropping alpha.
func toTensor(img image.Image) *tensor.T {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	t := tensor.New(3, h, w)
	row := rowFunc(img)
	for y := 0; y < h; y++ {
		o := y * w
		row(y, t.Data[o:o+w], t.Data[h*w+o:h*w+o+w], t.Data[2*h*w+o:2*h*w+o+w])
	}
	return t
}

// unpremul converts premultiplied r,g,b with alpha a (all on the same scale)
// to straight colour in [0,1]. Fully transparent pixels become black.
func unpremul(r, g, b, a uint32) (float32, float32, float32) {
	if a == 0 {
		return 0, 0, 0
	}
	s := 1 / float32(a)
	return min(float32(r)*s, 1), min(float32(g)*s, 1), min(float32(b)*s, 1)
}

// straightRGB returns the un-premultiplied colour of c in [0,1].
func straightRGB(c color.Color) (float32, float32, float32) {
	switch c := c.(type) {
	case color.NRGBA:
		return float32(c.R) / 255, float32(c.G) / 255, float32(c.B) / 255
	case color.NRGBA64:
		return float32(c.R) / 65535, float32(c.G) / 65535, float32(c.B) / 65535
	case nil:
		return 0, 0, 0
	}
	r, g, b, a := c.RGBA()
	return unpremul(r, g, b, a)
}

// ycbcrRow converts row y (from the top of m's bounds) of m.
func ycbcrRow(m *image.YCbCr, y int, R, G, B []float32) {
	r := m.Rect
	y += r.Min.Y
	for x := r.Min.X; x < r.Max.X; x++ {
		yi, ci := m.YOffset(x, y), m.COffset(x, y)
		cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
		i := x - r.Min.X
		R[i], G[i], B[i] = float32(cr)/255, float32(cg)/255, float32(cb)/255
	}
}
