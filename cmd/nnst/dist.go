package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"nnst/core/bundle"
)

var di struct{ src, out, hash string }

func distFlags() *flag.FlagSet {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	fs.StringVar(&di.src, "src", "build/site", "the site folder (from make site)")
	fs.StringVar(&di.out, "out", "dist", "the bundle folder to write (replaced)")
	fs.StringVar(&di.hash, "hash", strings.Join(bundle.DefaultHash, ","), "comma-separated patterns (on slash paths) of the files that get content-hashed names")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: nnst dist [--src build/site] [--out dist] [--hash PATTERNS]\n\nWrites a static bundle: content-hashed names for the wasm and the model with\nevery reference rewritten (references must be relative URLs), .br and .gz\ncopies, a _headers file for Netlify / Cloudflare Pages and a file list for\n`nnst serve` and the Worker. Any static host serves it, at a domain root or\nunder a sub-path.\n\nOptions:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runDist(args []string) error {
	fs := distFlags()
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	var pats []string
	for _, p := range strings.Split(di.hash, ",") {
		if p = strings.TrimSpace(p); p != "" {
			pats = append(pats, p)
		}
	}
	start := time.Now()
	m, err := bundle.Build(bundle.Options{Src: di.src, Out: di.out, Hash: pats})
	if err != nil {
		return err
	}
	var size, br int64
	for _, f := range m.Files {
		size += f.Size
		if f.Brotli != nil {
			br += f.Brotli.Size
		} else {
			br += f.Size
		}
		if f.Immutable {
			fmt.Printf("  %s\n", f.Path)
		}
	}
	fmt.Printf("wrote %s: %d files, %.1f MB (%.1f MB with brotli) in %s\n", di.out, len(m.Files), float64(size)/1e6, float64(br)/1e6, time.Since(start).Round(100*time.Millisecond))
	return nil
}
