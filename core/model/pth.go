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
	"path/filepath"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// FromPTH converts a PyTorch state dict saved by torch.save (the zip format,
// or the legacy one before torch 1.6) with torchvision VGG names
// (features.N.weight, optionally "module."-prefixed). arch is "vgg16",
// "vgg19" or "" to detect it. Channel widths come from the file.
func FromPTH(path string, arch string) (*Model, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	ts, err := readPTH(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, err := fromTorchvision(ts, arch, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Limits on one pickle, far above what a state dict needs, so that a small
// hostile file cannot make the decoder take days or gigabytes: big-integer
// decoding takes time quadratic in the length, each MARK costs about 250
// bytes, each value pushed or memoised tens.
const (
	maxPickle = 64 << 20
	maxLong   = 256     // bytes of a LONG1/LONG4, characters of a LONG
	maxMarks  = 1 << 16 // MARK opcodes
	maxPushes = 1 << 20 // opcodes that push a value
	maxMemo   = 1 << 20 // opcodes that memoise a value
)

// debugPanics lets fuzzing see panics that readPTH would turn into errors.
var debugPanics = false

// Pickled objects of a state dict.
type (
	ptStorageClass struct {
		dtype string
		elem  int64
	}
	ptStorage struct {
		cls   ptStorageClass
		numel int64
		read  func(n int64) ([]byte, error) // first n bytes of the data
	}
	ptTensor struct {
		st           *ptStorage
		offset       int64
		size, stride []int64
	}
	ptRebuild   struct{}
	ptParameter struct{}
)

var ptStorageClasses = map[string]ptStorageClass{
	"FloatStorage": {"F32", 4}, "HalfStorage": {"F16", 2}, "BFloat16Storage": {"BF16", 2},
	"DoubleStorage": {"F64", 8}, "LongStorage": {"I64", 8}, "IntStorage": {"I32", 4},
	"ShortStorage": {"I16", 2}, "CharStorage": {"I8", 1}, "ByteStorage": {"U8", 1}, "BoolStorage": {"BOOL", 1},
}

func (ptRebuild) Call(args ...any) (any, error) {
	if len(args) < 4 {
		return nil, fmt.Errorf("_rebuild_tensor_v2: %d arguments", len(args))
	}
	st, ok := args[0].(*ptStorage)
	if !ok {
		return nil, fmt.Errorf("_rebuild_tensor_v2: storage is %T", args[0])
	}
	off, err := toInt(args[1])
	if err != nil {
		return nil, err
	}
	size, err := toInts(args[2])
	if err != nil {
		return nil, err
	}
	stride, err := toInts(args[3])
	if err != nil {
		return nil, err
	}
	if len(size) != len(stride) {
		return nil, fmt.Errorf("tensor with %d dims has %d strides", len(size), len(stride))
	}
	return &ptTensor{st: st, offset: off, size: size, stride: stride}, nil
}

func (ptParameter) Call(args ...any) (any, error) {
	if len(args) < 1 {
		return nil, errors.New("_rebuild_parameter without arguments")
	}
	return args[0], nil
}

func toInt(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case *big.Int:
		if x.IsInt64() {
			return x.Int64(), nil
		}
	}
	return 0, fmt.Errorf("expected an integer, got %T", v)
}

func toInts(v any) ([]int64, error) {
	t, ok := v.(*types.Tuple)
	if !ok {
		return nil, fmt.Errorf("expected a tuple, got %T", v)
	}
	out := make([]int64, t.Len())
	for i := range out {
		n, err := toInt(t.Get(i))
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

// values returns the tensor's elements in row-major order, as float32.
func (t *ptTensor) values() ([]float32, error) {
	n, err := numel(t.size, t.st.numel)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	last := t.offset // index of the last element
	if last < 0 {
		return nil, fmt.Errorf("negative storage offset %d", last)
	}
	for i, d := range t.size {
		s := t.stride[i]
		if s < 0 || last >= t.st.numel || s > 0 && d-1 > (t.st.numel-1-last)/s {
			return nil, fmt.Errorf("tensor %v (offset %d, strides %v) reaches past its storage of %s elements", t.size, t.offset, t.stride, commas(t.st.numel))
		}
		last += (d - 1) * s
	}
	if last >= t.st.numel {
		return nil, fmt.Errorf("tensor %v (offset %d) reaches past its storage of %s elements", t.size, t.offset, commas(t.st.numel))
	}
	raw, err := t.st.read((last + 1) * t.st.cls.elem)
	if err != nil {
		return nil, err
	}
	var all []float32
	if t.st.cls.dtype == "F64" {
		all = make([]float32, len(raw)/8)
		for i := range all {
			all[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
		}
	} else if all, err = decode(t.st.cls.dtype, raw); err != nil {
		return nil, err
	}
	out := make([]float32, 0, n)
	idx := make([]int64, len(t.size))
	for range n {
		p := t.offset
		for i, k := range idx {
			p += k * t.stride[i]
		}
		out = append(out, all[p])
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < t.size[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, nil
}

// readPTH reads the tensors of a torch.save file.
func readPTH(ra io.ReaderAt, size int64) (ts map[string]srcTensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			if debugPanics {
				panic(r)
			}
			ts, err = nil, fmt.Errorf("malformed PyTorch file (%v)", r)
		}
	}()
	var magic [4]byte
	if _, err := ra.ReadAt(magic[:], 0); err != nil {
		return nil, fmt.Errorf("not a PyTorch file: %v", err)
	}
	var obj any
	if string(magic[:]) == "PK\x03\x04" {
		obj, err = readPTHZip(ra, size)
	} else {
		obj, err = readPTHLegacy(ra, size)
	}
	if err != nil {
		return nil, err
	}
	return stateDict(obj, 0)
}

// stateDict finds the name->tensor map in an unpickled object, looking
// inside "state_dict" or "model" entries of a checkpoint dict.
func stateDict(obj any, depth int) (map[string]srcTensor, error) {
	var keys, vals []any
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			en := e.Value.(*types.OrderedDictEntry)
			keys, vals = append(keys, en.Key), append(vals, en.Value)
		}
	case *types.Dict:
		for _, en := range *d {
			keys, vals = append(keys, en.Key), append(vals, en.Value)
		}
	default:
		return nil, fmt.Errorf("file holds a %T, not a state dict", obj)
	}
	ts := map[string]srcTensor{}
	for i, k := range keys {
		name, ok := k.(string)
		if !ok {
			continue
		}
		switch v := vals[i].(type) {
		case *ptTensor:
			ts[name] = srcTensor{shape: v.size, get: v.values}
		case *types.OrderedDict, *types.Dict:
			if depth == 0 && (name == "state_dict" || name == "model") {
				return stateDict(v, 1)
			}
		}
	}
	if len(ts) == 0 {
		return nil, errors.New("no tensors in the state dict")
	}
	return ts, nil
}

func findClass(module, name string) (any, error) {
	switch module + "." + name {
	case "torch._utils._rebuild_tensor_v2":
		return ptRebuild{}, nil
	case "torch._utils._rebuild_parameter":
		return ptParameter{}, nil
	}
	if c, ok := ptStorageClasses[name]; ok && module == "torch" {
		return c, nil
	}
	return types.NewGenericClass(module, name), nil
}

// unpickle checks a pickle's framing (so no length can make the decoder
// allocate absurdly) and decodes it from r's current position.
func unpickle(r *posReader, persistent func(*types.Tuple) (any, error)) (any, error) {
	start := r.pos
	if err := scanPickle(r); err != nil {
		return nil, err
	}
	end := r.pos
	r.pos = start
	u := pickle.NewUnpickler(io.LimitReader(r, end-start))
	u.FindClass = findClass
	u.PersistentLoad = func(id any) (any, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("unexpected persistent id %T", id)
		}
		if s, _ := t.Get(0).(string); s != "storage" || persistent == nil {
			return nil, fmt.Errorf("unexpected persistent id type %v", t.Get(0))
		}
		return persistent(t)
	}
	obj, err := u.Load()
	r.pos = end
	return obj, err
}

// storageArgs unpacks ("storage", class, key, location, numel, ...).
func storageArgs(t *types.Tuple) (ptStorageClass, string, int64, error) {
	cls, ok := t.Get(1).(ptStorageClass)
	if !ok {
		return cls, "", 0, fmt.Errorf("unknown storage type %v", t.Get(1))
	}
	key, ok := t.Get(2).(string)
	if !ok {
		return cls, "", 0, fmt.Errorf("storage key is %T", t.Get(2))
	}
	n, err := toInt(t.Get(4))
	if err != nil || n < 0 {
		return cls, "", 0, fmt.Errorf("bad storage size %v", t.Get(4))
	}
	return cls, key, n, nil
}

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
