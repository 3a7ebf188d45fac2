package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/x448/float16"
)

// Our model file is safetensors: an 8-byte little-endian header length, a
// JSON header, then the raw little-endian payload. Every conv is stored as
// <name>.weight (F16, OIHW [out,in,3,3]) and <name>.bias (F16, [out]);
// __metadata__ carries the rest of the Model.

const (
	fileFormat  = "nnst-model"
	fileVersion = "1"
	maxHeader   = 16 << 20  // far more than any real header needs
	maxModel    = 256 << 20 // far more than VGG19's 16 MB
)

// stTensor is one entry of a safetensors header.
type stTensor struct {
	Dtype   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

// stHeader is a parsed and checked safetensors header.
type stHeader struct {
	Meta    map[string]string
	Tensors map[string]stTensor
	Payload int64 // bytes the tensors cover: the largest end offset
}

var dtypeSize = map[string]int64{"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4, "I64": 8, "U64": 8, "BOOL": 1}

// commas formats n with thousands separators: 20112384 -> "20,112,384".
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// numel multiplies the dims of shape, failing on negatives or on a product
// above limit (so hostile shapes cannot overflow).
func numel(shape []int64, limit int64) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d", d)
		}
		if d != 0 && n > limit/d {
			return 0, fmt.Errorf("shape %v is larger than %s elements", shape, commas(limit))
		}
		n *= d
	}
	return n, nil
}

// splitSafetensors checks the framing of a safetensors file held in memory
// and returns its header bytes and payload.
func splitSafetensors(data []byte) (hdr, payload []byte, err error) {
	if len(data) < 8 {
		return nil, nil, fmt.Errorf("not a safetensors file: %d bytes, need at least 8", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if err := checkHeaderLen(n, int64(len(data)-8)); err != nil {
		return nil, nil, err
	}
	return data[8 : 8+n], data[8+n:], nil
}

// checkHeaderLen checks the header length n of a file with have bytes
// after it.
func checkHeaderLen(n uint64, have int64) error {
	if n < 2 || n > maxHeader {
		return fmt.Errorf("not a safetensors file: header length %s is implausible", commas(int64(min(n, math.MaxInt64))))
	}
	if uint64(have) < n {
		return fmt.Errorf("model file truncated: header says %s header bytes, file has %s after the length", commas(int64(n)), commas(have))
	}
	return nil
}

// parseHeader decodes and checks a safetensors header: known dtypes, sizes
// that match shapes, offsets within the payload and not overlapping.
func parseHeader(hdr []byte, have int64) (*stHeader, error) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, fmt.Errorf("not a safetensors file: header does not start with '{'")
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("model file header is not valid JSON: %v", err)
	}
	h := &stHeader{Tensors: map[string]stTensor{}}
	type span struct {
		name       string
		begin, end int64
	}
	var spans []span
	for name, v := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(v, &h.Meta); err != nil {
				return nil, fmt.Errorf("model file __metadata__ is not a string map: %v", err)
			}
			continue
		}
		var t stTensor
		if err := json.Unmarshal(v, &t); err != nil {
			return nil, fmt.Errorf("tensor %q: bad header entry: %v", name, err)
		}
		size, ok := dtypeSize[t.Dtype]
		if !ok {
			return nil, fmt.Errorf("tensor %q: unknown dtype %q", name, t.Dtype)
		}
		n, err := numel(t.Shape, math.MaxInt64/8)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %v", name, err)
		}
		b, e := t.Offsets[0], t.Offsets[1]
		if b < 0 || e < b {
			return nil, fmt.Errorf("tensor %q: bad data offsets [%d, %d]", name, b, e)
		}
		if e-b != n*size {
			return nil, fmt.Errorf("tensor %q: data offsets [%d, %d] hold %s bytes, but %s %v needs %s", name, b, e, commas(e-b), t.Dtype, t.Shape, commas(n*size))
		}
		h.Tensors[name] = t
		spans = append(spans, span{name, b, e})
		h.Payload = max(h.Payload, e)
	}
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].begin != spans[j].begin {
			return spans[i].begin < spans[j].begin
		}
		return spans[i].name < spans[j].name
	})
	for i := 1; i < len(spans); i++ {
		a, b := spans[i-1], spans[i]
		if b.begin < a.end {
			return nil, fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap", a.name, a.begin, a.end, b.name, b.begin, b.end)
		}
	}
	if h.Payload > have {
		return nil, fmt.Errorf("model file truncated: header says %s payload bytes, file has %s", commas(h.Payload), commas(have))
	}
	return h, nil
}

