package model

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"

	"github.com/nlpodyssey/gopickle/types"
)

// readPTHZip reads the zip format of a .pth file (torch 1.6 and later);
// readPTHLegacy reads the older one.
func readPTHZip(ra io.ReaderAt, size int64) (any, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch zip file: %v", err)
	}
	files := map[string]*zip.File{}
	var pkl *zip.File
	for _, f := range zr.File {
		files[f.Name] = f
		if f.Name == "data.pkl" || strings.HasSuffix(f.Name, "/data.pkl") {
			if pkl != nil {
				return nil, errors.New("zip file holds two data.pkl records")
			}
			pkl = f
		}
		if strings.HasSuffix(f.Name, "constants.pkl") {
			return nil, errors.New("TorchScript archives are not supported; save the state_dict() instead")
		}
		if strings.HasSuffix(f.Name, "/byteorder") {
			b, err := readZip(f, 16, size)
			if err != nil {
				return nil, err
			}
			if string(b) != "little" {
				return nil, fmt.Errorf("byte order %q is not supported", b)
			}
		}
	}
	if pkl == nil {
		return nil, errors.New("zip file has no data.pkl: not a torch.save file")
	}
	if pkl.UncompressedSize64 > maxPickle {
		return nil, fmt.Errorf("%s: pickle too long (%s bytes, limit %s)", pkl.Name, commas(int64(min(pkl.UncompressedSize64, math.MaxInt64))), commas(maxPickle))
	}
	prefix := strings.TrimSuffix(pkl.Name, "data.pkl")
	data, err := readZip(pkl, maxPickle, size)
	if err != nil {
		return nil, err
	}
	storages := map[string]*ptStorage{}
	r := &posReader{ra: bytes.NewReader(data), size: int64(len(data))}
	return unpickle(r, func(t *types.Tuple) (any, error) {
		cls, key, n, err := storageArgs(t)
		if err != nil {
			return nil, err
		}
		if s := storages[key]; s != nil {
			return s, nil
		}
		f := files[prefix+"data/"+key]
		if f == nil {
			return nil, fmt.Errorf("storage record %sdata/%s is missing", prefix, key)
		}
		if n > int64(min(f.UncompressedSize64, 1<<40))/cls.elem {
			return nil, fmt.Errorf("storage %s claims %s elements but its record holds %s bytes", key, commas(n), commas(int64(min(f.UncompressedSize64, math.MaxInt64))))
		}
		s := &ptStorage{cls: cls, numel: n, read: func(nb int64) ([]byte, error) {
			b, err := readZip(f, nb, size)
			if err == nil && int64(len(b)) < nb {
				err = fmt.Errorf("storage %s: record is truncated", key)
			}
			return b, err
		}}
		storages[key] = s
		return s, nil
	})
}

// readZip reads up to limit bytes of a zip record, refusing records whose
// declared size cannot be genuine.
func readZip(f *zip.File, limit, fileSize int64) ([]byte, error) {
	n := min(f.UncompressedSize64, uint64(limit))
	if f.CompressedSize64 > uint64(fileSize) || f.Method == zip.Store && n > f.CompressedSize64 || n > f.CompressedSize64*1100+1024 {
		return nil, fmt.Errorf("zip record %s: implausible size %s", f.Name, commas(int64(n)))
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// ReadAll grows with the real data; reading a whole record to its end
	// makes archive/zip check its CRC.
	buf, err := io.ReadAll(io.LimitReader(rc, int64(n)+1))
	if err != nil {
		return nil, fmt.Errorf("zip record %s: %v", f.Name, err)
	}
	if uint64(len(buf)) > n {
		if n == f.UncompressedSize64 {
			return nil, fmt.Errorf("zip record %s is larger than its declared %s bytes", f.Name, commas(int64(n)))
		}
		buf = buf[:n]
	}
	return buf, nil
}

// readPTHLegacy reads the pre-1.6 format: pickles of magic number, protocol
// version and system info, the object, the storage keys, then each
// storage's int64 element count and data.
func readPTHLegacy(ra io.ReaderAt, size int64) (any, error) {
	r := &posReader{ra: ra, size: size}
	magic, err := unpickle(r, nil)
	if err != nil {
		return nil, fmt.Errorf("not a PyTorch file: %v", err)
	}
	if b, ok := magic.(*big.Int); !ok || b.Text(16) != "1950a86a20f9469cfc6c" {
		return nil, errors.New("not a PyTorch file (bad magic number)")
	}
	if v, err := unpickle(r, nil); err != nil || v != 1001 {
		return nil, fmt.Errorf("unsupported PyTorch legacy protocol %v", v)
	}
	if _, err := unpickle(r, nil); err != nil { // system info
		return nil, err
	}
	storages := map[string]*ptStorage{}
	obj, err := unpickle(r, func(t *types.Tuple) (any, error) {
		cls, key, n, err := storageArgs(t)
		if err != nil {
			return nil, err
		}
		if t.Len() > 5 && t.Get(5) != nil {
			return nil, errors.New("storage views are not supported")
		}
		if s := storages[key]; s != nil {
			return s, nil
		}
		if n > min(size, 1<<40)/cls.elem {
			return nil, fmt.Errorf("storage %s claims %s elements, more than the file holds", key, commas(n))
		}
		s := &ptStorage{cls: cls, numel: n}
		storages[key] = s
		return s, nil
	})
	if err != nil {
		return nil, err
	}
	keysObj, err := unpickle(r, nil)
	if err != nil {
		return nil, err
	}
	keys, ok := keysObj.(*types.List)
	if !ok {
		return nil, errors.New("legacy PyTorch file: storage key list missing")
	}
	pos := r.pos
	for _, k := range *keys {
		key, _ := k.(string)
		s := storages[key]
		if s == nil {
			return nil, fmt.Errorf("legacy PyTorch file: unknown storage key %v", k)
		}
		var nb [8]byte
		if _, err := ra.ReadAt(nb[:], pos); err != nil {
			return nil, fmt.Errorf("legacy PyTorch file truncated in storage %s", key)
		}
		n := int64(binary.LittleEndian.Uint64(nb[:]))
		if n != s.numel {
			return nil, fmt.Errorf("storage %s: %d elements, pickle says %d", key, n, s.numel)
		}
		at := pos + 8
		pos = at + n*s.cls.elem
		if pos > size {
			return nil, fmt.Errorf("legacy PyTorch file truncated in storage %s", key)
		}
		s.read = func(nb int64) ([]byte, error) {
			b := make([]byte, nb)
			_, err := ra.ReadAt(b, at)
			return b, err
		}
	}
	for key, s := range storages {
		if s.read == nil {
			return nil, fmt.Errorf("storage %s has no data", key)
		}
	}
	return obj, nil
}
