package model

import "testing"

// Shapes has Random's layers, taps and widths, without weights.
func TestShapes(t *testing.T) {
	for _, shrink := range []int{1, 16} {
		s, r := Shapes(VGG19, shrink), Random(VGG19, shrink, 1)
		if len(s.Layers) != len(r.Layers) || len(s.Taps) != len(r.Taps) {
			t.Fatalf("shrink %d: %d layers and %d taps, Random has %d and %d", shrink, len(s.Layers), len(s.Taps), len(r.Layers), len(r.Taps))
		}
		for i, l := range s.Layers {
			rl := r.Layers[i]
			if l.Kind != rl.Kind || l.Name != rl.Name || (l.Conv == nil) != (rl.Conv == nil) {
				t.Fatalf("shrink %d: layer %d is %s %s, Random's %s %s", shrink, i, l.Kind, l.Name, rl.Kind, rl.Name)
			}
			if l.Conv != nil && (l.Conv.In != rl.Conv.In || l.Conv.Out != rl.Conv.Out || l.Conv.Weight != nil) {
				t.Errorf("shrink %d: %s is %d to %d (%d weights), Random's %d to %d", shrink, l.Name, l.Conv.In, l.Conv.Out, len(l.Conv.Weight), rl.Conv.In, rl.Conv.Out)
			}
		}
	}
}