// decode converts little-endian F16/BF16/F32 data to float32.
func decode(dtype string, b []byte) ([]float32, error) {
	switch dtype {
	case "F16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
		return out, nil
	case "BF16":
		out := make([]float32, len(b)/2)
		for i := range out {
			out[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(b[2*i:])) << 16)
		}
		return out, nil
	case "F32":
		out := make([]float32, len(b)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported dtype %s (want F32, F16 or BF16)", dtype)
}

// Marshal encodes the model in our file format with fp16 weights and sets
// m.SHA256 to the hash of the payload.
func (m *Model) Marshal() ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	header := map[string]any{}
	var payload []byte
	var names []string
	put := func(name string, shape []int64, v []float32) error {
		begin := int64(len(payload))
		for i, x := range v {
			h := float16.Fromfloat32(x)
			if f := h.Float32(); math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
				return fmt.Errorf("%s[%d] = %g does not fit in fp16", name, i, x)
			}
			payload = binary.LittleEndian.AppendUint16(payload, h.Bits())
		}
		header[name] = stTensor{Dtype: "F16", Shape: shape, Offsets: [2]int64{begin, int64(len(payload))}}
		return nil
	}
	for _, l := range m.Layers {
		names = append(names, l.Name)
		if l.Kind != "conv" {
			continue
		}
		c := l.Conv
		if err := put(l.Name+".weight", []int64{int64(c.Out), int64(c.In), 3, 3}, c.Weight); err != nil {
			return nil, err
		}
		if err := put(l.Name+".bias", []int64{int64(c.Out)}, c.Bias); err != nil {
			return nil, err
		}
	}
	input, err := json.Marshal(m.Input)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	m.SHA256 = hex.EncodeToString(sum[:])
	header["__metadata__"] = map[string]string{
		"format":  fileFormat,
		"version": fileVersion,
		"arch":    m.Arch,
		"layers":  strings.Join(names, ","),
		"taps":    strings.Join(m.Taps, ","),
		"input":   string(input),
		"source":  m.Source,
		"sha256":  m.SHA256,
	}
	hdr, err := json.Marshal(header)
	if err != nil {
		return nil, err
	}
	for len(hdr)%8 != 0 { // align the payload, as the safetensors writer does
		hdr = append(hdr, ' ')
	}
	out := make([]byte, 8, 8+len(hdr)+len(payload))
	binary.LittleEndian.PutUint64(out, uint64(len(hdr)))
	out = append(out, hdr...)
	return append(out, payload...), nil
}

// Read parses and validates a model file held in memory.
func Read(data []byte) (*Model, error) {
	hdr, payload, err := splitSafetensors(data)
	if err != nil {
		return nil, err
	}
	h, err := parseHeader(hdr, int64(len(payload)))
	if err != nil {
		return nil, err
	}
	return fromHeader(h, payload)
}

