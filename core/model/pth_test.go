package model

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type expectConv struct {
	Shape      []int
	Weight     []float64
	Bias       []float64
	Wsum, Bsum float64
}

// checkFixture compares a converted fixture with expected.json (written by
// testdata/gen_pth.py); tol is relative (bf16/f16 in the safetensors).
func checkFixture(t *testing.T, m *Model, arch string, tol float64) {
	t.Helper()
	var all map[string]map[string]expectConv
	js, err := os.ReadFile("testdata/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &all); err != nil {
		t.Fatal(err)
	}
	want := all[arch]
	spec, _ := SpecFor(arch)
	if m.Arch != "tiny" || m.Input != Torchvision || len(m.Layers) != len(spec.Layers) {
		t.Fatalf("arch %s input %+v, %d layers", m.Arch, m.Input, len(m.Layers))
	}
	closeTo := func(a float32, b float64, scale float64) bool {
		return math.Abs(float64(a)-b) <= tol*scale+1e-6
	}
	for i, l := range m.Layers {
		if l.Name != spec.Layers[i] {
			t.Fatalf("layer %d is %s, want %s", i, l.Name, spec.Layers[i])
		}
		if l.Kind != "conv" {
			continue
		}
		e, c := want[l.Name], l.Conv
		if c.Out != e.Shape[0] || c.In != e.Shape[1] {
			t.Fatalf("%s: %dx%d, want %v", l.Name, c.Out, c.In, e.Shape)
		}
		for j, x := range e.Weight {
			if !closeTo(c.Weight[j], x, math.Abs(x)) {
				t.Fatalf("%s.weight[%d] = %g, want %g", l.Name, j, c.Weight[j], x)
			}
		}
		for j, x := range e.Bias {
			if !closeTo(c.Bias[j], x, math.Abs(x)) {
				t.Fatalf("%s.bias[%d] = %g, want %g", l.Name, j, c.Bias[j], x)
			}
		}
		var ws, wa, bs, ba float64
		for _, x := range c.Weight {
			ws, wa = ws+float64(x), wa+math.Abs(float64(x))
		}
		for _, x := range c.Bias {
			bs, ba = bs+float64(x), ba+math.Abs(float64(x))
		}
		if !closeTo(float32(ws), e.Wsum, wa) || !closeTo(float32(bs), e.Bsum, ba) {
			t.Fatalf("%s: sums %g %g, want %g %g", l.Name, ws, bs, e.Wsum, e.Bsum)
		}
	}
}

func TestFromPTH(t *testing.T) {
	m, err := FromPTH("testdata/tiny_vgg16.pth", "")
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, m, "vgg16", 1e-6)
	if !strings.Contains(m.Source, "VGG16") || !strings.Contains(m.Source, "tiny_vgg16.pth") {
		t.Fatalf("source %q", m.Source)
	}
	// Legacy format, "module." prefix, a strided weight and an offset bias.
	m, err = Convert("testdata/tiny_vgg19_legacy.pth", "vgg19")
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, m, "vgg19", 1e-6)
	if _, err := FromPTH("testdata/tiny_vgg16.pth", "vgg19"); err == nil || !strings.Contains(err.Error(), "missing tensor features.16.weight (conv3_4 of vgg19)") {
		t.Fatalf("wrong arch: %v", err)
	}
	data, _ := m.Marshal()
	if _, err := Read(data); err != nil {
		t.Fatal(err)
	}
}

func TestFromSafetensorsTorchvision(t *testing.T) {
	m, err := FromSafetensors("testdata/tiny_vgg16.safetensors", "")
	if err != nil {
		t.Fatal(err)
	}
	checkFixture(t, m, "vgg16", 1.0/128) // F32, BF16 and F16 tensors
}

