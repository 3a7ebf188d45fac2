package model

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// near reports whether b is a within fp16 rounding.
func near(a, b float32) bool {
	return math.Abs(float64(a-b)) <= math.Abs(float64(a))/1024+1e-7
}

func sameModel(t *testing.T, want, got *Model, close func(a, b float32) bool) {
	t.Helper()
	if got.Arch != want.Arch || got.Source != want.Source || got.Input != want.Input || strings.Join(got.Taps, ",") != strings.Join(want.Taps, ",") {
		t.Fatalf("metadata differs: got %s %q %+v %v, want %s %q %+v %v", got.Arch, got.Source, got.Input, got.Taps, want.Arch, want.Source, want.Input, want.Taps)
	}
	if len(got.Layers) != len(want.Layers) {
		t.Fatalf("%d layers, want %d", len(got.Layers), len(want.Layers))
	}
	for i, l := range want.Layers {
		g := got.Layers[i]
		if g.Name != l.Name || g.Kind != l.Kind {
			t.Fatalf("layer %d is %s %s, want %s %s", i, g.Kind, g.Name, l.Kind, l.Name)
		}
		if l.Kind != "conv" {
			continue
		}
		if g.Conv.In != l.Conv.In || g.Conv.Out != l.Conv.Out {
			t.Fatalf("%s: %dx%d, want %dx%d", l.Name, g.Conv.Out, g.Conv.In, l.Conv.Out, l.Conv.In)
		}
		for j, x := range l.Conv.Weight {
			if !close(x, g.Conv.Weight[j]) {
				t.Fatalf("%s.weight[%d] = %g, want %g", l.Name, j, g.Conv.Weight[j], x)
			}
		}
		for j, x := range l.Conv.Bias {
			if !close(x, g.Conv.Bias[j]) {
				t.Fatalf("%s.bias[%d] = %g, want %g", l.Name, j, g.Conv.Bias[j], x)
			}
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, spec := range []Spec{VGG16, VGG19} {
		m := Random(spec, 16, 3)
		data, err := m.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.SHA256) != 64 {
			t.Fatalf("SHA256 not set: %q", m.SHA256)
		}
		got, err := Read(data)
		if err != nil {
			t.Fatal(err)
		}
		if got.SHA256 != m.SHA256 {
			t.Fatalf("hash %s, want %s", got.SHA256, m.SHA256)
		}
		sameModel(t, m, got, near)
		// Marshalling again gives the same bytes.
		again, _ := got.Marshal()
		if string(again) != string(data) {
			t.Fatal("re-marshalled file differs")
		}
	}
}

func TestSaveLoad(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.safetensors")
	m := Random(VGG19, 32, 1)
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	if err := m.Save(p); err != nil { // overwrite
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temp files left behind: %v", ents)
	}
	got, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	sameModel(t, m, got, near)
	if got, err := FromSafetensors(p, ""); err != nil || got.SHA256 != m.SHA256 {
		t.Fatalf("FromSafetensors on our own format: %v", err)
	}
	if got, err := Convert(p, ""); err != nil || got.SHA256 != m.SHA256 {
		t.Fatalf("Convert on our own format: %v", err)
	}
	if err := m.Save(filepath.Join(dir, "no/such/dir/m.safetensors")); err == nil {
		t.Fatal("Save into a missing folder succeeded")
	}
}

func TestMarshalRejects(t *testing.T) {
	m := Random(VGG16, 16, 1)
	m.Layers[0].Conv.Weight[3] = 1e6
	if _, err := m.Marshal(); err == nil || !strings.Contains(err.Error(), "does not fit in fp16") {
		t.Fatalf("got %v", err)
	}
	m = Random(VGG16, 16, 1)
	m.Arch = "vgg16"
	if _, err := m.Marshal(); err == nil || !strings.Contains(err.Error(), "differ from vgg16") {
		t.Fatalf("got %v", err)
	}
}

// parts splits a valid file into a mutable header and the payload.
func parts(t *testing.T, data []byte) (map[string]any, []byte) {
	n := binary.LittleEndian.Uint64(data)
	var h map[string]any
	if err := json.Unmarshal(data[8:8+n], &h); err != nil {
		t.Fatal(err)
	}
	return h, append([]byte(nil), data[8+n:]...)
}

// join builds a file from a header and payload, fixing the hash if asked.
func join(h map[string]any, payload []byte, rehash bool) []byte {
	if rehash {
		s := sha256.Sum256(payload)
		h["__metadata__"].(map[string]any)["sha256"] = hex.EncodeToString(s[:])
	}
	hdr, _ := json.Marshal(h)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(hdr)))
	return append(append(out, hdr...), payload...)
}

