package cpu_test

import (
	"testing"

	"nnst/core/cpu"
)

// The peak counts the bytes live at once since the last ResetPeak.
func TestPeak(t *testing.T) {
	be := cpu.New()
	a, b := be.Zeros(1, 16, 16), be.Zeros(1, 16, 16)
	if got := be.PeakBytes(); got != 2*16*16*4 {
		t.Fatalf("peak %d, want %d", got, 2*16*16*4)
	}
	be.Free(b)
	be.ResetPeak()
	if got := be.PeakBytes(); got != 16*16*4 {
		t.Fatalf("peak after reset %d, want the live %d", got, 16*16*4)
	}
	c := be.Zeros(1, 8, 8)
	if got := be.PeakBytes(); got != (16*16+8*8)*4 {
		t.Fatalf("peak %d, want %d", got, (16*16+8*8)*4)
	}
	be.Free(a, c)
}
