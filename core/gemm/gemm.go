// Package gemm is a single-precision matrix multiply (BLIS-style: packed
// panels, cache blocking, register-tiled micro-kernel), row-major.
package gemm

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Micro-tile and cache block sizes. mc is a multiple of mr, nc of nr.
const (
	mr = 6
	nr = 16
	kc = 256
	mc = 144
	nc = 4080
)

var threads atomic.Int64

// SetThreads sets the goroutine count for the parallel entry points;
// n <= 0 restores the default, runtime.GOMAXPROCS(0).
func SetThreads(n int) { threads.Store(int64(n)) }

// Threads returns the goroutine count used by SgemmParallel and the conv package.
func Threads() int {
	if n := int(threads.Load()); n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

// Sgemm computes C = alpha*op(A)*op(B) + beta*C; op(X) is X or X^T; A is
// m x k after op, B is k x n after op; row-major with leading dimensions.
// With beta == 0, C is overwritten (NaNs in C are ignored).
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	if k <= 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	w := getWork(m, n, k)
	defer putWork(w)
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			packB(transB, b, ldb, p0, kb, j0, nb, w.b)
			be := beta
			if p0 > 0 {
				be = 1
			}
			for i0 := 0; i0 < m; i0 += mc {
				mb := min(mc, m-i0)
				packA(transA, a, lda, i0, mb, p0, kb, w.a)
				macro(mb, nb, kb, alpha, w.a, w.b, be, c[i0*ldc+j0:], ldc)
			}
		}
	}
}

// SgemmParallel is Sgemm split over Threads() goroutines.
func SgemmParallel(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	t := Threads()
	if t <= 1 || m <= 0 || n <= 0 || int64(m)*int64(n)*int64(max(k, 1)) < 64*64*64 {
		Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	var wg sync.WaitGroup
	if n >= m {
		step := roundUp((n+t-1)/t, nr)
		for j0 := 0; j0 < n; j0 += step {
			nb := min(step, n-j0)
			bo := j0
			if transB {
				bo = j0 * ldb
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				Sgemm(transA, transB, m, nb, k, alpha, a, lda, b[bo:], ldb, beta, c[j0:], ldc)
			}()
		}
	} else {
		step := roundUp((m+t-1)/t, mr)
		for i0 := 0; i0 < m; i0 += step {
			mb := min(step, m-i0)
			ao := i0 * lda
			if transA {
				ao = i0
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				Sgemm(transA, transB, mb, n, k, alpha, a[ao:], lda, b, ldb, beta, c[i0*ldc:], ldc)
			}()
		}
	}
	wg.Wait()
}

func roundUp(x, r int) int { return (x + r - 1) / r * r }

func scaleC(m, n int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
		} else if beta != 1 {
			for j := range row {
				row[j] *= beta
			}
		}
	}
}

type work struct{ a, b []float32 }

var workPool sync.Pool

func getWork(m, n, k int) *work {
	na := roundUp(min(m, mc), mr) * min(k, kc)
	nb := roundUp(min(n, nc), nr) * min(k, kc)
	w, _ := workPool.Get().(*work)
	if w == nil {
		w = &work{}
	}
	if cap(w.a) < na {
		w.a = make([]float32, na)
	}
	if cap(w.b) < nb {
		w.b = make([]float32, nb)
	}
	w.a, w.b = w.a[:na], w.b[:nb]
	return w
}

func putWork(w *work) { workPool.Put(w) }

