package conv

import (
	"fmt"
	"testing"

	"nnst/core/gemm"
	"nnst/core/internal/torchfix"
)

// forBoth runs f with the assembly micro-kernel (where the CPU has it) and
// without, on 1, 2 and 3 threads.
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

// TestTorchConv compares Layer.Forward (with and without ReLU) and
// Layer.BackwardData, and their plain references, with F.conv2d(padding=1)
// and its input gradient.
func TestTorchConv(t *testing.T) {
	f := torchfix.Load(t)
	var meta struct {
		Conv []struct {
			Name            string
			Cin, Cout, H, W int
		} `json:"conv"`
	}
	f.Decode(t, &meta)
	if len(meta.Conv) == 0 {
		t.Fatal("no conv fixtures")
	}
	const rtol, atol = 1e-5, 2e-6
	forBoth(t, func(t *testing.T) {
		for _, c := range meta.Conv {
			x, _ := f.Raw(t, c.Name+"/x")
			w, _ := f.Raw(t, c.Name+"/w")
			b, _ := f.Raw(t, c.Name+"/b")
			want, _ := f.Raw(t, c.Name+"/y")
			gy, _ := f.Raw(t, c.Name+"/gy")
			wantg, _ := f.Raw(t, c.Name+"/gx")
			l := NewLayer(c.Cin, c.Cout, w, b)
			n := c.Cout * c.H * c.W
			y := make([]float32, n)
			l.Forward(x, c.H, c.W, false, y)
			torchfix.CloseAll(t, c.Name+" forward", y, want, rtol, atol)
			relu := make([]float32, n)
			for i, v := range want {
				relu[i] = max(v, 0)
			}
			l.Forward(x, c.H, c.W, true, y)
			torchfix.CloseAll(t, c.Name+" forward+relu", y, relu, rtol, atol)
			ForwardRef(x, c.Cin, c.H, c.W, w, b, c.Cout, false, y)
			torchfix.CloseAll(t, c.Name+" ForwardRef", y, want, rtol, atol)
			gx := make([]float32, c.Cin*c.H*c.W)
			l.BackwardData(gy, c.H, c.W, gx)
			torchfix.CloseAll(t, c.Name+" backward", gx, wantg, rtol, atol)
			BackwardDataRef(gy, c.Cout, c.H, c.W, w, c.Cin, gx)
			torchfix.CloseAll(t, c.Name+" BackwardDataRef", gx, wantg, rtol, atol)
		}
	})
}
