//go:build !amd64

package conv

func kernel(k int, a []float32, offs []int32, b []float32, c []float32, ldc int, bias []float32, flags int) {
	kernelGo(k, a, offs, b, c, ldc, bias, flags)
}
