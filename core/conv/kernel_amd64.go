package conv

import "nnst/core/gemm"

//go:noescape
func kernel6x16(k int, a *float32, offs *int32, b, c *float32, ldc int, bias *float32, flags int)

func kernel(k int, a []float32, offs []int32, b []float32, c []float32, ldc int, bias []float32, flags int) {
	if !gemm.UseAsm || k == 0 {
		kernelGo(k, a, offs, b, c, ldc, bias, flags)
		return
	}
	_ = a[k*mr-1]
	_ = offs[k-1]
	_ = c[(mr-1)*ldc+nr-1]
	var bp *float32
	if bias != nil {
		_ = bias[mr-1]
		bp = &bias[0]
	}
	kernel6x16(k, &a[0], &offs[0], &b[0], &c[0], ldc, bp, flags)
}
