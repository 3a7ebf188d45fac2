package imageio

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"

	"nnst/core/tensor"
)

// JPEGQuality is the quality Encode uses for JPEG.
const JPEGQuality = 95

// ToImage converts t to an opaque 8-bit image for previews and encoding:
// values are clamped to [0,1] and rounded (NaN becomes 0). A tensor with one
// or two channels is shown as grey (from channel 0); with three or more,
// channels 0-2 are red, green and blue and any others are ignored. It panics
// on a tensor with no channels or a data length that does not match its shape.
func ToImage(t *tensor.T) *image.NRGBA {
	if err := checkTensor(t); err != nil {
		panic("imageio.ToImage: " + err.Error())
	}
	w, h := t.W, t.H
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	r, g, b := t.Plane(0), t.Plane(0), t.Plane(0)
	if t.C >= 3 {
		g, b = t.Plane(1), t.Plane(2)
	}
	for y := 0; y < h; y++ {
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			i := y*w + x
			p := row[4*x : 4*x+4 : 4*x+4]
			p[0], p[1], p[2], p[3] = to8(r[i]), to8(g[i]), to8(b[i]), 255
		}
	}
	return img
}

func to8(v float32) uint8 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v*255 + 0.5)
}

func checkTensor(t *tensor.T) error {
	switch {
	case t == nil:
		return errors.New("nil tensor")
	case t.C <= 0 || t.H <= 0 || t.W <= 0:
		return fmt.Errorf("cannot make an image from an empty %v", t)
	case len(t.Data) != t.C*t.H*t.W:
		return fmt.Errorf("%v has %d values, want %d", t, len(t.Data), t.C*t.H*t.W)
	}
	return nil
}

// Encode writes t as an 8-bit PNG ("png") or a JPEG of quality 95 ("jpeg" or
// "jpg"), values clamped to [0,1] and rounded. See ToImage for channels.
func Encode(w io.Writer, t *tensor.T, format string) error {
	enc, err := encoderFor(format)
	if err != nil {
		return err
	}
	if err := checkTensor(t); err != nil {
		return err
	}
	return enc(w, ToImage(t))
}

func encoderFor(format string) (func(io.Writer, image.Image) error, error) {
	switch strings.ToLower(format) {
	case "png":
		return func(w io.Writer, m image.Image) error {
			e := png.Encoder{CompressionLevel: png.DefaultCompression}
			return e.Encode(w, m)
		}, nil
	case "jpeg", "jpg":
		return func(w io.Writer, m image.Image) error {
			return jpeg.Encode(w, m, &jpeg.Options{Quality: JPEGQuality})
		}, nil
	}
	return nil, fmt.Errorf("unknown image format %q (expected \"png\" or \"jpeg\")", format)
}

// FormatForPath returns "png" or "jpeg" from the extension of path (.png,
// .jpg, .jpeg, any case), or an error for any other extension.
func FormatForPath(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".png":
		return "png", nil
	case ".jpg", ".jpeg":
		return "jpeg", nil
	case "":
		return "", fmt.Errorf("%s: no file extension; use .png, .jpg or .jpeg to choose the output format", path)
	default:
		return "", fmt.Errorf("%s: cannot write %s files; use .png, .jpg or .jpeg", path, ext)
	}
}

// SaveFile writes t to path as PNG or JPEG, chosen by the extension. It
// writes a temporary file in the same folder and renames it into place, so
// a failure or an interruption never leaves a partial file at path.
func SaveFile(path string, t *tensor.T) (err error) {
	format, err := FormatForPath(path)
	if err != nil {
		return err
	}
	if err := checkTensor(t); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = Encode(bw, t, format); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	// CreateTemp makes the file private (0600); give it ordinary permissions.
	_ = os.Chmod(tmp, 0o644)
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("saving %s: %w", path, err)
	}
	return nil
}
