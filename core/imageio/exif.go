package imageio

import (
	"encoding/binary"

	"nnst/core/tensor"
)

// jpegOrientation returns the EXIF orientation (1-8) of the JPEG in b, or 1
// when there is none or the metadata is malformed. It never panics: every
// read is bounds-checked.
func jpegOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+2 <= len(b) {
		if b[i] != 0xFF {
			return 1 // lost sync: give up
		}
		m := b[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		i += 2
		switch {
		case m == 0xD8 || m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			continue // markers without a length
		case m == 0xD9 || m == 0xDA:
			return 1 // end of image or start of scan: metadata is over
		}
		if i+2 > len(b) {
			return 1
		}
		n := int(b[i])<<8 | int(b[i+1])
		if n < 2 || n > len(b)-i {
			return 1
		}
		seg := b[i+2 : i+n]
		if m == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			if o := tiffOrientation(seg[6:]); o != 0 {
				return o
			}
		}
		i += n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 from IFD0 of the TIFF structure t, or
// returns 0 if it is absent or invalid.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 0
	}
	if bo.Uint16(t[2:4]) != 42 {
		return 0
	}
	size := uint64(len(t))
	off := uint64(bo.Uint32(t[4:8]))
	if off+2 > size {
		return 0
	}
	count := uint64(bo.Uint16(t[off : off+2]))
	for k := uint64(0); k < count; k++ {
		e := off + 2 + 12*k
		if e+12 > size {
			return 0
		}
		ent := t[e : e+12]
		if bo.Uint16(ent[0:2]) != 0x0112 {
			continue
		}
		if bo.Uint32(ent[4:8]) < 1 {
			return 0
		}
		var v uint32
		switch bo.Uint16(ent[2:4]) {
		case 3: // SHORT, the standard type
			v = uint32(bo.Uint16(ent[8:10]))
		case 4: // LONG, seen in the wild
			v = bo.Uint32(ent[8:12])
		case 1: // BYTE
			v = uint32(ent[8])
		default:
			return 0
		}
		if v >= 1 && v <= 8 {
			return int(v)
		}
		return 0
	}
	return 0
}

// orientTensor applies EXIF orientation o to the stored image t, returning
// the image as it should be displayed. Orientation 1 (or any invalid value)
// returns t itself.
func orientTensor(t *tensor.T, o int) *tensor.T {
	if o < 2 || o > 8 {
		return t
	}
	sw, sh := t.W, t.H
	dw, dh := sw, sh
	if o >= 5 {
		dw, dh = sh, sw
	}
	// src returns the stored (sx, sy) shown at displayed (x, y).
	var src func(x, y int) (int, int)
	switch o {
	case 2: // mirrored horizontally
		src = func(x, y int) (int, int) { return sw - 1 - x, y }
	case 3: // rotated 180
		src = func(x, y int) (int, int) { return sw - 1 - x, sh - 1 - y }
	case 4: // mirrored vertically
		src = func(x, y int) (int, int) { return x, sh - 1 - y }
	case 5: // transposed
		src = func(x, y int) (int, int) { return y, x }
	case 6: // needs a 90 degree clockwise turn
		src = func(x, y int) (int, int) { return y, sh - 1 - x }
	case 7: // transversed
		src = func(x, y int) (int, int) { return sw - 1 - y, sh - 1 - x }
	case 8: // needs a 90 degree anticlockwise turn
		src = func(x, y int) (int, int) { return sw - 1 - y, x }
	}
	// Build one index map and apply it to every channel.
	idx := make([]int32, dw*dh)
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			sx, sy := src(x, y)
			idx[y*dw+x] = int32(sy*sw + sx)
		}
	}
	out := tensor.New(t.C, dh, dw)
	for c := 0; c < t.C; c++ {
		sp, dp := t.Plane(c), out.Plane(c)
		for i, j := range idx {
			dp[i] = sp[j]
		}
	}
	return out
}
