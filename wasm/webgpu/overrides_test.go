package webgpu

import (
	"maps"
	"testing"

	"nnst/shaders"
)

// Each bit sets the constant it names in the kernels that declare it, and
// noOverrides sets none.
func TestOverrides(t *testing.T) {
	for _, c := range []struct {
		family, kernel string
		over           overrides
		want           map[string]any
	}{
		{"conv", "conv3x3", noOverrides, nil},
		{"conv", "conv3x3", 0, map[string]any{"TK": 16}},
		{"conv", "conv3x3", step2, map[string]any{"TK": 32}},
		{"conv", "conv3x3_wino", step2, map[string]any{"WC": 8}},
		{"conv", "conv_sum", step2, map[string]any{}},
		{"match", "nearest", 0, map[string]any{"F16": 0, "SRC16": 0}},
		{"match", "pack_rows", bankF16 | srcF16, map[string]any{"F16": 1, "SRC16": 1}},
		{"reduce", "chansum", srcF16, map[string]any{"SRC16": 1}},
	} {
		src, err := shaders.Kernel(c.family, c.kernel)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.over.constants(src); !maps.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%s/%s with %d: constants %v, want %v", c.family, c.kernel, c.over, got, c.want)
		}
	}
}
