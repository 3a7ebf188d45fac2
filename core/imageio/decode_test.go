package imageio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"nnst/core/tensor"
)

// Quadrant colours: top-left, top-right, bottom-left, bottom-right.
var quadCols = [4]color.NRGBA{
	{255, 0, 0, 255},     // red
	{0, 255, 0, 255},     // green
	{0, 0, 255, 255},     // blue
	{255, 255, 255, 255}, // white
}

const (
	qR = iota
	qG
	qB
	qW
)

// quadrants returns a w x h image split into four flat coloured quadrants.
func quadrants(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			q := 0
			if x >= w/2 {
				q++
			}
			if y >= h/2 {
				q += 2
			}
			img.SetNRGBA(x, y, quadCols[q])
		}
	}
	return img
}

func encPNG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encJPEG(t testing.TB, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func mustDecode(t *testing.T, b []byte) *tensor.T {
	t.Helper()
	out, err := DecodeBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	if out.C != 3 {
		t.Fatalf("got %d channels, want 3", out.C)
	}
	return out
}

// checkQuadrants checks the colour at the centre of each quadrant of out
// against the wanted quadrant colour indexes (TL, TR, BL, BR).
func checkQuadrants(t *testing.T, out *tensor.T, want [4]int, tol float64) {
	t.Helper()
	pts := [4][2]int{
		{out.W / 4, out.H / 4}, {3 * out.W / 4, out.H / 4},
		{out.W / 4, 3 * out.H / 4}, {3 * out.W / 4, 3 * out.H / 4},
	}
	names := [4]string{"top-left", "top-right", "bottom-left", "bottom-right"}
	for q, p := range pts {
		c := quadCols[want[q]]
		exp := [3]float64{float64(c.R) / 255, float64(c.G) / 255, float64(c.B) / 255}
		for ch := 0; ch < 3; ch++ {
			got := float64(out.At(ch, p[1], p[0]))
			if math.Abs(got-exp[ch]) > tol {
				t.Errorf("%s quadrant channel %d = %.3f, want %.3f", names[q], ch, got, exp[ch])
			}
		}
	}
}

func checkRange(t *testing.T, out *tensor.T) {
	t.Helper()
	for i, v := range out.Data {
		if !(v >= 0 && v <= 1) {
			t.Fatalf("value %d = %v outside [0,1]", i, v)
		}
	}
}

var upright = [4]int{qR, qG, qB, qW}

func TestDecodePNG(t *testing.T) {
	out := mustDecode(t, encPNG(t, quadrants(96, 70)))
	if out.H != 70 || out.W != 96 {
		t.Fatalf("got %v, want 70x96", out)
	}
	checkQuadrants(t, out, upright, 0)
	checkRange(t, out)
}

func TestDecodeJPEG(t *testing.T) {
	out := mustDecode(t, encJPEG(t, quadrants(96, 70)))
	if out.H != 70 || out.W != 96 {
		t.Fatalf("got %v, want 70x96", out)
	}
	checkQuadrants(t, out, upright, 0.05)
	checkRange(t, out)
}

func TestDecodeGreyJPEG(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 64, 64))
	for i := range g.Pix {
		g.Pix[i] = 100
	}
	out := mustDecode(t, encJPEG(t, g))
	for i := 0; i < 64*64; i++ {
		r, gg, b := out.Data[i], out.Data[64*64+i], out.Data[2*64*64+i]
		if r != gg || r != b || math.Abs(float64(r)-100.0/255) > 0.01 {
			t.Fatalf("pixel %d = %v,%v,%v, want grey 100/255", i, r, gg, b)
		}
	}
}

func TestDecodeGIF(t *testing.T) {
	pal := color.Palette{quadCols[0], quadCols[1], quadCols[2], quadCols[3], color.NRGBA{9, 9, 9, 255}}
	src := quadrants(80, 64)
	frame := image.NewPaletted(src.Bounds(), pal)
	for y := 0; y < 64; y++ {
		for x := 0; x < 80; x++ {
			frame.SetColorIndex(x, y, uint8(pal.Index(src.At(x, y))))
		}
	}
	second := image.NewPaletted(src.Bounds(), pal)
	for i := range second.Pix {
		second.Pix[i] = 4
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: []*image.Paletted{frame, second}, Delay: []int{10, 10}}); err != nil {
		t.Fatal(err)
	}
	out := mustDecode(t, b.Bytes())
	if out.H != 64 || out.W != 80 {
		t.Fatalf("got %v, want 64x80", out)
	}
	checkQuadrants(t, out, upright, 0) // first frame, not the grey second one
}

