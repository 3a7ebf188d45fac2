// Package nnst is the Neural Neighbor Style Transfer pipeline (NNST-Opt) of
// shared/NNST.md, written against the Backend interface.
package nnst

import (
	"errors"
	"fmt"
	"time"

	"nnst/core/model"
	"nnst/core/tensor"
)

// Options are the user's settings. Zero values mean the defaults of
// NNST.md; use Defaults() and change what you need.
type Options struct {
	Mode        Mode       // ModeBest (NNST-Opt, the default) or ModeFast
	Size        int        // long side of the output (512; 1024 with high-res)
	Scales      int        // coarse-to-fine scales (4; 5 with high-res)
	Steps       int        // Adam steps per scale and in the final pass (200)
	Alpha       float64    // 0..1, higher keeps more content (0.75)
	LR          float32    // Adam learning rate (2e-3)
	Flip        bool       // add the style's rotations to its features (on)
	Color       bool       // colour matching (on)
	ContentLoss bool       // optional content loss (off)
	Seed        uint64     // seeds the final pass's random sampling
	Fast        FastParams // the fast mode's levers (zero: defaults)
	Compat      Compat     // CompatReference: the reference's quirks (Best only)
	// Resume, when set, starts the run after the stage a checkpoint of
	// an earlier run with the same inputs and options saved (resume.go).
	Resume *Checkpoint
}

// Compat chooses between our fixes and the public reference's behaviour.
type Compat string

const (
	CompatNone      Compat = ""          // our fixes (NNST.md), the default
	CompatReference Compat = "reference" // as the reference does: see reference.go
)

// ParseCompat reads a compat mode's name ("none" or "" is the default).
func ParseCompat(s string) (Compat, error) {
	switch s {
	case "", "none":
		return CompatNone, nil
	case string(CompatReference):
		return CompatReference, nil
	}
	return "", fmt.Errorf("compat must be none or reference, got %q", s)
}

// Mode chooses the algorithm.
type Mode string

const (
	ModeBest Mode = "best" // NNST-Opt as NNST.md describes it
	ModeFast Mode = "fast" // ours: see fast.go
)

// ParseMode reads a mode's name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeBest, ModeFast:
		return m, nil
	}
	return "", fmt.Errorf("mode must be fast or best, got %q", s)
}

// FastDefaults returns the defaults of the fast mode.
func FastDefaults() Options {
	o := Defaults(false)
	o.Mode, o.Steps = ModeFast, FastSteps
	return o
}

// Defaults returns NNST.md's defaults; highRes selects 1024 px and 5 scales.
func Defaults(highRes bool) Options {
	o := Options{Mode: ModeBest, Size: 512, Scales: 4, Steps: 200, Alpha: 0.75, LR: 2e-3, Flip: true, Color: true}
	if highRes {
		o.Size, o.Scales = 1024, 5
	}
	return o
}

// Validate checks the options.
func (o Options) Validate() error {
	switch {
	case o.Mode != "" && o.Mode != ModeBest && o.Mode != ModeFast:
		return fmt.Errorf("mode must be fast or best, got %q", o.Mode)
	case o.Alpha < 0 || o.Alpha > 1 || o.Alpha != o.Alpha:
		return fmt.Errorf("alpha must be between 0 and 1, got %g", o.Alpha)
	case o.Size < MinSize || o.Size > MaxSize:
		return fmt.Errorf("size must be between %d and %d px, got %d", MinSize, MaxSize, o.Size)
	case o.Scales < 1 || o.Scales > MaxScales:
		return fmt.Errorf("scales must be between 1 and %d, got %d", MaxScales, o.Scales)
	case o.Steps < 0 || o.Steps > MaxSteps:
		return fmt.Errorf("steps must be between 0 and %d, got %d", MaxSteps, o.Steps)
	case !(o.LR > 0):
		return fmt.Errorf("learning rate must be positive, got %g", o.LR)
	case o.Compat != CompatNone && o.Compat != CompatReference:
		return fmt.Errorf("compat must be none or reference, got %q", o.Compat)
	case o.Compat == CompatReference && o.Mode == ModeFast:
		return fmt.Errorf("compat reference is for the best mode only: the fast mode is ours and has no reference to follow")
	}
	return nil
}

// Size limits. Inputs must be at least 64 px on their short side (imageio
// checks that); after resizing to the chosen size the short side must still
// be at least MinSide px.
const (
	MinSize = 64
	MaxSize = 4096
	MinSide = 32
)

// Limits on the other options.
const (
	MaxScales = 8
	MaxSteps  = 100000
)

// Stage names reported in Progress.
const (
	StagePrepare = "preparing"
	StageMatch   = "matching features"
	StageScale   = "optimising"
	StageFinal   = "final pass"
	StageColor   = "colour matching"
	StageDone    = "done"
)

// Progress describes where a run is.
type Progress struct {
	Stage    string
	Scale    int // 1-based scale during StageScale/StageMatch, coarse first
	Scales   int
	Step     int // steps done in this stage
	Steps    int
	Loss     float64 // last loss read back (NaN when not read this time)
	Fraction float64 // of the whole run's work, 0..1
	Elapsed  time.Duration
	ETA      time.Duration // 0 when unknown
	// Preview returns the current output image (RGB, clamped to [0,1]); it
	// is only valid during the callback and costs a download.
	Preview func() (*tensor.T, error)
	// Checkpoint, set only in the report at the end of a stage a run can
	// resume from, returns the run's state there (a small download); it
	// is only valid during the callback.
	Checkpoint func() (*Checkpoint, error)
}

// ErrCancelled is returned when the context is cancelled mid-run.
var ErrCancelled = errors.New("stylization cancelled")

// Stylizer runs NNST with one backend and model.
type Stylizer struct {
	be        Backend
	model     *model.Model
	fastCache *voteCache // the last fast run's vote
}

// New prepares a stylizer: it loads the model into the backend.
func New(be Backend, m *model.Model) (*Stylizer, error) {
	if err := be.LoadModel(m); err != nil {
		return nil, err
	}
	return &Stylizer{be: be, model: m}, nil
}

// Backend returns the stylizer's backend.
func (s *Stylizer) Backend() Backend { return s.be }
