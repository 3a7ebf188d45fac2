package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"nnst/core/model"
)

var co struct{ src, out, arch string }

func convertFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("convert", flag.ContinueOnError)
	fs.StringVar(&co.src, "src", "", "source: a TensorFlow.js layers model (folder or model.json, float32 or uint8-quantised), a PyTorch .pth state dict with torchvision names, or a .safetensors file; required")
	fs.StringVar(&co.out, "out", "", "output model file (.safetensors); required")
	fs.StringVar(&co.arch, "arch", "", "vgg16 or vgg19 (default: detected from the source)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst convert --src SRC --out FILE [--arch vgg16|vgg19]\n\nWrites the layers NNST needs (through conv4_3) as fp16 safetensors with the\narchitecture, taps, input normalisation, source and SHA-256 in its metadata.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runConvert(args []string) error {
	fs := convertFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if co.src == "" || co.out == "" {
		return usageError{"--src and --out are required (see nnst help convert)"}
	}
	if !strings.EqualFold(filepath.Ext(co.out), ".safetensors") {
		return usageError{fmt.Sprintf("--out %s: the model file must end in .safetensors", co.out)}
	}
	m, err := model.Convert(co.src, co.arch)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(co.out), 0o755); err != nil {
		return err
	}
	if err := m.Save(co.out); err != nil {
		return err
	}
	fi, err := os.Stat(co.out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s: %s, %d layers, %d taps, %.1f MB, sha256 %s\n", co.out, m.Arch, len(m.Layers), len(m.Taps), float64(fi.Size())/1e6, m.SHA256)
	return nil
}
