package webgpu

import (
	"nnst/core/model"
	"nnst/core/nnst"
)

// Sizes are the WebGPU backend's buffers as a dry run counts them (an
// nnst.Memory): each rounded to the pool's size classes; the weights of
// both passes; every layer's output and the split-K partial sums of the
// convs; resize tables, kept; fp16 search banks in parts that fit a
// binding; SplitLoss's f32 bank; style taps in fp16 or in host memory; and
// the staging of transfers. What each method allocates is what the
// backend's call of the same name does (network.go, match.go, transfer.go
// and ops.go); the Chromium tests hold the dry run to their measured peaks.
type Sizes struct {
	Binding    int64 // the most bytes a bank part may have (the device's limits; 0: no limit)
	HostStride int   // Compact keeps copies of this stride or more in host memory
	// Tuned counts each conv as Tune may run it: the weights in the larger
	// of its formats, the most partial sums of any kernel and K step.
	// Without it, as the defaults run.
	Tuned bool
}

// Estimate runs o dry with the backend's sizes for an h x w content and
// style image (square, of side o.Size: the worst case for that size), as
// the app runs it: Tune free to choose any conv kernel, on a device whose
// buffers hold binding bytes. The bytes needed are the buffers' peak
// (weights included), room for the buffer pool (spareBytes and
// retainBytes), the uniform arena and the staging of transfers.
func Estimate(m *model.Model, o nnst.Options, h, w int, binding int64) (nnst.Need, error) {
	u, err := nnst.DryRun(m, o, Sizes{Binding: binding, HostStride: hostStride, Tuned: true}, h, w)
	if err != nil {
		return nnst.Need{}, err
	}
	return nnst.Need{Usage: u, Bytes: u.Peak + spareBytes + retainBytes + arenaSize + u.Staging}, nil
}

func (s Sizes) Buffer(n int64) int64 { return roundSize(n) }

// Tensor: in parts of partChans channels when one buffer would pass the
// binding limit (anyTensor).
func (s Sizes) Tensor(a *nnst.Alloc, c, h, w int) int64 {
	var b int64
	for _, n := range partSizes(c, h, w, s.Binding) {
		b += a.New(int64(n*h*w) * 4)
	}
	return b
}
func (s Sizes) Layers() bool { return true }

// LoadModel: each conv's forward and backward weights (uploadConvWeights)
// and its bias.
func (s Sizes) LoadModel(a *nnst.Alloc, m *model.Model) {
	for _, l := range m.Layers {
		if l.Kind != "conv" {
			continue
		}
		in, out := l.Conv.In, l.Conv.Out
		fwd, bwd := weightBytes(in, out, winoDefault)
		if f, b := weightBytes(in, out, !winoDefault); s.Tuned && f+b > fwd+bwd {
			fwd, bwd = f, b
		}
		a.New(fwd)
		if bwd > 0 {
			a.New(bwd)
		}
		a.New(int64(out) * 4)
	}
}

// weightBytes returns the bytes of a conv's forward and backward weights,
// for Winograd's kernel where wino and winoConv allow (16 values per
// input and output channel) or K-major (9); 0 when the backward pass reads
// the forward pass's.
func weightBytes(in, out int, wino bool) (fwd, bwd int64) {
	taps := func(w bool) int64 {
		if w {
			return 16
		}
		return 9
	}
	n := int64(in*out) * 4
	f, b := wino && winoConv(in, out), wino && winoConv(out, in)
	if f && b {
		return taps(true) * n, 0
	}
	return taps(f) * n, taps(b) * n
}

// Conv: the split-K partial sums (conv), of a conv whose tensors are
// whole.
func (s Sizes) Conv(a *nnst.Alloc, cin, cout, h, w int) {
	if cout <= narrowConv || partChans(cin, h, w, s.Binding) < cin || partChans(cout, h, w, s.Binding) < cout {
		return
	}
	winos, steps := []bool{winoDefault}, []int{1}
	if s.Tuned {
		winos, steps = []bool{false, true}, []int{1, 2}
	}
	var most int64
	for _, wino := range winos {
		for _, step := range steps {
			if _, _, split, _ := convGrid(h, w, cin, cout, wino && winoConv(cin, cout), step); split > 1 {
				most = max(most, int64(split*cout*h*w)*4)
			}
		}
	}
	if most > 0 {
		a.Free(a.New(most))
	}
}

// Table: Backend.table's words, 4 per output and 1 per input and 1, then
// two entries of 2 words per output.
func (s Sizes) Table(a *nnst.Alloc, in, out int, align bool) {
	a.Once([3]any{in, out, align}, int64(8*out+in+1)*4)
}

// Compact: fp16 pairs, or a stride-phase copy read back to the host; part
// by part for a tensor in parts.
func (s Sizes) Compact(a *nnst.Alloc, c, h, w, stride int, _ [][2]int) int64 {
	var kept int64
	for _, pc := range partSizes(c, h, w, s.Binding) {
		if stride < s.HostStride {
			kept += a.New(int64((pc*h*w+1)/2) * 4)
			continue
		}
		_, _, bl := phaseBlock(pc, h, w, stride)
		tot := stride * stride * bl
		buf := a.New(int64(tot/2) * 4)
		s.Transfer(a, int64(tot)*2, true)
		a.Free(buf)
	}
	return kept
}

