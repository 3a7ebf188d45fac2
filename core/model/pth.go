package model

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"path/filepath"

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