// packA packs rows [i0,i0+mb) x cols [p0,p0+kb) of op(A) into mr-row panels,
// each stored k-major (mr values per k), zero-padded to a multiple of mr rows.
func packA(trans bool, a []float32, lda, i0, mb, p0, kb int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : ir*kb+mr*kb]
		if !trans {
			if rows == mr {
				r0 := a[(i0+ir)*lda+p0:]
				r1 := a[(i0+ir+1)*lda+p0:]
				r2 := a[(i0+ir+2)*lda+p0:]
				r3 := a[(i0+ir+3)*lda+p0:]
				r4 := a[(i0+ir+4)*lda+p0:]
				r5 := a[(i0+ir+5)*lda+p0:]
				r0, r1, r2, r3, r4, r5 = r0[:kb], r1[:kb], r2[:kb], r3[:kb], r4[:kb], r5[:kb]
				for p := 0; p < kb; p++ {
					q := d[p*mr : p*mr+mr : p*mr+mr]
					q[0], q[1], q[2], q[3], q[4], q[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
				}
				continue
			}
			for i := 0; i < mr; i++ {
				if i >= rows {
					for p := 0; p < kb; p++ {
						d[p*mr+i] = 0
					}
					continue
				}
				r := a[(i0+ir+i)*lda+p0:]
				r = r[:kb]
				for p, v := range r {
					d[p*mr+i] = v
				}
			}
			continue
		}
		// op(A)[i][p] = a[p*lda+i]
		for p := 0; p < kb; p++ {
			q := d[p*mr : p*mr+mr : p*mr+mr]
			src := a[(p0+p)*lda+i0+ir:]
			src = src[:rows]
			n := copy(q, src)
			clear(q[n:])
		}
	}
}

// packB packs rows [p0,p0+kb) x cols [j0,j0+nb) of op(B) into nr-column
// panels, each stored k-major (nr values per k), zero-padded to nr columns.
func packB(trans bool, b []float32, ldb, p0, kb, j0, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : jr*kb+nr*kb]
		if !trans {
			for p := 0; p < kb; p++ {
				q := d[p*nr : p*nr+nr : p*nr+nr]
				src := b[(p0+p)*ldb+j0+jr:]
				n := copy(q, src[:cols])
				clear(q[n:])
			}
			continue
		}
		// op(B)[p][j] = b[j*ldb+p]
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					d[p*nr+j] = 0
				}
				continue
			}
			src := b[(j0+jr+j)*ldb+p0:]
			src = src[:kb]
			for p, v := range src {
				d[p*nr+j] = v
			}
		}
	}
}

// macro multiplies a packed mb x kb block of A by a packed kb x nb block of B
// into C (C = alpha*A*B + beta*C).
func macro(mb, nb, kb int, alpha float32, pa, pb []float32, beta float32, c []float32, ldc int) {
	var tmp [mr * nr]float32
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bp := pb[jr*kb : jr*kb+nr*kb]
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			ap := pa[ir*kb : ir*kb+mr*kb]
			if rows == mr && cols == nr {
				kernel(kb, ap, bp, c[ir*ldc+jr:], ldc, alpha, beta)
				continue
			}
			kernel(kb, ap, bp, tmp[:], nr, 1, 0)
			for i := 0; i < rows; i++ {
				row := c[(ir+i)*ldc+jr:]
				row = row[:cols]
				t := tmp[i*nr : i*nr+cols]
				if beta == 0 {
					for j := range row {
						row[j] = alpha * t[j]
					}
				} else {
					for j := range row {
						row[j] = alpha*t[j] + beta*row[j]
					}
				}
			}
		}
	}
}

// kernelGo is the portable micro-kernel: the mr x nr tile
// C = alpha*A*B + beta*C from packed panels. It works on 2x4 sub-tiles so
// that the accumulators stay in registers.
func kernelGo(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	var acc [mr][nr]float32
	a = a[:k*mr]
	b = b[:k*nr]
	for i0 := 0; i0 < mr; i0 += 2 {
		for j0 := 0; j0 < nr; j0 += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p := 0; p < k; p++ {
				bv := (*[4]float32)(b[p*nr+j0:])
				av := (*[2]float32)(a[p*mr+i0:])
				b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
				x, y := av[0], av[1]
				c00 += x * b0
				c01 += x * b1
				c02 += x * b2
				c03 += x * b3
				c10 += y * b0
				c11 += y * b1
				c12 += y * b2
				c13 += y * b3
			}
			*(*[4]float32)(acc[i0][j0:]) = [4]float32{c00, c01, c02, c03}
			*(*[4]float32)(acc[i0+1][j0:]) = [4]float32{c10, c11, c12, c13}
		}
	}
	for i := 0; i < mr; i++ {
		row := (*[nr]float32)(c[i*ldc:])
		if beta == 0 {
			for j := 0; j < nr; j++ {
				row[j] = alpha * acc[i][j]
			}
		} else {
			for j := 0; j < nr; j++ {
				row[j] = alpha*acc[i][j] + beta*row[j]
			}
		}
	}
}
