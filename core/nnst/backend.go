package nnst

import (
	"nnst/core/model"
	"nnst/core/tensor"
)

// Tensor is a C x H x W float32 tensor that lives on a backend (host memory
// for the CPU backend, a GPU buffer for WebGPU).
type Tensor interface {
	Shape() (c, h, w int)
}

// Trace is the result of a network forward pass: the tapped activations in
// model tap order, and whatever the backend keeps for the backward pass.
type Trace struct {
	Taps  []Tensor
	State any
}

// Bank is a backend's nearest-neighbour search structure over style
// hypercolumns: the vectors centred on their mean and normalised.
type Bank interface {
	Len() int
}

// Search is a running nearest-neighbour search of query vectors over a
// sequence of banks (see NewSearch).
type Search interface{}

// Sample says which positions of a tap the feature-splitting loss uses:
// rows Y0, Y0+Stride, ... and columns X0, X0+Stride, ...
type Sample struct {
	Stride, Y0, X0 int
}

// Backend runs the heavy operations of the pipeline. The driver owns the
// tensors it gets and frees them; a backend reports the first failure of any
// call through Err, so calls can be queued without a check each.
type Backend interface {
	Name() string
	Err() error
	LiveBytes() int64
	PeakBytes() int64
	// ResetPeak starts a new peak from the bytes live now (each run).
	ResetPeak()

	Upload(t *tensor.T) Tensor
	Download(t Tensor) (*tensor.T, error)
	Zeros(c, h, w int) Tensor
	Free(ts ...Tensor)

	// Axpby returns a*x + b*y; y may be nil.
	Axpby(a float32, x Tensor, b float32, y Tensor) Tensor
	// Axpy adds a*x to y in place (x and y of one shape).
	Axpy(a float32, x, y Tensor)
	// Resize is bilinear interpolation to h x w; ResizeBackward its adjoint
	// (g is the gradient of the resized tensor, the result has size h x w).
	Resize(x Tensor, h, w int, alignCorners bool) Tensor
	ResizeBackward(g Tensor, h, w int, alignCorners bool) Tensor
	// Rot90 rotates by k quarter turns counter-clockwise (torch.rot90).
	Rot90(x Tensor, k int) Tensor

	// LoadModel prepares the network; Forward normalises an RGB image and
	// runs the network to the last tap, keeping what Backward needs if keep.
	LoadModel(m *model.Model) error
	Forward(img Tensor, keep bool) *Trace
	// Backward returns the gradient of the RGB image and releases the
	// trace as it goes. It calls tapGrad(l) once per tap, from the last tap
	// to the first, when the pass reaches tap l (taps after l may be freed
	// by then), and frees what it returns (nil means zero).
	Backward(tr *Trace, tapGrad func(l int) Tensor) Tensor
	// Release frees a trace without a backward pass.
	Release(tr *Trace)

	// Hypercolumns divides each tap by its channel count, resizes it with
	// bilinear(align corners) to h x w and concatenates along channels.
	Hypercolumns(taps []Tensor, h, w int) Tensor
	// HypercolumnLoss is Unfused.CosineLoss(Hypercolumns(taps, h, w),
	// target), h x w the target's size, computed tap by tap without the
	// hypercolumns. It returns the loss (1x1x1) and per position 1 - cos,
	// ka and kb (3 x h x w), where the gradient of the hypercolumns is
	// ka*target + kb*f.
	HypercolumnLoss(taps []Tensor, target Tensor) (loss, coef Tensor)
	// HypercolumnLossBackward returns the gradient of that loss with
	// respect to tap l: Unfused.HypercolumnsBackward of (ka*target + kb*f),
	// without f.
	HypercolumnLossBackward(coef Tensor, taps []Tensor, target Tensor, l int) Tensor
	// ChannelMean returns the mean over positions of each channel (C x 1 x 1).
	ChannelMean(x Tensor) Tensor
	// NewBank returns an empty search bank for up to capacity vectors,
	// centred on mean (D x 1 x 1, copied); BankAdd adds the vectors of t
	// (one per position). Only the bank's compact copy is kept.
	NewBank(mean Tensor, capacity int) Bank
	BankAdd(b Bank, t Tensor)
	// BankAddHypercolumns is BankAdd(b, Hypercolumns(taps, h, w)) without
	// the hypercolumns.
	BankAddHypercolumns(b Bank, taps []Tensor, h, w int)
	FreeBank(b Bank)
	// NewSearch is Unfused.Match over banks 0, 1, ... that are never alive
	// together: it copies the vectors of query (centred on their own mean). SearchBank
	// updates each vector's nearest with bank k (a later bank wins only when
	// strictly nearer, so ties go to the lowest bank and row, as Match).
	// SearchGather writes into target (query's shape) the uncentred vectors
	// of bank k that are nearest. EndSearch (or the first SearchGather)
	// frees the query copy, after which SearchBank may no longer be called.
	// Banks k must be added to and gathered from with the same vectors in
	// the same order.
	NewSearch(query Tensor) Search
	SearchBank(s Search, b Bank, k int)
	EndSearch(s Search)
	SearchGather(s Search, b Bank, k int, target Tensor)
	// SearchField returns, for each query position in row-major order, the
	// index of its nearest vector in the concatenation of the banks
	// searched (bank 0's vectors first): the nearest-neighbour field. It
	// may be called after the last SearchBank, before or after gathers.
	SearchField(s Search) ([]int32, error)
	FreeSearch(s Search)
	// SplitLoss is the feature-splitting loss of one tap: out and each style
	// tensor are subsampled by s; each output sample is matched to its
	// nearest style sample in centred cosine distance; it returns the mean
	// distance (1x1x1) and its gradient with respect to out.
	SplitLoss(out Tensor, style []Tensor, s Sample) (loss, grad Tensor)
	// Compact returns a copy of x usable only as a SplitLoss style input
	// sampled with the given stride, possibly in lower precision (fp16 on
	// WebGPU) and, for large strides, off the device (WebGPU then keeps it
	// in host memory and uploads only the samples each SplitLoss uses).
	//
	// phases lists the offsets (y0, x0) SplitLoss will sample with (nil:
	// any); a backend may keep only those.
	Compact(x Tensor, stride int, phases [][2]int) Tensor
	// ColorDistanceLoss returns mean |D(x) - D(ref)| with D the pairwise
	// Euclidean distances between pixel colours, and its gradient wrt x.
	ColorDistanceLoss(x, ref Tensor) (loss, grad Tensor)
	// Adam updates p in place with gradient g and moments m, v at step t (1-based).
	Adam(p, g, m, v Tensor, t int, lr float32)
}

