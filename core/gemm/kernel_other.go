//go:build !amd64

package gemm

// UseAsm reports whether the assembly micro-kernel is in use; setting it has
// no effect on this target.
var UseAsm = false

func kernel(k int, a, b []float32, c []float32, ldc int, alpha, beta float32) {
	kernelGo(k, a, b, c, ldc, alpha, beta)
}
