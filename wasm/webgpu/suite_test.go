//go:build js && wasm

package webgpu

import (
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
	"nnst/core/tensor"
)

// suite is the backend suite's configuration for this backend; only, if
// given, picks cases.
func suite(cover *convCover, only ...string) backendtest.Config {
	return backendtest.Config{
		New:   func(*testing.T) nnst.Backend { return gpu },
		Convs: gpuConvs(cover),
		Half:  true,
		Skip: map[string]string{
			"nearest": "the search runs on the device, never as a host kernel: the match and search cases test it",
		},
		Only: only,
	}
}

// TestSuite runs the backend suite, then its match and search cases again
// with banks in several parts and its compact case with style copies in
// host memory.
func TestSuite(t *testing.T) {
	var cover convCover
	backendtest.Run(t, suite(&cover))
	cover.check(t)
	defer func() { gpu.partLimit, gpu.hostStride = 0, hostStride }()
	t.Run("parts", func(t *testing.T) {
		gpu.partLimit = 700 * 24 * 2 // about 700 rows of 24 channels a part
		backendtest.Run(t, suite(nil, "match"))
		gpu.partLimit = 64 * 96 * 2 // 64 rows of the widest fp16 hypercolumns (fewer rows make no part)
		backendtest.Run(t, suite(nil, "search"))
		gpu.partLimit = 0
	})
	t.Run("host", func(t *testing.T) {
		gpu.hostStride = 2
		backendtest.Run(t, suite(nil, "compact"))
	})
	// Tensors in channel parts: a binding of 11 x 256 bytes holds 4
	// channels of most of the cases' tensors, one of 23 x 256 4 channels
	// of the network case's second block (its first has 4).
	full := gpu.binding
	defer func() { gpu.binding = full }()
	t.Run("tensors in parts", func(t *testing.T) {
		gpu.binding = 11 * 256 // buffers of other kinds may be larger
		gpu.hostStride, gpu.parted = hostStride, 0
		backendtest.Run(t, suite(nil, "upload", "axpby", "rot90", "resize", "channelmean", "hypercolumns", "hypercolumnloss", "splitloss", "compact", "match", "search"))
		gpu.hostStride = 2
		backendtest.Run(t, suite(nil, "compact"))
		gpu.binding, gpu.hostStride, gpu.blocks = 23*256, hostStride, 0
		backendtest.Run(t, suite(nil, "network"))
		if gpu.parted == 0 || gpu.blocks == 0 {
			t.Errorf("%d tensors split, %d conv blocks", gpu.parted, gpu.blocks)
		}
	})
}

// TestGridSplit lowers the workgroups-per-dimension limit the backend uses
// so that element kernels take their 2-D grids and conv its z split.
func TestGridSplit(t *testing.T) {
	old := gpu.Limits.MaxComputeWorkgroupsPerDim
	gpu.Limits.MaxComputeWorkgroupsPerDim = 1
	defer func() { gpu.Limits.MaxComputeWorkgroupsPerDim = old }()
	backendtest.Run(t, suite(nil, "conv", "resize", "upload", "axpby", "rot90"))
}

// convCover counts the conv passes the suite ran by each kind of kernel.
type convCover struct {
	direct, narrow, split, nosplit int
	blocks                         int // on tensors in parts
	winoFwd, winoBwd, winoTr       int // Winograd's: forward, backward with its own weights, with the forward's
}

// check fails t unless the suite's shapes ran every kind (where the conv
// case ran).
func (c *convCover) check(t *testing.T) {
	if *c == (convCover{}) {
		return
	}
	t.Logf("conv passes: %+v", *c)
	if c.direct == 0 || c.narrow == 0 || c.split == 0 || c.nosplit == 0 || c.blocks == 0 || c.winoFwd == 0 || c.winoBwd == 0 || c.winoTr == 0 {
		t.Errorf("the conv shapes leave a kind of pass untested: %+v", *c)
	}
}

// count counts a pass with weights cw of cin to cout channels.
func (c *convCover) count(cw convWeights, forward bool, h, w, cin, cout int, blocks bool) {
	if c == nil {
		return
	}
	if blocks {
		c.blocks++
		return
	}
	_, _, split, _ := convGrid(h, w, cin, cout, cw.wino, cw.step)
	switch {
	case cout <= narrowConv:
		c.narrow++
	case cw.nosplit:
		c.nosplit++
	case split > 1:
		c.split++
	}
	switch {
	case cw.tr:
		c.winoTr++
	case cw.wino && forward:
		c.winoFwd++
	case cw.wino:
		c.winoBwd++
	default:
		c.direct++
	}
}