func TestDecodeWebP(t *testing.T) {
	for _, tc := range []struct {
		file string
		tol  float64
	}{
		{"quadrants-lossless.webp", 0},
		{"quadrants-lossy.webp", 0.08},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out, err := DecodeFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if out.H != 64 || out.W != 80 {
				t.Fatalf("got %v, want 64x80", out)
			}
			checkQuadrants(t, out, upright, tc.tol)
			checkRange(t, out)
		})
	}
}

func TestDecodeGreyPNG(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 70, 64))
	for i := range g.Pix {
		g.Pix[i] = uint8(i)
	}
	out := mustDecode(t, encPNG(t, g))
	for i := range g.Pix {
		want := float32(g.Pix[i]) / 255
		for c := 0; c < 3; c++ {
			if got := out.Data[c*len(g.Pix)+i]; math.Abs(float64(got-want)) > 1e-6 {
				t.Fatalf("pixel %d channel %d = %v, want %v", i, c, got, want)
			}
		}
	}
}

func TestDecode16BitPNG(t *testing.T) {
	// Values that 8 bits cannot represent: a 16-bit decode must keep them.
	vals := []uint16{0, 1, 257*100 + 77, 40000, 65534, 65535}
	t.Run("gray16", func(t *testing.T) {
		g := image.NewGray16(image.Rect(0, 0, 64, 64))
		for i := 0; i < 64*64; i++ {
			g.SetGray16(i%64, i/64, color.Gray16{Y: vals[i%len(vals)]})
		}
		out := mustDecode(t, encPNG(t, g))
		for i := 0; i < 64*64; i++ {
			want := float64(vals[i%len(vals)]) / 65535
			for c := 0; c < 3; c++ {
				if got := float64(out.Data[c*64*64+i]); math.Abs(got-want) > 1e-6 {
					t.Fatalf("pixel %d channel %d = %v, want %v", i, c, got, want)
				}
			}
		}
	})
	t.Run("nrgba64", func(t *testing.T) {
		m := image.NewNRGBA64(image.Rect(0, 0, 64, 64))
		for i := 0; i < 64*64; i++ {
			v := vals[i%len(vals)]
			a := uint16(65535)
			if i%3 == 0 {
				a = 30000 // translucent: colour must stay straight
			}
			m.SetNRGBA64(i%64, i/64, color.NRGBA64{R: v, G: 65535 - v, B: v / 2, A: a})
		}
		out := mustDecode(t, encPNG(t, m))
		for i := 0; i < 64*64; i++ {
			v := vals[i%len(vals)]
			want := []float64{float64(v) / 65535, float64(65535-v) / 65535, float64(v/2) / 65535}
			for c := 0; c < 3; c++ {
				if got := float64(out.Data[c*64*64+i]); math.Abs(got-want[c]) > 1e-6 {
					t.Fatalf("pixel %d channel %d = %v, want %v", i, c, got, want[c])
				}
			}
		}
	})
}

func TestDecodeAlphaPNG(t *testing.T) {
	// Straight alpha: colour kept as stored, alpha dropped.
	m := image.NewNRGBA(image.Rect(0, 0, 64, 64))
	for i := 0; i < 64*64; i++ {
		m.SetNRGBA(i%64, i/64, color.NRGBA{200, 100, 50, uint8(i)})
	}
	out := mustDecode(t, encPNG(t, m))
	for i := 0; i < 64*64; i++ {
		if uint8(i) == 0 {
			continue // fully transparent: PNG may not keep the colour
		}
		got := [3]float32{out.Data[i], out.Data[4096+i], out.Data[8192+i]}
		want := [3]float32{200.0 / 255, 100.0 / 255, 50.0 / 255}
		if got != want {
			t.Fatalf("pixel %d (alpha %d) = %v, want %v", i, uint8(i), got, want)
		}
	}
}

