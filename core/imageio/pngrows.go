package imageio

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"nnst/core/tensor"
)

// pngFile is a PNG's header, palette and compressed image data, read
// without decoding any pixel, so that its rows can be decoded one at a time
// (the standard decoder returns the whole image: 8 bytes a pixel for 16-bit
// RGBA, before any conversion).
type pngFile struct {
	w, h       int
	depth, ct  int // bits per sample; colour type
	interlaced bool
	palette    [][3]uint8
	idat       []byte // the file from the first IDAT chunk on
}

// readPNG reads the chunks of the PNG in b up to IEND, checking their
// CRCs.
func readPNG(b []byte) (*pngFile, error) {
	p := &pngFile{}
	b = b[8:] // the signature, checked by sniff
	seenIHDR, seenPLTE := false, false
	for {
		if len(b) < 12 {
			return nil, io.ErrUnexpectedEOF
		}
		n := binary.BigEndian.Uint32(b)
		if n > 1<<31-1 {
			return nil, errors.New("chunk length too large")
		}
		if uint64(len(b)) < 12+uint64(n) {
			return nil, io.ErrUnexpectedEOF
		}
		at, typ, data := b, string(b[4:8]), b[8:8+n]
		if crc32.ChecksumIEEE(b[4:8+n]) != binary.BigEndian.Uint32(b[8+n:]) {
			return nil, errors.New("invalid checksum")
		}
		b = b[12+n:]
		if !seenIHDR && typ != "IHDR" {
			return nil, errors.New("chunk out of order")
		}
		switch typ {
		case "IHDR":
			if seenIHDR {
				return nil, errors.New("chunk out of order")
			}
			seenIHDR = true
			if err := p.header(data); err != nil {
				return nil, err
			}
		case "PLTE":
			if seenPLTE || len(data)%3 != 0 || len(data) == 0 || len(data) > 3*256 {
				return nil, errors.New("bad PLTE")
			}
			seenPLTE = true
			p.palette = make([][3]uint8, len(data)/3)
			for i := range p.palette {
				copy(p.palette[i][:], data[3*i:])
			}
		case "IDAT":
			if p.idat == nil {
				p.idat = at
			}
		case "IEND":
			if p.ct == 3 && p.palette == nil {
				return nil, errors.New("missing palette")
			}
			if len(p.idat) == 0 {
				return nil, errors.New("no image data")
			}
			return p, nil
		}
	}
}

// header reads IHDR.
func (p *pngFile) header(d []byte) error {
	if len(d) != 13 {
		return errors.New("bad IHDR length")
	}
	w, h := binary.BigEndian.Uint32(d), binary.BigEndian.Uint32(d[4:])
	if w == 0 || h == 0 || w > 1<<31-1 || h > 1<<31-1 {
		return errors.New("bad dimensions")
	}
	p.w, p.h, p.depth, p.ct = int(w), int(h), int(d[8]), int(d[9])
	ok := false
	switch p.ct {
	case 0:
		ok = p.depth == 1 || p.depth == 2 || p.depth == 4 || p.depth == 8 || p.depth == 16
	case 3:
		ok = p.depth == 1 || p.depth == 2 || p.depth == 4 || p.depth == 8
	case 2, 4, 6:
		ok = p.depth == 8 || p.depth == 16
	}
	if !ok {
		return errors.New("bad bit depth or colour type")
	}
	if d[10] != 0 || d[11] != 0 || d[12] > 1 {
		return errors.New("bad compression, filter or interlace method")
	}
	p.interlaced = d[12] == 1
	return nil
}

// samples is the number of samples per pixel.
func (p *pngFile) samples() int {
	return [7]int{1, 0, 3, 1, 2, 0, 4}[p.ct]
}

// decode decodes the (not interlaced) image at h x w.
func (p *pngFile) decode(h, w int) (*tensor.T, error) {
	var out *tensor.T
	err := safely(func() error {
		r := newResampler(p.h, p.w, h, w)
		if err := p.rows(r); err != nil {
			return err
		}
		out = r.finish()
		return nil
	})
	if err != nil {
		return nil, corrupt(&fmtPNG, err)
	}
	return out, nil
}

