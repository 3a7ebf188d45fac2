package model

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type tfjsOpts struct {
	spec   Spec
	shrink int
	quant  string // "", "uint8" or "uint16"
	shard  int    // shard size in bytes
	drop   []int  // shard numbers (1-based) to delete; negative counts from the end
	omit   string // a weight name to leave out of the manifest
	cut    int    // bytes to cut off the last present shard
}

// writeTFJS writes a synthetic Keras VGG TensorFlow.js model into dir (with
// block5 and fc weights after the ones NNST needs) and returns the model
// it should convert to.
func writeTFJS(t *testing.T, dir string, o tfjsOpts) *Model {
	t.Helper()
	r := rand.New(rand.NewPCG(uint64(o.shrink), 9))
	type weight struct {
		Name         string         `json:"name"`
		Shape        []int          `json:"shape"`
		Dtype        string         `json:"dtype"`
		Quantization map[string]any `json:"quantization,omitempty"`
	}
	var weights []weight
	var blob []byte
	values := map[string][]float32{} // dequantised, in file layout
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		w := weight{Name: name, Shape: shape, Dtype: "float32"}
		v := make([]float32, n)
		switch o.quant {
		case "":
			for i := range v {
				v[i] = float32(r.NormFloat64() * 0.2)
				blob = binary.LittleEndian.AppendUint32(blob, math.Float32bits(v[i]))
			}
		case "uint8", "uint16":
			scale, mn := 0.001+r.Float64()*0.01, -r.Float64()
			w.Quantization = map[string]any{"dtype": o.quant, "original_dtype": "float32", "scale": scale, "min": mn}
			for i := range v {
				if o.quant == "uint8" {
					q := r.IntN(256)
					blob = append(blob, byte(q))
					v[i] = float32(float64(q)*scale + mn)
				} else {
					q := r.IntN(65536)
					blob = binary.LittleEndian.AppendUint16(blob, uint16(q))
					v[i] = float32(float64(q)*scale + mn)
				}
			}
		}
		if name == o.omit { // keep the bytes, drop the manifest entry
			blob = blob[:len(blob)-len(v)*map[string]int{"": 4, "uint8": 1, "uint16": 2}[o.quant]]
			return
		}
		weights = append(weights, w)
		values[name] = v
	}
	small := Spec{Name: o.spec.Name, Layers: o.spec.Layers, Width: map[string]int{}}
	in := 3
	var layers []map[string]any
	for _, name := range o.spec.Layers {
		if strings.HasPrefix(name, "pool") {
			continue
		}
		out := max(2, o.spec.Width[name]/o.shrink)
		small.Width[name] = out
		keras := "block" + name[4:5] + "_conv" + name[6:]
		layers = append(layers, map[string]any{"class_name": "Conv2D", "config": map[string]any{"name": keras, "filters": out}, "name": keras})
		add(keras+"/kernel", 3, 3, in, out)
		add(keras+"/bias", out)
		in = out
	}
	add("block5_conv1/kernel", 3, 3, in, in)
	add("block5_conv1/bias", in)
	add("fc1/kernel", 64, 32)
	var paths []string
	var shards [][]byte
	for i := 0; i < len(blob); i += o.shard {
		shards = append(shards, blob[i:min(len(blob), i+o.shard)])
	}
	for i := range shards {
		paths = append(paths, fmt.Sprintf("group1-shard%dof%d.bin", i+1, len(shards)))
	}
	dropped := map[int]bool{}
	for _, d := range o.drop {
		if d < 0 {
			d += len(shards) + 1
		}
		dropped[d] = true
	}
	last := -1
	for i := range shards {
		if !dropped[i+1] {
			last = i
		}
	}
	for i, s := range shards {
		if dropped[i+1] {
			continue
		}
		if i == last {
			s = s[:len(s)-o.cut]
		}
		if err := os.WriteFile(filepath.Join(dir, paths[i]), s, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mj := map[string]any{
		"format":          "layers-model",
		"modelTopology":   map[string]any{"model_config": map[string]any{"class_name": "Model", "config": map[string]any{"layers": layers}}},
		"weightsManifest": []any{map[string]any{"paths": paths, "weights": weights}},
	}
	js, _ := json.Marshal(mj)
	if err := os.WriteFile(filepath.Join(dir, "model.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	if o.omit != "" {
		return nil
	}
	want, err := Build(small, Caffe, func(name string, in, out int) (*Conv, error) {
		keras := "block" + name[4:5] + "_conv" + name[6:]
		k, b := values[keras+"/kernel"], values[keras+"/bias"]
		c := &Conv{In: in, Out: out, Weight: make([]float32, out*in*9), Bias: b}
		for o := range out {
			for i := range in {
				for h := range 3 {
					for w := range 3 {
						c.Weight[o*in*9+i*9+h*3+w] = k[h*3*in*out+w*in*out+i*out+o]
					}
				}
			}
		}
		return c, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want.Arch = "tiny"
	q := o.quant
	if q == "" {
		q = "float32"
	}
	want.Source = fmt.Sprintf("Keras %s (Oxford VGG, CC BY 4.0) via TensorFlow.js %s", strings.ToUpper(o.spec.Name), q)
	return want
}

func exact(a, b float32) bool { return a == b }

func TestFromTFJS(t *testing.T) {
	for _, o := range []tfjsOpts{
		{spec: VGG16, shrink: 16, shard: 4096},
		{spec: VGG19, shrink: 8, quant: "uint8", shard: 8192, drop: []int{-1}},
		{spec: VGG16, shrink: 32, quant: "uint16", shard: 1000, drop: []int{-1, -2}},
	} {
		dir := t.TempDir()
		want := writeTFJS(t, dir, o)
		got, err := FromTFJS(filepath.Join(dir, "model.json"))
		if err != nil {
			t.Fatalf("%s %s: %v", o.spec.Name, o.quant, err)
		}
		sameModel(t, want, got, exact)
		if got2, err := Convert(dir, ""); err != nil || len(got2.Layers) != len(got.Layers) {
			t.Fatalf("Convert(dir): %v", err)
		}
		data, err := got.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		back, err := Read(data)
		if err != nil {
			t.Fatal(err)
		}
		sameModel(t, want, back, near)
	}
}

func TestFromTFJSErrors(t *testing.T) {
	cases := []struct {
		o    tfjsOpts
		want string
	}{
		{tfjsOpts{spec: VGG16, shrink: 16, shard: 4096, drop: []int{3}}, "needs shard group1-shard3of"},
		{tfjsOpts{spec: VGG19, shrink: 16, shard: 4096, omit: "block2_conv1/bias"}, "tensor block2_conv1/bias (conv2_1) is not in the weights manifest"},
		{tfjsOpts{spec: VGG16, shrink: 16, shard: 1 << 20, cut: 50000}, "shard group1-shard1of1.bin is 115,520 bytes, but the manifest makes it 165,520"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		writeTFJS(t, dir, c.o)
		_, err := FromTFJS(filepath.Join(dir, "model.json"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got error %v, want it to mention %q", err, c.want)
		}
	}
	for _, c := range []struct{ json, want string }{
		{`[1,2]`, "not a TensorFlow.js model.json"},
		{`{"format":"layers-model"}`, "no weightsManifest"},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"dense/kernel","shape":[2],"dtype":"float32"}]}]}`, "no Keras VGG layers"},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"x","shape":[2],"dtype":"string"}]}]}`, `unsupported dtype "string"`},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"x","shape":[1099511627776,1099511627776],"dtype":"float32"}]}]}`, "is larger than"},
		{`{"weightsManifest":[{"paths":["../a.bin"],"weights":[{"name":"block1_conv1/kernel","shape":[3,3,3,2],"dtype":"float32"},{"name":"block1_conv1/bias","shape":[2],"dtype":"float32"}]}]}`, "not a plain relative path"},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"block1_conv1/kernel","shape":[3,3,4,2],"dtype":"float32"}]}]}`, "block1_conv1/kernel has shape [3 3 4 2]: 4 input channels"},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"block1_conv1/kernel","shape":[3,3,3,4097],"dtype":"float32"}]}]}`, "more than 4096 output channels"},
		{`{"weightsManifest":[{"paths":["a.bin"],"weights":[{"name":"block1_conv1/kernel","shape":[3,3,3,4096],"dtype":"float32"},{"name":"block1_conv1/bias","shape":[4096],"dtype":"float32"},` +
			`{"name":"block1_conv2/kernel","shape":[3,3,4096,4096],"dtype":"float32"},{"name":"block1_conv2/bias","shape":[4096],"dtype":"float32"}]}]}`, "more than 64 million weights"},
	} {
		_, err := fromTFJS([]byte(c.json), func(string, int64) ([]byte, error) { return nil, os.ErrNotExist })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want it to mention %q", c.json, err, c.want)
		}
	}
}

// A shard one byte short, one byte long or of 7 bytes used to give a
// model with every later weight shifted (uint8 weights: no error at all)
// when the shards together still held the bytes needed.
func TestFromTFJSShardLengths(t *testing.T) {
	o := tfjsOpts{spec: VGG16, shrink: 16, quant: "uint8", shard: 1024}
	shard := func(i int) string { return fmt.Sprintf("group1-shard%dof41.bin", i) }
	cases := []struct {
		name string
		edit func(dir string) error
		want string
	}{
		{"one byte short", func(dir string) error { return os.Truncate(filepath.Join(dir, shard(2)), 1023) },
			"shard group1-shard2of41.bin is 1,023 bytes, but the manifest makes it 1,024"},
		{"one byte long", func(dir string) error { return os.Truncate(filepath.Join(dir, shard(3)), 1025) },
			"shard group1-shard3of41.bin is 1,025 bytes, but the manifest makes it 1,024"},
		{"7-byte first shard", func(dir string) error { return os.WriteFile(filepath.Join(dir, shard(1)), make([]byte, 7), 0o644) },
			"shard group1-shard1of41.bin is 7 bytes, but weight group 1's 41,380 bytes cannot be cut into 41 shards of that size"},
		{"first shard one byte short", func(dir string) error { return os.Truncate(filepath.Join(dir, shard(1)), 1023) },
			"shard group1-shard2of41.bin is 1,024 bytes, but the manifest makes it 1,023"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		writeTFJS(t, dir, o)
		if _, err := os.Stat(filepath.Join(dir, shard(41))); err != nil {
			t.Fatalf("shard layout changed: %v", err)
		}
		if err := c.edit(dir); err != nil {
			t.Fatal(err)
		}
		_, err := FromTFJS(filepath.Join(dir, "model.json"))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got error %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

const realTFJS = "/work/shared/models/vgg19-keras-uint8"

// TestFromTFJSReal converts the bundled VGG19 and checks a few values
// against a direct reading of the shard bytes.
func TestFromTFJSReal(t *testing.T) {
	if _, err := os.Stat(filepath.Join(realTFJS, "model.json")); err != nil {
		t.Skip("no", realTFJS)
	}
	m, err := Convert(realTFJS, "vgg19")
	if err != nil {
		t.Fatal(err)
	}
	if m.Arch != "vgg19" || m.Input != Caffe || !strings.Contains(m.Source, "uint8") {
		t.Fatalf("arch %s input %+v source %q", m.Arch, m.Input, m.Source)
	}
	if !sameSpec(m, VGG19) {
		t.Fatal("layers differ from VGG19")
	}
	ch, err := m.TapChannels()
	if err != nil || fmt.Sprint(ch) != "[64 64 128 128 256 256 256 512 512 512]" {
		t.Fatalf("tap channels %v %v", ch, err)
	}
	// Direct reading: concatenated shards, manifest order.
	var mj tfjsJSON
	js, _ := os.ReadFile(filepath.Join(realTFJS, "model.json"))
	if err := json.Unmarshal(js, &mj); err != nil {
		t.Fatal(err)
	}
	var blob []byte
	for _, p := range mj.WeightsManifest[0].Paths[:11] {
		b, err := os.ReadFile(filepath.Join(realTFJS, p))
		if err != nil {
			t.Fatal(err)
		}
		blob = append(blob, b...)
	}
	conv := map[string]*Conv{}
	for _, l := range m.Layers {
		conv[l.Name] = l.Conv
	}
	off := 0
	checked := 0
	for _, w := range mj.WeightsManifest[0].Weights {
		n := 1
		for _, d := range w.Shape {
			n *= int(d)
		}
		sm := kerasConv.FindStringSubmatch(w.Name)
		if sm == nil || sm[1] == "5" {
			break
		}
		c := conv["conv"+sm[1]+"_"+sm[2]]
		if c == nil { // conv4_4: not needed
			off += n
			continue
		}
		q := w.Quantization
		for _, j := range []int{0, 1, n / 3, n - 1} {
			want := float32(float64(blob[off+j])*q.Scale + q.Min)
			var got float32
			if sm[3] == "bias" {
				got = c.Bias[j]
			} else { // HWIO index j -> OIHW
				in, out := int(w.Shape[2]), int(w.Shape[3])
				o, i, hw := j%out, j/out%in, j/(out*in)
				got = c.Weight[(o*in+i)*9+hw]
			}
			if got != want {
				t.Fatalf("%s[%d] = %g, want %g", w.Name, j, got, want)
			}
			checked++
		}
		off += n
	}
	if checked != 11*2*4 { // 11 convs, kernel and bias, 4 values each
		t.Fatalf("checked %d values", checked)
	}
	if off != 10585152 {
		t.Fatalf("block4_conv4 ends at %d", off)
	}
}