func TestReadRejects(t *testing.T) {
	m := Random(VGG16, 16, 2)
	valid, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	meta := func(h map[string]any) map[string]any { return h["__metadata__"].(map[string]any) }
	tensor := func(h map[string]any, name string) map[string]any { return h[name].(map[string]any) }
	edit := func(rehash bool, f func(h map[string]any, p []byte) []byte) []byte {
		h, p := parts(t, valid)
		p = f(h, p)
		return join(h, p, rehash)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"tiny", []byte("abc"), "not a safetensors file: 3 bytes"},
		{"png", []byte("\x89PNG\r\n\x1a\n0000000000000000"), "not a safetensors file: header length"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "header length 1,099,511,627,776 is implausible"},
		{"short header", valid[:100], "model file truncated: header says"},
		{"not json start", append(binary.LittleEndian.AppendUint64(nil, 4), "[1] "...), "does not start with '{'"},
		{"bad json", append(binary.LittleEndian.AppendUint64(nil, 4), "{x: "...), "header is not valid JSON"},
		{"short payload", valid[:len(valid)-1000], "model file truncated: header says"},
		{"no metadata", edit(false, func(h map[string]any, p []byte) []byte { delete(h, "__metadata__"); return p }), "no __metadata__"},
		{"metadata not strings", edit(false, func(h map[string]any, p []byte) []byte { h["__metadata__"] = map[string]any{"a": 1}; return p }), "__metadata__ is not a string map"},
		{"missing sha", edit(false, func(h map[string]any, p []byte) []byte { delete(meta(h), "sha256"); return p }), `metadata lacks "sha256"`},
		{"missing taps", edit(true, func(h map[string]any, p []byte) []byte { delete(meta(h), "taps"); return p }), `metadata lacks "taps"`},
		{"format", edit(true, func(h map[string]any, p []byte) []byte { meta(h)["format"] = "pt"; return p }), `format is "pt", want "nnst-model"`},
		{"version", edit(true, func(h map[string]any, p []byte) []byte { meta(h)["version"] = "2"; return p }), `version "2" is not supported`},
		{"hash", edit(false, func(h map[string]any, p []byte) []byte { p[10] ^= 1; return p }), "hash mismatch"},
		{"stray", edit(true, func(h map[string]any, p []byte) []byte { return append(p, 0, 0) }), "2 stray bytes"},
		{"missing tensor", edit(true, func(h map[string]any, p []byte) []byte { delete(h, "conv2_1.bias"); return p }), "lacks tensor conv2_1.bias"},
		{"unused tensor", edit(true, func(h map[string]any, p []byte) []byte {
			meta(h)["layers"] = strings.Replace(meta(h)["layers"].(string), ",conv4_3", "", 1)
			meta(h)["taps"] = "relu1_1"
			return p
		}), `tensor "conv4_3.bias" that no layer uses`},
		{"weight shape", edit(true, func(h map[string]any, p []byte) []byte {
			tensor(h, "conv1_2.weight")["shape"] = []int{4, 4, 1, 9}
			return p
		}), "conv1_2.weight has shape [4 4 1 9], want [out, in, 3, 3]"},
		{"bias shape", edit(true, func(h map[string]any, p []byte) []byte { tensor(h, "conv1_2.bias")["shape"] = []int{2, 2}; return p }), "conv1_2.bias has shape [2 2], want [4]"},
		{"size vs shape", edit(true, func(h map[string]any, p []byte) []byte { tensor(h, "conv1_2.bias")["shape"] = []int{5}; return p }), "hold 8 bytes, but F16 [5] needs 10"},
		{"negative dim", edit(true, func(h map[string]any, p []byte) []byte { tensor(h, "conv1_2.bias")["shape"] = []int{-4}; return p }), "negative dimension"},
		{"huge dims", edit(true, func(h map[string]any, p []byte) []byte {
			tensor(h, "conv1_2.bias")["shape"] = []int64{1 << 40, 1 << 40}
			return p
		}), "is larger than"},
		{"dtype", edit(true, func(h map[string]any, p []byte) []byte { tensor(h, "conv1_1.bias")["dtype"] = "BF16"; return p }), "conv1_1.bias has dtype BF16, want F16"},
		{"unknown dtype", edit(true, func(h map[string]any, p []byte) []byte { tensor(h, "conv1_1.bias")["dtype"] = "F8"; return p }), `unknown dtype "F8"`},
		{"overlap", edit(true, func(h map[string]any, p []byte) []byte {
			tensor(h, "conv1_1.bias")["data_offsets"] = []int{100, 108}
			return p
		}), "overlap"},
		{"negative offset", edit(true, func(h map[string]any, p []byte) []byte {
			tensor(h, "conv1_1.bias")["data_offsets"] = []int{-8, 0}
			return p
		}), "bad data offsets [-8, 0]"},
		{"offset out of range", edit(true, func(h map[string]any, p []byte) []byte {
			tensor(h, "conv1_1.bias")["data_offsets"] = []int{1 << 30, 1<<30 + 8}
			return p
		}), "model file truncated: header says 1,073,741,832 payload bytes"},
		{"chain", edit(true, func(h map[string]any, p []byte) []byte {
			meta(h)["layers"] = "conv1_1,conv1_2,pool1,conv3_1"
			meta(h)["taps"] = "relu1_1"
			return p
		}), "conv3_1.weight has shape [16 8 3 3]: 8 input channels, but the previous layer gives 4"},
		{"tap", edit(true, func(h map[string]any, p []byte) []byte { meta(h)["taps"] = "relu1_1,relu5_1"; return p }), `tap "relu5_1" is not produced`},
		{"layer name", edit(true, func(h map[string]any, p []byte) []byte {
			meta(h)["layers"] = "relu1_1," + meta(h)["layers"].(string)
			return p
		}), `layer "relu1_1" is neither`},
		{"duplicate layer", edit(true, func(h map[string]any, p []byte) []byte {
			meta(h)["layers"] = strings.Replace(meta(h)["layers"].(string), "pool2", "pool1", 1)
			return p
		}), `layer "pool1" appears twice`},
		{"arch", edit(true, func(h map[string]any, p []byte) []byte { meta(h)["arch"] = "vgg16"; return p }), "differ from vgg16"},
		{"input", edit(true, func(h map[string]any, p []byte) []byte { meta(h)["input"] = "rgb"; return p }), `"input" is not a normalisation`},
		{"input order", edit(true, func(h map[string]any, p []byte) []byte {
			meta(h)["input"] = `{"Order":"xyz","Scale":1,"Mean":[0,0,0],"Std":[1,1,1]}`
			return p
		}), `input channel order "xyz"`},
		{"nan", edit(true, func(h map[string]any, p []byte) []byte { binary.LittleEndian.PutUint16(p[2:], 0x7e00); return p }), "conv1_1.weight[1] is NaN"},
	}
	for _, c := range cases {
		_, err := Read(c.data)
		if err == nil {
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to mention %q", c.name, err, c.want)
		}
	}
	if _, err := Read(valid); err != nil {
		t.Fatalf("valid file rejected: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("missing file loaded")
	}
	p := filepath.Join(t.TempDir(), "bad.safetensors")
	os.WriteFile(p, []byte("hello world"), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("error %v should name the file", err)
	}
	if _, err := Convert(p, ""); err == nil {
		t.Fatal("Convert accepted garbage")
	}
	if _, err := Convert("x.onnx", ""); err == nil {
		t.Fatal("Convert accepted a missing file")
	}
}

