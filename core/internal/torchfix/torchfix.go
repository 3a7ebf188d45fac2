// Package torchfix loads the PyTorch fixtures written by
// testdata/torchgen/gen.py, for the tests of packages two levels below the
// repository root (core/X).
package torchfix

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"nnst/core/tensor"
)

type torchEntry struct {
	Shape  []int `json:"shape"`
	Offset int   `json:"offset"`
	Count  int   `json:"count"`
}

type Fixtures struct {
	Meta    json.RawMessage       `json:"meta"`
	Tensors map[string]torchEntry `json:"tensors"`
	data    []float32
}

var (
	mu    sync.Mutex
	cache = map[string]*Fixtures{}
)

// Load returns the main fixture set (index.json, fixtures.bin).
func Load(t *testing.T) *Fixtures { t.Helper(); return LoadSet(t, "index.json", "fixtures.bin") }

// LoadSet returns the fixture set of an index and a data file in
// testdata/torch.
func LoadSet(t *testing.T, index, bin string) *Fixtures {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if f := cache[index]; f != nil {
		return f
	}
	dir := filepath.Join("..", "..", "testdata", "torch")
	raw, err := os.ReadFile(filepath.Join(dir, index))
	if err != nil {
		t.Fatalf("loading torch fixtures: %v", err)
	}
	f := &Fixtures{}
	if err := json.Unmarshal(raw, f); err != nil {
		t.Fatalf("loading torch fixtures: %s: %v", index, err)
	}
	b, err := os.ReadFile(filepath.Join(dir, bin))
	if err != nil {
		t.Fatalf("loading torch fixtures: %v", err)
	}
	f.data = make([]float32, len(b)/4)
	for i := range f.data {
		f.data[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	cache[index] = f
	return f
}

// Raw returns the flat data and shape of a fixture tensor.
func (f *Fixtures) Raw(t *testing.T, name string) ([]float32, []int) {
	t.Helper()
	e, ok := f.Tensors[name]
	if !ok {
		t.Fatalf("fixture %q missing", name)
	}
	if e.Offset+e.Count > len(f.data) {
		t.Fatalf("fixture %q out of range", name)
	}
	return append([]float32(nil), f.data[e.Offset:e.Offset+e.Count]...), e.Shape
}

// CHW returns a fixture of shape (C, H, W) or (1, C, H, W) as a tensor.
func (f *Fixtures) CHW(t *testing.T, name string) *tensor.T {
	t.Helper()
	d, s := f.Raw(t, name)
	if len(s) == 4 && s[0] == 1 {
		s = s[1:]
	}
	if len(s) != 3 {
		t.Fatalf("fixture %q has shape %v, want CHW", name, s)
	}
	return &tensor.T{C: s[0], H: s[1], W: s[2], Data: d}
}

func (f *Fixtures) Decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(f.Meta, v); err != nil {
		t.Fatalf("fixture meta: %v", err)
	}
}

// CloseAll checks |got-want| <= atol + rtol*|want| elementwise, with atol
// relative to the largest |want|.
func CloseAll(t *testing.T, name string, got, want []float32, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", name, len(got), len(want))
	}
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= atol*max(scale, 1e-30)+rtol*math.Abs(float64(want[i]))) {
			t.Fatalf("%s: [%d] = %.9g, want %.9g (|diff| %.3g, scale %.3g)", name, i, got[i], want[i], d, scale)
		}
	}
}