// writeST writes a torchvision-named F32 safetensors file.
func writeST(t *testing.T, shapes map[string][]int64) string {
	h := map[string]any{}
	var payload []byte
	for _, name := range sortedKeys(shapes) {
		n, _ := numel(shapes[name], 1<<30)
		b := len(payload)
		for i := range n {
			payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(float32(i%7)*0.01))
		}
		h[name] = map[string]any{"dtype": "F32", "shape": shapes[name], "data_offsets": []int{b, len(payload)}}
	}
	hdr, _ := json.Marshal(h)
	p := filepath.Join(t.TempDir(), "x.safetensors")
	out := append(binary.LittleEndian.AppendUint64(nil, uint64(len(hdr))), hdr...)
	if err := os.WriteFile(p, append(out, payload...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func tinyShapes(spec Spec, prefix string) map[string][]int64 {
	s := map[string][]int64{}
	idx := torchvisionIndex(spec)
	in := int64(3)
	for _, name := range spec.Layers {
		if strings.HasPrefix(name, "pool") {
			continue
		}
		out := int64(spec.Width[name] / 32)
		s[prefix+"features."+itoa(idx[name])+".weight"] = []int64{out, in, 3, 3}
		s[prefix+"features."+itoa(idx[name])+".bias"] = []int64{out}
		in = out
	}
	return s
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestTorchvisionErrors(t *testing.T) {
	ok := tinyShapes(VGG19, "module.")
	if m, err := Convert(writeST(t, ok), ""); err != nil || len(m.Layers) != len(VGG19.Layers) {
		t.Fatalf("valid file: %v", err)
	}
	edit := func(f func(s map[string][]int64)) map[string][]int64 {
		s := tinyShapes(VGG16, "")
		f(s)
		return s
	}
	cases := []struct {
		shapes map[string][]int64
		arch   string
		want   string
	}{
		{edit(func(s map[string][]int64) { delete(s, "features.10.bias") }), "", "missing tensor features.10.bias (conv3_1 of vgg16)"},
		{edit(func(s map[string][]int64) { s["features.7.weight"] = []int64{4, 3, 3, 3} }), "", "features.7.weight has shape [4 3 3 3]: 3 input channels, but the previous conv gives 4"},
		{edit(func(s map[string][]int64) { s["features.7.weight"] = []int64{4, 4, 1, 9} }), "", "want [out, in, 3, 3]"},
		{edit(func(s map[string][]int64) { s["features.7.bias"] = []int64{5} }), "", "features.7.bias has shape [5], want [4]"},
		{edit(func(s map[string][]int64) { s["features.1.running_mean"] = []int64{2} }), "", "batch-norm"},
		{edit(func(s map[string][]int64) { s["features.16.weight"] = []int64{8, 8, 3, 3} }), "", "cannot tell vgg16 from vgg19"},
		{map[string][]int64{"fc.weight": {2, 2}}, "", "no torchvision VGG tensors"},
		{tinyShapes(VGG16, ""), "vgg11", "unknown architecture"},
	}
	for _, c := range cases {
		_, err := FromSafetensors(writeST(t, c.shapes), c.arch)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got error %v, want it to mention %q", err, c.want)
		}
	}
	// Too wide, or too many weights in all: refused from the shapes,
	// before any weight is read.
	for _, c := range []struct {
		edit func(s map[string][]int64)
		want string
	}{
		{func(s map[string][]int64) {
			s["features.0.weight"], s["features.0.bias"] = []int64{4097, 3, 3, 3}, []int64{4097}
		}, "more than 4096 output channels"},
		{func(s map[string][]int64) {
			s["features.0.weight"], s["features.0.bias"] = []int64{4096, 3, 3, 3}, []int64{4096}
			s["features.2.weight"], s["features.2.bias"] = []int64{4096, 4096, 3, 3}, []int64{4096}
		}, "more than 64 million weights"},
	} {
		shapes := tinyShapes(VGG19, "")
		c.edit(shapes)
		ts := map[string]srcTensor{}
		for k, sh := range shapes {
			ts[k] = srcTensor{shape: sh, get: func() ([]float32, error) {
				t.Errorf("%s read", k)
				return make([]float32, numelOf(sh)), nil
			}}
		}
		if _, err := fromTorchvision(ts, "", "test"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got error %v, want it to mention %q", err, c.want)
		}
	}
}

func numelOf(shape []int64) int {
	n := 1
	for _, d := range shape {
		n *= int(d)
	}
	return n
}

func TestPTHErrors(t *testing.T) {
	good, err := os.ReadFile("testdata/tiny_vgg16.pth")
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := os.ReadFile("testdata/tiny_vgg19_legacy.pth")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a PyTorch file"},
		{"text", []byte("hello, world"), "not a PyTorch file"},
		{"cut zip", good[:len(good)/2], "not a PyTorch zip file"},
		{"cut legacy", legacy[:len(legacy)-100], "truncated"},
		{"cut legacy pickle", legacy[:2000], "pickle truncated"},
	} {
		p := filepath.Join(t.TempDir(), "x.pth")
		os.WriteFile(p, c.data, 0o644)
		_, err := FromPTH(p, "")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// A pickle that makes gopickle panic (SETITEMS with an odd number of items after the
// mark) must come back as an error.
func TestPTHPanicIsError(t *testing.T) {
	data := []byte("\x80\x02}(K\x01u.")
	_, err := readPTH(strings.NewReader(string(data)), int64(len(data)))
	if err == nil || !strings.Contains(err.Error(), "malformed PyTorch file") {
		t.Fatalf("got %v", err)
	}
}

// pthZip wraps a pickle in a torch.save zip archive.
func pthZip(pkl []byte) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(pkl)
	zw.Close()
	return b.Bytes()
}

// hostilePickles are pickles that cost days or gigabytes to decode unless
// the limits of scanPickle refuse them, with the error each must give.
func hostilePickles() map[string][2]string {
	p := func(body string) string { return "\x80\x02" + body + "." }
	long4 := binary.LittleEndian.AppendUint32([]byte("\x8b"), 1<<16)
	return map[string][2]string{
		"LONG4":  {p(string(long4) + strings.Repeat("\x01", 1<<16)), "pickle: integer of 65,536 bytes is too long (limit 256)"},
		"LONG":   {p("L" + strings.Repeat("9", 300) + "L\n"), "pickle: integer of 301 characters is too long (limit 256)"},
		"marks":  {p(strings.Repeat("(", maxMarks+1)), "pickle: too many marks (limit 65,536)"},
		"pushes": {p(strings.Repeat("N", maxPushes+1)), "pickle: too many values pushed (limit 1,048,576)"},
		"memo":   {p("N" + strings.Repeat("\x94", maxMemo+1)), "pickle: too many memo entries (limit 1,048,576)"},
	}
}

func TestPTHHostilePickles(t *testing.T) {
	for name, c := range hostilePickles() {
		data := pthZip([]byte(c[0]))
		_, err := readPTH(bytes.NewReader(data), int64(len(data)))
		if err == nil || !strings.Contains(err.Error(), c[1]) {
			t.Errorf("%s: got error %v, want it to mention %q", name, err, c[1])
		}
	}
	// A legit LONG1, the legacy magic number, still decodes.
	r := &posReader{ra: strings.NewReader("\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."), size: 16}
	if v, err := unpickle(r, nil); err != nil || v.(*big.Int).Text(16) != "1950a86a20f9469cfc6c" {
		t.Fatalf("magic number: %v %v", v, err)
	}
}

// hugeLegacy is a legacy .pth whose first pickle is a BINUNICODE8 string
// just over maxPickle bytes long, all zeros, without storing them.
type hugeLegacy struct{}

const hugeLegacySize = maxPickle + 100

func (hugeLegacy) ReadAt(p []byte, off int64) (int, error) {
	head := binary.LittleEndian.AppendUint64([]byte("\x80\x02\x8d"), maxPickle+1)
	clear(p)
	if off < int64(len(head)) {
		copy(p, head[off:])
	}
	if n := hugeLegacySize - off; n < int64(len(p)) {
		return int(max(n, 0)), io.EOF
	}
	return len(p), nil
}

func TestPTHPickleTooLong(t *testing.T) {
	_, err := readPTH(hugeLegacy{}, hugeLegacySize)
	if want := "pickle: too long (limit 67,108,864 bytes)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("legacy: got error %v, want it to mention %q", err, want)
	}
	// A zip whose data.pkl claims 100 MB is refused before it is inflated.
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Deflate, CompressedSize64: 100 << 10, UncompressedSize64: 100 << 20})
	w.Write(make([]byte, 100<<10))
	zw.Close()
	_, err = readPTH(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if want := "archive/data.pkl: pickle too long (104,857,600 bytes, limit 67,108,864)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("zip: got error %v, want it to mention %q", err, want)
	}
}
