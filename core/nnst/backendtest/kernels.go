package backendtest

import (
	"fmt"
	"math"
	"testing"

	"nnst/core/conv"
	"nnst/core/cpu"
)

// Conv is one variant of a backend's conv kernels.
type Conv struct {
	Name string
	// New prepares a layer of shape s from OIHW weights and a bias; it
	// fails t where it cannot.
	New func(t *testing.T, s ConvShape, weight, bias []float32) ConvPasses
}

// ConvPasses are a prepared layer's passes; a nil pass does not apply to
// the variant at this shape (another variant runs it).
type ConvPasses struct {
	// Forward writes conv(in) + bias, then ReLU if relu, to out[:Out*H*W].
	Forward func(in []float32, relu bool, out []float32)
	// BackwardData writes the gradient with respect to the input of the
	// conv without bias and ReLU to dIn[:In*H*W].
	BackwardData func(dOut, dIn []float32)
}

// Passes are the passes of a cpu.Conv layer of shape s.
func Passes(s ConvShape, l cpu.Conv) ConvPasses {
	return ConvPasses{
		Forward:      func(in []float32, relu bool, out []float32) { l.Forward(in, s.H, s.W, relu, out) },
		BackwardData: func(dOut, dIn []float32) { l.BackwardData(dOut, s.H, s.W, dIn) },
	}
}

// KernelConv is the Conv of a cpu.Kernels.NewConv.
func KernelConv(name string, newConv func(in, out int, weight, bias []float32) cpu.Conv) Conv {
	return Conv{Name: name, New: func(_ *testing.T, s ConvShape, weight, bias []float32) ConvPasses {
		return Passes(s, newConv(s.In, s.Out, weight, bias))
	}}
}

// NearestFunc is a nearest-neighbour kernel, as cpu.Kernels.Nearest.
type NearestFunc func(a []float32, m, d int, q []float32, n int) (idx []int32, sim []float32)

// Nearest is one variant of a backend's nearest-neighbour kernel.
type Nearest struct {
	Name string
	// New returns the kernel; it fails t where it cannot.
	New func(t *testing.T) NearestFunc
}

// convData is a conv shape's random operands and reference results.
type convData struct {
	weight, bias, x, g []float32
	out, dIn           []float32 // forward without ReLU, backward data
}

func newConvData(i int, s ConvShape) *convData {
	seed := uint64(1000 + i)
	d := &convData{
		weight: randT(s.Out*s.In, 3, 3, seed).Data,
		bias:   randT(s.Out, 1, 1, seed+1).Data,
		x:      randT(s.In, s.H, s.W, seed+2).Data,
		g:      randT(s.Out, s.H, s.W, seed+3).Data,
		out:    make([]float32, s.Out*s.H*s.W),
		dIn:    make([]float32, s.In*s.H*s.W),
	}
	conv.ForwardRef(d.x, s.In, s.H, s.W, d.weight, d.bias, s.Out, false, d.out)
	conv.BackwardDataRef(d.g, s.Out, s.H, s.W, d.weight, s.In, d.dIn)
	return d
}

// stale returns n random values and 5 more past them: a pass must
// overwrite the first n and leave the rest.
func stale(n int) []float32 { return randT(1, 1, n+5, uint64(n)).Data }

// convCase runs every conv variant on every shape, both passes, against
// conv.ForwardRef and conv.BackwardDataRef.
func convCase(t *testing.T, s *state) {
	if len(s.cfg.Convs) == 0 {
		t.Fatal("no conv kernels given (Config.Convs) and no reason to skip")
	}
	tol := s.of(t, "out")
	data := make([]*convData, len(ConvShapes))
	for _, v := range s.cfg.Convs {
		t.Run(v.Name, func(t *testing.T) {
			for i, sh := range ConvShapes {
				if data[i] == nil {
					data[i] = newConvData(i, sh)
				}
				d := data[i]
				p := v.New(t, sh, d.weight, d.bias)
				name := fmt.Sprintf("%dx%d %dx%d", sh.In, sh.Out, sh.H, sh.W)
				if p.Forward != nil {
					for _, relu := range []bool{false, true} {
						want := d.out
						if relu {
							want = make([]float32, len(d.out))
							for j, v := range d.out {
								want[j] = max(v, 0)
							}
						}
						got := stale(len(want))
						tail := append([]float32(nil), got[len(want):]...)
						p.Forward(d.x, relu, got)
						closeTo(t, fmt.Sprintf("forward %s relu=%v", name, relu), got[:len(want)], want, tol)
						closeTo(t, fmt.Sprintf("forward %s: past the output", name), got[len(want):], tail, 0)
					}
				}
				if p.BackwardData != nil {
					got := stale(len(d.dIn))
					tail := append([]float32(nil), got[len(d.dIn):]...)
					p.BackwardData(d.g, got)
					closeTo(t, "backward-data "+name, got[:len(d.dIn)], d.dIn, tol)
					closeTo(t, fmt.Sprintf("backward-data %s: past the output", name), got[len(d.dIn):], tail, 0)
				}
				if t.Failed() {
					return
				}
			}
		})
	}
}

