package backendtest

import (
	"context"
	"fmt"
	"testing"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// StagePeaks runs o with s and returns peak() at each stage's end (each
// scale on its own), reset() at its start, and the most of them; with
// previews it takes a preview at each report, as the app does.
func StagePeaks(t *testing.T, s *nnst.Stylizer, o nnst.Options, content, style *tensor.T, peak func() int64, reset func(), previews bool) []int64 {
	t.Helper()
	reset()
	var peaks []int64
	all, last := int64(0), ""
	_, err := s.Run(context.Background(), content, style, o, func(p nnst.Progress) {
		if k := fmt.Sprint(p.Stage, p.Scale); k != last {
			all = max(all, peak())
			peaks = append(peaks, peak())
			reset()
			last = k
		}
		if previews {
			nnst.Previews(p)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return append(peaks, max(all, peak()))
}
