package ops

import (
	"fmt"
	"nnst/core/internal/torchfix"
	"testing"

	"nnst/core/tensor"
)

// Tolerances against PyTorch (float32 on both sides).
const torchRtol, torchAtol = 1e-5, 1e-6

func TestTorchResize(t *testing.T) {
	f := torchfix.Load(t)
	var meta struct {
		Resize []struct {
			Name  string `json:"name"`
			Align bool   `json:"align"`
			H     int    `json:"h"`
			W     int    `json:"w"`
		} `json:"resize"`
	}
	f.Decode(t, &meta)
	if len(meta.Resize) == 0 {
		t.Fatal("no resize fixtures")
	}
	for _, c := range meta.Resize {
		t.Run(c.Name, func(t *testing.T) {
			x := f.CHW(t, c.Name+"/x")
			y := Resize(x, c.H, c.W, c.Align)
			want := f.CHW(t, c.Name+"/y")
			if !y.SameShape(want) {
				t.Fatalf("Resize %v -> %v, want %v", x, y, want)
			}
			torchfix.CloseAll(t, "forward", y.Data, want.Data, torchRtol, torchAtol)
			gy := f.CHW(t, c.Name+"/gy")
			gx := ResizeBackward(gy, x.H, x.W, c.Align)
			wantg := f.CHW(t, c.Name+"/gx")
			if !gx.SameShape(wantg) {
				t.Fatalf("ResizeBackward shape %v, want %v", gx, wantg)
			}
			torchfix.CloseAll(t, "backward", gx.Data, wantg.Data, torchRtol, torchAtol)
		})
	}
}

func TestTorchMaxPool(t *testing.T) {
	f := torchfix.Load(t)
	var meta struct {
		Pool []struct {
			Name string `json:"name"`
		} `json:"pool"`
	}
	f.Decode(t, &meta)
	if len(meta.Pool) == 0 {
		t.Fatal("no pool fixtures")
	}
	for _, c := range meta.Pool {
		t.Run(c.Name, func(t *testing.T) {
			x := f.CHW(t, c.Name+"/x")
			y, idx := MaxPool2(x)
			want := f.CHW(t, c.Name+"/y")
			if !y.SameShape(want) {
				t.Fatalf("MaxPool2 %v -> %v, want %v", x, y, want)
			}
			torchfix.CloseAll(t, "forward", y.Data, want.Data, 0, 0)
			gx := MaxPool2Backward(f.CHW(t, c.Name+"/gy"), idx, x.C, x.H, x.W)
			torchfix.CloseAll(t, "backward", gx.Data, f.CHW(t, c.Name+"/gx").Data, 0, 0)
		})
	}
}

func TestTorchAdam(t *testing.T) {
	f := torchfix.Load(t)
	var meta struct {
		Steps int `json:"adam_steps"`
	}
	f.Decode(t, &meta)
	p, _ := f.Raw(t, "adam/p0")
	m := make([]float32, len(p))
	v := make([]float32, len(p))
	for s := 0; s < meta.Steps; s++ {
		g, _ := f.Raw(t, fmt.Sprintf("adam/g%d", s))
		Adam(p, g, m, v, s+1, 2e-3)
		want, _ := f.Raw(t, fmt.Sprintf("adam/p%d", s+1))
		// The parameters are O(1) and move by ~2e-3 a step: compare the
		// values tightly so that a wrong step size or bias correction shows.
		torchfix.CloseAll(t, fmt.Sprintf("step %d", s+1), p, want, 0, 2e-7)
	}
}

func TestTorchRot90(t *testing.T) {
	f := torchfix.Load(t)
	x := f.CHW(t, "rot90/x")
	for _, k := range []int{1, 2, 3, -1} {
		got := Rot90(x, k)
		want := f.CHW(t, fmt.Sprintf("rot90/k%d", k))
		if !got.SameShape(want) {
			t.Fatalf("k=%d: shape %v, want %v", k, got, want)
		}
		torchfix.CloseAll(t, fmt.Sprintf("k=%d", k), got.Data, want.Data, 0, 0)
	}
	// Four quarter turns are the identity; k and k-4 agree.
	y := x
	for range 4 {
		y = Rot90(y, 1)
	}
	torchfix.CloseAll(t, "rot^4", y.Data, x.Data, 0, 0)
	torchfix.CloseAll(t, "k=-3", Rot90(x, -3).Data, Rot90(x, 1).Data, 0, 0)
	_ = tensor.New
}
