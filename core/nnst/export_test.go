package nnst

import "nnst/core/tensor"

// Reference mode's parts, for the tests of package nnst_test.

// PyRandom draws as Python's random.randint(0, n-1) after random.seed(seed).
func PyRandom(seed uint64) func(n int) int { return newPyRandom(seed).below }

var (
	ReferenceChunk = referenceChunk
	ChunkedMatch   = chunkedMatch
)

// ReferenceStack stacks one tap's features of the style turned 0..3
// quarter turns as the reference's final pass does.
func ReferenceStack(parts []*tensor.T) *tensor.T { return referenceStack(parts) }

// ReferenceSplit runs one step of the reference's final pass on taps of
// the given shapes against stacked style features (grid instead of 64):
// it draws the offsets with PyRandom(seed), asks for each tap's gradient
// last tap first (as Backward does) and returns the summed loss, the
// gradients (nil: none) and the samples drawn.
func ReferenceSplit(be Backend, taps, style []Tensor, grid int, seed uint64) (float64, []Tensor, []Sample, error) {
	shapes := make([][3]int, len(taps))
	names := make([]string, len(taps))
	for l, t := range taps {
		c, h, w := t.Shape()
		shapes[l] = [3]int{c, h, w}
		names[l] = "tap"
	}
	plan, err := newSplitPlan(shapes, names, grid)
	if err != nil {
		return 0, nil, nil, err
	}
	st := newSplitStep(be, plan, taps, style, plan.draw(newPyRandom(seed)))
	grads := make([]Tensor, len(taps))
	for l := len(taps) - 1; l >= 0; l-- {
		grads[l] = st.grad(l)
	}
	if st.err != nil {
		return 0, nil, nil, st.err
	}
	var loss float64
	for _, l := range st.losses {
		h, err := be.Download(l)
		if err != nil {
			return 0, nil, nil, err
		}
		loss += float64(h.Data[0])
	}
	be.Free(st.losses...)
	return loss, grads, st.samples, nil
}

// ReferenceSplitPlan checks taps of these shapes as reference mode does.
func ReferenceSplitPlan(shapes [][3]int, grid int) error {
	names := make([]string, len(shapes))
	for i := range names {
		names[i] = "tap"
	}
	_, err := newSplitPlan(shapes, names, grid)
	return err
}
