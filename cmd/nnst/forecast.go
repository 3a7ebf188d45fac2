package main

import (
	"fmt"
	"time"

	"nnst/core/model"
	"nnst/core/nnst"
)

// forecast says what a run will cost before it starts: its operations,
// counted by a dry run, at this machine's rate on a forward pass; for Best,
// what Fast would take too. Long runs are worth a warning.
func forecast(be *nnst.Counter, m *model.Model, o nnst.Options, h, w int) (string, error) {
	u, err := nnst.DryRun(m, o, nil, h, w)
	if err != nil {
		return "", err
	}
	rate, err := be.Rate()
	if err != nil || rate <= 0 {
		return "", err
	}
	line := fmt.Sprintf("%s mode at %d px: %.1f TFLOP, about %s here", o.Mode, o.Size, u.Flops/1e12, roughly(u.Flops/rate))
	if o.Mode == nnst.ModeBest {
		f := nnst.FastDefaults()
		f.Size, f.Alpha, f.Flip, f.Color, f.Seed = o.Size, o.Alpha, o.Flip, o.Color, o.Seed
		if fu, err := nnst.DryRun(m, f, nil, h, w); err == nil {
			line += fmt.Sprintf(" (--mode fast: %.1f TFLOP, about %s)", fu.Flops/1e12, roughly(fu.Flops/rate))
		}
	}
	return line, nil
}

// roughly rounds seconds for a forecast.
func roughly(secs float64) string {
	d := time.Duration(secs * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	}
	return d.Round(10 * time.Minute).String()
}
