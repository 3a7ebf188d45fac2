//go:build js && wasm

package webgpu

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall/js"
	"time"
)

// tuneKey is a conv's shape at one image size, and whether its choice
// counts the backward-data pass.
type tuneKey struct {
	in, out, h, w int
	backward      bool
}

// convChoice is how a conv runs: by Winograd's kernel where winoConv
// allows (one weight format serves both passes) or the direct one, and
// how each pass runs.
type convChoice struct {
	wino     bool
	fwd, bwd convRun
}

// tuneBatch is the GPU time Tune aims for in one timed batch of a kernel:
// long enough for timestamps quantised to 100 us (Chrome) to be exact to
// a few per cent.
const tuneBatch = 2 * time.Millisecond

// Tune picks the fastest way to run each conv of the loaded model on this
// GPU for an h x w image (the size the convs of the run's final scale
// see; from 64 px each side is rounded to a multiple of 64): Winograd's
// kernel or the direct one, and each pass's K step and whether it splits
// K where the grid is small, timing every candidate with timestamp
// queries over batches of about tuneBatch. With backward set the forward and backward-data passes count
// together (an optimisation step); otherwise only the forward pass.
// Choices are kept by conv shape, so a second call at the same size only
// applies them. It keeps the defaults on a fallback adapter (software: its
// times say nothing of a GPU) or without timestamp queries.
func (b *Backend) Tune(h, w int, backward bool) error {
	if b.model == nil {
		return errors.New("webgpu: Tune before LoadModel")
	}
	if !b.tunes() {
		return nil
	}
	for i, k := range b.tuneKeys(h, w, backward) {
		if k == nil {
			continue
		}
		ch, ok := b.tuned[*k]
		if !ok {
			var err error
			if ch, err = b.tuneConv(b.convs[i], *k); err != nil {
				return fmt.Errorf("tuning the conv kernels: %w", err)
			}
			b.tuned[*k] = ch
		}
		b.setConv(b.convs[i], ch)
	}
	return b.Err()
}

// NeedsTune reports whether Tune(h, w, backward) would time kernels, not
// only apply choices made before.
func (b *Backend) NeedsTune(h, w int, backward bool) bool {
	if b.model == nil || !b.tunes() {
		return false
	}
	for _, k := range b.tuneKeys(h, w, backward) {
		if k == nil {
			continue
		}
		if _, ok := b.tuned[*k]; !ok {
			return true
		}
	}
	return false
}

// tunes reports whether Tune times kernels on this device.
func (b *Backend) tunes() bool {
	return !b.dry && b.prof == nil && b.Info.Timestamps && (!b.Info.Fallback || b.tuneAny)
}

// tuneKeys returns the shape of each conv layer up to the last tap at an
// h x w image (nil for the pools, which halve it, flooring), its sides
// rounded to tuneRound px so that images of about the same shape share
// choices.
func (b *Backend) tuneKeys(h, w int, backward bool) []*tuneKey {
	h, w = tuneSide(h), tuneSide(w)
	keys := make([]*tuneKey, b.last+1)
	for i := range keys {
		c := b.convs[i]
		if c == nil {
			h, w = h/2, w/2
			continue
		}
		keys[i] = &tuneKey{c.in, c.out, h, w, backward}
	}
	return keys
}

// convSteps are the conv kernels' K steps this device can run
// (convRun.step): 1, and 2 where it has 24 KiB of workgroup memory.
func (b *Backend) convSteps() []int {
	if b.Limits.MaxComputeWorkgroupStorageSize >= 24<<10 {
		return []int{1, 2}
	}
	return []int{1}
}

// tuneRound is the multiple of which Tune times image sides from that size
// on (the nearest).
const tuneRound = 64

func tuneSide(v int) int {
	if v < tuneRound {
		return v
	}
	return (v + tuneRound/2) / tuneRound * tuneRound
}

// setConv makes a conv run as ch says, uploading its weights again if
// their format changes.
func (b *Backend) setConv(c *convLayer, ch convChoice) {
	if c.fwd.wino != (ch.wino && winoConv(c.in, c.out)) || c.bwd.wino != (ch.wino && winoConv(c.out, c.in)) {
		b.freeConvWeights(c)
		b.uploadConvWeights(c, ch.wino)
	}
	c.fwd.convRun, c.bwd.convRun = ch.fwd, ch.bwd
}

