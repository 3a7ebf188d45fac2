package conv

import (
	"fmt"
	"math"
	"math/rand"
	"testing"

	"nnst/core/gemm"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func closeTo(t *testing.T, name string, got, want []float32) {
	t.Helper()
	var scale float64
	for _, v := range want {
		scale = max(scale, math.Abs(float64(v)))
	}
	for i := range want {
		d := math.Abs(float64(got[i] - want[i]))
		if !(d <= 1e-4*scale+1e-6) {
			t.Fatalf("%s: [%d] = %v, want %v (scale %v)", name, i, got[i], want[i], scale)
		}
	}
}

type shape struct{ cin, cout, h, w int }

var shapes = []shape{
	{3, 8, 9, 11}, {3, 64, 16, 16}, {5, 7, 1, 1}, {1, 1, 1, 5}, {2, 3, 7, 1},
	{16, 17, 13, 7}, {33, 19, 5, 9}, {64, 40, 12, 12}, {70, 30, 3, 31}, {20, 150, 17, 19}, {150, 7, 4, 33}, {8, 12, 3, 16}, {4, 6, 5, 32},
}

func forBoth(t *testing.T, f func(t *testing.T)) {
	old := gemm.UseAsm
	defer func() { gemm.UseAsm = old; gemm.SetThreads(0) }()
	for _, asm := range []bool{true, false} {
		if asm && !old {
			continue
		}
		for _, th := range []int{1, 2, 3} {
			gemm.UseAsm = asm
			gemm.SetThreads(th)
			t.Run(fmt.Sprintf("asm=%v/threads=%d", asm, th), f)
		}
	}
}

func TestForward(t *testing.T) {
	forBoth(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(1))
		for _, s := range shapes {
			wt := randSlice(r, s.cout*s.cin*9)
			b := randSlice(r, s.cout)
			l := NewLayer(s.cin, s.cout, wt, b)
			in := randSlice(r, s.cin*s.h*s.w)
			for _, relu := range []bool{false, true} {
				want := make([]float32, s.cout*s.h*s.w)
				ForwardRef(in, s.cin, s.h, s.w, wt, b, s.cout, relu, want)
				got := randSlice(r, len(want)+5)
				tail := append([]float32(nil), got[len(want):]...)
				l.Forward(in, s.h, s.w, relu, got)
				closeTo(t, fmt.Sprintf("%+v relu=%v", s, relu), got[:len(want)], want)
				closeTo(t, "beyond out", got[len(want):], tail)
			}
		}
	})
}

func TestBackwardData(t *testing.T) {
	forBoth(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(2))
		for _, s := range shapes {
			wt := randSlice(r, s.cout*s.cin*9)
			l := NewLayer(s.cin, s.cout, wt, make([]float32, s.cout))
			dOut := randSlice(r, s.cout*s.h*s.w)
			want := make([]float32, s.cin*s.h*s.w)
			BackwardDataRef(dOut, s.cout, s.h, s.w, wt, s.cin, want)
			got := randSlice(r, len(want)+5)
			tail := append([]float32(nil), got[len(want):]...)
			l.BackwardData(dOut, s.h, s.w, got)
			closeTo(t, fmt.Sprintf("%+v", s), got[:len(want)], want)
			closeTo(t, "beyond dIn", got[len(want):], tail)
		}
	})
}

// TestAdjoint checks <conv(x), y> == <x, BackwardData(y)> with zero bias.
func TestAdjoint(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, s := range append(shapes, shape{128, 64, 20, 18}) {
		wt := randSlice(r, s.cout*s.cin*9)
		l := NewLayer(s.cin, s.cout, wt, make([]float32, s.cout))
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
		l := NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9), randSlice(r, s.cout))
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
	l := NewLayer(s.cin, s.cout, wt, b)
	in := randSlice(r, s.cin*s.h*s.w)
	want := make([]float32, s.cout*s.h*s.w)
	ForwardRef(in, s.cin, s.h, s.w, wt, b, s.cout, true, want)
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
	l := NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9), randSlice(r, s.cout))
	in := randSlice(r, s.cin*s.h*s.w)
	out := randSlice(r, s.cout*s.h*s.w)
	for i := 0; i < b.N; i++ {
		l.Forward(in, s.h, s.w, true, out)
	}
	b.ReportMetric(2*float64(s.cin*s.cout*9)*float64(s.h*s.w)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