func TestDecodePalettedPNG(t *testing.T) {
	pal := color.Palette{
		color.NRGBA{200, 100, 50, 128}, // translucent
		color.NRGBA{10, 20, 30, 0},     // transparent
		color.NRGBA{0, 255, 0, 255},
	}
	m := image.NewPaletted(image.Rect(0, 0, 64, 66), pal)
	for i := range m.Pix {
		m.Pix[i] = uint8(i % 3)
	}
	out := mustDecode(t, encPNG(t, m))
	want := [][3]float32{{200.0 / 255, 100.0 / 255, 50.0 / 255}, {10.0 / 255, 20.0 / 255, 30.0 / 255}, {0, 1, 0}}
	n := 64 * 66
	for i := 0; i < n; i++ {
		got := [3]float32{out.Data[i], out.Data[n+i], out.Data[2*n+i]}
		if got != want[i%3] {
			t.Fatalf("pixel %d = %v, want %v", i, got, want[i%3])
		}
	}
}

func TestToTensorPremultiplied(t *testing.T) {
	// image.RGBA and RGBA64 hold premultiplied colour: un-premultiply.
	rgba := image.NewRGBA(image.Rect(0, 0, 2, 1))
	rgba.SetRGBA(0, 0, color.RGBA{100, 50, 0, 200}) // straight 127.5, 63.75, 0
	rgba.SetRGBA(1, 0, color.RGBA{0, 0, 0, 0})
	out := toTensor(rgba)
	want := []float32{100.0 / 200, 0, 50.0 / 200, 0, 0, 0}
	for i, w := range want {
		if math.Abs(float64(out.Data[i]-w)) > 1e-6 {
			t.Errorf("RGBA value %d = %v, want %v", i, out.Data[i], w)
		}
	}
	r64 := image.NewRGBA64(image.Rect(0, 0, 1, 1))
	r64.SetRGBA64(0, 0, color.RGBA64{R: 10000, G: 20000, B: 30000, A: 40000})
	out = toTensor(r64)
	want = []float32{0.25, 0.5, 0.75}
	for i, w := range want {
		if math.Abs(float64(out.Data[i]-w)) > 1e-6 {
			t.Errorf("RGBA64 value %d = %v, want %v", i, out.Data[i], w)
		}
	}
	// The generic path (here image.CMYK via At) must agree with the colour model.
	cm := image.NewCMYK(image.Rect(0, 0, 1, 1))
	cm.SetCMYK(0, 0, color.CMYK{C: 0, M: 255, Y: 255, K: 0})
	out = toTensor(cm)
	if out.Data[0] != 1 || out.Data[1] != 0 || out.Data[2] != 0 {
		t.Errorf("CMYK red decoded as %v", out.Data)
	}
	// A sub-image with a non-zero origin.
	q := quadrants(8, 8).SubImage(image.Rect(4, 4, 8, 8))
	out = toTensor(q)
	if out.W != 4 || out.H != 4 || out.At(0, 0, 0) != 1 || out.At(1, 0, 0) != 1 || out.At(2, 0, 0) != 1 {
		t.Errorf("sub-image decoded as %v %v", out, out.Data[:4])
	}
}

// exifSegment builds an APP1 segment holding a TIFF structure whose IFD0 has
// an orientation entry (plus a dummy entry before it).
func exifSegment(orient uint16, bigEndian bool) []byte {
	var bo binary.AppendByteOrder = binary.LittleEndian
	hdr := "II"
	if bigEndian {
		bo, hdr = binary.BigEndian, "MM"
	}
	tiff := []byte(hdr)
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8) // IFD0 right after the header
	tiff = bo.AppendUint16(tiff, 2) // two entries
	// ImageDescription-like dummy entry (tag 0x010e, ASCII, 4 bytes inline).
	tiff = bo.AppendUint16(tiff, 0x010e)
	tiff = bo.AppendUint16(tiff, 2)
	tiff = bo.AppendUint32(tiff, 4)
	tiff = append(tiff, 'a', 'b', 'c', 0)
	// Orientation: SHORT, count 1, value left-justified in the 4-byte field.
	tiff = bo.AppendUint16(tiff, 0x0112)
	tiff = bo.AppendUint16(tiff, 3)
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, orient)
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	return append(seg, payload...)
}

// withSegment inserts seg right after the SOI marker of a JPEG.
func withSegment(j, seg []byte) []byte {
	out := append([]byte{}, j[:2]...)
	out = append(out, seg...)
	return append(out, j[2:]...)
}