// tuneConv times conv c at shape k with each weight format and K step,
// with and without split K where the conv would split, in three rounds:
// one dispatch of each (to size the batches), then twice a batch of about
// tuneBatch, keeping each candidate's faster batch.
func (b *Backend) tuneConv(c *convLayer, k tuneKey) (convChoice, error) {
	cur := c.fwd.wino || c.bwd.wino // the format c's weights have now
	formats := []bool{cur}
	if winoConv(c.in, c.out) || winoConv(c.out, c.in) {
		formats = append(formats, !cur)
	}
	steps := b.convSteps()
	x := b.Zeros(c.in, k.h, k.w).(*Tensor)
	g := b.Zeros(c.out, k.h, k.w).(*Tensor)
	other := &convLayer{in: c.in, out: c.out, conv: c.conv}
	defer func() {
		b.Free(x, g)
		if other.fwd.buf != nil {
			b.freeConvWeights(other)
		}
	}()
	var cands []tuneCand
	var runs []func()
	for fi, wino := range formats {
		cl := c
		if fi > 0 {
			b.uploadConvWeights(other, wino)
			cl = other
		}
		for _, bwd := range []bool{false, true} {
			if bwd && (!k.backward || c.in <= narrowConv) || !bwd && c.out <= narrowConv {
				continue
			}
			for _, step := range steps {
				for _, nosplit := range []bool{false, true} {
					cw, cin, cout := cl.fwd, c.in, c.out
					if bwd {
						cw, cin, cout = cl.bwd, c.out, c.in
					}
					cw.convRun = convRun{step, nosplit}
					if _, _, split, _ := convGrid(k.h, k.w, cin, cout, cw.wino, step); nosplit && split == 1 {
						continue // the same as with split K
					}
					cands = append(cands, tuneCand{wino, bwd, cw.convRun})
					if bwd {
						runs = append(runs, func() { b.freeBuf(b.conv(g, cw, nil, cin, cout, false).buf) })
					} else {
						runs = append(runs, func() { b.freeBuf(b.conv(x, cw, c.bias, cin, cout, true).buf) })
					}
				}
			}
		}
	}
	ch := convChoice{wino: cur, fwd: convRun{step: 1}, bwd: convRun{step: 1}}
	if len(runs) == 0 {
		return ch, nil
	}
	reps := make([]int, len(runs))
	for i := range reps {
		reps[i] = 1
	}
	first, err := b.timeBatches(runs, reps)
	if err != nil {
		return ch, err
	}
	for i, t := range first {
		reps[i] = int(min(64, max(1, (tuneBatch+t-1)/max(t, time.Microsecond))))
	}
	best := make([]time.Duration, len(runs))
	for round := range 2 {
		ts, err := b.timeBatches(runs, reps)
		if err != nil {
			return ch, err
		}
		for i, t := range ts {
			if t /= time.Duration(reps[i]); round == 0 || t < best[i] {
				best[i] = t
			}
		}
	}
	if b.tuneLog != nil {
		b.tuneLog(k, cands, best)
	}
	return chooseConv(formats, cands, best), b.Err()
}

// tuneCand is a conv kernel Tune times: a pass by a weight format, run so.
type tuneCand struct {
	wino, bwd bool
	run       convRun
}

// chooseConv picks, for each weight format, each pass's fastest way to run
// (K step, split K or not), and then the format whose passes take the least time together (the first of
// formats on a tie), from the candidates' times.
func chooseConv(formats []bool, cands []tuneCand, times []time.Duration) convChoice {
	var ch convChoice
	var total time.Duration
	for fi, wino := range formats {
		fc := convChoice{wino: wino, fwd: convRun{step: 1}, bwd: convRun{step: 1}}
		var sum time.Duration
		for _, bwd := range []bool{false, true} {
			fastest := time.Duration(-1)
			for i, cd := range cands {
				if cd.wino != wino || cd.bwd != bwd || (fastest >= 0 && times[i] >= fastest) {
					continue
				}
				fastest = times[i]
				if bwd {
					fc.bwd = cd.run
				} else {
					fc.fwd = cd.run
				}
			}
			sum += max(fastest, 0)
		}
		if fi == 0 || sum < total {
			ch, total = fc, sum
		}
	}
	return ch
}

// timeBatches runs each of runs reps[i] times in a compute pass of its own
// whose start and end are written to a query set, and returns the passes'
// GPU times.
func (b *Backend) timeBatches(runs []func(), reps []int) ([]time.Duration, error) {
	b.Flush()
	// Freed buffers are reused within a batch; no flush for their sake.
	spare, budget := b.spare, b.budget
	b.spare, b.budget = 1<<62, 0
	defer func() { b.spare, b.budget = spare, budget }()
	set := b.dev.Call("createQuerySet", jsObject(map[string]any{"type": "timestamp", "count": 2 * len(runs)}))
	defer set.Call("destroy")
	for i, run := range runs {
		// Each run records at most two dispatches (a split conv's sum).
		if b.arenaOff+(2*reps[i]+2)*b.slot > arenaSize {
			b.Flush()
		}
		b.open()
		b.newPass(set, i)
		flushes := b.flushes
		for range reps[i] {
			run()
		}
		if b.flushes != flushes {
			b.Flush()
			return nil, errors.New("a timed batch was split by a flush")
		}
		b.newPass(js.Undefined(), 0)
	}
	b.Flush()
	if err := b.Err(); err != nil {
		return nil, err
	}
	return b.passTimes(set, len(runs))
}

