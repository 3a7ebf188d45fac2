package nnst

import (
	"sync"

	"nnst/core/model"
)

// Memory says how a backend holds what the driver asks of it, so that a dry
// run (Dry) counts the bytes the backend counts, in the order it counts
// them. Dry allocates the tensors the driver sees (Buffer bytes each); the
// methods allocate and free through a what the backend's call of the same
// name holds beyond them (its temporaries, caches and results of its own
// layout), and return the bytes of what they keep.
type Memory interface {
	// Buffer is the bytes a buffer of n bytes takes (the allocator's rounding).
	Buffer(n int64) int64
	// Tensor allocates a c x h x w tensor that the backend may hold in
	// parts (the results of Zeros, Upload, Axpby, Resize, ResizeBackward
	// and Hypercolumns) and returns its bytes; the network's tensors are
	// one buffer each.
	Tensor(a *Alloc, c, h, w int) int64
	// LoadModel allocates the model's weights.
	LoadModel(a *Alloc, m *model.Model)
	// Layers says whether the network's inner buffers count: the
	// normalised input, the layer outputs that are not taps, a kept
	// trace's layers and the backward pass's gradients. Without them only
	// the taps and the results count.
	Layers() bool
	// Conv allocates and frees the scratch of one conv pass (cin to cout
	// channels at h x w: the forward pass, or the backward-data pass with
	// the channels swapped).
	Conv(a *Alloc, cin, cout, h, w int)
	// Table allocates (Alloc.Once) what resizing an axis from in to out
	// keeps, if anything.
	Table(a *Alloc, in, out int, align bool)
	// Compact allocates what Compact keeps of a c x h x w tensor sampled
	// with stride, and returns its bytes: 0 for a copy off the device.
	Compact(a *Alloc, c, h, w, stride int, phases [][2]int) int64
	// NewBank allocates a bank for up to capacity vectors of d; BankAdd
	// adds n vectors (hyper: from taps, BankAddHypercolumns). Each returns
	// the bytes it keeps, which FreeBank frees.
	NewBank(a *Alloc, capacity, d int) int64
	BankAdd(a *Alloc, n, d int, hyper bool) int64
	// NewSearch allocates a search of n query vectors of d and returns the
	// bytes EndSearch frees (the query copy) and those FreeSearch frees.
	NewSearch(a *Alloc, n, d int) (query, rest int64)
	// SearchBank allocates and frees the scratch of searching n queries
	// over a bank of m vectors of d.
	SearchBank(a *Alloc, n, m, d int)
	// SplitLoss allocates SplitLoss's scratch and results (for out's shape
	// and the style tensors') and returns the results' bytes.
	SplitLoss(a *Alloc, out Shape, style []Shape, s Sample) (loss, grad int64)
	// ColorDistanceLoss likewise, for x (3 x h x w).
	ColorDistanceLoss(a *Alloc, h, w int) (loss, grad int64)
	// Transfer notes (Alloc.Stage) the staging of a copy of n bytes to the
	// device, or from it if read.
	Transfer(a *Alloc, n int64, read bool)
}

// Shape is a tensor as a Memory sees it; Host marks a Compact copy kept
// off the device.
type Shape struct {
	C, H, W int
	Host    bool
}

// Alloc counts the bytes a dry run holds: live, their peak, the largest
// buffer, and the staging of transfers, which a backend may hold outside
// the buffers it counts.
type Alloc struct {
	mu                  sync.Mutex
	mem                 Memory
	live, peak, largest int64
	read, write         int64
	once                map[any]bool
}

// New allocates a buffer of n bytes and returns the bytes it takes.
func (a *Alloc) New(n int64) int64 {
	b := a.mem.Buffer(n)
	a.mu.Lock()
	a.live += b
	a.peak = max(a.peak, a.live)
	a.largest = max(a.largest, b)
	a.mu.Unlock()
	return b
}

