//go:build !js

// Package chrome picks the Chromium binary and extra switches for the
// browser tests and benchmarks, so that they can run on another machine
// (a real GPU with Vulkan, say) without code changes:
//
//	NNST_CHROMIUM=/path/to/chromium
//	NNST_CHROMIUM_FLAGS=use-angle=vulkan,enable-features=Vulkan
package chrome

import (
	"errors"
	"os"
	"os/exec"
	"strings"

	"github.com/chromedp/chromedp"
)

// Path returns $NNST_CHROMIUM, else chromium (or chromium-browser) on PATH.
func Path() (string, error) {
	if p := os.Getenv("NNST_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("chromium not found (apt-get install chromium, or set NNST_CHROMIUM)")
}

// Log returns an option sending the browser's own output to the file
// $NNST_CHROMIUM_LOG (with enable-logging=stderr among the flags it shows
// GPU errors), and a function that closes it; none when unset.
func Log() ([]chromedp.ExecAllocatorOption, func(), error) {
	p := os.Getenv("NNST_CHROMIUM_LOG")
	if p == "" {
		return nil, func() {}, nil
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, nil, err
	}
	return []chromedp.ExecAllocatorOption{chromedp.CombinedOutput(f)}, func() { f.Close() }, nil
}

// Flags returns the switches in $NNST_CHROMIUM_FLAGS: a comma-separated
// list of names without dashes, each optionally name=value.
func Flags() []chromedp.ExecAllocatorOption {
	var opts []chromedp.ExecAllocatorOption
	for _, s := range switches(os.Getenv("NNST_CHROMIUM_FLAGS")) {
		opts = append(opts, chromedp.Flag(s.name, s.value))
	}
	return opts
}

type switchValue struct {
	name  string
	value any // true, or the string after '='
}

func switches(list string) []switchValue {
	var out []switchValue
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if name, value, ok := strings.Cut(f, "="); ok {
			out = append(out, switchValue{name, value})
		} else {
			out = append(out, switchValue{f, true})
		}
	}
	return out
}
