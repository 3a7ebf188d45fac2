package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/nnst"
	"nnst/core/score"
)

var sco struct {
	content, style, output, model string
	maxMemory                     string
	json                          bool
	size                          int
}

func scoreFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("score", flag.ContinueOnError)
	fs.StringVar(&sco.content, "content", "", "content image the output was made from; required")
	fs.StringVar(&sco.style, "style", "", "style image; required")
	fs.StringVar(&sco.output, "output", "", "stylized image to score; required")
	fs.StringVar(&sco.model, "model", "", "model file (default: build/models/vgg19.safetensors)")
	fs.BoolVar(&sco.json, "json", false, "print one JSON object")
	fs.IntVar(&sco.size, "size", 0, fmt.Sprintf("first resize the output so its long side is this, %d..%d px (e.g. to score the content photo itself as a baseline: --output C --size 512); without it the output's long side must be at most %d px", nnst.MinSize, nnst.MaxSize, nnst.MaxSize))
	fs.StringVar(&sco.maxMemory, "max-memory", "", maxMemoryHelp)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: nnst score --content C --style S --output O [--json]

Scores a stylized image, however it was made, with the bundled model on the
CPU (content and style resized to the output's size as a run resizes them):
  split    NNST's final objective: per tap, mean centred-cosine distance from
           each output feature to its nearest style feature (no rotations;
           maps sampled on a grid of at most 128 x 128), summed over taps
           (each tap's share on the next line)
  hyper    the same on hypercolumns at a quarter of the size
  gram     Gatys' style loss: mean squared difference of the Gram matrices
           (over C*H*W) of relu1_1, relu2_1, relu3_1, relu4_1, summed
  content  mean centred-cosine distance to the content's hypercolumns,
           position by position (lower keeps more of the photo)
  ssim     luminance SSIM to the content (higher keeps more of the photo)
Lower is more like the style for split, hyper and gram.

Options:
`)
		fs.PrintDefaults()
	}
	return fs
}

func runScore(args []string) error {
	fs := scoreFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if err := required("score", [2]string{"--content", sco.content}, [2]string{"--style", sco.style}, [2]string{"--output", sco.output}); err != nil {
		return err
	}
	set := setFlags(fs)
	if err := ifSet(set, "size", sco.size, nnst.MinSize, nnst.MaxSize); err != nil {
		return err
	}
	mem, err := memoryBudget(sco.maxMemory)
	if err != nil {
		return err
	}
	start := time.Now()
	// The sizes from the headers: the output's sets the others'.
	var shapes [3][2]int
	for i, f := range [3][2]string{{"output", sco.output}, {"content", sco.content}, {"style", sco.style}} {
		h, w, err := imageio.ReadSize(f[1])
		if err != nil {
			return fmt.Errorf("%s: %w", f[0], err)
		}
		shapes[i] = [2]int{h, w}
	}
	size := max(shapes[0][0], shapes[0][1])
	outFit := imageio.Fit(nil)
	if set["size"] {
		size, outFit = sco.size, fitTo(sco.size, "output")
	} else if size > nnst.MaxSize {
		return fmt.Errorf("output image is %dx%d px: scores take at most %d px on the long side (pass --size)", shapes[0][1], shapes[0][0], nnst.MaxSize)
	}
	var fitted [3][2]int
	for i, what := range []string{"output", "content", "style"} {
		h, w, err := nnst.FitSize(shapes[i][0], shapes[i][1], size, what)
		if err != nil {
			return err
		}
		fitted[i] = [2]int{h, w}
	}
	m, err := loadModel(sco.model)
	if err != nil {
		return err
	}
	if err := checkScoreMemory(m, mem, size, fitted[0], fitted[2]); err != nil {
		return err
	}
	limitHeap(mem)
	out, err := imageio.DecodeFileFit(sco.output, outFit)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	content, err := imageio.DecodeFileFit(sco.content, fitTo(size, "content"))
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	style, err := imageio.DecodeFileFit(sco.style, fitTo(size, "style"))
	if err != nil {
		return fmt.Errorf("style: %w", err)
	}
	sr, err := score.New(cpu.New(), m)
	if err != nil {
		return err
	}
	s, err := sr.Images(content, style, out)
	if err != nil {
		return err
	}
	if sco.json {
		b, _ := json.Marshal(s)
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("split    %.4f\n", s.Split)
	for _, d := range s.SplitTaps {
		fmt.Printf(" %.3f", d)
	}
	fmt.Printf("\nhyper    %.4f\ngram     %.4g\ncontent  %.4f\nssim     %.4f\n", s.Hyper, s.Gram, s.Content, s.SSIM)
	fmt.Fprintf(os.Stderr, "scored %s (%dx%d) in %s\n", sco.output, out.W, out.H, time.Since(start).Round(100*time.Millisecond))
	return nil
}
