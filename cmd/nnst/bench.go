package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"nnst/core/conv"
	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/score"
	"nnst/core/tensor"
)

var bo struct {
	sizes, content, style, model, modes string
	maxMemory                           string
	steps                               int
	convOnly, score                     bool
}

func benchFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&bo.sizes, "sizes", "256,512", fmt.Sprintf("stylization sizes to time, %d..%d px each", nnst.MinSize, nnst.MaxSize))
	fs.StringVar(&bo.modes, "modes", "fast,best", "modes to time, side by side")
	fs.IntVar(&bo.steps, "steps", 10, fmt.Sprintf("Best's steps per scale and final pass in the timed stylizations, 0..%d (Fast runs its defaults)", nnst.MaxSteps))
	fs.BoolVar(&bo.score, "score", false, "also score each output (nnst score; about a minute each at 512 px)")
	fs.StringVar(&bo.content, "content", "../shared/images/content-c1.jpg", "content image")
	fs.StringVar(&bo.style, "style", "../shared/images/style-s4.jpg", "style image")
	fs.StringVar(&bo.model, "model", "", "model file (default build/models/vgg19.safetensors)")
	fs.BoolVar(&bo.convOnly, "conv-only", false, "only time the convolutions")
	fs.StringVar(&bo.maxMemory, "max-memory", "", maxMemoryHelp)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst bench [options]\n\nPrints a Markdown report: GFLOP/s of conv forward and backward-data on\nVGG19's shapes at 256 px, and seconds per stylization, using all cores.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runBench(args []string) error {
	fs := benchFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := inRange("steps", bo.steps, 0, nnst.MaxSteps); err != nil {
		return err
	}
	var sizes []int
	for _, f := range strings.Split(bo.sizes, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return usageError{fmt.Sprintf("--sizes: want sizes in px separated by commas, got %q", bo.sizes)}
		}
		if err := inRange("sizes", size, nnst.MinSize, nnst.MaxSize); err != nil {
			return err
		}
		sizes = append(sizes, size)
	}
	var modes []nnst.Mode
	for _, f := range strings.Split(bo.modes, ",") {
		md, err := nnst.ParseMode(strings.TrimSpace(f))
		if err != nil {
			return usageError{"--modes: " + err.Error()}
		}
		modes = append(modes, md)
	}
	mem, err := memoryBudget(bo.maxMemory)
	if err != nil {
		return err
	}
	var m *model.Model
	if !bo.convOnly {
		// The sizes from the headers: refuse what cannot run before timing.
		var inputs [2][2]int
		for i, f := range [2][2]string{{"content", bo.content}, {"style", bo.style}} {
			h, w, err := imageio.ReadSize(f[1])
			if err != nil {
				return fmt.Errorf("%s: %w", f[0], err)
			}
			for _, size := range sizes {
				if _, _, err := nnst.FitSize(h, w, size, f[0]); err != nil {
					return err
				}
			}
			inputs[i] = [2]int{h, w}
		}
		if m, err = loadModel(bo.model); err != nil {
			return err
		}
		for _, size := range sizes {
			for _, md := range modes {
				if err := checkMemory(m, benchOptions(md, size), mem, inputs[:]...); err != nil {
					return err
				}
			}
		}
		limitHeap(mem)
	}
	fmt.Printf("## CPU (Go), %s, %d threads, %s/%s\n\n", cpuName(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("Conv 3x3 on VGG19's shapes at 256 px input:\n\n| layer | in->out | size | forward GFLOP/s | backward-data GFLOP/s |\n|---|---|---|---|---|\n")
	shapes := []struct {
		name        string
		in, out, hw int
	}{{"conv1_1", 3, 64, 256}, {"conv1_2", 64, 64, 256}, {"conv2_1", 64, 128, 128}, {"conv2_2", 128, 128, 128},
		{"conv3_1", 128, 256, 64}, {"conv3_2", 256, 256, 64}, {"conv4_1", 256, 512, 32}, {"conv4_2", 512, 512, 32}}
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range shapes {
		w := make([]float32, s.out*s.in*9)
		for i := range w {
			w[i] = float32(r.NormFloat64() * 0.05)
		}
		l := conv.NewLayer(s.in, s.out, w, make([]float32, s.out))
		x := make([]float32, s.in*s.hw*s.hw)
		y := make([]float32, s.out*s.hw*s.hw)
		for i := range x {
			x[i] = r.Float32()
		}
		flop := 2 * float64(s.in*s.out*9*s.hw*s.hw)
		fwd := timeIt(func() { l.Forward(x, s.hw, s.hw, true, y) })
		bwd := timeIt(func() { l.BackwardData(y, s.hw, s.hw, x) })
		fmt.Printf("| %s | %d->%d | %dx%d | %.1f | %.1f |\n", s.name, s.in, s.out, s.hw, s.hw, flop/fwd.Seconds()/1e9, flop/bwd.Seconds()/1e9)
	}
	if bo.convOnly {
		return nil
	}
	var sr *score.Scorer
	if bo.score {
		var err error
		if sr, err = score.New(cpu.New(), m); err != nil {
			return err
		}
	}
	fmt.Printf("\nStylization (%s, %s and %s, Best with %d steps per scale and in the final pass, defaults otherwise; TFLOP counted as the run goes, and for a whole default run by a dry run):\n\n", m.Arch, bo.content, bo.style, bo.steps)
	fmt.Printf("| size | mode | steps | TFLOP | default run TFLOP | seconds | GFLOP/s | peak tensor memory |")
	if sr != nil {
		fmt.Printf(" split | hyper | gram | content | ssim |")
	}
	sep := "|---|---|---|---|---|---|---|---|"
	if sr != nil {
		sep += "---|---|---|---|---|"
	}
	fmt.Println("\n" + sep)
	for _, size := range sizes {
		// Decoded straight to the size, as nnst stylize does.
		content, err := imageio.DecodeFileFit(bo.content, fitTo(size, "content"))
		if err != nil {
			return err
		}
		style, err := imageio.DecodeFileFit(bo.style, fitTo(size, "style"))
		if err != nil {
			return err
		}
		for _, md := range modes {
			if err := benchRun(m, sr, content, style, md, size); err != nil {
				return err
			}
		}
	}
	return nil
}

// benchRun times one stylization and prints its row.
func benchRun(m *model.Model, sr *score.Scorer, content, style *tensor.T, md nnst.Mode, size int) error {
	o := benchOptions(md, size)
	full, err := nnst.DryRun(m, o, nil, size, size)
	if err != nil {
		return err
	}
	if md == nnst.ModeBest {
		o.Steps = bo.steps
	}
	be := cpu.New()
	c := nnst.Count(be)
	s, err := nnst.New(c, m)
	if err != nil {
		return err
	}
	start := time.Now()
	out, err := s.Run(context.Background(), content, style, o, nil)
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("| %d | %s | %d | %.2f | %.1f | %.1f | %.0f | %.0f MB |", size, md, o.Steps, c.Flops()/1e12, full.Flops/1e12, secs, c.Flops()/secs/1e9, float64(be.PeakBytes())/1e6)
	if sr != nil {
		sc, err := sr.Images(content, style, out)
		if err != nil {
			return err
		}
		fmt.Printf(" %.4f | %.4f | %.4g | %.4f | %.4f |", sc.Split, sc.Hyper, sc.Gram, sc.Content, sc.SSIM)
	}
	fmt.Println()
	return nil
}

// benchOptions are a default run's options of mode md at size.
func benchOptions(md nnst.Mode, size int) nnst.Options {
	o := nnst.Defaults(size > 512)
	if md == nnst.ModeFast {
		o = nnst.FastDefaults()
	}
	o.Size = size
	return o
}

// timeIt returns the best of a few runs.
func timeIt(f func()) time.Duration {
	f()
	best := time.Duration(1 << 62)
	for i := 0; i < 3; i++ {
		t := time.Now()
		f()
		best = min(best, time.Since(t))
	}
	return best
}

func cpuName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if i := strings.Index(line, ":"); i >= 0 {
				return strings.TrimSpace(line[i+1:])
			}
		}
	}
	return "unknown CPU"
}
