// Package model describes the VGG feature extractor NNST runs: its layers,
// taps and input normalisation, with weights in float32 OIHW.
package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Conv is a 3x3 convolution, stride 1, padding 1, followed by a ReLU.
type Conv struct {
	In, Out int
	Weight  []float32 // OIHW: Out*In*3*3
	Bias    []float32 // Out
}

// Layer is one step of the feature extractor.
type Layer struct {
	Kind string // "conv" (3x3 conv + ReLU) or "pool" (max 2x2, stride 2)
	Name string // "conv1_1", "pool1", ...; the ReLU after convX_Y is tapped as "reluX_Y"
	Conv *Conv  // set when Kind == "conv"
}

// Normalization maps an RGB image in [0,1] to the network's input:
// reorder channels, multiply by Scale, subtract Mean, divide by Std.
type Normalization struct {
	Order string     // "rgb" or "bgr": the channel order the network expects
	Scale float32    // 1 (torchvision) or 255 (caffe)
	Mean  [3]float32 // in the network's channel order
	Std   [3]float32 // in the network's channel order
}

// Model is a feature extractor with its tap list.
type Model struct {
	Arch   string // "vgg16", "vgg19", or "tiny" for tests
	Layers []Layer
	Taps   []string // ReLU outputs to tap, e.g. "relu1_1"
	Input  Normalization
	Source string // where the weights came from
	SHA256 string // hex SHA-256 of the weight payload, as stored in the file
}

// DefaultTaps are the hypercolumn layers of NNST.md section 2.
var DefaultTaps = []string{"relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1", "relu3_2", "relu3_3", "relu4_1", "relu4_2", "relu4_3"}

// Caffe is the Keras "caffe" input convention of the Oxford VGG weights.
var Caffe = Normalization{Order: "bgr", Scale: 255, Mean: [3]float32{103.939, 116.779, 123.68}, Std: [3]float32{1, 1, 1}}

// Torchvision is the input convention of torchvision's ImageNet weights.
var Torchvision = Normalization{Order: "rgb", Scale: 1, Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225}}

// Spec lists the layer names and output channels of an architecture, up to
// relu4_3 (nothing later is needed).
type Spec struct {
	Name   string
	Layers []string
	Width  map[string]int // output channels of each conv
}

func vggSpec(name string, block3 int) Spec {
	s := Spec{Name: name, Width: map[string]int{}}
	add := func(block, n, w int) {
		for i := 1; i <= n; i++ {
			l := fmt.Sprintf("conv%d_%d", block, i)
			s.Layers = append(s.Layers, l)
			s.Width[l] = w
		}
	}
	add(1, 2, 64)
	s.Layers = append(s.Layers, "pool1")
	add(2, 2, 128)
	s.Layers = append(s.Layers, "pool2")
	add(3, block3, 256)
	s.Layers = append(s.Layers, "pool3")
	add(4, 3, 512)
	return s
}

// VGG16 and VGG19 are the two supported architectures, truncated after conv4_3.
var (
	VGG16 = vggSpec("vgg16", 3)
	VGG19 = vggSpec("vgg19", 4)
)

// MaxWidth and MaxParams bound what a converted file may ask for: 8 times
// the widest layer and the weights of VGG19 to conv4_3 (8.2 million), so
// a hostile file cannot make the converter allocate gigabytes.
const (
	MaxWidth  = 4096
	MaxParams = 1 << 26
)

// countParams adds an out x in x 3 x 3 conv's weights to total and fails
// past MaxParams.
func countParams(total *int64, out, in int64) error {
	*total += out * in * 9
	if *total > MaxParams {
		return fmt.Errorf("the convolutions hold more than %d million weights (a VGG to conv4_3 has 8.2 million)", MaxParams>>20)
	}
	return nil
}

// SpecFor returns the spec of a named architecture.
func SpecFor(arch string) (Spec, error) {
	switch arch {
	case "vgg16":
		return VGG16, nil
	case "vgg19":
		return VGG19, nil
	}
	return Spec{}, fmt.Errorf("unknown architecture %q (want vgg16 or vgg19)", arch)
}

