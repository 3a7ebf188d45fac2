package imageio

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"
)

// rawPNG writes a w x h PNG of colour type ct and bit depth depth, Adam7
// interlaced if asked, with the given extra chunks (type, data) before
// IDAT; row fills each row's bytes (filter byte first) of each pass. The
// data is split into IDAT chunks of 997 bytes.
func rawPNG(t testing.TB, w, h, ct, depth int, interlaced bool, extra [][2]string, row func(r []byte)) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		c := append([]byte(typ), data...)
		b.Write(c)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(c)))
	}
	il := byte(0)
	if interlaced {
		il = 1
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	chunk("IHDR", append(ihdr, byte(depth), byte(ct), 0, 0, il))
	for _, e := range extra {
		chunk(e[0], []byte(e[1]))
	}
	bits := [7]int{1, 0, 3, 1, 2, 0, 4}[ct] * depth
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	pass := func(pw, ph int) {
		if pw == 0 || ph == 0 {
			return
		}
		r := make([]byte, 1+(pw*bits+7)/8)
		for y := 0; y < ph; y++ {
			row(r)
			zw.Write(r)
		}
	}
	if interlaced {
		for _, p := range [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}} {
			pass((w-p[0]+p[2]-1)/p[2], (h-p[1]+p[3]-1)/p[3])
		}
	} else {
		pass(w, h)
	}
	zw.Close()
	for d := z.Bytes(); len(d) > 0; { // in several chunks
		n := min(len(d), 997)
		chunk("IDAT", d[:n])
		d = d[n:]
	}
	chunk("IEND", nil)
	return b.Bytes()
}

// TestPNGRowsMatchStd decodes random PNGs of every colour type and bit
// depth, with random filters, as the standard decoder does.
func TestPNGRowsMatchStd(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	random := func(row []byte) {
		for i := range row {
			row[i] = byte(r.Uint32())
		}
		row[0] %= 5
	}
	pal := string([]byte{255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30, 200, 100, 50})
	for _, c := range []struct{ ct, depth int }{
		{0, 1}, {0, 2}, {0, 4}, {0, 8}, {0, 16}, {2, 8}, {2, 16},
		{3, 1}, {3, 2}, {3, 4}, {3, 8}, {4, 8}, {4, 16}, {6, 8}, {6, 16},
	} {
		for _, il := range []bool{false, true} {
			var extra [][2]string
			switch c.ct {
			case 3: // five colours, so some indices are past the end; two translucent
				extra = [][2]string{{"PLTE", pal[:3*min(5, 1<<c.depth)]}, {"tRNS", "\x80\x00"}}
			case 0:
				if c.depth == 16 {
					extra = [][2]string{{"tRNS", "\x12\x34"}}
				}
			case 2:
				extra = [][2]string{{"tRNS", "\x00\x01\x00\x02\x00\x03"}}
			}
			w, h := 67, 65
			b := rawPNG(t, w, h, c.ct, c.depth, il, extra, random)
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Fatalf("type %d depth %d: standard decoder: %v", c.ct, c.depth, err)
			}
			want := toTensor(img)
			got, err := DecodeBytes(b)
			if err != nil {
				t.Fatalf("type %d depth %d interlaced %v: %v", c.ct, c.depth, il, err)
			}
			for i, v := range want.Data {
				if math.Abs(float64(got.Data[i]-v)) > 1e-6 {
					t.Fatalf("type %d depth %d interlaced %v: value %d = %v, want %v", c.ct, c.depth, il, i, got.Data[i], v)
				}
			}
		}
	}
}