// fromHeader builds the model of a parsed header and its payload.
func fromHeader(h *stHeader, payload []byte) (*Model, error) {
	if h.Meta == nil {
		return nil, errors.New("model file has no __metadata__ (not an nnst model file)")
	}
	for _, k := range []string{"format", "version", "arch", "layers", "taps", "input", "source", "sha256"} {
		if _, ok := h.Meta[k]; !ok {
			return nil, fmt.Errorf("model file metadata lacks %q", k)
		}
	}
	if f := h.Meta["format"]; f != fileFormat {
		return nil, fmt.Errorf("model file format is %q, want %q", f, fileFormat)
	}
	if v := h.Meta["version"]; v != fileVersion {
		return nil, fmt.Errorf("model file version %q is not supported (want %q)", v, fileVersion)
	}
	if extra := int64(len(payload)) - h.Payload; extra > 0 {
		return nil, fmt.Errorf("model file has %s stray bytes after the last tensor", commas(extra))
	}
	sum := sha256.Sum256(payload)
	got := hex.EncodeToString(sum[:])
	if want := h.Meta["sha256"]; got != want {
		return nil, fmt.Errorf("model file hash mismatch: metadata says sha256 %s, payload has %s (corrupt or edited file)", want, got)
	}
	m := &Model{Arch: h.Meta["arch"], Source: h.Meta["source"], SHA256: got}
	if err := json.Unmarshal([]byte(h.Meta["input"]), &m.Input); err != nil {
		return nil, fmt.Errorf("model file metadata \"input\" is not a normalisation: %v", err)
	}
	if t := h.Meta["taps"]; t != "" {
		m.Taps = strings.Split(t, ",")
	}
	used := map[string]bool{}
	in := int64(3)
	for _, name := range strings.Split(h.Meta["layers"], ",") {
		if strings.HasPrefix(name, "pool") {
			m.Layers = append(m.Layers, Layer{Kind: "pool", Name: name})
			continue
		}
		if !strings.HasPrefix(name, "conv") {
			return nil, fmt.Errorf("model file layer %q is neither convX_Y nor poolN", name)
		}
		wt, ok := h.Tensors[name+".weight"]
		if !ok {
			return nil, fmt.Errorf("model file lacks tensor %s.weight", name)
		}
		bt, ok := h.Tensors[name+".bias"]
		if !ok {
			return nil, fmt.Errorf("model file lacks tensor %s.bias", name)
		}
		used[name+".weight"], used[name+".bias"] = true, true
		for _, t := range []struct {
			n string
			t stTensor
		}{{name + ".weight", wt}, {name + ".bias", bt}} {
			if t.t.Dtype != "F16" {
				return nil, fmt.Errorf("tensor %s has dtype %s, want F16", t.n, t.t.Dtype)
			}
		}
		if len(wt.Shape) != 4 || wt.Shape[2] != 3 || wt.Shape[3] != 3 || wt.Shape[0] < 1 {
			return nil, fmt.Errorf("tensor %s has shape %v, want [out, in, 3, 3]", name+".weight", wt.Shape)
		}
		if wt.Shape[1] != in {
			return nil, fmt.Errorf("tensor %s has shape %v: %d input channels, but the previous layer gives %d", name+".weight", wt.Shape, wt.Shape[1], in)
		}
		out := wt.Shape[0]
		if len(bt.Shape) != 1 || bt.Shape[0] != out {
			return nil, fmt.Errorf("tensor %s has shape %v, want [%d]", name+".bias", bt.Shape, out)
		}
		w, _ := decode("F16", payload[wt.Offsets[0]:wt.Offsets[1]])
		b, _ := decode("F16", payload[bt.Offsets[0]:bt.Offsets[1]])
		m.Layers = append(m.Layers, Layer{Kind: "conv", Name: name, Conv: &Conv{In: int(in), Out: int(out), Weight: w, Bias: b}})
		in = out
	}
	for _, name := range sortedKeys(h.Tensors) {
		if !used[name] {
			return nil, fmt.Errorf("model file has tensor %q that no layer uses", name)
		}
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("model file: %v", err)
	}
	return m, nil
}

// check validates a model: layer names, channel chaining, finite weights,
// taps, normalisation, and for vgg16/vgg19 the exact spec.
func (m *Model) check() error {
	if len(m.Layers) == 0 {
		return errors.New("no layers")
	}
	seen := map[string]bool{}
	in := 3
	for _, l := range m.Layers {
		if seen[l.Name] {
			return fmt.Errorf("layer %q appears twice", l.Name)
		}
		seen[l.Name] = true
		switch l.Kind {
		case "pool":
			if !validName(l.Name, "pool") {
				return fmt.Errorf("bad pool layer name %q", l.Name)
			}
		case "conv":
			if !validName(l.Name, "conv") {
				return fmt.Errorf("bad conv layer name %q (want convX_Y)", l.Name)
			}
			c := l.Conv
			if c == nil {
				return fmt.Errorf("%s has no weights", l.Name)
			}
			if c.In != in {
				return fmt.Errorf("%s takes %d channels, but the previous layer gives %d", l.Name, c.In, in)
			}
			if c.Out < 1 || len(c.Weight) != c.Out*c.In*9 || len(c.Bias) != c.Out {
				return fmt.Errorf("%s: %d weights and %d biases do not fit %dx%dx3x3", l.Name, len(c.Weight), len(c.Bias), c.Out, c.In)
			}
			if err := checkValues(l.Name+".weight", c.Weight); err != nil {
				return err
			}
			if err := checkValues(l.Name+".bias", c.Bias); err != nil {
				return err
			}
			in = c.Out
		default:
			return fmt.Errorf("layer %q has unknown kind %q", l.Name, l.Kind)
		}
	}
	if len(m.Taps) == 0 {
		return errors.New("no taps")
	}
	if _, err := m.TapChannels(); err != nil {
		return err
	}
	n := m.Input
	if n.Order != "rgb" && n.Order != "bgr" {
		return fmt.Errorf("input channel order %q (want rgb or bgr)", n.Order)
	}
	bad := func(x float32) bool { return math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) }
	if bad(n.Scale) || n.Scale <= 0 {
		return fmt.Errorf("input scale %g", n.Scale)
	}
	for i := range 3 {
		if bad(n.Mean[i]) || bad(n.Std[i]) || n.Std[i] <= 0 {
			return fmt.Errorf("input mean %v / std %v", n.Mean, n.Std)
		}
	}
	if spec, err := SpecFor(m.Arch); err == nil {
		if !sameSpec(m, spec) {
			return fmt.Errorf("arch %s, but layers or widths differ from %s's", m.Arch, spec.Name)
		}
	}
	return nil
}