func TestEXIFOrientation(t *testing.T) {
	// Stored image: 128 wide, 64 high, quadrants R G / B W.
	base := encJPEG(t, quadrants(128, 64))
	// What each orientation shows, by quadrant (TL, TR, BL, BR), worked out by
	// hand from the EXIF definitions of where row 0 and column 0 belong.
	want := map[uint16][4]int{
		1: {qR, qG, qB, qW},
		2: {qG, qR, qW, qB}, // mirrored left-right
		3: {qW, qB, qG, qR}, // rotated 180
		4: {qB, qW, qR, qG}, // mirrored top-bottom
		5: {qR, qB, qG, qW}, // transposed
		6: {qB, qR, qW, qG}, // turn 90 clockwise to view
		7: {qW, qG, qB, qR}, // transversed
		8: {qG, qW, qR, qB}, // turn 90 anticlockwise to view
	}
	for o := uint16(1); o <= 8; o++ {
		for _, big := range []bool{false, true} {
			j := withSegment(base, exifSegment(o, big))
			if got := jpegOrientation(j); got != int(o) {
				t.Fatalf("orientation %d (big endian %v): parsed %d", o, big, got)
			}
			out := mustDecode(t, j)
			wantW, wantH := 128, 64
			if o >= 5 {
				wantW, wantH = 64, 128
			}
			if out.W != wantW || out.H != wantH {
				t.Fatalf("orientation %d: got %v, want %dx%d", o, out, wantH, wantW)
			}
			t.Run(string(rune('0'+o)), func(t *testing.T) { checkQuadrants(t, out, want[o], 0.06) })
		}
	}
}

func TestEXIFMalformed(t *testing.T) {
	base := encJPEG(t, quadrants(64, 64))
	good := exifSegment(6, false)
	cases := map[string][]byte{
		"no exif":          base,
		"bad orientation":  withSegment(base, exifSegment(9, false)),
		"zero orientation": withSegment(base, exifSegment(0, true)),
	}
	// Corrupt the TIFF part in various ways, keeping the segment length.
	mut := func(name string, f func(s []byte)) {
		s := append([]byte{}, good...)
		f(s)
		cases[name] = withSegment(base, s)
	}
	mut("bad byte order", func(s []byte) { s[10], s[11] = 'X', 'X' })
	mut("bad magic", func(s []byte) { s[12] = 41 })
	mut("IFD offset past end", func(s []byte) { binary.LittleEndian.PutUint32(s[14:], 0xFFFFFFF0) })
	mut("entry count too big", func(s []byte) {
		binary.LittleEndian.PutUint16(s[18:], 0xFFFF)
		s[32] = 0 // orientation tag now 0x0100, so the scan runs off the end
	})
	mut("bad type", func(s []byte) { binary.LittleEndian.PutUint16(s[34:], 7) })
	// Segment length past the end of the file.
	short := append([]byte{}, good[:20]...)
	cases["truncated segment"] = append([]byte{0xFF, 0xD8}, short...)
	bad := append([]byte{}, good...)
	bad[2], bad[3] = 0xFF, 0xFF
	cases["length too long"] = withSegment(base, bad)
	bad = append([]byte{}, good...)
	bad[2], bad[3] = 0, 1
	cases["length too short"] = withSegment(base, bad)
	for name, b := range cases {
		if got := jpegOrientation(b); got != 1 {
			t.Errorf("%s: orientation %d, want 1", name, got)
		}
		// Every prefix must be safe to parse.
		for n := 0; n <= len(b) && n < 200; n++ {
			jpegOrientation(b[:n])
		}
	}
	// A later valid Exif segment is still found after an invalid one.
	j := withSegment(withSegment(base, exifSegment(3, true)), exifSegment(0, false))
	if got := jpegOrientation(j); got != 3 {
		t.Errorf("second segment: orientation %d, want 3", got)
	}
}

// pngHeader returns a PNG signature and a valid IHDR chunk only.
func pngHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n")
	chunk := []byte("IHDR")
	chunk = binary.BigEndian.AppendUint32(chunk, w)
	chunk = binary.BigEndian.AppendUint32(chunk, h)
	chunk = append(chunk, 8, 2, 0, 0, 0) // 8-bit RGB
	b = binary.BigEndian.AppendUint32(b, 13)
	b = append(b, chunk...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(chunk))
}