// rows decodes the (not interlaced) image into r, a row at a time.
func (p *pngFile) rows(r *resampler) error {
	zr, err := zlib.NewReader(&idatReader{b: p.idat})
	if err != nil {
		return err
	}
	bits := p.samples() * p.depth
	bpp := max(bits/8, 1) // bytes per pixel, for the filters
	cur := make([]byte, 1+(p.w*bits+7)/8)
	prev := make([]byte, len(cur))
	conv := p.converter()
	for y := 0; y < p.h; y++ {
		if _, err := io.ReadFull(zr, cur); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if err := unfilter(cur[0], cur[1:], prev[1:], bpp); err != nil {
			return err
		}
		R, G, B := r.row()
		conv(cur[1:], R, G, B)
		cur, prev = prev, cur
	}
	// Reading on checks the zlib checksum; trailing data is ignored.
	_, err = zr.Read(cur[:1])
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// converter returns a function that converts an unfiltered row to straight
// RGB in [0,1], dropping alpha (PNG's alpha is never premultiplied) and
// ignoring tRNS, which only sets alpha.
func (p *pngFile) converter() func(row []byte, R, G, B []float32) {
	w := p.w
	if p.depth <= 8 && (p.ct == 0 || p.ct == 3) {
		// One index per pixel: grey levels, or a palette (indices past
		// its end are black, as the standard decoder makes them).
		var lut [256][3]float32
		if p.ct == 0 {
			top := 1<<p.depth - 1
			for v := 0; v <= top; v++ {
				f := float32(v*(255/top)) / 255
				lut[v] = [3]float32{f, f, f}
			}
		}
		if p.ct == 3 {
			for i, c := range p.palette {
				lut[i] = [3]float32{float32(c[0]) / 255, float32(c[1]) / 255, float32(c[2]) / 255}
			}
		}
		bits := p.depth
		per, mask := 8/bits, byte(1<<bits-1)
		return func(row []byte, R, G, B []float32) {
			for x := 0; x < w; x++ {
				v := row[x/per]
				if bits < 8 {
					v = v >> (8 - bits*(x%per+1)) & mask
				}
				c := &lut[v]
				R[x], G[x], B[x] = c[0], c[1], c[2]
			}
		}
	}
	n := p.samples()
	grey := p.ct == 0 || p.ct == 4
	if p.depth == 8 {
		return func(row []byte, R, G, B []float32) {
			for x := 0; x < w; x++ {
				s := row[x*n:]
				if grey {
					f := float32(s[0]) / 255
					R[x], G[x], B[x] = f, f, f
				} else {
					R[x], G[x], B[x] = float32(s[0])/255, float32(s[1])/255, float32(s[2])/255
				}
			}
		}
	}
	return func(row []byte, R, G, B []float32) {
		for x := 0; x < w; x++ {
			s := row[2*x*n:]
			if grey {
				f := float32(binary.BigEndian.Uint16(s)) / 65535
				R[x], G[x], B[x] = f, f, f
			} else {
				R[x] = float32(binary.BigEndian.Uint16(s)) / 65535
				G[x] = float32(binary.BigEndian.Uint16(s[2:])) / 65535
				B[x] = float32(binary.BigEndian.Uint16(s[4:])) / 65535
			}
		}
	}
}

// unfilter undoes PNG filter f on row cur, given the previous row prev (all
// zeros above the first) and bpp bytes per pixel.
func unfilter(f byte, cur, prev []byte, bpp int) error {
	switch f {
	case 0:
	case 1: // sub
		for i := bpp; i < len(cur); i++ {
			cur[i] += cur[i-bpp]
		}
	case 2: // up
		for i, p := range prev {
			cur[i] += p
		}
	case 3: // average
		for i := 0; i < bpp; i++ {
			cur[i] += prev[i] / 2
		}
		for i := bpp; i < len(cur); i++ {
			cur[i] += uint8((int(cur[i-bpp]) + int(prev[i])) / 2)
		}
	case 4: // Paeth
		for i := range cur {
			var a, c int
			if i >= bpp {
				a, c = int(cur[i-bpp]), int(prev[i-bpp])
			}
			b := int(prev[i])
			pa, pb, pc := abs(b-c), abs(a-c), abs(a+b-2*c)
			switch {
			case pa <= pb && pa <= pc:
				cur[i] += uint8(a)
			case pb <= pc:
				cur[i] += uint8(b)
			default:
				cur[i] += uint8(c)
			}
		}
	default:
		return errors.New("bad filter type")
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// idatReader reads the data of the consecutive IDAT chunks at the start
// of b (whose CRCs readPNG checked) as one stream.
type idatReader struct{ b, cur []byte }

func (r *idatReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if len(r.b) < 12 || string(r.b[4:8]) != "IDAT" {
			return 0, io.EOF
		}
		n := binary.BigEndian.Uint32(r.b)
		r.cur, r.b = r.b[8:8+n], r.b[12+n:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}
