// Package imageio turns image files into RGB float tensors in [0,1] and back,
// and resizes tensors with an antialiased resampler.
//
// Supported inputs are PNG (8 and 16 bit, grey, paletted, with or without
// alpha), JPEG (honouring the EXIF orientation tag), GIF (first frame) and
// still WebP. Alpha is dropped; premultiplied colour is un-premultiplied
// first. The Fit variants decode straight to a working size, a few rows at
// a time.
package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
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
	// ErrUnsupported is an image of a kind the decoders do not read, such
	// as an animated WebP.
	ErrUnsupported = errors.New("unsupported image")
)

// maxPixels is MaxPixels, lowered by the fuzz test to keep it fast.
var maxPixels = MaxPixels

// Decode reads a whole PNG, JPEG, GIF or WebP image from r and returns it as
// a 3 x H x W tensor with values in [0,1].
func Decode(r io.Reader) (*tensor.T, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, err
	}
	return DecodeBytes(b)
}

// readAll reads at most MaxFileBytes from r.
func readAll(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading image: %w", err)
	}
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: the file is larger than %d MiB", ErrTooLarge, MaxFileBytes>>20)
	}
	return b, nil
}

// DecodeFile decodes the image file at path; errors name the file.
func DecodeFile(path string) (*tensor.T, error) { return DecodeFileFit(path, nil) }

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
func DecodeBytes(b []byte) (*tensor.T, error) { return DecodeBytesFit(b, nil) }

// A Fit picks the size h x w at which to decode an image shown h x w (its
// EXIF orientation applied), or refuses it. It is called with the size in
// the header, before any pixel is decoded.
type Fit func(h, w int) (int, int, error)

// DecodeBytesFit decodes the image in b and resizes it to the size fit
// picks (nil: its own) as it goes, a few rows at a time: besides the
// result it holds at most the standard decoder's image (none for a PNG
// that is not interlaced), never a full-size float copy.
func DecodeBytesFit(b []byte, fit Fit) (*tensor.T, error) {
	f, orient, h, w, err := config(b)
	if err != nil {
		return nil, err
	}
	th, tw, err := fitStored(fit, h, w, orient)
	if err != nil {
		return nil, err
	}
	if f == &fmtPNG {
		p, err := readPNG(b)
		if err != nil {
			return nil, corrupt(f, err)
		}
		if !p.interlaced {
			return p.decode(th, tw)
		}
	}
	var img image.Image
	if err := safely(func() (err error) { img, err = f.decode(bytes.NewReader(b)); return }); err != nil {
		return nil, corrupt(f, err)
	}
	r := img.Bounds()
	if r.Dx() != w || r.Dy() != h {
		// A GIF's first frame may be smaller than its logical screen.
		if err := checkSize(r.Dx(), r.Dy(), orient); err != nil {
			return nil, err
		}
		if th, tw, err = fitStored(fit, r.Dy(), r.Dx(), orient); err != nil {
			return nil, err
		}
	}
	rs := newResampler(r.Dy(), r.Dx(), th, tw)
	row := rowFunc(img)
	for y := 0; y < r.Dy(); y++ {
		R, G, B := rs.row()
		row(y, R, G, B)
	}
	return orientTensor(rs.finish(), orient), nil
}

// DecodeFileFit decodes the image file at path as DecodeBytesFit does;
// errors name the file.
func DecodeFileFit(path string, fit Fit) (*tensor.T, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	t, err := DecodeBytesFit(b, fit)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadSize returns the size, h x w as shown, of the image file at path from
// its header, with Decode's checks; errors name the file.
func ReadSize(path string) (int, int, error) {
	b, err := readFile(path)
	if err != nil {
		return 0, 0, err
	}
	_, orient, h, w, err := config(b)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	if orient >= 5 {
		h, w = w, h
	}
	return h, w, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *PathError already names the file
	}
	defer f.Close()
	b, err := readAll(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// config reads the format, the EXIF orientation and the stored size of the
// image in b, and checks the limits.
func config(b []byte) (f *format, orient, h, w int, err error) {
	if f, err = sniff(b); err != nil {
		return nil, 0, 0, 0, err
	}
	if f == &fmtPNG && len(b) >= 24 && string(b[12:16]) == "IHDR" {
		// Refuse huge sizes even where the PNG decoder itself would call them
		// an overflow (it accepts up to 2^31-1 per side).
		w, h := binary.BigEndian.Uint32(b[16:20]), binary.BigEndian.Uint32(b[20:24])
		if w > 0 && h > 0 && w < 1<<31 && h < 1<<31 && int64(w)*int64(h) > int64(maxPixels) {
			return nil, 0, 0, 0, checkSize(int(w), int(h), 1)
		}
	}
	if f == &fmtWebP && len(b) >= 21 && string(b[12:16]) == "VP8X" && b[20]&2 != 0 {
		return nil, 0, 0, 0, fmt.Errorf("%w: animated WebP is not supported (save one frame as a still image)", ErrUnsupported)
	}
	cfg, err := f.decodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, 0, 0, 0, corrupt(f, err)
	}
	orient = 1
	if f == &fmtJPEG {
		orient = jpegOrientation(b)
	}
	if err := checkSize(cfg.Width, cfg.Height, orient); err != nil {
		return nil, 0, 0, 0, err
	}
	return f, orient, cfg.Height, cfg.Width, nil
}

// fitStored returns the size to decode a stored h x w image at: fit's
// choice for it as shown with EXIF orientation orient, stored.
func fitStored(fit Fit, h, w, orient int) (int, int, error) {
	if fit == nil {
		return h, w, nil
	}
	if orient >= 5 {
		h, w = w, h
	}
	th, tw, err := fit(h, w)
	if err != nil {
		return 0, 0, err
	}
	if th <= 0 || tw <= 0 {
		return 0, 0, fmt.Errorf("cannot decode a %dx%d px image at %dx%d px", w, h, tw, th)
	}
	if orient >= 5 {
		th, tw = tw, th
	}
	return th, tw, nil
}

// safely runs a decoder, turning a panic inside it (none is known, but the
// input is untrusted) into an error.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder failed: %v", p)
		}
	}()
	return f()
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