// Build makes a model of the given spec with the weights returned by get,
// which is called with each conv name and its in/out channels.
func Build(spec Spec, norm Normalization, get func(name string, in, out int) (*Conv, error)) (*Model, error) {
	m := &Model{Arch: spec.Name, Input: norm, Taps: append([]string(nil), DefaultTaps...)}
	in := 3
	for _, name := range spec.Layers {
		if name[:4] == "pool" {
			m.Layers = append(m.Layers, Layer{Kind: "pool", Name: name})
			continue
		}
		out := spec.Width[name]
		c, err := get(name, in, out)
		if err != nil {
			return nil, err
		}
		if c.In != in || c.Out != out || len(c.Weight) != out*in*9 || len(c.Bias) != out {
			return nil, fmt.Errorf("%s: weight shape %dx%dx3x3 (bias %d), want %dx%dx3x3", name, c.Out, c.In, len(c.Bias), out, in)
		}
		m.Layers = append(m.Layers, Layer{Kind: "conv", Name: name, Conv: c})
		in = out
	}
	return m, nil
}

// Random returns a model with the layout of spec, channel widths divided by
// shrink (at least 2 each), and He-initialised weights from seed. It is for
// tests: small, deterministic, and exercising every code path.
func Random(spec Spec, shrink int, seed uint64) *Model {
	r := rand.New(rand.NewPCG(seed, 0x6e6e7374))
	small := Spec{Name: "tiny", Layers: spec.Layers, Width: map[string]int{}}
	for k, w := range spec.Width {
		small.Width[k] = max(2, w/shrink)
	}
	m, err := Build(small, Caffe, func(name string, in, out int) (*Conv, error) {
		c := &Conv{In: in, Out: out, Weight: make([]float32, out*in*9), Bias: make([]float32, out)}
		sd := math.Sqrt(2 / float64(in*9))
		for i := range c.Weight {
			c.Weight[i] = float32(r.NormFloat64() * sd)
		}
		for i := range c.Bias {
			c.Bias[i] = float32(r.NormFloat64() * 0.05)
		}
		return c, nil
	})
	if err != nil {
		panic(err)
	}
	m.Source = fmt.Sprintf("random(seed=%d, shrink=%d)", seed, shrink)
	return m
}

// Shapes returns a model with the layout of spec, channel widths divided
// by shrink (as Random), and no weights: for dry runs, which need only the
// shapes.
func Shapes(spec Spec, shrink int) *Model {
	m := &Model{Arch: spec.Name, Input: Caffe, Taps: append([]string(nil), DefaultTaps...), Source: "shapes only"}
	in := 3
	for _, name := range spec.Layers {
		if name[:4] == "pool" {
			m.Layers = append(m.Layers, Layer{Kind: "pool", Name: name})
			continue
		}
		out := max(2, spec.Width[name]/shrink)
		m.Layers = append(m.Layers, Layer{Kind: "conv", Name: name, Conv: &Conv{In: in, Out: out}})
		in = out
	}
	return m
}

// ReLU is the name the ReLU after conv layer l is tapped by: "relu1_1"
// after "conv1_1".
func (l Layer) ReLU() string { return "relu" + strings.TrimPrefix(l.Name, "conv") }

// TapOf returns, for each layer, its index in Taps, or -1; it fails if a
// tap is not the ReLU of one conv layer, or is listed twice.
func (m *Model) TapOf() ([]int, error) {
	of := make([]int, len(m.Layers))
	conv := map[string]int{} // conv layers by their ReLU's name
	for i, l := range m.Layers {
		of[i] = -1
		if l.Kind == "conv" {
			conv[l.ReLU()] = i
		}
	}
	for t, name := range m.Taps {
		i, ok := conv[name]
		if !ok {
			return nil, fmt.Errorf("tap %q is not produced by any layer", name)
		}
		if of[i] >= 0 {
			return nil, fmt.Errorf("tap %q is listed twice", name)
		}
		of[i] = t
	}
	return of, nil
}

// TapChannels returns the channel count of each tap, in tap order.
func (m *Model) TapChannels() ([]int, error) {
	of, err := m.TapOf()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(m.Taps))
	for i, t := range of {
		if t >= 0 {
			out[t] = m.Layers[i].Conv.Out
		}
	}
	return out, nil
}
