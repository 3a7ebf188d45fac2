package cpu

import (
	"fmt"
	"slices"
	"sync"

	"github.com/x448/float16"

	"nnst/core/nnst"
	"nnst/core/ops"
)

// half is a Compact copy: style features kept in fp16 (half the bytes of
// f32), and with phases only the samples of those offsets, each phase a
// block of ceil((h-y0)/stride) * ceil((w-x0)/stride) rows of c. At 512 px the
// fast mode's final pass keeps 0.1 GB of its four rotations' features this
// way, 1.1 GB in f32. Read only by SplitLoss's sampling.
type half struct {
	c, h, w int
	stride  int
	d       []uint16            // the whole tensor, without phases
	blocks  map[[2]int][]uint16 // with phases: each phase's samples
}

func (t *half) Shape() (int, int, int) { return t.c, t.h, t.w }

func (t *half) elems() int64 {
	n := int64(len(t.d))
	for _, b := range t.blocks {
		n += int64(len(b))
	}
	return n
}

// Compact keeps x in fp16, only the phases asked for.
func (b *Backend) Compact(x nnst.Tensor, stride int, phases [][2]int) nnst.Tensor {
	src := host(x)
	t := &half{c: src.C, h: src.H, w: src.W, stride: stride}
	if phases == nil {
		t.d = make([]uint16, len(src.Data))
		const chunk = 1 << 16
		ops.ParallelFor((len(src.Data)+chunk-1)/chunk, func(i int) {
			lo := i * chunk
			toHalf(t.d[lo:min(lo+chunk, len(src.Data))], src.Data[lo:])
		})
	} else {
		blks := make([][]uint16, len(phases))
		ops.ParallelFor(len(phases), func(i int) {
			p := phases[i]
			cols, pos := subsample(src, nnst.Sample{Stride: stride, Y0: p[0], X0: p[1]})
			blks[i] = make([]uint16, len(cols))
			toHalf(blks[i], transpose(cols, len(pos))) // as SplitLoss reads them
		})
		t.blocks = map[[2]int][]uint16{}
		for i, p := range phases {
			t.blocks[p] = blks[i]
		}
	}
	b.track(t.elems() * 2)
	return t
}

// halfTable maps every fp16 bit pattern to its float32: one load per value
// where the conversion took tens of instructions in WebAssembly.
var halfTable = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = float16.Frombits(uint16(i)).Float32()
	}
	return &t
})

func toHalf(dst []uint16, src []float32) {
	for i := range dst {
		dst[i] = float16.Fromfloat32(src[i]).Bits()
	}
}

// bytes is what a tensor of this backend holds.
func bytes(t nnst.Tensor) int64 {
	if h, ok := t.(*half); ok {
		return h.elems() * 2
	}
	c, h, w := t.Shape() // Backward may have dropped a tap's data
	return int64(c*h*w) * 4
}

// styleRows gathers the samples of a style tensor (f32 or a Compact copy)
// as the rows of a k x C matrix, appended to rows.
func styleRows(rows []float32, st nnst.Tensor, s nnst.Sample) ([]float32, int) {
	t, ok := st.(*half)
	if !ok {
		cols, pos := subsample(host(st), s)
		return append(rows, transpose(cols, len(pos))...), len(pos)
	}
	c := t.c
	if t.blocks != nil {
		blk, ok := t.blocks[[2]int{s.Y0, s.X0}]
		if !ok || s.Stride != t.stride {
			panic(fmt.Sprintf("cpu: SplitLoss samples %+v of a Compact copy kept for stride %d and other offsets", s, t.stride))
		}
		n := len(rows)
		rows = slices.Grow(rows, len(blk))[:n+len(blk)]
		dst := rows[n:]
		tab := halfTable()
		for i, v := range blk { // already rows
			dst[i] = tab[v]
		}
		return rows, len(blk) / max(c, 1)
	}
	pos := positions(t.h, t.w, s)
	k := len(pos)
	n := len(rows)
	rows = slices.Grow(rows, k*c)[:n+k*c]
	r := rows[n:]
	hw := t.h * t.w
	tab := halfTable()
	for ch := 0; ch < c; ch++ {
		src := t.d[ch*hw : (ch+1)*hw]
		for i, p := range pos {
			r[i*c+ch] = tab[src[p]]
		}
	}
	return rows, k
}

// transpose turns c x k columns into k x c rows.
func transpose(cols []float32, k int) []float32 {
	r := make([]float32, len(cols))
	c := len(cols) / max(k, 1)
	for ch := 0; ch < c; ch++ {
		for i, v := range cols[ch*k : (ch+1)*k] {
			r[i*c+ch] = v
		}
	}
	return r
}