func TestRejections(t *testing.T) {
	pngBytes := encPNG(t, quadrants(100, 80))
	jpgBytes := encJPEG(t, quadrants(100, 80))
	gifHuge := []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00")
	cases := []struct {
		name string
		data []byte
		want error
		msg  string
	}{
		{"text", []byte("hello, this is a text file\n"), ErrNotImage, "not an image (expected PNG, JPEG, GIF or WebP)"},
		{"empty", nil, ErrNotImage, "not an image"},
		{"bmp", []byte("BM\x00\x00\x00\x00\x00\x00"), ErrNotImage, "BMP"},
		{"truncated png", pngBytes[:len(pngBytes)/2], ErrCorrupt, "PNG"},
		{"truncated png header", pngBytes[:20], ErrCorrupt, "PNG"},
		{"truncated jpeg", jpgBytes[:len(jpgBytes)/2], ErrCorrupt, "JPEG"},
		{"truncated jpeg header", jpgBytes[:30], ErrCorrupt, "JPEG"},
		{"png bad crc", func() []byte {
			b := append([]byte{}, pngBytes...)
			b[len(b)-20] ^= 0xFF
			return b
		}(), ErrCorrupt, "PNG"},
		{"too small", encPNG(t, image.NewGray(image.Rect(0, 0, 40, 300))), ErrTooSmall,
			"image is 40x300 px; the shortest side must be at least 64 px"},
		{"too large png", pngHeader(12000, 9000), ErrTooLarge, "image is 12000x9000 px (108 MP); the limit is 50 MP"},
		{"too large png 2^31", pngHeader(1<<31-1, 1<<31-1), ErrTooLarge, "the limit is 50 MP"},
		{"too large gif", gifHuge, ErrTooLarge, "image is 65535x65535 px"},
		{"zero size png", pngHeader(0, 100), ErrCorrupt, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := DecodeBytes(tc.data)
			if err == nil {
				t.Fatalf("decoded %v, want error", out)
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %q is not %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not mention %q", err, tc.msg)
			}
			t.Log(err)
		})
	}
}

func TestTooLargeDoesNotAllocate(t *testing.T) {
	for _, b := range [][]byte{pngHeader(12000, 9000), pngHeader(60000, 60000), []byte("GIF89a\xff\xff\xff\xff\x00\x00\x00")} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := DecodeBytes(b)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v, want ErrTooLarge", err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("refusing a huge image allocated %d bytes", n)
		}
	}
}

func TestDecodeFileNamesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(p, []byte("just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeFile(p)
	if !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "notes.txt") {
		t.Errorf("got %v, want ErrNotImage naming the file", err)
	}
	_, err = DecodeFile(filepath.Join(dir, "missing.png"))
	if err == nil || !strings.Contains(err.Error(), "missing.png") {
		t.Errorf("got %v, want an error naming the missing file", err)
	}
}

func TestDecodeReader(t *testing.T) {
	out, err := Decode(bytes.NewReader(encPNG(t, quadrants(64, 64))))
	if err != nil {
		t.Fatal(err)
	}
	checkQuadrants(t, out, upright, 0)
}

