package backendtest

import "nnst/core/nnst"

// cases is the suite, in the order it runs: kernels first. A new op is
// added here once, with its shapes below and its tolerances stated.
var cases = []opCase{
	{name: "conv", kernel: true, tol: tols{"out": 1e-5}, run: convCase},
	// "product": |reported - best inner product| over sqrt(d), the size of
	// a product of random N(0, 1) vectors.
	{name: "nearest", kernel: true, tol: tols{"product": 4e-5}, run: nearestCase},
	{name: "upload", tol: tols{"out": 0}, run: uploadCase},
	{name: "axpby", tol: tols{"out": 1e-6}, run: axpbyCase},
	{name: "rot90", tol: tols{"out": 0}, run: rot90Case},
	{name: "resize", tol: tols{"out": 1e-5, "grad": 1e-5}, run: resizeCase},
	{name: "adam", tol: tols{"out": 1e-5}, run: adamCase},
	{name: "channelmean", tol: tols{"out": 1e-5}, run: channelMeanCase},
	{name: "network", tol: tols{"taps": 1e-5, "grad": 1e-4, "hyper": 1e-5, "loss": 1e-5}, run: networkCase},
	{name: "hypercolumns", tol: tols{"out": 1e-5, "grad": 1e-5}, run: hypercolumnsCase},
	{name: "hypercolumnloss", tol: tols{"loss": 1e-5, "coef": 1e-4, "grad": 1e-4}, run: hypercolumnLossCase},
	{name: "cosineloss", tol: tols{"loss": 1e-5, "grad": 1e-4}, run: cosineLossCase},
	{name: "colorloss", tol: tols{"loss": 1e-5, "grad": 1e-4}, run: colorLossCase},
	{name: "splitloss", tol: tols{"loss": 1e-5, "grad": 1e-4}, run: splitLossCase},
	// Every backend keeps Compact copies in fp16; the reference's style stays f32.
	{name: "compact", tol: tols{"loss": 2e-3, "grad": 1e-2}, run: compactCase},
	// Match and search: "vector", each result is a bank vector within this
	// of the bank's largest element; "cosine", its centred cosine to the
	// query is within this of the best (near-ties may go either way).
	{name: "match", tol: tols{"vector": 1e-5, "cosine": 1e-5}, half: tols{"vector": 2e-3, "cosine": 1e-3}, run: matchCase},
	{name: "search", tol: tols{"vector": 1e-5, "cosine": 1e-5}, half: tols{"vector": 2e-3, "cosine": 1e-3}, run: searchCase},
}

// ConvShape is a 3x3 conv from In to Out channels on an H x W image.
type ConvShape struct{ In, Out, H, W int }

// ConvShapes are the conv case's shapes.
var ConvShapes = []ConvShape{
	// VGG's first layer and other small inputs, odd sizes.
	{3, 8, 9, 11}, {3, 64, 16, 16}, {3, 64, 20, 17}, {3, 5, 6, 7}, {5, 70, 9, 13},
	// One pixel, one row, one column.
	{5, 7, 1, 1}, {32, 12, 1, 1}, {1, 1, 1, 5}, {2, 3, 7, 1}, {16, 20, 1, 5},
	// Channel counts off every tile and micro-kernel.
	{16, 17, 13, 7}, {33, 19, 5, 9}, {20, 9, 11, 10}, {7, 66, 23, 17},
	// At most 4 outputs (WebGPU's narrow kernel), rows longer than a tile.
	{64, 3, 9, 13}, {300, 2, 5, 6}, {8, 4, 3, 130}, {16, 5, 9, 40},
	{70, 30, 3, 31}, {150, 7, 4, 33}, {8, 12, 3, 16}, {4, 6, 5, 32},
	// Full tiles.
	{64, 64, 16, 16}, {64, 40, 12, 12},
	// Several K blocks, K split across workgroups (WebGPU).
	{300, 8, 7, 5}, {512, 32, 12, 12}, {20, 150, 17, 19}, {40, 70, 13, 11}, {64, 64, 9, 9}, {128, 64, 20, 18},
	// Winograd's kernel both ways (WebGPU).
	{12, 40, 17, 19}, {20, 36, 11, 10},
}