// Unfused are the plain forms of ops the driver runs fused, which only
// tests use, to check the fused ones against: a backend may leave them
// out. Find them with As.
type Unfused interface {
	Backend
	// HypercolumnsBackward returns the gradient of tap l given the gradient
	// g of Hypercolumns(taps, ...).
	HypercolumnsBackward(g Tensor, taps []Tensor, l int) Tensor
	// Match replaces each vector of query by the uncentred bank vector
	// nearest to it in centred cosine distance (query centred on its own
	// mean): NewSearch, SearchBank and SearchGather on one bank.
	Match(b Bank, query Tensor) Tensor
	// CosineLoss returns mean(1 - cos(f, target)) over positions (as a
	// 1x1x1 tensor) and its gradient with respect to f.
	CosineLoss(f, target Tensor) (loss, grad Tensor)
}

// TapStreamer is a backend whose forward pass without a trace hands each
// tap over as soon as it is made, so that they are never all alive at
// once (the CPU backend). Find it with As; forwardTaps uses it.
type TapStreamer interface {
	Backend
	// ForwardTaps is Forward(img, false) calling each with each tap, in
	// tap order, which ForwardTaps frees after each returns. each may
	// turn, compact and free tensors, not run the network or a search.
	ForwardTaps(img Tensor, each func(l int, t Tensor))
}

// ForwardTaps runs each on every tap of img's forward pass: one at a time
// on a TapStreamer, else all made first and released after.
func ForwardTaps(be Backend, img Tensor, each func(l int, t Tensor)) {
	if s, ok := As[TapStreamer](be); ok {
		s.ForwardTaps(img, each)
		return
	}
	tr := be.Forward(img, false)
	for l, t := range tr.Taps {
		each(l, t)
	}
	be.Release(tr)
}

// Preparer is a backend that prepares for a run (WebGPU does): it counts
// and reserves the device memory a run needs, tunes its kernels for a
// size, and gives back what it keeps for speed when idle. Find it with As.
type Preparer interface {
	Backend
	// Need is what a run of o on an h x w content and style asks of the
	// device, counted by a dry run with the backend's own sizes.
	Need(m *model.Model, o Options, h, w int) (Need, error)
	// MaxBuffer is the most bytes one buffer may have on the device.
	MaxBuffer() int64
	// Reserve checks that the device can hold bytes more than it holds
	// now; it fails with an out-of-memory error if not.
	Reserve(bytes int64) error
	// NeedsTune says whether Tune(h, w, backward) has kernels to time.
	NeedsTune(h, w int, backward bool) bool
	// Tune times the conv kernels for an h x w image and keeps the
	// fastest for later runs: with backward, for the forward and
	// backward-data passes together (an optimisation step).
	Tune(h, w int, backward bool) error
	// SavedTune returns the choices Tune made, as text for RestoreTune on a
	// later load; RestoreTune returns how many choices it restored.
	SavedTune() string
	RestoreTune(text string) (int, error)
	// ConvKernels describes the conv kernels chosen, for a log.
	ConvKernels() string
	// Idle gives back the memory kept for speed, until the next run.
	Idle()
}

// Need is what a run asks of a device (see Preparer).
type Need struct {
	Usage // the dry run's counts
	// Bytes is the device memory at the peak: the buffers (weights
	// included) and what the backend holds besides (pools, staging).
	Bytes int64
}

// As returns be, or the first backend it wraps (through Unwrap, as a
// Counter does), that implements T.
func As[T Backend](be Backend) (T, bool) {
	for be != nil {
		if t, ok := be.(T); ok {
			return t, true
		}
		w, ok := be.(interface{ Unwrap() Backend })
		if !ok {
			break
		}
		be = w.Unwrap()
	}
	var zero T
	return zero, false
}
