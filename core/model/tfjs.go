package model

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/x448/float16"
)

// tfjsJSON is the part of a TensorFlow.js layers model.json we use.
type tfjsJSON struct {
	Format          string          `json:"format"`
	ModelTopology   json.RawMessage `json:"modelTopology"`
	WeightsManifest []struct {
		Paths   []string     `json:"paths"`
		Weights []tfjsWeight `json:"weights"`
	} `json:"weightsManifest"`
}

type tfjsWeight struct {
	Name         string  `json:"name"`
	Shape        []int64 `json:"shape"`
	Dtype        string  `json:"dtype"`
	Quantization *struct {
		Dtype string  `json:"dtype"`
		Scale float64 `json:"scale"`
		Min   float64 `json:"min"`
	} `json:"quantization"`
}

// tfjsEntry locates one tensor in the concatenated shards of its group.
type tfjsEntry struct {
	w          tfjsWeight
	group      int
	begin, end int64
	n          int64 // elements
}

var kerasConv = regexp.MustCompile(`(?:^|/)block(\d+)_conv(\d+)/(kernel|bias)(?::0)?$`)

// FromTFJS converts a TensorFlow.js layers model (model.json plus the
// weight shards next to it) holding Keras VGG16 or VGG19. Shards listed but
// absent are fine as long as they hold nothing NNST needs.
func FromTFJS(modelJSON string) (*Model, error) {
	data, err := readRegular(modelJSON, maxHeader) // real ones: tens of KB
	if err != nil {
		return nil, err
	}
	if len(data) > maxHeader {
		return nil, fmt.Errorf("%s: larger than %s bytes: not a model.json", modelJSON, commas(maxHeader))
	}
	dir := filepath.Dir(modelJSON)
	m, err := fromTFJS(data, func(p string, limit int64) ([]byte, error) {
		return readRegular(filepath.Join(dir, filepath.FromSlash(p)), limit)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", modelJSON, err)
	}
	return m, nil
}

// readRegular reads a regular file, stopping after limit+1 bytes.
func readRegular(path string, limit int64) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit+1))
}