// nearestCase runs every nearest variant against a float64 search: the
// row found must have the best inner product (within the tolerance), the
// reported product must be it, and exact ties go to the lowest row.
func nearestCase(t *testing.T, s *state) {
	if len(s.cfg.Nearest) == 0 {
		t.Fatal("no nearest kernels given (Config.Nearest) and no reason to skip")
	}
	for _, v := range s.cfg.Nearest {
		t.Run(v.Name, func(t *testing.T) {
			find := v.New(t)
			for i, sh := range nearestShapes {
				a := randT(sh.m, 1, sh.d, uint64(2000+i)).Data
				q := randT(sh.d, 1, sh.n, uint64(2100+i)).Data
				if sh.m > 10 {
					copy(a[7*sh.d:8*sh.d], a[3*sh.d:4*sh.d])
				}
				idx, sim := find(a, sh.m, sh.d, q, sh.n)
				if len(idx) != sh.n || len(sim) != sh.n {
					t.Fatalf("m=%d d=%d n=%d: %d rows and %d products for %d queries", sh.m, sh.d, sh.n, len(idx), len(sim), sh.n)
				}
				tol := s.of(t, "product") * math.Sqrt(float64(sh.d))
				for j := 0; j < sh.n; j++ {
					bi, best, got := -1, math.Inf(-1), math.NaN()
					for r := 0; r < sh.m; r++ {
						var p float64
						for k := 0; k < sh.d; k++ {
							p += float64(a[r*sh.d+k]) * float64(q[k*sh.n+j])
						}
						if p > best {
							bi, best = r, p
						}
						if r == int(idx[j]) {
							got = p
						}
					}
					if !(math.Abs(got-best) <= tol && math.Abs(float64(sim[j])-best) <= tol) {
						t.Fatalf("m=%d d=%d n=%d query %d: row %d (product %g, reported %g), want row %d (%g)", sh.m, sh.d, sh.n, j, idx[j], got, sim[j], bi, best)
					}
					if bi == 3 && idx[j] == 7 {
						t.Fatalf("m=%d d=%d n=%d query %d: the tie went to row 7, want 3", sh.m, sh.d, sh.n, j)
					}
				}
			}
		})
	}
}

// refConv is a conv layer run by conv.ForwardRef and BackwardDataRef.
type refConv struct {
	in, out      int
	weight, bias []float32
}

func newRefConv(in, out int, weight, bias []float32) cpu.Conv {
	return &refConv{in, out, weight, bias}
}

func (c *refConv) Forward(in []float32, h, w int, relu bool, out []float32) {
	conv.ForwardRef(in, c.in, h, w, c.weight, c.bias, c.out, relu, out)
}

func (c *refConv) BackwardData(dOut []float32, h, w int, dIn []float32) {
	conv.BackwardDataRef(dOut, c.out, h, w, c.weight, c.in, dIn)
}

// refNearest is cpu.Kernels.Nearest with plain loops in float64.
func refNearest(a []float32, m, d int, q []float32, n int) ([]int32, []float32) {
	idx := make([]int32, n)
	sim := make([]float32, n)
	for j := 0; j < n; j++ {
		best := math.Inf(-1)
		for i := 0; i < m; i++ {
			var p float64
			for k := 0; k < d; k++ {
				p += float64(a[i*d+k]) * float64(q[k*n+j])
			}
			if p > best {
				best, idx[j] = p, int32(i)
			}
		}
		sim[j] = float32(best)
	}
	return idx, sim
}
