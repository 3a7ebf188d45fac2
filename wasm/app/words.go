package main

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"nnst/core/imageio"
	"nnst/core/nnst"
)

// What the page says, in words: durations, stages, settings, notes on the
// inputs, and file names.

// duration says how long something took: "42 s", "3 min 05 s".
func duration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %02d min", s/3600, s/60%60)
}

// roughly rounds a duration for an estimate.
func roughly(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "a few seconds"
	case d < 90*time.Second:
		return fmt.Sprintf("%d s", int(d.Seconds()/5+0.5)*5)
	case d < 90*time.Minute:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("%.0f h", d.Hours())
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// stageTune is the progress stage while Preparer.Tune times the conv
// kernels (the first run at a size on a GPU).
const stageTune = "tune"

// stageText says where a run is.
func stageText(m progressMsg) string {
	switch m.Stage {
	case stageTune:
		return "Choosing the fastest GPU kernels for this size"
	case nnst.StagePrepare:
		return "Preparing the images"
	case nnst.StageMatch:
		return fmt.Sprintf("Scale %d of %d: matching style features", m.Scale, m.Scales)
	case nnst.StageScale:
		return fmt.Sprintf("Scale %d of %d: step %d of %d", m.Scale, m.Scales, m.Step, m.Steps)
	case nnst.StageFinal:
		if m.Step == 0 {
			return "Final pass: preparing"
		}
		return fmt.Sprintf("Final pass: step %d of %d", m.Step, m.Steps)
	case nnst.StageColor:
		return "Colour matching"
	case nnst.StageDone:
		return "Finishing"
	}
	return m.Stage
}

// alphaHint explains the balance slider at a in mode.
func alphaHint(a float64, mode nnst.Mode) string {
	var hint string
	switch {
	case a < 0.3:
		hint = "Mostly style: the photo's shapes may dissolve into the painting."
	case a < 0.6:
		hint = "Balanced: a strong style with the photo's layout."
	case a < 0.9:
		hint = "More content: the photo stays clearly recognisable, painted in the style."
	default:
		hint = "Almost all content: only a light touch of the style."
	}
	how := "In Best, the balance steers the matching at each scale; the final pass follows the style alone, so the slider changes less."
	if mode == nnst.ModeFast {
		how = "In Fast, the balance steers the whole run."
	}
	return "Left paints more style, right keeps more of the photo. " + hint + " " + how
}

// workText describes a run's work, with its operations when counted.
func (o runOptions) workText(flops float64) string {
	w := fmt.Sprintf("Best: %s × %s, then a final pass of %s", plural(o.Scales, "scale"), plural(o.Steps, "step"), plural(o.Steps, "step"))
	if o.Mode == nnst.ModeFast {
		w = fmt.Sprintf("Fast: one match, then a final pass of %s", plural(o.Steps, "step"))
	}
	if flops > 0 {
		w += fmt.Sprintf(" · %.2f TFLOP", flops/1e12)
	}
	return w
}

// settingsText lists a run's settings.
func (o runOptions) settingsText() string {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	return fmt.Sprintf("alpha %.2f · style rotations %s · colour matching %s · content loss %s", o.Alpha, onOff(o.Flip), onOff(o.Color), onOff(o.ContentLoss))
}

// sizeNames are the output sizes' names on the page.
var sizeNames = map[int]string{256: "Small", 512: "Standard", 1024: "Large", 2048: "Print", 4096: "Poster"}

// modeName is a mode's name on the page.
func modeName(m nnst.Mode) string {
	if m == nnst.ModeFast {
		return "Fast"
	}
	return "Best"
}

// gigabytes says a number of bytes in GB: "0.8 GB", "24 GB".
func gigabytes(b int64) string {
	if g := float64(b) / 1e9; g < 9.95 {
		return fmt.Sprintf("%.1f GB", g)
	}
	return fmt.Sprintf("%.0f GB", float64(b)/1e9)
}

// limitText says why what ("Best at 2048 px", "4096 px") is not offered;
// eta is how long the run would take here (0: unknown).
func limitText(what string, l limit, eta time.Duration) string {
	switch l.Kind {
	case limitBuffer:
		if l.Need > 0 {
			return fmt.Sprintf("%s needs more GPU memory in one buffer (%s) than this device grants (%s).", what, gigabytes(l.Need), gigabytes(l.Allow))
		}
		return what + " needs more GPU memory than this device grants."
	case limitMemory:
		if l.Need > 0 {
			return fmt.Sprintf("%s needs %s of GPU memory, more than the %s this page asks a device for.", what, gigabytes(l.Need), gigabytes(l.Allow))
		}
		return what + " needs more GPU memory than this device grants."
	case limitCPU:
		var would []string
		if l.Need > 0 {
			would = append(would, "need "+gigabytes(l.Need)+" of memory")
		}
		if eta > 0 {
			would = append(would, "take about "+roughly(eta))
		}
		if len(would) == 0 {
			return what + " needs WebGPU: on the CPU, a run this large does not fit the tab's WebAssembly memory."
		}
		return what + " needs WebGPU: on the CPU it would " + strings.Join(would, " and ") + "."
	case limitFailed:
		return what + " cannot be planned on this device (its dry run failed)."
	}
	return ""
}

// modeNote says how long each mode takes at size on this device (0:
// unknown) where it is offered, and why a mode is not (its limitText, or
// "" when it is offered).
func modeNote(size int, fast, best time.Duration, fastWhy, bestWhy string) string {
	var times []string
	if fastWhy == "" && fast > 0 {
		times = append(times, "Fast about "+roughly(fast))
	}
	if bestWhy == "" && best > 0 {
		times = append(times, "Best about "+roughly(best))
	}
	note := ""
	if len(times) > 0 {
		note = fmt.Sprintf("At %d px on this device: %s.", size, strings.Join(times, ", "))
	}
	for _, w := range []string{fastWhy, bestWhy} {
		if w != "" {
			note += " " + w
		}
	}
	if bestWhy != "" && fastWhy == "" {
		note += " Use Fast."
	}
	return strings.TrimSpace(note)
}

// memoryText says how much WebAssembly memory the worker holds: Go's,
// and the SIMD kernels' (0: none).
func memoryText(heap, kernels int64) string {
	if kernels == 0 {
		return gigabytes(heap)
	}
	return fmt.Sprintf("%s (Go %s, SIMD kernels %s)", gigabytes(heap+kernels), gigabytes(heap), gigabytes(kernels))
}

// sizeNote tells what happens to an image of origW×origH at the output
// size.
func sizeNote(origW, origH, size int) string {
	h, w := imageio.FitDims(origH, origW, size)
	switch {
	case min(h, w) < nnst.MinSide:
		return fmt.Sprintf("Too narrow for %d px: it would be %d×%d px, and the short side must stay at least %d px. Choose a larger size or a less elongated image.", size, w, h, nnst.MinSide)
	case max(origW, origH) > size:
		return fmt.Sprintf("It will be scaled down to %d×%d px for the %d px output.", w, h, size)
	case max(origW, origH) < size:
		return fmt.Sprintf("It will be enlarged to %d×%d px for the %d px output.", w, h, size)
	}
	return ""
}

// tooNarrow says whether a sizeNote refuses the size.
func tooNarrow(note string) bool { return strings.HasPrefix(note, "Too narrow") }

// decodeMessage says in words why a file was refused.
func decodeMessage(name string, err error) string {
	detail := err.Error()
	for _, e := range []error{imageio.ErrTooSmall, imageio.ErrTooLarge, imageio.ErrCorrupt} {
		detail = strings.TrimPrefix(detail, e.Error()+": ")
	}
	switch {
	case errors.Is(err, imageio.ErrNotImage):
		return fmt.Sprintf("“%s” is not an image this app can read. Use a PNG, JPEG, GIF or WebP file.", name)
	case errors.Is(err, imageio.ErrTooSmall):
		return fmt.Sprintf("“%s” is too small: %s. Use a larger image.", name, strings.Replace(detail, "image is", "it is", 1))
	case errors.Is(err, imageio.ErrTooLarge):
		return fmt.Sprintf("“%s” is too large: %s.", name, strings.Replace(detail, "image is", "it is", 1))
	case errors.Is(err, imageio.ErrCorrupt):
		return fmt.Sprintf("“%s” is damaged or truncated and cannot be decoded (%s).", name, detail)
	}
	return fmt.Sprintf("“%s” could not be decoded: %v.", name, err)
}

// fileStem is the part of a file name the result's name keeps: its base
// without the extension, as a slug; fallback when nothing is left.
func fileStem(name, fallback string) string {
	if s := slug(strings.TrimSuffix(path.Base(name), path.Ext(name))); s != "" {
		return s
	}
	return fallback
}

// resultStem is the downloaded files' name without the extension.
func resultStem(content, style string) string {
	return content + "-in-style-of-" + style
}

// slug keeps letters and digits, joined by single dashes, at most 40.
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		} else {
			dash = true
		}
	}
	out := b.String()
	if len(out) > 40 {
		out = strings.TrimRight(out[:40], "-")
	}
	return out
}

// stages says in words the stage a run failed in after checkpoint c, and
// the stage c ends.
func (c *checkpoint) stages() (during, after string) {
	ck := &nnst.Checkpoint{Mode: c.Mode, Scale: c.Scale, Scales: c.Scales}
	return ck.Next(), ck.Stage()
}

// resumeText says what happened to a run that resumed after a fault: why it
// stopped (a sentence without its full stop), in which stage, and from the
// end of which stage it went on, on which backend.
func resumeText(why, during, after, backend string) string {
	return fmt.Sprintf("%s during %s. The run resumed from the end of %s on %s, keeping the work done before.",
		strings.TrimSuffix(why, "."), during, after, backend)
}