// checkValues rejects NaN, infinities and values beyond the fp16 range.
func checkValues(name string, v []float32) error {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("%s[%d] is %g", name, i, x)
		}
		if x > 65504 || x < -65504 {
			return fmt.Errorf("%s[%d] = %g does not fit in fp16", name, i, x)
		}
	}
	return nil
}

// validName reports whether s is prefix followed by digits and underscores
// (convX_Y, poolN).
func validName(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func sameSpec(m *Model, spec Spec) bool {
	if len(m.Layers) != len(spec.Layers) {
		return false
	}
	for i, l := range m.Layers {
		if l.Name != spec.Layers[i] {
			return false
		}
		if l.Kind == "conv" && l.Conv.Out != spec.Width[l.Name] {
			return false
		}
	}
	return true
}

// Load reads and validates a model file. Its header is read and checked
// first, so that a huge, sparse or endless file is refused unread.
func Load(path string) (*Model, error) {
	f, h, base, err := openSafetensors(path, maxModel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	payload := make([]byte, h.Payload)
	if _, err := f.ReadAt(payload, base); err != nil {
		return nil, fmt.Errorf("%s: reading the payload: %v", path, err)
	}
	m, err := fromHeader(h, payload)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// openSafetensors opens a safetensors file of at most limit bytes and
// reads its header; base is where the payload starts. The file must be a
// regular one whose size is exactly what the header declares. Errors name
// the file.
func openSafetensors(path string, limit int64) (*os.File, *stHeader, int64, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, nil, 0, err
	}
	h, base, err := readHeader(f, limit)
	if err != nil {
		f.Close()
		return nil, nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return f, h, base, nil
}

// openRegular opens a file for reading if it is a regular one: not a
// device such as /dev/zero, whose reading never ends, nor a named pipe,
// whose opening blocks (hence the Stat before the Open).
func openRegular(path string) (*os.File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (mode %s)", path, st.Mode())
	}
	return os.Open(path)
}

// readHeader does the work of openSafetensors once the file is open.
func readHeader(f *os.File, limit int64) (*stHeader, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() { // replaced since the Stat
		return nil, 0, fmt.Errorf("not a regular file (mode %s)", st.Mode())
	}
	size := st.Size()
	if size > limit {
		return nil, 0, fmt.Errorf("model file is %s bytes, more than the limit of %s", commas(size), commas(limit))
	}
	var lenb [8]byte
	if _, err := io.ReadFull(f, lenb[:]); err != nil {
		return nil, 0, fmt.Errorf("not a safetensors file: %s bytes, need at least 8", commas(size))
	}
	n := binary.LittleEndian.Uint64(lenb[:])
	if err := checkHeaderLen(n, size-8); err != nil {
		return nil, 0, err
	}
	hdr := make([]byte, n)
	if _, err := io.ReadFull(f, hdr); err != nil {
		return nil, 0, fmt.Errorf("reading the header: %v", err)
	}
	base := 8 + int64(n)
	h, err := parseHeader(hdr, size-base)
	if err != nil {
		return nil, 0, err
	}
	if extra := size - base - h.Payload; extra > 0 {
		return nil, 0, fmt.Errorf("model file has %s stray bytes after the last tensor", commas(extra))
	}
	return h, base, nil
}

// Save writes the model file atomically (temp file in the same folder, then
// rename).
func (m *Model) Save(path string) error {
	data, err := m.Marshal()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
