//go:build !js

package main

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/chromedp/cdproto/profiler"
)

// printProfile writes the top functions of a V8 CPU profile of the page's
// main thread (where the Go code runs; time spent waiting for the workers
// shows as "(idle)" or in the awaiting frames), by self and by total time.
func printProfile(w io.Writer, p *profiler.Profile, top int) {
	parent := map[int64]int64{}
	name := map[int64]string{}
	for _, n := range p.Nodes {
		for _, c := range n.Children {
			parent[c] = n.ID
		}
		name[n.ID] = n.CallFrame.FunctionName
		if name[n.ID] == "" {
			name[n.ID] = "(anonymous " + n.CallFrame.URL + ")"
		}
	}
	self, total := map[string]float64{}, map[string]float64{}
	var sum float64
	for i, id := range p.Samples {
		dt := 0.0
		if i+1 < len(p.TimeDeltas) {
			dt = float64(p.TimeDeltas[i+1]) / 1e6
		}
		sum += dt
		self[name[id]] += dt
		seen := map[string]bool{}
		for n, ok := id, true; ok; n, ok = parent[n] {
			if s := name[n]; !seen[s] {
				seen[s] = true
				total[s] += dt
			}
		}
	}
	for _, t := range []struct {
		title string
		m     map[string]float64
	}{{"self", self}, {"total", total}} {
		fmt.Fprintf(w, "\nMain thread, by %s time (of %.1f s sampled):\n\n| s | %% | function |\n|---|---|---|\n", t.title, sum)
		keys := slices.SortedFunc(maps.Keys(t.m), func(a, b string) int { return cmp.Compare(t.m[b], t.m[a]) })
		for _, k := range keys[:min(top, len(keys))] {
			fmt.Fprintf(w, "| %.2f | %.1f | %s |\n", t.m[k], 100*t.m[k]/sum, k)
		}
	}
}
