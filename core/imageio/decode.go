// Package imageio turns image files into RGB float tensors in [0,1] and back,
// and resizes tensors with an antialiased resampler.
//
// Supported inputs are PNG (8 and 16 bit, grey, paletted, with or without
// alpha), JPEG (honouring the EXIF orientation tag), GIF (first frame) and
// WebP. Alpha is dropped; premultiplied colour is un-premultiplied first.
package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/image/webp"

	"nnst/core/tensor"
)

// Limits on accepted images.
const (
	// MinSide is the shortest side, in pixels, that Decode accepts.
	MinSide = 64
	// MaxPixels is the largest width*height that Decode accepts. Larger
	// images are refused from their header, before any pixel is decoded.
	MaxPixels = 50_000_000
	// MaxFileBytes is the most Decode reads from a reader.
	MaxFileBytes = 1 << 30
)

// Sentinel errors. Returned errors wrap one of them with specifics; test with
// errors.Is.
var (
	ErrNotImage = errors.New("not an image (expected PNG, JPEG, GIF or WebP)")
	ErrTooSmall = errors.New("image too small")
	ErrTooLarge = errors.New("image too large")
	ErrCorrupt  = errors.New("corrupt or truncated image")
)

// maxPixels is MaxPixels, lowered by the fuzz test to keep it fast.
var maxPixels = MaxPixels

// Decode reads a whole PNG, JPEG, GIF or WebP image from r and returns it as
// a 3 x H x W tensor with values in [0,1].
func Decode(r io.Reader) (*tensor.T, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d MiB", ErrTooLarge, MaxFileBytes>>20)
	}
	return DecodeBytes(b)
}

// DecodeFile decodes the image file at path; errors name the file.
func DecodeFile(path string) (*tensor.T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	t, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

type format struct {
	name         string
	decodeConfig func(io.Reader) (image.Config, error)
	decode       func(io.Reader) (image.Image, error)
}

var (
	fmtPNG  = format{"PNG", png.DecodeConfig, png.Decode}
	fmtJPEG = format{"JPEG", jpeg.DecodeConfig, jpeg.Decode}
	fmtGIF  = format{"GIF", gif.DecodeConfig, gif.Decode}
	fmtWebP = format{"WebP", webp.DecodeConfig, webp.Decode}
)

// sniff picks the decoder from the magic number, independent of which
// formats other packages registered with package image.
func sniff(b []byte) (*format, error) {
	has := func(p string) bool { return bytes.HasPrefix(b, []byte(p)) }
	switch {
	case has("\x89PNG\r\n\x1a\n"):
		return &fmtPNG, nil
	case has("\xff\xd8"):
		return &fmtJPEG, nil
	case has("GIF87a"), has("GIF89a"):
		return &fmtGIF, nil
	case len(b) >= 12 && has("RIFF") && string(b[8:12]) == "WEBP":
		return &fmtWebP, nil
	case len(b) == 0:
		return nil, fmt.Errorf("%w: the data is empty", ErrNotImage)
	}
	other := ""
	switch {
	case has("BM"):
		other = "BMP"
	case has("II*\x00"), has("MM\x00*"):
		other = "TIFF"
	case len(b) >= 12 && string(b[4:8]) == "ftyp":
		switch string(b[8:12]) {
		case "avif", "avis":
			other = "AVIF"
		case "heic", "heix", "mif1", "msf1", "heim", "heis", "hevc":
			other = "HEIC"
		}
	case has("%PDF"):
		other = "PDF"
	case has("<svg"), has("<?xml"):
		other = "SVG/XML"
	}
	if other != "" {
		return nil, fmt.Errorf("%w: this looks like %s, which is not supported", ErrNotImage, other)
	}
	return nil, ErrNotImage
}

// DecodeBytes decodes a whole PNG, JPEG, GIF or WebP image held in b.
func DecodeBytes(b []byte) (*tensor.T, error) {
	f, err := sniff(b)
	if err != nil {
		return nil, err
	}
	if f == &fmtPNG && len(b) >= 24 && string(b[12:16]) == "IHDR" {
		// Refuse huge sizes even where the PNG decoder itself would call them
		// an overflow (it accepts up to 2^31-1 per side).
		w, h := binary.BigEndian.Uint32(b[16:20]), binary.BigEndian.Uint32(b[20:24])
		if w > 0 && h > 0 && w < 1<<31 && h < 1<<31 && int64(w)*int64(h) > int64(maxPixels) {
			return nil, checkSize(int(w), int(h), 1)
		}
	}
	cfg, err := f.decodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, corrupt(f, err)
	}
	orient := 1
	if f == &fmtJPEG {
		orient = jpegOrientation(b)
	}
	if err := checkSize(cfg.Width, cfg.Height, orient); err != nil {
		return nil, err
	}
	img, err := decodeSafely(f, b)
	if err != nil {
		return nil, corrupt(f, err)
	}
	r := img.Bounds()
	// A GIF's first frame may be smaller than its logical screen.
	if err := checkSize(r.Dx(), r.Dy(), orient); err != nil {
		return nil, err
	}
	return orientTensor(toTensor(img), orient), nil
}

