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
	fs.IntVar(&sco.size, "size", 0, "first resize the output so its long side is this (e.g. to score the content photo itself as a baseline: --output C --size 512)")
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
	start := time.Now()
	content, err := imageio.DecodeFile(sco.content)
	if err != nil {
		return fmt.Errorf("content: %w", err)
	}
	style, err := imageio.DecodeFile(sco.style)
	if err != nil {
		return fmt.Errorf("style: %w", err)
	}
	out, err := imageio.DecodeFile(sco.output)
	if err != nil {
		return fmt.Errorf("output: %w", err)
	}
	if sco.size != 0 {
		if sco.size < nnst.MinSize || sco.size > nnst.MaxSize {
			return usageError{fmt.Sprintf("--size must be between %d and %d px, got %d", nnst.MinSize, nnst.MaxSize, sco.size)}
		}
		if out, err = nnst.Fit(out, sco.size, "output"); err != nil {
			return err
		}
	}
	m, err := loadModel(sco.model)
	if err != nil {
		return err
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
