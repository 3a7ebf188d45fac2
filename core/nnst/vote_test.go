package nnst_test

import (
	"testing"

	"nnst/core/cpu"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/ops"
)

// A field that points each position at the same position of the style
// gives the style back exactly; one that points into a rotation's grid
// pastes that rotation's pixels.
func TestVote(t *testing.T) {
	style := testImage(33, 41, 3)
	gh, gw := 9, 11 // spacing 4 px
	grids := [][2]int{{gh, gw}, {gw, gh}}
	field := make([]int32, gh*gw)
	for i := range field {
		field[i] = int32(i)
	}
	out := nnst.Vote(style, grids, field, gh, gw, 33, 41, 0.5)
	for i, v := range out.Data {
		if d := v - style.Data[i]; d > 1e-6 || d < -1e-6 {
			t.Fatalf("identity field: value %d is %g, want %g", i, v, style.Data[i])
		}
	}
	// Each position (i, j) of a 5 x 5 grid over 17 x 17 px takes rotation
	// k's grid position (i+1, j+1): every patch agrees, and the output is
	// rotation k's pixels shifted by one spacing (4 px).
	grids = [][2]int{{gh, gw}, {gw, gh}, {gh, gw}, {gw, gh}}
	base := 0
	for k, g := range grids {
		rot := ops.Rot90(style, k)
		field = field[:25]
		for i := 0; i < 5; i++ {
			for j := 0; j < 5; j++ {
				field[i*5+j] = int32(base + (i+1)*g[1] + j + 1)
			}
		}
		base += g[0] * g[1]
		out = nnst.Vote(style, grids, field, 5, 5, 17, 17, 0.5)
		for c := 0; c < 3; c++ {
			for y := 0; y < 17; y++ {
				for x := 0; x < 17; x++ {
					if got, want := out.At(c, y, x), rot.At(c, y+4, x+4); got-want > 1e-6 || want-got > 1e-6 {
						t.Fatalf("rotation %d, shifted field: (%d, %d, %d) is %g, want %g", k, c, y, x, got, want)
					}
				}
			}
		}
	}
}

// SearchField gives each query the index of its nearest vector over the
// concatenated banks: the same as Match over one bank of them all.
func TestSearchField(t *testing.T) {
	be := cpu.New()
	if err := be.LoadModel(model.Random(model.VGG19, 16, 7)); err != nil {
		t.Fatal(err)
	}
	q := be.Upload(testImage(5, 7, 1))
	parts := []nnst.Tensor{be.Upload(testImage(4, 6, 2)), be.Upload(testImage(3, 5, 3))}
	mean := nnst.BankMean(be, 2, func(k int) nnst.Tensor { return be.Axpby(1, parts[k], 0, nil) })
	s := be.NewSearch(q)
	for k, p := range parts {
		b := be.NewBank(mean, 30)
		be.BankAdd(b, p)
		be.SearchBank(s, b, k)
		be.FreeBank(b)
	}
	field, err := be.SearchField(s)
	if err != nil {
		t.Fatal(err)
	}
	// The nearest by brute force: gather the vectors the field names and
	// compare with Match over a bank of both parts.
	all := nnst.BuildBank(be, 2, func(k int) nnst.Tensor { return be.Axpby(1, parts[k], 0, nil) })
	want, _ := be.Download(be.Match(all, q))
	var vecs [][3]float32
	for _, p := range parts {
		h, _ := be.Download(p)
		for i := 0; i < h.H*h.W; i++ {
			vecs = append(vecs, [3]float32{h.Data[i], h.Data[h.H*h.W+i], h.Data[2*h.H*h.W+i]})
		}
	}
	for i, f := range field {
		for c := 0; c < 3; c++ {
			if got, w := vecs[f][c], want.Data[c*35+i]; got-w > 1e-5 || w-got > 1e-5 {
				t.Fatalf("query %d: field %d gives %v, Match %g in channel %d", i, f, vecs[f], w, c)
			}
		}
	}
}
