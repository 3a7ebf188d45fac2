package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
)

// posReader reads an io.ReaderAt sequentially from pos, with a small buffer.
type posReader struct {
	ra        io.ReaderAt
	size, pos int64
	buf       []byte
	at        int64 // file offset of buf
}

func (r *posReader) fill() error {
	if r.pos >= r.at && r.pos < r.at+int64(len(r.buf)) {
		return nil
	}
	if r.pos >= r.size {
		return io.EOF
	}
	n := min(4096, r.size-r.pos)
	if cap(r.buf) < int(n) {
		r.buf = make([]byte, 4096)
	}
	r.buf = r.buf[:n]
	m, err := r.ra.ReadAt(r.buf, r.pos)
	r.buf, r.at = r.buf[:m], r.pos
	if m == 0 {
		if err == nil {
			err = io.EOF
		}
		return err
	}
	return nil
}

func (r *posReader) ReadByte() (byte, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	b := r.buf[r.pos-r.at]
	r.pos++
	return b, nil
}

func (r *posReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.buf[r.pos-r.at:])
	r.pos += int64(n)
	return n, nil
}

func (r *posReader) skip(n int64) error {
	if n < 0 || n > r.size-r.pos {
		return fmt.Errorf("pickle truncated: an argument of %d bytes runs past the end of the data", n)
	}
	r.pos += n
	return nil
}

// scanPickle walks the opcodes of one pickle up to STOP, checking that every
// length-prefixed argument fits in the data and that the pickle keeps to
// the limits above.
func scanPickle(r *posReader) error {
	start := r.pos
	var marks, pushes, memos int
	count := func(n *int, limit int, what string) error {
		if *n++; *n > limit {
			return fmt.Errorf("pickle: too many %s (limit %s)", what, commas(int64(limit)))
		}
		return nil
	}
	long := func(n int64, unit string) error { // decoding is quadratic
		if n > maxLong {
			return fmt.Errorf("pickle: integer of %s %s is too long (limit %d)", commas(n), unit, maxLong)
		}
		return nil
	}
	le := func(n int) (int64, error) {
		var b [8]byte
		if _, err := io.ReadFull(r, b[:n]); err != nil {
			return 0, errors.New("pickle truncated")
		}
		v := binary.LittleEndian.Uint64(b[:])
		if n == 4 {
			return int64(int32(uint32(v))), nil
		}
		if n == 8 && v > math.MaxInt64 {
			return -1, nil
		}
		return int64(v), nil
	}
	line := func() (int64, error) { // returns the length without the newline
		for i := int64(0); ; i++ {
			b, err := r.ReadByte()
			if err != nil {
				return 0, errors.New("pickle truncated")
			}
			if b == '\n' {
				return i, nil
			}
			if i > 1<<16 {
				return 0, errors.New("pickle: line too long")
			}
		}
	}
	for {
		if r.pos-start > maxPickle {
			return fmt.Errorf("pickle: too long (limit %s bytes)", commas(maxPickle))
		}
		op, err := r.ReadByte()
		if err != nil {
			return errors.New("pickle truncated (no STOP)")
		}
		switch op {
		case '.', 0x80, 0x95, '0', '1':
		case '(':
			err = count(&marks, maxMarks, "marks")
		case 'p', 'q', 'r', 0x94:
			err = count(&memos, maxMemo, "memo entries")
		default:
			err = count(&pushes, maxPushes, "values pushed")
		}
		if err != nil {
			return err
		}
		switch op {
		case '.':
			return nil
		case '(', '0', '1', '2', 'N', 'Q', 'R', 'a', 'b', 'd', '}', 'e', 'l', ']', 'o', 's', 't', ')', 'u',
			0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98:
		case 'K', 'h', 'q', 0x80, 0x82:
			err = r.skip(1)
		case 'M', 0x83:
			err = r.skip(2)
		case 'J', 'j', 'r', 0x84:
			err = r.skip(4)
		case 'G':
			err = r.skip(8)
		case 0x95: // FRAME: the framed opcodes follow
			var n int64
			if n, err = le(8); err == nil && (n < 0 || n > r.size-r.pos) {
				err = fmt.Errorf("pickle: frame of %d bytes runs past the end of the data", n)
			}
		case 'U', 0x8c, 'C':
			var n int64
			if n, err = le(1); err == nil {
				err = r.skip(n)
			}
		case 'T', 'X', 'B':
			var n int64
			if n, err = le(4); err == nil {
				err = r.skip(n)
			}
		case 0x8a, 0x8b: // LONG1, LONG4
			var n int64
			w := 1
			if op == 0x8b {
				w = 4
			}
			if n, err = le(w); err == nil {
				if err = long(n, "bytes"); err == nil {
					err = r.skip(n)
				}
			}
		case 0x8d, 0x8e, 0x96:
			var n int64
			if n, err = le(8); err == nil {
				err = r.skip(n)
			}
		case 'L':
			var n int64
			if n, err = line(); err == nil {
				err = long(n, "characters")
			}
		case 'I', 'F', 'S', 'V', 'p', 'g', 'P':
			_, err = line()
		case 'c', 'i':
			if _, err = line(); err == nil {
				_, err = line()
			}
		default:
			return fmt.Errorf("pickle: unsupported opcode 0x%02x", op)
		}
		if err != nil {
			return err
		}
	}
}