// decodeSafely runs the standard decoder, turning a panic inside it (none is
// known, but the input is untrusted) into an error.
func decodeSafely(f *format, b []byte) (img image.Image, err error) {
	defer func() {
		if p := recover(); p != nil {
			img, err = nil, fmt.Errorf("decoder failed: %v", p)
		}
	}()
	return f.decode(bytes.NewReader(b))
}

func corrupt(f *format, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: %s data ends too early (truncated file?)", ErrCorrupt, f.name)
	}
	return fmt.Errorf("%w: %s data: %v", ErrCorrupt, f.name, err)
}

// checkSize applies the limits to a stored w x h image shown with the given
// EXIF orientation (5-8 swap the sides in messages).
func checkSize(w, h, orient int) error {
	if orient >= 5 {
		w, h = h, w
	}
	if w <= 0 || h <= 0 {
		return fmt.Errorf("%w: the header gives a size of %dx%d px", ErrCorrupt, w, h)
	}
	if n := int64(w) * int64(h); n > int64(maxPixels) {
		return fmt.Errorf("%w: image is %dx%d px (%s MP); the limit is %s MP",
			ErrTooLarge, w, h, megapixels(n, int64(maxPixels)), megapixels(int64(maxPixels), 0))
	}
	if min(w, h) < MinSide {
		return fmt.Errorf("%w: image is %dx%d px; the shortest side must be at least %d px",
			ErrTooSmall, w, h, MinSide)
	}
	return nil
}

// megapixels formats n pixels as megapixels with at most one decimal, with
// more decimals if that would make it read equal to limit.
func megapixels(n, limit int64) string {
	start := 1
	if n >= 1e9 {
		start = 0 // whole megapixels are plenty from 1000 MP up
	}
	for prec := start; prec <= 6; prec++ {
		s := strconv.FormatFloat(float64(n)/1e6, 'f', prec, 64)
		if strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
		if limit == 0 || s != megapixels(limit, 0) {
			return s
		}
	}
	return strconv.FormatFloat(float64(n)/1e6, 'f', 6, 64)
}

// toTensor converts any image to a 3 x H x W tensor of straight (not
// premultiplied) RGB in [0,1], dropping alpha.
func toTensor(img image.Image) *tensor.T {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	t := tensor.New(3, h, w)
	R, G, B := t.Plane(0), t.Plane(1), t.Plane(2)
	switch m := img.(type) {
	case *image.YCbCr:
		fromYCbCr(m, R, G, B)
	case *image.NYCbCrA:
		fromYCbCr(&m.YCbCr, R, G, B)
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				f := float32(v) / 255
				R[y*w+x], G[y*w+x], B[y*w+x] = f, f, f
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+2*w]
			for x := 0; x < w; x++ {
				f := float32(uint16(row[2*x])<<8|uint16(row[2*x+1])) / 65535
				R[y*w+x], G[y*w+x], B[y*w+x] = f, f, f
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				R[y*w+x], G[y*w+x], B[y*w+x] = float32(p[0])/255, float32(p[1])/255, float32(p[2])/255
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := 0; x < w; x++ {
				p := row[4*x : 4*x+4 : 4*x+4]
				R[y*w+x], G[y*w+x], B[y*w+x] = unpremul(uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3]))
			}
		}
	case *image.NRGBA64:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				R[y*w+x] = float32(uint16(p[0])<<8|uint16(p[1])) / 65535
				G[y*w+x] = float32(uint16(p[2])<<8|uint16(p[3])) / 65535
				B[y*w+x] = float32(uint16(p[4])<<8|uint16(p[5])) / 65535
			}
		}
	case *image.RGBA64:
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+8*w]
			for x := 0; x < w; x++ {
				p := row[8*x : 8*x+8 : 8*x+8]
				R[y*w+x], G[y*w+x], B[y*w+x] = unpremul(
					uint32(p[0])<<8|uint32(p[1]), uint32(p[2])<<8|uint32(p[3]),
					uint32(p[4])<<8|uint32(p[5]), uint32(p[6])<<8|uint32(p[7]))
			}
		}
	case *image.Paletted:
		lut := make([][3]float32, len(m.Palette))
		for i, c := range m.Palette {
			lut[i][0], lut[i][1], lut[i][2] = straightRGB(c)
		}
		for y := 0; y < h; y++ {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, idx := range row {
				if int(idx) < len(lut) { // out-of-range index: black
					c := lut[idx]
					R[y*w+x], G[y*w+x], B[y*w+x] = c[0], c[1], c[2]
				}
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				R[y*w+x], G[y*w+x], B[y*w+x] = straightRGB(m.At(b.Min.X+x, b.Min.Y+y))
			}
		}
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

func fromYCbCr(m *image.YCbCr, R, G, B []float32) {
	r := m.Rect
	w := r.Dx()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		o := (y - r.Min.Y) * w
		for x := r.Min.X; x < r.Max.X; x++ {
			yi, ci := m.YOffset(x, y), m.COffset(x, y)
			cr, cg, cb := color.YCbCrToRGB(m.Y[yi], m.Cb[ci], m.Cr[ci])
			R[o], G[o], B[o] = float32(cr)/255, float32(cg)/255, float32(cb)/255
			o++
		}
	}
}