// Free frees bytes that New returned (or a sum of them).
func (a *Alloc) Free(bytes int64) {
	a.mu.Lock()
	a.live -= bytes
	a.mu.Unlock()
}

// Once allocates a buffer of n bytes the first time it sees key, for the
// rest of the run (a backend's cache).
func (a *Alloc) Once(key any, n int64) {
	a.mu.Lock()
	seen := a.once[key]
	a.once[key] = true
	a.mu.Unlock()
	if !seen {
		a.New(n)
	}
}

// Stage notes n bytes of staging held for a transfer to the device, or
// from it if read: a run's staging is at most the largest of each kind,
// together.
func (a *Alloc) Stage(n int64, read bool) {
	a.mu.Lock()
	if read {
		a.read = max(a.read, n)
	} else {
		a.write = max(a.write, n)
	}
	a.mu.Unlock()
}

// HostMemory counts as the CPU backend does (core/cpu holds them equal):
// float32 tensors (Compact copies in fp16), bank rows, a search's query
// copy and 12 bytes per query; neither the weights, nor the network's inner
// layers, nor any call's temporaries.
type HostMemory struct{}

func (HostMemory) Buffer(n int64) int64               { return n }
func (HostMemory) Tensor(a *Alloc, c, h, w int) int64 { return a.New(int64(c*h*w) * 4) }
func (HostMemory) LoadModel(*Alloc, *model.Model)     {}
func (HostMemory) Layers() bool                       { return false }
func (HostMemory) Conv(*Alloc, int, int, int, int)    {}
func (HostMemory) Table(*Alloc, int, int, bool)       {}
func (HostMemory) NewBank(*Alloc, int, int) int64     { return 0 }
func (HostMemory) SearchBank(*Alloc, int, int, int)   {}
func (HostMemory) Transfer(*Alloc, int64, bool)       {}

// Compact keeps fp16, only the phases asked for.
func (HostMemory) Compact(a *Alloc, c, h, w, stride int, phases [][2]int) int64 {
	return a.New(CompactElems(c, h, w, stride, phases) * 2)
}

// CompactElems is the number of values a Compact copy of a c x h x w
// tensor keeps when it keeps only the phases (nil: all of it).
func CompactElems(c, h, w, stride int, phases [][2]int) int64 {
	if phases == nil {
		return int64(c * h * w)
	}
	var n int64
	for _, p := range phases {
		n += int64(c * phaseLen(h, p[0], stride) * phaseLen(w, p[1], stride))
	}
	return n
}

// phaseLen is the number of samples y0, y0+stride, ... below n.
func phaseLen(n, y0, stride int) int { return max(0, (n-y0+stride-1)/stride) }

// BankAdd keeps the rows; from taps it makes the hypercolumns first.
func (HostMemory) BankAdd(a *Alloc, n, d int, hyper bool) int64 {
	b := int64(n*d) * 4
	if hyper {
		hc := a.New(b)
		defer a.Free(hc)
	}
	return a.New(b)
}

func (HostMemory) NewSearch(a *Alloc, n, d int) (int64, int64) {
	return a.New(int64(n*d) * 4), a.New(int64(n) * 12)
}

func (HostMemory) SplitLoss(a *Alloc, out Shape, _ []Shape, _ Sample) (int64, int64) {
	return a.New(4), a.New(int64(out.C*out.H*out.W) * 4)
}

func (HostMemory) ColorDistanceLoss(a *Alloc, h, w int) (int64, int64) {
	return a.New(4), a.New(int64(3*h*w) * 4)
}

// HostBytes bounds what a run holds on the host beyond its backend's
// tensors: full-size RGB images (the inputs, the fast mode's vote and its
// bands, the output and the colour matching's copies; 16 at most, from a
// 4096 px fast run's heap), which dominate at print sizes.
func HostBytes(h, w int) int64 { return 16 * 3 * 4 * int64(h) * int64(w) }