// TestRealPhotos decodes the shared sample photos and fits them to 512 px.
func TestRealPhotos(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/images/*.jpg")
	if len(files) == 0 {
		t.Skip("no sample photos in /work/shared/images")
	}
	for _, f := range files {
		t0 := time.Now()
		img, err := DecodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		out := FitLongSide(img, 512)
		t2 := time.Now()
		if max(out.H, out.W) != 512 {
			t.Errorf("%s: fitted to %v", f, out)
		}
		checkRange(t, img)
		t.Logf("%s: %dx%d decode %.1f ms, fit to %dx%d %.1f ms", filepath.Base(f), img.W, img.H,
			float64(t1.Sub(t0).Microseconds())/1000, out.W, out.H, float64(t2.Sub(t1).Microseconds())/1000)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encPNG(f, quadrants(64, 64)))
	f.Add(encPNG(f, image.NewGray16(image.Rect(0, 0, 64, 64))))
	pal := image.NewPaletted(image.Rect(0, 0, 64, 64), color.Palette{color.NRGBA{1, 2, 3, 4}, color.Black})
	f.Add(encPNG(f, pal))
	j := encJPEG(f, quadrants(64, 64))
	f.Add(j)
	f.Add(withSegment(j, exifSegment(6, false)))
	f.Add(withSegment(j, exifSegment(7, true)))
	var g bytes.Buffer
	if err := gif.Encode(&g, pal, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(g.Bytes())
	for _, name := range []string{"quadrants-lossless.webp", "quadrants-lossy.webp"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(pngHeader(12000, 9000))
	f.Add(animatedWebP())
	for _, c := range [][2]int{{0, 1}, {0, 16}, {3, 4}, {4, 8}, {6, 16}} {
		for _, il := range []bool{false, true} {
			pal := [][2]string{{"PLTE", "\x01\x02\x03\xff\x00\x80"}}
			f.Add(rawPNG(f, 64, 65, c[0], c[1], il, pal, func(r []byte) {
				for i := range r {
					r[i] = byte(i * 7)
				}
				r[0] %= 5
			}))
		}
	}
	old := maxPixels
	maxPixels = 1 << 20 // keep the fuzzer fast and its memory small
	defer func() { maxPixels = old }()
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := DecodeBytes(b)
		if err != nil {
			if out != nil {
				t.Fatal("non-nil tensor with an error")
			}
			if !errors.Is(err, ErrNotImage) && !errors.Is(err, ErrCorrupt) &&
				!errors.Is(err, ErrTooSmall) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("error %q wraps no sentinel", err)
			}
			return
		}
		if out.C != 3 || min(out.H, out.W) < MinSide || out.H*out.W > maxPixels || len(out.Data) != 3*out.H*out.W {
			t.Fatalf("bad tensor %v", out)
		}
		for _, v := range out.Data {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("value %v outside [0,1]", v)
			}
		}
		// Decoding straight to a size gets the same size as resizing.
		fit := func(h, w int) (int, int, error) { h, w = FitDims(h, w, 70); return h, w, nil }
		small, err := DecodeBytesFit(b, fit)
		if want := FitLongSide(out, 70); err != nil || !small.SameShape(want) {
			t.Fatalf("decoded to size: %v, %v; want %v", small, err, want)
		}
	})
}

// animatedWebP returns the start of an animated 100 x 80 WebP: its VP8X
// chunk with the animation flag, and an ANIM chunk.
func animatedWebP() []byte {
	vp8x := []byte("VP8X\x0a\x00\x00\x00\x02\x00\x00\x00\x63\x00\x00\x4f\x00\x00")
	anim := []byte("ANIM\x06\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	body := append(append([]byte("WEBP"), vp8x...), anim...)
	return append(binary.LittleEndian.AppendUint32([]byte("RIFF"), uint32(len(body))), body...)
}

func TestAnimatedWebP(t *testing.T) {
	_, err := DecodeBytes(animatedWebP())
	if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "animated WebP is not supported") {
		t.Errorf("got %v, want animated WebP not supported", err)
	}
}

// TestReadSize reads the size as shown from the header: an EXIF rotation
// swaps the sides.
func TestReadSize(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "r.jpg")
	os.WriteFile(p, withSegment(encJPEG(t, quadrants(100, 70)), exifSegment(6, false)), 0o644)
	if h, w, err := ReadSize(p); err != nil || h != 100 || w != 70 {
		t.Errorf("got %dx%d, %v; want 70x100", w, h, err)
	}
	os.WriteFile(p, []byte("text"), 0o644)
	if _, _, err := ReadSize(p); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "r.jpg") {
		t.Errorf("got %v, want ErrNotImage naming the file", err)
	}
}

// TestDecodeFitOrientation decodes a rotated JPEG straight to a size: as
// decoding it whole and resizing, and fit sees the size as shown.
func TestDecodeFitOrientation(t *testing.T) {
	for o := 1; o <= 8; o++ {
		b := withSegment(encJPEG(t, quadrants(160, 96)), exifSegment(uint16(o), false))
		full := mustDecode(t, b)
		want := FitLongSide(full, 100)
		got, err := DecodeBytesFit(b, func(h, w int) (int, int, error) {
			if h != full.H || w != full.W {
				t.Errorf("orientation %d: fit got %dx%d, want %dx%d", o, w, h, full.W, full.H)
			}
			h, w = FitDims(h, w, 100)
			return h, w, nil
		})
		if err != nil || !got.SameShape(want) {
			t.Fatalf("orientation %d: got %v, %v; want %v", o, got, err, want)
		}
		for i, v := range want.Data {
			if math.Abs(float64(got.Data[i]-v)) > 1e-5 {
				t.Fatalf("orientation %d: value %d = %v, want %v", o, i, got.Data[i], v)
			}
		}
	}
}

func TestMegapixels(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{108_000_000, "108"},
		{50_040_000, "50.04"},
		{50_000_001, "50.000001"},
		{52_345_678, "52.3"},
		{4_294_836_225, "4295"},
	} {
		if got := megapixels(tc.n, MaxPixels); got != tc.want {
			t.Errorf("megapixels(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
