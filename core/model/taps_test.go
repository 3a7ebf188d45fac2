package model

import (
	"strings"
	"testing"
)

// TestTapOf: each default tap is the ReLU of its conv layer; a tap no
// layer produces, or one listed twice, is refused.
func TestTapOf(t *testing.T) {
	m := Shapes(VGG19, 1)
	of, err := m.TapOf()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, tap := range of {
		if tap < 0 {
			continue
		}
		seen++
		if l := m.Layers[i]; l.Kind != "conv" || "conv"+strings.TrimPrefix(m.Taps[tap], "relu") != l.Name {
			t.Errorf("layer %d (%s) is given tap %d (%s)", i, l.Name, tap, m.Taps[tap])
		}
	}
	if seen != len(m.Taps) {
		t.Errorf("%d layers tapped, want %d", seen, len(m.Taps))
	}
	for _, taps := range [][]string{{"relu1_1", "relu9_9"}, {"relu1_1", "relu1_1"}, {"pool1"}} {
		m.Taps = taps
		if _, err := m.TapOf(); err == nil {
			t.Errorf("taps %v accepted", taps)
		}
	}
}
