package model

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// srcTensor is a tensor of a source file: its shape and a way to read it
// (as float32, in the file's own layout).
type srcTensor struct {
	shape []int64
	get   func() ([]float32, error)
}

// Convert reads a model in any supported source format, chosen by path: a
// folder or .json file is a TensorFlow.js layers model, .pth/.pt a PyTorch
// state dict, .safetensors torchvision-named safetensors or our own format.
// arch is "vgg16", "vgg19" or "" to detect it.
func Convert(src string, arch string) (*Model, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, err
	}
	var m *Model
	switch ext := strings.ToLower(filepath.Ext(src)); {
	case st.IsDir():
		m, err = FromTFJS(filepath.Join(src, "model.json"))
	case ext == ".json":
		m, err = FromTFJS(src)
	case ext == ".pth" || ext == ".pt":
		return FromPTH(src, arch)
	case ext == ".safetensors":
		return FromSafetensors(src, arch)
	default:
		return nil, fmt.Errorf("%s: unknown model format (want a TensorFlow.js folder or model.json, .pth, .pt or .safetensors)", src)
	}
	if err == nil && arch != "" && m.Arch != arch {
		return nil, fmt.Errorf("%s holds %s, not %s", src, m.Arch, arch)
	}
	return m, err
}

// torchvisionIndex maps each conv of spec to its index in torchvision's
// vgg.features (conv and ReLU take one index each, pools one).
func torchvisionIndex(spec Spec) map[string]int {
	idx := map[string]int{}
	i := 0
	for _, name := range spec.Layers {
		if strings.HasPrefix(name, "pool") {
			i++
			continue
		}
		idx[name] = i
		i += 2
	}
	return idx
}

// fromTorchvision builds a model from torchvision-named tensors
// (features.N.weight/bias, optionally prefixed "module."). Channel widths
// come from the tensor shapes, so narrow test models work too; arch "" is
// detected from which indexes exist. source names the file in m.Source;
// errors do not name it.
func fromTorchvision(ts map[string]srcTensor, arch, source string) (*Model, error) {
	named := map[string]srcTensor{}
	for k, t := range ts {
		named[strings.TrimPrefix(k, "module.")] = t
	}
	for k := range named {
		if strings.HasPrefix(k, "features.") && strings.HasSuffix(k, ".running_mean") {
			return nil, fmt.Errorf("batch-norm VGG (%s) is not supported", k)
		}
	}
	has := func(k string) bool { _, ok := named[k]; return ok }
	if arch == "" {
		switch a, b := has("features.16.weight"), has("features.17.weight"); {
		case a && !b:
			arch = "vgg19"
		case b && !a:
			arch = "vgg16"
		default:
			if !has("features.0.weight") {
				return nil, fmt.Errorf("no torchvision VGG tensors (features.0.weight missing; %d tensors)", len(named))
			}
			return nil, fmt.Errorf("cannot tell vgg16 from vgg19 (features.16.weight present: %v, features.17.weight present: %v)", a, b)
		}
	}
	spec, err := SpecFor(arch)
	if err != nil {
		return nil, err
	}
	idx := torchvisionIndex(spec)
	widths := Spec{Name: spec.Name, Layers: spec.Layers, Width: map[string]int{}}
	in, total := int64(3), int64(0)
	for _, name := range spec.Layers {
		if strings.HasPrefix(name, "pool") {
			continue
		}
		wk := fmt.Sprintf("features.%d.weight", idx[name])
		bk := fmt.Sprintf("features.%d.bias", idx[name])
		w, ok := named[wk]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s (%s of %s)", wk, name, arch)
		}
		b, ok := named[bk]
		if !ok {
			return nil, fmt.Errorf("missing tensor %s (%s of %s)", bk, name, arch)
		}
		if len(w.shape) != 4 || w.shape[2] != 3 || w.shape[3] != 3 || w.shape[0] < 1 {
			return nil, fmt.Errorf("%s has shape %v, want [out, in, 3, 3]", wk, w.shape)
		}
		if w.shape[0] > MaxWidth {
			return nil, fmt.Errorf("%s has shape %v: more than %d output channels", wk, w.shape, MaxWidth)
		}
		if w.shape[1] != in {
			return nil, fmt.Errorf("%s has shape %v: %d input channels, but the previous conv gives %d", wk, w.shape, w.shape[1], in)
		}
		if len(b.shape) != 1 || b.shape[0] != w.shape[0] {
			return nil, fmt.Errorf("%s has shape %v, want [%d]", bk, b.shape, w.shape[0])
		}
		if err := countParams(&total, w.shape[0], in); err != nil {
			return nil, err
		}
		widths.Width[name] = int(w.shape[0])
		in = w.shape[0]
	}
	m, err := Build(widths, Torchvision, func(name string, in, out int) (*Conv, error) {
		w, err := named[fmt.Sprintf("features.%d.weight", idx[name])].get()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		b, err := named[fmt.Sprintf("features.%d.bias", idx[name])].get()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		return &Conv{In: in, Out: out, Weight: w, Bias: b}, nil
	})
	if err != nil {
		return nil, err
	}
	if !sameSpec(m, spec) {
		m.Arch = "tiny"
	}
	m.Source = fmt.Sprintf("torchvision %s weights from %s", strings.ToUpper(arch), source)
	return m, m.check()
}

// FromSafetensors reads a safetensors file: either our own format (then it
// is just Load) or a torchvision VGG state dict in F32, F16 or BF16.
func FromSafetensors(path string, arch string) (*Model, error) {
	f, h, base, err := openSafetensors(path, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if h.Meta["format"] == fileFormat {
		m, err := Load(path)
		if err == nil && arch != "" && m.Arch != arch {
			return nil, fmt.Errorf("%s holds %s, not %s", path, m.Arch, arch)
		}
		return m, err
	}
	ts := map[string]srcTensor{}
	for name, t := range h.Tensors {
		ts[name] = srcTensor{shape: t.Shape, get: func() ([]float32, error) {
			buf := make([]byte, t.Offsets[1]-t.Offsets[0])
			if _, err := f.ReadAt(buf, base+t.Offsets[0]); err != nil {
				return nil, err
			}
			return decode(t.Dtype, buf)
		}}
	}
	m, err := fromTorchvision(ts, arch, filepath.Base(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// sortedKeys is for stable error messages.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
