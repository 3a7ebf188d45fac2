package nnst

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"nnst/core/tensor"
)

// Checkpoints let a run that failed part-way (a lost GPU, a crashed
// worker) go on from its last finished stage. Best offers one after each
// scale: the output pyramid's levels of that scale and coarser (its finer
// levels are the content's, as at the start). Fast offers one after its
// search: the vote and the matched hypercolumns. A run given one (Options.Resume) starts after
// that stage and computes what the run that offered it would have.

// A Checkpoint is a run's state after a stage it can resume from.
type Checkpoint struct {
	Mode   Mode
	Key    string // the inputs and options it belongs to (hex)
	Scale  int    // Best: the scales finished; Fast: 1 (the vote)
	Scales int
	// Best: the output pyramid's levels from the finished scale's to the
	// coarsest (the image at that scale is Syn of them); Fast: the vote.
	Images []*tensor.T
	Target *tensor.T // Fast: the matched hypercolumns (nil: none)
}

// ErrCheckpoint is a checkpoint that does not belong to the run given it.
var ErrCheckpoint = errors.New("the checkpoint does not belong to this run")

// Stage says in words which stage a checkpoint ends.
func (c *Checkpoint) Stage() string {
	if c.Mode == ModeFast {
		return "the match"
	}
	return fmt.Sprintf("scale %d of %d", c.Scale, c.Scales)
}

// Next says in words which stage a run was in when it failed after c.
func (c *Checkpoint) Next() string {
	if c.Mode == ModeFast || c.Scale >= c.Scales {
		return "the final pass"
	}
	return fmt.Sprintf("scale %d of %d", c.Scale+1, c.Scales)
}

// bestKey identifies what Best's scales depend on: both images (at the
// run's size) and the options.
func (r *run) bestKey(content, style *tensor.T) string {
	if r.key == "" {
		h := sha256.New()
		for _, t := range []*tensor.T{content, style} {
			binary.Write(h, binary.LittleEndian, [3]int32{int32(t.C), int32(t.H), int32(t.W)})
			binary.Write(h, binary.LittleEndian, t.Data)
		}
		o := r.o
		o.Resume = nil
		fmt.Fprintf(h, "%+v", o)
		r.key = hex.EncodeToString(h.Sum(nil))
	}
	return r.key
}

// offer reports p with a checkpoint (not in a dry run).
func (r *run) offer(p Progress, ck func() (*Checkpoint, error)) {
	if r.report == nil || isDry(r.be) {
		return
	}
	p.Checkpoint = ck
	p.Loss = math.NaN()
	r.tick(p, true)
}

// offerScale offers Best's state after the scale at pyramid level scl, the
// finished-th of scales.
func (r *run) offerScale(O []Tensor, content, style *tensor.T, scl, finished, scales int) {
	r.offer(Progress{Stage: StageScale, Scale: finished, Scales: scales, Step: r.o.Steps, Steps: r.o.Steps}, func() (*Checkpoint, error) {
		ck := &Checkpoint{Mode: ModeBest, Key: r.bestKey(content, style), Scale: finished, Scales: scales}
		for _, t := range O[scl:] {
			h, err := r.be.Download(t)
			if err != nil {
				return nil, err
			}
			ck.Images = append(ck.Images, h)
		}
		return ck, r.be.Err()
	})
}

// resumeScales puts Options.Resume's state into Best's output pyramid O
// and returns the scales it finished (0 without one).
func (r *run) resumeScales(O []Tensor, content, style *tensor.T, scales int) (int, error) {
	ck := r.o.Resume
	if ck == nil || isDry(r.be) {
		return 0, nil
	}
	switch {
	case ck.Mode != ModeBest:
		return 0, fmt.Errorf("%w: it is of the %s mode", ErrCheckpoint, ck.Mode)
	case ck.Scales != scales || ck.Scale < 1 || ck.Scale > scales:
		return 0, fmt.Errorf("%w: it ends scale %d of %d, and this run has %d", ErrCheckpoint, ck.Scale, ck.Scales, scales)
	case ck.Key != r.bestKey(content, style):
		return 0, fmt.Errorf("%w: other images or options", ErrCheckpoint)
	}
	scl := scales - ck.Scale
	if len(ck.Images) != len(O)-scl {
		return 0, fmt.Errorf("%w: it has %d levels, want %d", ErrCheckpoint, len(ck.Images), len(O)-scl)
	}
	for i, im := range ck.Images {
		if c, h, w := O[scl+i].Shape(); !fits(im, c, h, w) {
			return 0, fmt.Errorf("%w: its level %d is not %dx%dx%d", ErrCheckpoint, i, c, h, w)
		}
	}
	for i, im := range ck.Images {
		r.be.Free(O[scl+i])
		O[scl+i] = r.be.Upload(im)
	}
	for k := 0; k < ck.Scale; k++ { // the work units of the scales done
		r.add(float64(r.o.Steps+10) * math.Pow(0.25, float64(scales-1-k)))
	}
	return ck.Scale, r.be.Err()
}

// offerVote offers Fast's state after its search; the checkpoint shares
// the vote's tensors (read them, do not change them).
func (r *run) offerVote(key string, voted, target *tensor.T) {
	r.offer(Progress{Stage: StageMatch, Scale: 1, Scales: 1}, func() (*Checkpoint, error) {
		return &Checkpoint{Mode: ModeFast, Key: hex.EncodeToString([]byte(key)), Scale: 1, Scales: 1, Images: []*tensor.T{voted}, Target: target}, nil
	})
}

// resumeVote hands the stylizer Options.Resume's vote, which the run then
// reuses as it reuses the last run's.
func (r *run) resumeVote(content, style *tensor.T) error {
	ck := r.o.Resume
	if ck == nil || isDry(r.be) {
		return nil
	}
	fp := r.o.Fast.withDefaults(r.o.Flip)
	key := voteKey(content, style, r.o, fp)
	switch {
	case ck.Mode != ModeFast:
		return fmt.Errorf("%w: it is of the %s mode", ErrCheckpoint, ck.Mode)
	case ck.Key != hex.EncodeToString([]byte(key)):
		return fmt.Errorf("%w: other images or options", ErrCheckpoint)
	case len(ck.Images) != 1 || !fits(ck.Images[0], 3, content.H, content.W):
		return fmt.Errorf("%w: its vote is not 3x%dx%d", ErrCheckpoint, content.H, content.W)
	case (ck.Target != nil) != (fp.Match > 0):
		return fmt.Errorf("%w: its matched hypercolumns are missing or extra", ErrCheckpoint)
	case ck.Target != nil && !fits(ck.Target, ck.Target.C, ck.Target.H, ck.Target.W):
		return fmt.Errorf("%w: its matched hypercolumns are damaged", ErrCheckpoint)
	}
	r.s.fastCache = &voteCache{key: key, voted: ck.Images[0], target: ck.Target}
	return nil
}

// fits says whether t is c x h x w and holds that many values.
func fits(t *tensor.T, c, h, w int) bool {
	return t != nil && t.C == c && t.H == h && t.W == w && len(t.Data) == c*h*w
}
