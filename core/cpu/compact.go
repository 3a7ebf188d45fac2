package cpu

import (
	"github.com/x448/float16"

	"nnst/core/nnst"
	"nnst/core/ops"
)

// half is a Compact copy: style features kept in fp16, half the bytes of
// f32 (at 512 px the final pass's four rotations hold about 1.1 GB in f32),
// read only by SplitLoss's sampling. fp16 as on WebGPU.
type half struct {
	c, h, w int
	d       []uint16
}

func (t half) Shape() (int, int, int) { return t.c, t.h, t.w }

// Compact keeps x in fp16.
func (b *Backend) Compact(x nnst.Tensor, _ int) nnst.Tensor {
	src := host(x)
	t := half{src.C, src.H, src.W, make([]uint16, len(src.Data))}
	const chunk = 1 << 16
	ops.ParallelFor((len(src.Data)+chunk-1)/chunk, func(i int) {
		lo := i * chunk
		hi := min(lo+chunk, len(src.Data))
		for j, v := range src.Data[lo:hi] {
			t.d[lo+j] = float16.Fromfloat32(v).Bits()
		}
	})
	b.track(int64(len(t.d)) * 2)
	return t
}

// bytes is what a tensor of this backend holds.
func bytes(t nnst.Tensor) int64 {
	if h, ok := t.(half); ok {
		return int64(len(h.d)) * 2
	}
	return int64(len(host(t).Data)) * 4
}

// styleRows gathers the samples of a style tensor (f32 or a Compact copy)
// as the rows of an N x C matrix.
func styleRows(st nnst.Tensor, s nnst.Sample) ([]float32, int) {
	c, h, w := st.Shape()
	var pos []int
	for y := s.Y0; y < h; y += s.Stride {
		for x := s.X0; x < w; x += s.Stride {
			pos = append(pos, y*w+x)
		}
	}
	k := len(pos)
	r := make([]float32, k*c)
	hw := h * w
	switch t := st.(type) {
	case half:
		for ch := 0; ch < c; ch++ {
			src := t.d[ch*hw : (ch+1)*hw]
			for i, p := range pos {
				r[i*c+ch] = float16.Frombits(src[p]).Float32()
			}
		}
	default:
		data := host(st).Data
		for ch := 0; ch < c; ch++ {
			src := data[ch*hw : (ch+1)*hw]
			for i, p := range pos {
				r[i*c+ch] = src[p]
			}
		}
	}
	return r, k
}
