package gemm

import (
	"fmt"
	"math"
	"math/rand"
	"testing"
)

func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

func check(t *testing.T, name string, got, want []float32, k int) {
	t.Helper()
	tol := 1e-5 * float64(k+1)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: c[%d] = %v, want %v", name, i, got[i], want[i])
		}
	}
}

func runCase(t *testing.T, r *rand.Rand, par, ta, tb bool, m, n, k int, alpha, beta float32) {
	lda, ldb, ldc := k+3, n+2, n+5
	if ta {
		lda = m + 1
	}
	if tb {
		ldb = k + 4
	}
	arows, brows := m, k
	if ta {
		arows = k
	}
	if tb {
		brows = n
	}
	a := randSlice(r, arows*lda)
	b := randSlice(r, brows*ldb)
	c := randSlice(r, m*ldc)
	if beta == 0 {
		for i := range c {
			if i%3 == 0 {
				c[i] = float32(math.NaN())
			}
		}
	}
	want := append([]float32(nil), c...)
	naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, want, ldc)
	if par {
		SgemmParallel(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	} else {
		Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	}
	// padding columns must be untouched
	for i := 0; i < m; i++ {
		for j := n; j < ldc; j++ {
			if c[i*ldc+j] != want[i*ldc+j] && !(math.IsNaN(float64(c[i*ldc+j])) && math.IsNaN(float64(want[i*ldc+j]))) {
				t.Fatalf("wrote outside C at (%d,%d)", i, j)
			}
		}
	}
	for i := 0; i < m; i++ {
		check(t, fmt.Sprintf("par=%v ta=%v tb=%v m=%d n=%d k=%d alpha=%v beta=%v", par, ta, tb, m, n, k, alpha, beta), c[i*ldc:i*ldc+n], want[i*ldc:i*ldc+n], k)
	}
}

func forBothKernels(t *testing.T, f func(t *testing.T)) {
	old := UseAsm
	defer func() { UseAsm = old }()
	for _, asm := range []bool{true, false} {
		if asm && !old {
			continue
		}
		UseAsm = asm
		t.Run(fmt.Sprintf("asm=%v", asm), f)
	}
}

func TestSgemm(t *testing.T) {
	forBothKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(1))
		sizes := []int{1, 7, 17, 33, 100}
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for _, m := range sizes {
					for _, n := range sizes {
						for _, k := range sizes {
							runCase(t, r, false, ta, tb, m, n, k, 1, 0)
						}
					}
				}
				for _, ab := range [][2]float32{{1, 1}, {0.5, -2}, {-1.5, 0}, {0, 0.5}, {2, 0}} {
					runCase(t, r, false, ta, tb, 37, 45, 29, ab[0], ab[1])
				}
			}
		}
	})
}

func TestSgemmBlocks(t *testing.T) {
	// sizes crossing the kc/mc/nc block edges
	forBothKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewSource(2))
		runCase(t, r, false, false, false, mc+7, 50, kc+13, 1, 0.5)
		runCase(t, r, false, true, true, 13, nc+21, 2*kc+1, 1, 0)
		runCase(t, r, false, true, false, 2*mc+1, 33, 600, -1, 1)
	})
}

func TestSgemmParallel(t *testing.T) {
	defer SetThreads(0)
	r := rand.New(rand.NewSource(3))
	for _, th := range []int{1, 2, 3, 5} {
		SetThreads(th)
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				runCase(t, r, true, ta, tb, 100, 170, 90, 1, 0)
				runCase(t, r, true, ta, tb, 170, 100, 33, 0.5, 2)
				runCase(t, r, true, ta, tb, 7, 300, 300, 1, 1)
			}
		}
	}
}

func TestK0(t *testing.T) {
	c := []float32{1, 2, 3, float32(math.NaN())}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 0, c, 2)
	for _, v := range c {
		if v != 0 {
			t.Fatal(c)
		}
	}
	c = []float32{1, 2, 3, 4}
	Sgemm(false, false, 2, 2, 0, 1, nil, 1, nil, 2, 2, c, 2)
	if c[3] != 8 {
		t.Fatal(c)
	}
}

func benchSgemm(b *testing.B, m, n, k int, par bool) {
	r := rand.New(rand.NewSource(1))
	a := randSlice(r, m*k)
	bb := randSlice(r, k*n)
	c := make([]float32, m*n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if par {
			SgemmParallel(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
		} else {
			Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
		}
	}
	b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkSgemm(b *testing.B) {
	for _, s := range [][3]int{{64, 4096, 576}, {256, 1024, 2304}, {512, 1024, 4608}, {1024, 1024, 1024}} {
		b.Run(fmt.Sprintf("%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) { benchSgemm(b, s[0], s[1], s[2], false) })
		b.Run(fmt.Sprintf("par-%dx%dx%d", s[0], s[1], s[2]), func(b *testing.B) { benchSgemm(b, s[0], s[1], s[2], true) })
	}
}
