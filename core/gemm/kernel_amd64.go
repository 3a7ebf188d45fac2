package gemm

import "golang.org/x/sys/cpu"

// UseAsm selects the AVX2/FMA micro-kernel; it defaults to true when the CPU
// supports it. Set it to false to force the pure-Go path.
var UseAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha, beta float32)

func kernel(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	if UseAsm && k > 0 {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[(mr-1)*ldc+nr-1]
		kernel6x16(k, &a[0], &b[0], &c[0], ldc, alpha, beta)
		return
	}
	kernelGo(k, a, b, c, ldc, alpha, beta)
}