// nearestShapes are m bank rows of d elements, n queries; with m > 10,
// row 7 repeats row 3 (a tie, which goes to row 3).
var nearestShapes = []struct{ m, d, n int }{{1000, 67, 300}, {5, 3, 9}, {4097, 128, 17}, {30, 1, 8}}

// Tensors of the element-wise cases.
var (
	axpbyShape   = [3]int{3, 17, 19}
	zerosShape   = [3]int{2, 5, 7}
	rot90Shape   = [3]int{2, 5, 8}
	adamShape    = [3]int{2, 9, 11}
	meanShape    = [3]int{5, 13, 17}
	cosineShape  = [3]int{40, 6, 7} // one position is a zero vector
	colourShape  = [3]int{3, 9, 11}
	resizeShapes = [][4]int{{7, 9, 14, 18}, {16, 16, 8, 8}, {13, 11, 6, 5}, {5, 4, 17, 3}, {1, 3, 4, 1}, {9, 9, 9, 9}} // h, w to h, w
)

// networkImages are the network case's image sizes (odd ones: pools
// floor) for VGG19 with 1/16 of its channels.
var networkImages = [][2]int{{37, 29}, {40, 36}}

// tapSet is a set of taps and the hypercolumn grid they are resized to.
type tapSet struct {
	taps [][3]int
	h, w int
	relu bool // values like ReLU outputs (non-negative, many zeros)
}

var tapSets = []tapSet{
	// A 32 x 28 image's taps, odd channel counts (fp16 words across taps).
	{[][3]int{{4, 32, 28}, {3, 32, 28}, {5, 16, 14}, {8, 8, 7}, {9, 4, 3}, {6, 4, 3}}, 8, 7, true},
	// A 24 x 20 image's, some smaller than the grid, one of 1 x 1.
	{[][3]int{{4, 24, 20}, {3, 24, 20}, {8, 12, 10}, {16, 6, 5}, {32, 3, 2}, {32, 1, 1}}, 6, 5, false},
}

// splitCase is SplitLoss of an out tensor on style tensors of the same
// channels, with a sampling.
type splitCase struct {
	c, h, w int
	style   [][2]int
	s       nnst.Sample
}

var splitCases = []splitCase{
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 1}},
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 2, Y0: 1}},
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 3, Y0: 2, X0: 1}},
	// Four rotations at a tap's full size, as the final pass.
	{8, 24, 20, [][2]int{{22, 26}, {22, 26}, {22, 26}, {22, 26}}, nnst.Sample{Stride: 1}},
}

// compactCases are SplitLoss on Compact copies of the style tensors.
var compactCases = []splitCase{
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 1}},
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 3, Y0: 2, X0: 1}},
	{15, 13, 11, [][2]int{{12, 14}, {14, 12}}, nnst.Sample{Stride: 2, Y0: 1, X0: 1}},
}

// matchSpec is Match of a query on a bank of d-channel tensors; offsets
// shift channels so that centring matters, and with ties the first tie
// vectors of the second bank tensor repeat vectors of the first.
type matchSpec struct {
	d          int
	bank       [][2]int
	query      [2]int
	bankOff    float64 // per-channel offsets up to this (both bank tensors)
	queryShift float64 // added to every query element
	queryOff   float64 // per-channel query offsets up to this
	ties       int
}

var matchSpecs = []matchSpec{
	{d: 24, bank: [][2]int{{32, 32}, {24, 40}}, query: [2]int{48, 48}, queryShift: 0.3},
	// Sizes off the CPU's search tiles (1024 rows, 256 queries).
	{d: 37, bank: [][2]int{{50, 30}, {40, 25}}, query: [2]int{28, 25}, bankOff: 3, queryOff: 3, ties: 100},
}

// searchSpecs are searches over four banks of hypercolumns of a tap set
// (the fourth repeats the first: exact ties, which go to the first), for
// a query of qh x qw.
var searchSpecs = []struct {
	set, h, w, qh, qw int
	fieldFirst        bool // SearchField before the gathers (else EndSearch first, the field after)
}{
	{0, 16, 14, 12, 11, true},
	{1, 6, 5, 7, 9, false},
}