// NewBank: an fp16 bank of its full capacity (BankAdd adds nothing).
func (s Sizes) NewBank(a *nnst.Alloc, capacity, d int) int64 { return s.bank(a, capacity, d, true) }

func (s Sizes) BankAdd(*nnst.Alloc, int, int, bool) int64 { return 0 }

// bank is allocBank: the mean, the norms and the parts of the rows, each
// with a spare row.
func (s Sizes) bank(a *nnst.Alloc, capacity, d int, f16 bool) int64 {
	b := a.New(int64(d)*4) + a.New(int64(max(capacity, 1))*4)
	rows := s.partRows(capacity, d, f16)
	for r := 0; r < capacity || r == 0; r += rows {
		b += a.New(int64(min(rows, capacity-r)+1) * bankRowBytes(d, f16))
	}
	return b
}

func (s Sizes) partRows(capacity, d int, f16 bool) int {
	if s.Binding <= 0 {
		return max(capacity, 1)
	}
	return partRows(capacity, bankRowBytes(d, f16), s.Binding)
}

// query is Backend.query: the mean goes, the norms and columns (in parts
// of queryCols columns) stay.
func (s Sizes) query(a *nnst.Alloc, n, d int) (q, norms int64) {
	mean := a.New(int64(d) * 4)
	norms = a.New(int64(max(n, 1)) * 4)
	cols := queryCols(d, n, s.Binding)
	for i0 := 0; i0 < n || i0 == 0; i0 += cols {
		q += a.New(int64(max(d*min(cols, n-i0), 1)) * 4)
	}
	a.Free(mean)
	return q, norms
}

// NewSearch: the query columns, then the best index and similarity of each.
func (s Sizes) NewSearch(a *nnst.Alloc, n, d int) (query, rest int64) {
	q, norms := s.query(a, n, d)
	a.Free(norms)
	return q, a.New(int64(n)*4) + a.New(int64(n)*4)
}

// SearchBank: the partial results of nearestInto over an fp16 bank.
func (s Sizes) SearchBank(a *nnst.Alloc, n, m, d int) { s.scan(a, n, m, d, true) }

func (s Sizes) scan(a *nnst.Alloc, n, m, d int, f16 bool) {
	rows := s.partRows(m, d, f16)
	slots := searchSlots(min(m, rows), rows)
	run := int64(slots * scanCols(slots, n, s.Binding))
	a.Free(a.New(run*4) + a.New(run*4))
}

// SplitLoss: the samples of host copies, uploaded; an f32 bank of every
// style sample; the output's samples as a query; then the gradient's
// buffers.
func (s Sizes) SplitLoss(a *nnst.Alloc, out nnst.Shape, style []nnst.Shape, smp nnst.Sample) (loss, grad int64) {
	stride := max(smp.Stride, 1)
	var ups int64
	total := 0
	for _, st := range style {
		sh, sw := gridDims(st.H, st.W, smp)
		total += sh * sw
		if st.Host {
			ups += a.New(int64((st.C*sh*sw+1)/2) * 4)
			if sh*sw > 0 {
				_, _, bl := phaseBlock(st.C, st.H, st.W, stride)
				s.Transfer(a, int64(bl)*2, false)
				a.Free(a.New(int64(bl/2) * 4))
			}
		}
	}
	c := out.C
	bank := s.bank(a, total, c, false)
	a.Free(ups)
	sh, sw := gridDims(out.H, out.W, smp)
	n := sh * sw
	x, norms := s.query(a, n, c)
	idx, sim := a.New(int64(n)*4), a.New(int64(n)*4)
	s.scan(a, n, total, c, false)
	loss = a.New(4)
	var raw int64 // as the queries' parts
	cols := queryCols(c, n, s.Binding)
	for i0 := 0; i0 < n || i0 == 0; i0 += cols {
		raw += a.New(int64(c*min(cols, n-i0)) * 4)
	}
	mean := a.New(int64(c) * 4)
	grad = s.Tensor(a, c, out.H, out.W)
	a.Free(x + norms + idx + sim + raw + mean + bank)
	return loss, grad
}

// ColorDistanceLoss: a partial sum per position.
func (s Sizes) ColorDistanceLoss(a *nnst.Alloc, h, w int) (loss, grad int64) {
	part := a.New(int64(h*w) * 4)
	grad, loss = a.New(int64(3*h*w)*4), a.New(4)
	a.Free(part)
	return loss, grad
}

// Transfer: a write stages its bytes once (Backend.write); a read goes
// through the kept staging buffer, which grows to at most twice the
// largest read up to stageKeep, or through one of its own beside it.
func (s Sizes) Transfer(a *nnst.Alloc, n int64, read bool) {
	if !read {
		a.Stage(n, false)
		return
	}
	n = max((n+3)/4*4, 4)
	if n > stageKeep {
		a.Stage(n+stageKeep, true)
	} else {
		a.Stage(min(stageKeep, 2*n), true)
	}
}

var _ nnst.Memory = Sizes{}