// gpuConvs are the conv kernels as the suite's variants: direct and
// Winograd's, with each K step, without split K, and on tensors in channel
// parts of 8 (blocks, K step 1). A variant runs a pass only where it differs from
// the others: Winograd's where the conv takes it, without split K where
// the grid is split, in blocks where a tensor has more than 8 channels.
func gpuConvs(cover *convCover) []backendtest.Conv {
	var out []backendtest.Conv
	for _, wino := range []bool{false, true} {
		for _, step := range gpu.convSteps() {
			for _, mode := range []string{"", ", K not split", ", in blocks"} {
				if mode == ", in blocks" && step != 1 {
					continue // the K step does not change how a block reads its weights
				}
				cw := convWeights{wino: wino, convRun: convRun{step: step, nosplit: mode == ", K not split"}}
				blocks := mode == ", in blocks"
				out = append(out, backendtest.Conv{Name: kernelName(cw) + mode, New: func(t *testing.T, s backendtest.ConvShape, wt, bias []float32) backendtest.ConvPasses {
					return gpuConv(t, cover, s, wt, bias, cw, blocks)
				}})
			}
		}
	}
	return out
}

// gpuConv loads a one-conv model with the weights and returns the passes
// that variant v (its wino, step and nosplit; in parts of 8 channels if
// blocks) runs at shape s.
func gpuConv(t *testing.T, cover *convCover, s backendtest.ConvShape, wt, bias []float32, v convWeights, blocks bool) backendtest.ConvPasses {
	planes := int64(8*s.H*s.W*4+255) &^ 255 // a binding of 8 channels
	runs := func(in, out int) bool {
		if (v.wino && winoConv(in, out)) != v.wino {
			return false
		}
		if blocks {
			return partChans(in, s.H, s.W, planes) < in || partChans(out, s.H, s.W, planes) < out
		}
		_, _, split, _ := convGrid(s.H, s.W, in, out, v.wino, v.step)
		return !v.nosplit || split > 1 && out > narrowConv
	}
	fwd, bwd := runs(s.In, s.Out), runs(s.Out, s.In)
	if !fwd && !bwd {
		return backendtest.ConvPasses{}
	}
	gpu.wino = v.wino
	defer func() { gpu.wino = winoDefault }()
	m := &model.Model{Layers: []model.Layer{{Kind: "conv", Name: "conv1_1", Conv: &model.Conv{In: s.In, Out: s.Out, Weight: wt, Bias: bias}}}, Taps: []string{"relu1_1"}, Input: model.Torchvision}
	if err := gpu.LoadModel(m); err != nil {
		t.Fatal(err)
	}
	cl := gpu.convs[0]
	if cl.fwd.wino != (v.wino && winoConv(s.In, s.Out)) || cl.bwd.wino != (v.wino && winoConv(s.Out, s.In)) || cl.bwd.tr != (cl.fwd.wino && cl.bwd.wino) {
		t.Fatalf("%dx%d: Winograd weights %+v %+v with wino %v", s.In, s.Out, cl.fwd, cl.bwd, v.wino)
	}
	// run runs a pass: forward (with the bias) or backward-data.
	run := func(forward bool, x []float32, relu bool, y []float32) {
		cw, b, cin, cout := cl.fwd, cl.bias, s.In, s.Out
		if !forward {
			cw, b, cin, cout = cl.bwd, nil, s.Out, s.In
		}
		cw.convRun = v.convRun
		cover.count(cw, forward, s.H, s.W, cin, cout, blocks)
		if blocks {
			full := gpu.binding
			gpu.binding = planes
			defer func() { gpu.binding = full }()
		}
		gx := gpu.Upload(&tensor.T{C: cin, H: s.H, W: s.W, Data: x[:cin*s.H*s.W]})
		d0, b0 := gpu.Dispatches(), gpu.blocks
		gy := gpu.conv(gx.(*Tensor), cw, b, cin, cout, relu)
		if d := gpu.Dispatches() - d0; v.nosplit && d != 1 {
			t.Errorf("%dx%d %dx%d without split K: %d dispatches, want 1", cin, cout, s.H, s.W, d)
		}
		if n, parted := gpu.blocks-b0, gx.(*Tensor).parts != nil || gy.parts != nil; blocks && (n == 0) != !parted {
			t.Errorf("%dx%d %dx%d in blocks: %d blocks, tensors in parts %v", cin, cout, s.H, s.W, n, parted)
		}
		got := down(t, gy)
		gpu.Free(gx, gy)
		copy(y, got.Data)
	}
	var p backendtest.ConvPasses
	if fwd {
		p.Forward = func(in []float32, relu bool, out []float32) { run(true, in, relu, out) }
	}
	if bwd {
		p.BackwardData = func(dOut, dIn []float32) { run(false, dOut, false, dIn) }
	}
	return p
}
