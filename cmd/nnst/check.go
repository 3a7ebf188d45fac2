package main

import (
	"flag"
	"fmt"
	"runtime"

	"nnst/core/imageio"
	"nnst/core/nnst"
)

// maxThreads is the most --threads accepts: more threads than cores only
// add switching, and the Go runtime dies past 10000.
func maxThreads() int { return 4 * runtime.NumCPU() }

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// inRange refuses a flag's value outside lo..hi.
func inRange(name string, v, lo, hi int) error {
	if v < lo || v > hi {
		return usageError{fmt.Sprintf("--%s must be between %d and %d, got %d", name, lo, hi, v)}
	}
	return nil
}

// firstErr returns the first error that is not nil.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// fitTo decodes an image straight to a run's size, refusing one too narrow
// for it from its header.
func fitTo(size int, what string) imageio.Fit {
	return func(h, w int) (int, int, error) { return nnst.FitSize(h, w, size, what) }
}

// ifSet checks an integer flag's range if it was given.
func ifSet(set map[string]bool, name string, v, lo, hi int) error {
	if !set[name] {
		return nil
	}
	return inRange(name, v, lo, hi)
}

// alphaRange refuses an --alpha outside 0..1 (NaN included).
func alphaRange(a float64) error {
	if !(a >= 0 && a <= 1) {
		return usageError{fmt.Sprintf("--alpha must be between 0 and 1, got %g", a)}
	}
	return nil
}