// ConvKernels says how each conv of the loaded model runs, for benches and
// logs: layer, forward/backward kernel, W for Winograd's with its input
// channels per step, D for the direct one with its K rows per step, and
// "n" where K is not split ("conv1_1 D16/D16, conv1_2 W4/W8, conv4_2
// W8n/W4, ...").
func (b *Backend) ConvKernels() string {
	kernel := func(cw convWeights) string {
		s := fmt.Sprintf("D%d", 16*cw.step)
		if cw.wino {
			s = fmt.Sprintf("W%d", winoWC*cw.step)
		}
		if cw.nosplit {
			s += "n"
		}
		return s
	}
	var s []string
	for i, c := range b.convs {
		if c != nil && i <= b.last {
			s = append(s, fmt.Sprintf("%s %s/%s", b.model.Layers[i].Name, kernel(c.fwd), kernel(c.bwd)))
		}
	}
	return strings.Join(s, ", ")
}

// maxSavedTune bounds the choices SavedTune keeps (about 11 per image
// shape and pass set).
const maxSavedTune = 4096

// savedTune is SavedTune's text: Tune's choices with the adapter and the
// kernels they were timed on.
type savedTune struct {
	Adapter string        `json:"adapter"`
	Kernels string        `json:"kernels"`
	Choices []savedChoice `json:"choices"`
}

type savedChoice struct {
	In, Out, H, W int
	Backward      bool   `json:",omitempty"`
	Wino          bool   `json:",omitempty"`
	Fwd, Bwd      [2]int // K step, 1 where K is not split
}

// tuneIdentity names the adapter and the kernels whose times Tune's
// choices reflect.
func (b *Backend) tuneIdentity() (adapter, kernels string) {
	i := b.Info
	return strings.Join([]string{i.Vendor, i.Architecture, i.Device, i.Description}, "|"), KernelsVersion()
}

// SavedTune returns Tune's choices as text to keep across page loads
// (RestoreTune takes it back), or "" if none were made.
func (b *Backend) SavedTune() string {
	if len(b.tuned) == 0 {
		return ""
	}
	s := savedTune{}
	s.Adapter, s.Kernels = b.tuneIdentity()
	one := func(v bool) int {
		if v {
			return 1
		}
		return 0
	}
	for k, ch := range b.tuned {
		fwd, bwd := [2]int{ch.fwd.step, one(ch.fwd.nosplit)}, [2]int{ch.bwd.step, one(ch.bwd.nosplit)}
		s.Choices = append(s.Choices, savedChoice{k.in, k.out, k.h, k.w, k.backward, ch.wino, fwd, bwd})
	}
	// Smallest images first, in a fixed order.
	order := func(c savedChoice) []int { return []int{c.H * c.W, c.H, c.In, c.Out, one(c.Backward)} }
	slices.SortFunc(s.Choices, func(a, b savedChoice) int { return slices.Compare(order(a), order(b)) })
	if len(s.Choices) > maxSavedTune {
		s.Choices = s.Choices[len(s.Choices)-maxSavedTune:] // the largest shapes cost most to tune
	}
	out, _ := json.Marshal(s)
	return string(out)
}

// ErrTuneMismatch is RestoreTune's error for choices made on another
// adapter or with other kernels: they are left out.
var ErrTuneMismatch = errors.New("webgpu: saved kernel choices are for another adapter or other kernels")

// RestoreTune adds choices SavedTune returned (on an earlier page load) to
// Tune's, so that Tune need not time those shapes again, and returns how
// many it added. Text that does not parse or holds a choice this device
// cannot run changes nothing.
func (b *Backend) RestoreTune(text string) (int, error) {
	var s savedTune
	if err := json.Unmarshal([]byte(text), &s); err != nil {
		return 0, fmt.Errorf("webgpu: saved kernel choices: %w", err)
	}
	if adapter, kernels := b.tuneIdentity(); s.Adapter != adapter || s.Kernels != kernels {
		return 0, ErrTuneMismatch
	}
	steps := b.convSteps()
	run := func(r [2]int) (convRun, bool) {
		return convRun{step: r[0], nosplit: r[1] == 1}, slices.Contains(steps, r[0]) && (r[1] == 0 || r[1] == 1)
	}
	add := map[tuneKey]convChoice{}
	for _, c := range s.Choices {
		fwd, ok1 := run(c.Fwd)
		bwd, ok2 := run(c.Bwd)
		if !ok1 || !ok2 || c.In <= 0 || c.Out <= 0 || c.H <= 0 || c.W <= 0 {
			return 0, fmt.Errorf("webgpu: saved kernel choice %+v cannot run here", c)
		}
		add[tuneKey{c.In, c.Out, c.H, c.W, c.Backward}] = convChoice{c.Wino, fwd, bwd}
	}
	n := 0
	for k, ch := range add {
		if _, ok := b.tuned[k]; !ok {
			b.tuned[k] = ch
			n++
		}
	}
	return n, nil
}