// fromTFJS does the work of FromTFJS; readShard returns a shard's bytes
// (it may stop after limit+1) or an error satisfying errors.Is(err,
// fs.ErrNotExist) when it is absent.
func fromTFJS(data []byte, readShard func(path string, limit int64) ([]byte, error)) (*Model, error) {
	var mj tfjsJSON
	if err := json.Unmarshal(data, &mj); err != nil {
		return nil, fmt.Errorf("not a TensorFlow.js model.json: %v", err)
	}
	if len(mj.WeightsManifest) == 0 {
		return nil, errors.New("model.json has no weightsManifest")
	}
	const limit = int64(1) << 40
	entries := map[string]*tfjsEntry{}
	names := map[string]bool{}
	totals := make([]int64, len(mj.WeightsManifest)) // bytes of each group
	for g, grp := range mj.WeightsManifest {
		for _, p := range grp.Paths {
			if p == "" || path.IsAbs(p) || strings.Contains(p, "..") || strings.Contains(p, "\\") {
				return nil, fmt.Errorf("shard path %q is not a plain relative path", p)
			}
		}
		off := int64(0)
		for _, w := range grp.Weights {
			dt := w.Dtype
			if w.Quantization != nil {
				dt = w.Quantization.Dtype
			}
			size := map[string]int64{"float32": 4, "int32": 4, "uint8": 1, "uint16": 2, "float16": 2, "bool": 1}[dt]
			if size == 0 {
				return nil, fmt.Errorf("weight %q: unsupported dtype %q", w.Name, dt)
			}
			n, err := numel(w.Shape, limit)
			if err != nil {
				return nil, fmt.Errorf("weight %q: %v", w.Name, err)
			}
			e := &tfjsEntry{w: w, group: g, begin: off, end: off + n*size, n: n}
			if e.end > limit {
				return nil, fmt.Errorf("weight %q: manifest group %d is larger than %s bytes", w.Name, g+1, commas(limit))
			}
			off = e.end
			if sm := kerasConv.FindStringSubmatch(w.Name); sm != nil {
				key := "conv" + sm[1] + "_" + sm[2] + "/" + sm[3]
				if entries[key] != nil {
					return nil, fmt.Errorf("weight %q appears twice in the manifest", w.Name)
				}
				entries[key] = e
				names["block"+sm[1]+"_conv"+sm[2]] = true
			}
		}
		totals[g] = off
	}
	collectNames(mj.ModelTopology, names)
	arch := "vgg16"
	if names["block3_conv4"] {
		arch = "vgg19"
	}
	if !names["block1_conv1"] {
		return nil, errors.New("no Keras VGG layers (block1_conv1 missing)")
	}
	spec, _ := SpecFor(arch)
	widths := Spec{Name: arch, Layers: spec.Layers, Width: map[string]int{}}
	in, total := int64(3), int64(0)
	var need []*tfjsEntry
	for _, name := range spec.Layers {
		if strings.HasPrefix(name, "pool") {
			continue
		}
		k, b := entries[name+"/kernel"], entries[name+"/bias"]
		keras := "block" + name[4:5] + "_conv" + name[6:]
		if k == nil {
			return nil, fmt.Errorf("tensor %s/kernel (%s) is not in the weights manifest", keras, name)
		}
		s := k.w.Shape
		if len(s) != 4 || s[0] != 3 || s[1] != 3 || s[3] < 1 {
			return nil, fmt.Errorf("tensor %s has shape %v, want [3, 3, in, out]", k.w.Name, s)
		}
		if s[3] > MaxWidth {
			return nil, fmt.Errorf("tensor %s has shape %v: more than %d output channels", k.w.Name, s, MaxWidth)
		}
		if s[2] != in {
			return nil, fmt.Errorf("tensor %s has shape %v: %d input channels, but the previous conv gives %d", k.w.Name, s, s[2], in)
		}
		if b == nil {
			return nil, fmt.Errorf("tensor %s/bias (%s) is not in the weights manifest", keras, name)
		}
		if len(b.w.Shape) != 1 || b.w.Shape[0] != s[3] {
			return nil, fmt.Errorf("tensor %s has shape %v, want [%d]", b.w.Name, b.w.Shape, s[3])
		}
		if err := countParams(&total, s[3], in); err != nil {
			return nil, err
		}
		widths.Width[name] = int(s[3])
		in = s[3]
		need = append(need, k, b)
	}
	// Read each group's shards in order until the needed bytes are covered,
	// checking each shard's length: the group's bytes are cut into shards
	// as long as the first, the last holding the rest.
	bufs := make([][]byte, len(mj.WeightsManifest))
	for g, grp := range mj.WeightsManifest {
		var end int64
		var last *tfjsEntry
		for _, e := range need {
			if e.group == g && e.end > end {
				end, last = e.end, e
			}
		}
		var buf []byte
		total, k := totals[g], int64(len(grp.Paths))
		var size int64 // of each shard but the last
		for i, p := range grp.Paths {
			if int64(len(buf)) >= end {
				break
			}
			want := size
			if i == len(grp.Paths)-1 {
				want = total - (k-1)*size
			} else if i == 0 {
				want = total // at most: the first of several sets size
			}
			b, err := readShard(p, want)
			if errors.Is(err, fs.ErrNotExist) {
				for _, e := range need { // name the first tensor it holds
					if e.group == g && e.end > int64(len(buf)) {
						last = e
						break
					}
				}
				return nil, fmt.Errorf("tensor %s (bytes %s..%s of weight group %d) needs shard %s, which is absent", last.w.Name, commas(last.begin), commas(last.end), g+1, p)
			}
			if err != nil {
				return nil, err
			}
			n := int64(len(b))
			if i == 0 && k > 1 {
				if size = n; n == 0 || (total+n-1)/n != k {
					return nil, fmt.Errorf("shard %s is %s bytes, but weight group %d's %s bytes cannot be cut into %d shards of that size (truncated shard?)", p, commas(n), g+1, commas(total), k)
				}
				want = n
			}
			if n != want {
				return nil, fmt.Errorf("shard %s is %s bytes, but the manifest makes it %s (truncated or wrong shard?)", p, commas(n), commas(want))
			}
			buf = append(buf, b...)
		}
		bufs[g] = buf
	}
	quant := ""
	m, err := Build(widths, Caffe, func(name string, in, out int) (*Conv, error) {
		k, b := entries[name+"/kernel"], entries[name+"/bias"]
		kv, err := tfjsValues(k, bufs[k.group])
		if err != nil {
			return nil, err
		}
		bv, err := tfjsValues(b, bufs[b.group])
		if err != nil {
			return nil, err
		}
		if quant == "" {
			quant = "float32"
			if k.w.Quantization != nil {
				quant = k.w.Quantization.Dtype
			}
		}
		c := &Conv{In: in, Out: out, Weight: make([]float32, out*in*9), Bias: bv}
		for h := range 3 { // HWIO -> OIHW
			for w := range 3 {
				for i := range in {
					src := kv[((h*3+w)*in+i)*out:]
					for o := range out {
						c.Weight[((o*in+i)*3+h)*3+w] = src[o]
					}
				}
			}
		}
		return c, nil
	})
	if err != nil {
		return nil, err
	}
	if !sameSpec(m, spec) {
		m.Arch = "tiny"
	}
	m.Source = fmt.Sprintf("Keras %s (Oxford VGG, CC BY 4.0) via TensorFlow.js %s", strings.ToUpper(arch), quant)
	return m, m.check()
}

// tfjsValues decodes (and dequantises) one tensor.
func tfjsValues(e *tfjsEntry, buf []byte) ([]float32, error) {
	b := buf[e.begin:e.end]
	out := make([]float32, e.n)
	q := e.w.Quantization
	if q == nil {
		if e.w.Dtype != "float32" {
			return nil, fmt.Errorf("tensor %s has dtype %s, want float32", e.w.Name, e.w.Dtype)
		}
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return out, nil
	}
	switch q.Dtype {
	case "uint8":
		for i := range out {
			out[i] = float32(float64(b[i])*q.Scale + q.Min)
		}
	case "uint16":
		for i := range out {
			out[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:]))*q.Scale + q.Min)
		}
	case "float16":
		for i := range out {
			out[i] = float16.Frombits(binary.LittleEndian.Uint16(b[2*i:])).Float32()
		}
	default:
		return nil, fmt.Errorf("tensor %s: unsupported quantisation dtype %q", e.w.Name, q.Dtype)
	}
	return out, nil
}

// collectNames adds every Keras conv layer name found in the topology.
func collectNames(raw json.RawMessage, names map[string]bool) {
	if len(raw) == 0 {
		return
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if s, ok := x["name"].(string); ok && kerasLayer.MatchString(s) {
				names[s] = true
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(v)
}

var kerasLayer = regexp.MustCompile(`^block\d+_conv\d+$`)
