package cpu_test

import (
	"fmt"
	"testing"

	"nnst/core/conv"
	"nnst/core/cpu"
	"nnst/core/gemm"
	"nnst/core/nnst"
	"nnst/core/nnst/backendtest"
)

// TestSuite runs the backend suite on the CPU backend with the assembly
// micro-kernel (where the CPU has it) and without; the conv kernels on 1,
// 2 and 3 threads.
func TestSuite(t *testing.T) {
	for _, asm := range []bool{true, false} {
		if asm && !gemm.UseAsm {
			continue
		}
		t.Run(fmt.Sprintf("asm=%v", asm), func(t *testing.T) {
			newConv := func(in, out int, w, b []float32) cpu.Conv { return asmConv{conv.NewLayer(in, out, w, b), asm, 0} }
			var convs []backendtest.Conv
			for _, th := range []int{1, 2, 3} {
				convs = append(convs, backendtest.KernelConv(fmt.Sprintf("threads=%d", th), func(in, out int, w, b []float32) cpu.Conv {
					return asmConv{conv.NewLayer(in, out, w, b), asm, th}
				}))
			}
			nearest := func(a []float32, m, d int, q []float32, n int) (idx []int32, sim []float32) {
				with(asm, 0, func() { idx, sim = cpu.Nearest(a, m, d, q, n) })
				return
			}
			newBackend := func(*testing.T) nnst.Backend { return cpu.NewWith(cpu.Kernels{NewConv: newConv, Nearest: nearest}) }
			if asm {
				newBackend = func(*testing.T) nnst.Backend { return cpu.New() } // the default
			}
			backendtest.Run(t, backendtest.Config{
				New:     newBackend,
				Convs:   convs,
				Nearest: []backendtest.Nearest{{Name: "go", New: func(*testing.T) backendtest.NearestFunc { return nearest }}},
			})
		})
	}
}

// asmConv runs a conv layer with the assembly micro-kernel on or off, on
// threads goroutines (0: the default).
type asmConv struct {
	l       *conv.Layer
	asm     bool
	threads int
}

func (c asmConv) Forward(in []float32, h, w int, relu bool, out []float32) {
	with(c.asm, c.threads, func() { c.l.Forward(in, h, w, relu, out) })
}

func (c asmConv) BackwardData(dOut []float32, h, w int, dIn []float32) {
	with(c.asm, c.threads, func() { c.l.BackwardData(dOut, h, w, dIn) })
}

// with runs f with the assembly micro-kernel on or off, on threads
// goroutines (0: the default).
func with(asm bool, threads int, f func()) {
	old := gemm.UseAsm
	gemm.UseAsm = asm
	gemm.SetThreads(threads)
	defer func() { gemm.UseAsm = old; gemm.SetThreads(0) }()
	f()
}
