package cpu_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"nnst/core/conv"
	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// countConv wraps conv.Layer and counts its calls.
type countConv struct {
	*conv.Layer
	fwd, bwd *int
}

func (c countConv) Forward(in []float32, h, w int, relu bool, out []float32) {
	*c.fwd++
	c.Layer.Forward(in, h, w, relu, out)
}

func (c countConv) BackwardData(dOut []float32, h, w int, dIn []float32) {
	*c.bwd++
	c.Layer.BackwardData(dOut, h, w, dIn)
}

// bruteNearest is a plain-loop Nearest.
func bruteNearest(a []float32, m, d int, q []float32, n int) ([]int32, []float32) {
	idx := make([]int32, n)
	sim := make([]float32, n)
	for j := 0; j < n; j++ {
		best := float32(-1e30)
		for i := 0; i < m; i++ {
			var s float32
			for k := 0; k < d; k++ {
				s += a[i*d+k] * q[k*n+j]
			}
			if s > best {
				best, idx[j] = s, int32(i)
			}
		}
		sim[j] = best
	}
	return idx, sim
}

// NewWith must route every conv and search through the given kernels and
// give the same results as the default backend.
func TestNewWithKernels(t *testing.T) {
	var fwd, bwd, near, net int
	failed := errors.New("kernel failed")
	var kerr error
	k := cpu.Kernels{
		Name: "counting",
		NewConv: func(in, out int, w, b []float32) cpu.Conv {
			return countConv{conv.NewLayer(in, out, w, b), &fwd, &bwd}
		},
		Nearest: func(a []float32, m, d int, q []float32, n int) ([]int32, []float32) {
			near++
			return bruteNearest(a, m, d, q, n)
		},
		Forward: func(x *tensor.T, layers []model.Layer, convs []cpu.Conv, need []bool, idx bool, each func(int, *tensor.T)) ([]*tensor.T, [][]int32) {
			net++
			return cpu.Layers(x, layers, convs, need, idx, each)
		},
		Err: func() error { return kerr },
	}
	m := model.Random(model.VGG19, 16, 3)
	r := rand.New(rand.NewPCG(1, 2))
	img := randT(r, 3, 24, 20)
	for i := range img.Data {
		img.Data[i] = r.Float32()
	}
	run := func(be *cpu.Backend) (taps []*tensor.T, grad, match, split *tensor.T) {
		if err := be.LoadModel(m); err != nil {
			t.Fatal(err)
		}
		tr := be.Forward(be.Upload(img), true)
		g := make([]nnst.Tensor, len(tr.Taps))
		for i, x := range tr.Taps {
			taps = append(taps, down(t, be, x))
			c, h, w := x.Shape()
			g[i] = be.Upload(randT(rand.New(rand.NewPCG(uint64(i), 9)), c, h, w))
		}
		st := be.Forward(be.Upload(img), false)
		bank := newBank(be, st.Taps[0])
		match = down(t, be, be.Match(bank, tr.Taps[0]))
		_, sg := be.SplitLoss(tr.Taps[2], st.Taps[2:3], nnst.Sample{Stride: 2})
		split = down(t, be, sg)
		grad = down(t, be, be.Backward(tr, func(l int) nnst.Tensor { return g[l] }))
		return
	}
	be := cpu.NewWith(k)
	if be.Name() != "counting" {
		t.Errorf("Name() = %q", be.Name())
	}
	taps, grad, match, split := run(be)
	// Convs against the default backend; the searches against one that uses
	// the same plain search (near-ties may go either way otherwise).
	wTaps, wGrad, _, _ := run(cpu.New())
	_, _, wMatch, wSplit := run(cpu.NewWith(cpu.Kernels{Nearest: bruteNearest}))
	if fwd == 0 || bwd == 0 || near != 2 || net != 2 {
		t.Errorf("hooks called: conv forward %d, backward %d, nearest %d, network forward %d (want >0, >0, 2, 2)", fwd, bwd, near, net)
	}
	check := func(what string, got, want *tensor.T) {
		var scale float64
		for _, v := range want.Data {
			scale = max(scale, math.Abs(float64(v)))
		}
		for i := range want.Data {
			if math.Abs(float64(got.Data[i]-want.Data[i])) > 1e-5*scale {
				t.Errorf("%s[%d] = %g, want %g", what, i, got.Data[i], want.Data[i])
				return
			}
		}
	}
	for i := range taps {
		check("tap", taps[i], wTaps[i])
	}
	check("grad", grad, wGrad)
	check("match", match, wMatch)
	check("split grad", split, wSplit)
	if be.Err() != nil {
		t.Fatal(be.Err())
	}
	kerr = failed
	if !errors.Is(be.Err(), failed) {
		t.Errorf("Err() = %v, want the kernels' error", be.Err())
	}
	if cpu.New().Name() != "cpu" || cpu.New().Err() != nil {
		t.Error("default backend: wrong name or error")
	}
}