// loadAllocs runs load and returns its error and the bytes it allocated.
func loadAllocs(load func() error) (error, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := load()
	runtime.ReadMemStats(&after)
	return err, after.TotalAlloc - before.TotalAlloc
}

// Files that Load used to read whole (out of memory, or a 100 MB header
// read before the 16 MB cap refused it) are refused from their size and
// header alone.
func TestLoadHostile(t *testing.T) {
	dir := t.TempDir()
	valid := filepath.Join(dir, "valid.safetensors")
	if err := Random(VGG19, 32, 1).Save(valid); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(valid)
	write := func(name string, b []byte, size int64) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, size); err != nil { // sparse: no disk used
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ name, path, want string }{
		{"sparse 20 GB", write("sparse.safetensors", data, 20<<30), "model file is 21,474,836,480 bytes, more than the limit of 268,435,456"},
		{"stray 64 MB", write("stray.safetensors", data, int64(len(data))+64<<20), "model file has 67,108,864 stray bytes after the last tensor"},
		{"100 MB header", write("header.safetensors", binary.LittleEndian.AppendUint64(nil, 100<<20), 8+100<<20), "header length 104,857,600 is implausible"},
		{"folder", dir, "not a regular file"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		p := filepath.Join(dir, "zero.safetensors")
		if err := os.Symlink("/dev/zero", p); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, struct{ name, path, want string }{"/dev/zero", p, "not a regular file"})
	}
	for _, c := range cases {
		err, n := loadAllocs(func() error { _, err := Load(c.path); return err })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want it to mention %q", c.name, err, c.want)
		} else if strings.Count(err.Error(), c.path) != 1 {
			t.Errorf("%s: error %q should name the file once", c.name, err)
		}
		if n > 1<<20 {
			t.Errorf("%s: Load allocated %s bytes", c.name, commas(int64(n)))
		}
		// stylize --model falls back to this one.
		err, n = loadAllocs(func() error { _, err := FromSafetensors(c.path, ""); return err })
		if err == nil || n > 1<<20 {
			t.Errorf("%s: FromSafetensors: error %v, %s bytes allocated", c.name, err, commas(int64(n)))
		}
	}
	if _, err := Load(valid); err != nil {
		t.Fatalf("valid file: %v", err)
	}
}
