package conv_test

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"nnst/core/conv"
	"nnst/core/gemm"
	"nnst/core/nnst/backendtest"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

type shape struct{ cin, cout, h, w int }

// TestAdjoint checks <conv(x), y> == <x, BackwardData(y)> with zero bias,
// on the backend suite's shapes (which compares each pass with ForwardRef
// and BackwardDataRef).
func TestAdjoint(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range backendtest.ConvShapes {
		s := shape{c.In, c.Out, c.H, c.W}
		wt := randSlice(r, s.cout*s.cin*9)
		l := conv.NewLayer(s.cin, s.cout, wt, make([]float32, s.cout))
		x := randSlice(r, s.cin*s.h*s.w)
		y := randSlice(r, s.cout*s.h*s.w)
		cx := make([]float32, len(y))
		l.Forward(x, s.h, s.w, false, cx)
		by := make([]float32, len(x))
		l.BackwardData(y, s.h, s.w, by)
		var a, b, na float64
		for i := range y {
			a += float64(cx[i]) * float64(y[i])
			na += math.Abs(float64(cx[i]) * float64(y[i]))
		}
		for i := range x {
			b += float64(x[i]) * float64(by[i])
		}
		if math.Abs(a-b) > 1e-5*na {
			t.Fatalf("%+v: <conv x, y> = %v, <x, conv^T y> = %v", s, a, b)
		}
	}
}

func BenchmarkConv(b *testing.B) {
	for _, s := range []shape{{3, 64, 256, 256}, {64, 64, 256, 256}, {64, 128, 128, 128}, {128, 128, 128, 128}, {128, 256, 64, 64}, {256, 256, 64, 64}, {256, 512, 32, 32}, {512, 512, 32, 32}} {
		r := rand.New(rand.NewSource(1))
		l := conv.NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9), randSlice(r, s.cout))
		in := randSlice(r, s.cin*s.h*s.w)
		out := randSlice(r, s.cout*s.h*s.w)
		flops := 2 * float64(s.cin*s.cout*9) * float64(s.h*s.w)
		name := fmt.Sprintf("%d-%d-%dx%d", s.cin, s.cout, s.h, s.w)
		b.Run("fwd/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.Forward(in, s.h, s.w, true, out)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		b.Run("bwd/"+name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				l.BackwardData(out, s.h, s.w, in)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestConcurrent runs one layer from several goroutines at once.
func TestConcurrent(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	s := shape{24, 20, 19, 21}
	wt := randSlice(r, s.cout*s.cin*9)
	b := randSlice(r, s.cout)
	l := conv.NewLayer(s.cin, s.cout, wt, b)
	in := randSlice(r, s.cin*s.h*s.w)
	want := make([]float32, s.cout*s.h*s.w)
	conv.ForwardRef(in, s.cin, s.h, s.w, wt, b, s.cout, true, want)
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		go func() {
			got := make([]float32, len(want))
			for i := 0; i < 5; i++ {
				l.Forward(in, s.h, s.w, true, got)
			}
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-3 {
					errs <- fmt.Sprintf("[%d] = %v, want %v", i, got[i], want[i])
					return
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < 4; g++ {
		if e := <-errs; e != "" {
			t.Fatal(e)
		}
	}
}

func BenchmarkConvGo(b *testing.B) {
	old := gemm.UseAsm
	gemm.UseAsm = false
	defer func() { gemm.UseAsm = old }()
	s := shape{128, 128, 64, 64}
	r := rand.New(rand.NewSource(1))
	l := conv.NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9), randSlice(r, s.cout))
	in := randSlice(r, s.cin*s.h*s.w)
	out := randSlice(r, s.cout*s.h*s.w)
	for i := 0; i < b.N; i++ {
		l.Forward(in, s.h, s.w, true, out)
	}
	b.ReportMetric(2*float64(s.cin*s.cout*9)*float64(s.h*s.w)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
