// Package tensor holds the dense float32 image and feature maps the CPU path
// works on: one image, channel-major (C, H, W), no batch dimension.
package tensor

import "fmt"

// T is a C x H x W float32 tensor stored channel-major.
type T struct {
	C, H, W int
	Data    []float32
}

// New returns a zeroed tensor.
func New(c, h, w int) *T {
	return &T{C: c, H: h, W: w, Data: make([]float32, c*h*w)}
}

// Clone returns a deep copy.
func (t *T) Clone() *T {
	d := make([]float32, len(t.Data))
	copy(d, t.Data)
	return &T{C: t.C, H: t.H, W: t.W, Data: d}
}

// Plane returns channel c as a slice of H*W values.
func (t *T) Plane(c int) []float32 { return t.Data[c*t.H*t.W : (c+1)*t.H*t.W] }

// At returns element (c, y, x).
func (t *T) At(c, y, x int) float32 { return t.Data[(c*t.H+y)*t.W+x] }

// Set sets element (c, y, x).
func (t *T) Set(c, y, x int, v float32) { t.Data[(c*t.H+y)*t.W+x] = v }

// SameShape reports whether t and u have the same shape.
func (t *T) SameShape(u *T) bool { return t.C == u.C && t.H == u.H && t.W == u.W }

func (t *T) String() string { return fmt.Sprintf("tensor(%dx%dx%d)", t.C, t.H, t.W) }
