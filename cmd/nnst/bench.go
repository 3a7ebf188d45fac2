package main

import (
	"context"
	"errors"
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
	"nnst/core/nnst"
)

var bo struct {
	sizes, content, style, model string
	steps                        int
	convOnly                     bool
}

func benchFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&bo.sizes, "sizes", "256,512", "stylization sizes to time")
	fs.IntVar(&bo.steps, "steps", 10, "steps per scale and final pass in the timed stylizations")
	fs.StringVar(&bo.content, "content", "../shared/images/content-c1.jpg", "content image")
	fs.StringVar(&bo.style, "style", "../shared/images/style-s4.jpg", "style image")
	fs.StringVar(&bo.model, "model", "", "model file (default build/models/vgg19.safetensors)")
	fs.BoolVar(&bo.convOnly, "conv-only", false, "only time the convolutions")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst bench [options]\n\nPrints a Markdown report: GFLOP/s of conv forward and backward-data on\nVGG19's shapes at 256 px, and seconds per stylization, using all cores.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runBench(args []string) error {
	fs := benchFlags()
	fs.SetOutput(os.Stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
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
	m, err := loadModel(bo.model)
	if err != nil {
		return err
	}
	content, err := imageio.DecodeFile(bo.content)
	if err != nil {
		return err
	}
	style, err := imageio.DecodeFile(bo.style)
	if err != nil {
		return err
	}
	fmt.Printf("\nStylization (%s, %d steps per scale and in the final pass, defaults otherwise):\n\n| size | seconds | peak tensor memory |\n|---|---|---|\n", m.Arch, bo.steps)
	for _, f := range strings.Split(bo.sizes, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return usageError{"bad --sizes: " + bo.sizes}
		}
		be := cpu.New()
		s, err := nnst.New(be, m)
		if err != nil {
			return err
		}
		o := nnst.Defaults(size > 512)
		o.Size, o.Steps = size, bo.steps
		start := time.Now()
		if _, err := s.Run(context.Background(), content, style, o, nil); err != nil {
			return err
		}
		fmt.Printf("| %d | %.1f | %.0f MB |\n", size, time.Since(start).Seconds(), float64(be.PeakBytes())/1e6)
	}
	return nil
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
