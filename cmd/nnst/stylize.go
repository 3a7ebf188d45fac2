package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
)

var errInterrupted = errors.New("interrupted")

type stylizeOpts struct {
	content, style, output, model string
	mode, maxMemory, compat       string
	alpha                         float64
	size, steps, scales, threads  int
	highRes, noFlip, noColor      bool
	contentLoss, quiet            bool
	seed                          uint64
}

var so stylizeOpts

func stylizeFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("stylize", flag.ContinueOnError)
	fs.StringVar(&so.content, "content", "", "content image (PNG, JPEG, GIF or WebP); required")
	fs.StringVar(&so.style, "style", "", "style image; required")
	fs.StringVar(&so.output, "output", "", "output image, .png or .jpg; required")
	fs.StringVar(&so.mode, "mode", "best", "best (NNST-Opt, the reference's quality) or fast (about 1/25 of the work; see README)")
	fs.StringVar(&so.compat, "compat", "none", "none (our fixes) or reference: behave as the public reference does where it differs, quirks and all (best mode only; both images need 256 px on their short side at --size; see docs/reference.md)")
	fs.Float64Var(&so.alpha, "alpha", nnst.Defaults(false).Alpha, "0..1: higher keeps more of the content, lower paints more style")
	fs.IntVar(&so.size, "size", 0, fmt.Sprintf("long side of the output in px, %d..%d (default 512, or 1024 with --high-res)", nnst.MinSize, nnst.MaxSize))
	fs.BoolVar(&so.highRes, "high-res", false, "1024 px output with 5 scales")
	fs.BoolVar(&so.noFlip, "no-flip", false, "do not add the style's rotations to its features")
	fs.BoolVar(&so.noColor, "no-color", false, "skip colour matching")
	fs.BoolVar(&so.contentLoss, "content-loss", false, "add the content (colour distance) loss")
	fs.IntVar(&so.steps, "steps", 200, fmt.Sprintf("Adam steps per scale and in the final pass, 0..%d (fast mode: of its final pass, default %d)", nnst.MaxSteps, nnst.FastSteps))
	fs.IntVar(&so.scales, "scales", 0, fmt.Sprintf("coarse-to-fine scales, 1..%d (default 4, or 5 with --high-res)", nnst.MaxScales))
	fs.Uint64Var(&so.seed, "seed", 0, "random seed of the final pass (runs are deterministic for a seed)")
	fs.StringVar(&so.model, "model", "", "model file (default: build/models/vgg19.safetensors, built by 'make model'); a TensorFlow.js model.json, .pth or .safetensors source is converted on the fly")
	fs.IntVar(&so.threads, "threads", 0, fmt.Sprintf("CPU threads, 1..%d (4 per core; default: all cores)", maxThreads()))
	fs.StringVar(&so.maxMemory, "max-memory", "", maxMemoryHelp)
	fs.BoolVar(&so.quiet, "quiet", false, "no progress output")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst stylize --content C --style S --output O [options]\n\nPaints the content image in the style of the style image (NNST-Opt) on the CPU.\nCtrl-C stops cleanly and writes nothing.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runStylize(args []string) error {
	so = stylizeOpts{}
	fs := stylizeFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := required("stylize", [2]string{"--content", so.content}, [2]string{"--style", so.style}, [2]string{"--output", so.output}); err != nil {
		return err
	}
	mode, err := nnst.ParseMode(so.mode)
	if err != nil {
		return usageError{err.Error()}
	}
	compat, err := nnst.ParseCompat(so.compat)
	if err != nil {
		return usageError{"--compat: " + err.Error()}
	}
	o := nnst.Defaults(so.highRes)
	if mode == nnst.ModeFast {
		o = nnst.FastDefaults()
		if so.highRes {
			o.Size = 1024
		}
	}
	set := setFlags(fs)
	if err := firstErr(
		alphaRange(so.alpha),
		ifSet(set, "size", so.size, nnst.MinSize, nnst.MaxSize),
		ifSet(set, "scales", so.scales, 1, nnst.MaxScales),
		ifSet(set, "steps", so.steps, 0, nnst.MaxSteps),
		ifSet(set, "threads", so.threads, 1, maxThreads()),
	); err != nil {
		return err
	}
	o.Alpha = so.alpha
	if set["steps"] {
		o.Steps = so.steps
	}
	o.Flip = !so.noFlip
	o.Color = !so.noColor
	o.ContentLoss = so.contentLoss
	o.Seed = so.seed
	o.Compat = compat
	if set["size"] {
		o.Size = so.size
	}
	if set["scales"] {
		o.Scales = so.scales
	}
	if err := o.Validate(); err != nil {
		return usageError{err.Error()}
	}
	mem, err := memoryBudget(so.maxMemory)
	if err != nil {
		return err
	}
	if so.threads > 0 {
		runtime.GOMAXPROCS(so.threads)
	}
	if err := checkWritable(so.output); err != nil {
		return err
	}
	// The sizes from the headers: refuse what cannot run before decoding.
	var shapes [2][2]int
	for i, f := range [2][2]string{{"content", so.content}, {"style", so.style}} {
		h, w, err := imageio.ReadSize(f[1])
		if err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
		fitSize := nnst.FitSize
		if o.Compat == nnst.CompatReference {
			fitSize = nnst.ReferenceFitSize
		}
		if _, _, err := fitSize(h, w, o.Size, f[0]); err != nil {
			return err
		}
		shapes[i] = [2]int{h, w}
	}
	m, err := loadModel(so.model)
	if err != nil {
		return err
	}
	// Reference mode costs what the default does (est): its dry runs
	// would refuse the smaller sizes that checkMemory tries.
	est := o
	est.Compat = nnst.CompatNone
	if err := checkMemory(m, est, mem, shapes[:]...); err != nil {
		return err
	}
	limitHeap(mem)
	// Reference mode decodes at full size: Run resizes as the reference.
	contentFit, styleFit := fitTo(o.Size, "content"), fitTo(o.Size, "style")
	if o.Compat == nnst.CompatReference {
		contentFit, styleFit = nil, nil
	}
	content, err := imageio.DecodeFileFit(so.content, contentFit)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	style, err := imageio.DecodeFileFit(so.style, styleFit)
	if err != nil {
		return fmt.Errorf("style: %w", err)
	}
	be := nnst.Count(cpu.New())
	s, err := nnst.New(be, m)
	if err != nil {
		return err
	}
	if !so.quiet {
		if line, err := forecast(be, m, est, content.H, content.W); err == nil && line != "" {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep := newReporter(os.Stderr, so.quiet)
	start := time.Now()
	out, err := s.Run(ctx, content, style, o, rep.report)
	rep.finish()
	if err != nil {
		if errors.Is(err, nnst.ErrCancelled) {
			return errInterrupted
		}
		return err
	}
	if err := imageio.SaveFile(so.output, out); err != nil {
		return err
	}
	if !so.quiet {
		mode := string(o.Mode)
		if o.Compat != nnst.CompatNone {
			mode += ", compat " + string(o.Compat)
		}
		fmt.Fprintf(os.Stderr, "wrote %s (%dx%d) in %s, %s mode, %.2f TFLOP\n", so.output, out.W, out.H, time.Since(start).Round(100*time.Millisecond), mode, be.Flops()/1e12)
	}
	return nil
}

// checkWritable fails early on an output path that could not be written.
func checkWritable(path string) error {
	if _, err := imageio.FormatForPath(path); err != nil {
		return usageError{"--output: " + err.Error()} // err names the file
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("output %s is a directory", path)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".nnst-check-*")
	if err != nil {
		return fmt.Errorf("cannot write output to %s: %w", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

// loadModel loads our model file, converting other formats on the fly
// (Convert loads our own .safetensors as it is).
func loadModel(path string) (*model.Model, error) {
	if path == "" {
		p, err := defaultModelPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	m, err := model.Convert(path, "")
	if err != nil {
		return nil, fmt.Errorf("model: %w", err) // err names the file
	}
	return m, nil
}

const defaultModel = "build/models/vgg19.safetensors"

func defaultModelPath() (string, error) {
	cands := []string{defaultModel}
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		cands = append(cands, filepath.Join(dir, "models", "vgg19.safetensors"), filepath.Join(dir, "..", defaultModel))
	}
	for _, c := range cands {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("no model found at %s: run 'make model' or pass --model", defaultModel)
}

// reporter shows progress: a bar on a terminal, plain lines otherwise.
type reporter struct {
	w       io.Writer
	quiet   bool
	tty     bool
	bar     *progressbar.ProgressBar
	last    string
	lastOut time.Time
}

func newReporter(w *os.File, quiet bool) *reporter {
	r := &reporter{w: w, quiet: quiet, tty: term.IsTerminal(int(w.Fd()))}
	if r.tty && !quiet {
		r.bar = progressbar.NewOptions(1000,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionClearOnFinish(),
		)
	}
	return r
}

func describe(p nnst.Progress) string {
	var s string
	switch p.Stage {
	case nnst.StageScale:
		s = fmt.Sprintf("scale %d/%d, step %d/%d", p.Scale, p.Scales, p.Step, p.Steps)
	case nnst.StageMatch:
		s = fmt.Sprintf("scale %d/%d, matching features", p.Scale, p.Scales)
	case nnst.StageFinal:
		s = fmt.Sprintf("final pass, step %d/%d", p.Step, p.Steps)
	default:
		s = p.Stage
	}
	if !math.IsNaN(p.Loss) && (p.Stage == nnst.StageScale || p.Stage == nnst.StageFinal) && p.Step > 0 {
		s += fmt.Sprintf(", loss %.4f", p.Loss)
	}
	return s
}

func (r *reporter) report(p nnst.Progress) {
	if r.quiet {
		return
	}
	d := describe(p)
	eta := "ETA --"
	if p.ETA > 0 {
		eta = "ETA " + p.ETA.Round(time.Second).String()
	}
	if r.bar != nil {
		r.bar.Describe(fmt.Sprintf("%-40s %s", d, eta))
		r.bar.Set(int(p.Fraction * 1000))
		return
	}
	if p.Stage != r.last || time.Since(r.lastOut) > 5*time.Second || p.Step == p.Steps {
		fmt.Fprintf(r.w, "[%5.1f%%] %s, elapsed %s, %s\n", 100*p.Fraction, d, p.Elapsed.Round(time.Second), eta)
		r.last, r.lastOut = p.Stage, time.Now()
	}
}

func (r *reporter) finish() {
	if r.bar != nil {
		r.bar.Finish()
	}
}
