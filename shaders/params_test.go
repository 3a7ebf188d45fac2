package shaders

import (
	"slices"
	"strings"
	"testing"
)

// Every kernel binds one uniform struct of 32-bit fields, at most 16 (the
// 64 bytes the backend binds per dispatch).
func TestKernelParams(t *testing.T) {
	for _, f := range Families() {
		names, _ := Kernels(f)
		for _, n := range names {
			src, err := Kernel(f, n)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Params(src)
			if err != nil || len(p) == 0 || len(p) > 16 {
				t.Errorf("%s/%s: params %v, %v; want 1 to 16 words", f, n, p, err)
			}
		}
	}
	src, _ := Kernel("conv", "conv3x3")
	if p, _ := Params(src); !slices.Equal(p, []string{"cout", "cin", "h", "w", "flags", "kper", "wci", "wm", "wcin", "wcout"}) {
		t.Errorf("conv3x3: params %v", p)
	}
}

func TestParamsErrors(t *testing.T) {
	for _, c := range []struct{ src, err string }{
		{"struct P { n: u32, v: vec2<f32> }\n@group(0) @binding(0) var<uniform> p: P;", `field "v: vec2<f32>"`},
		{"struct Q { n: u32 }\n@group(0) @binding(0) var<uniform> p: P;", "0 definitions of struct P"},
		{"struct P { n: u32 }\n@group(0) @binding(0) var<storage> p: P;", "0 uniform bindings"},
		// A comment's commas and colons are not fields.
		{"struct P {\n\tn: u32, // a: b, c\n\tm: f32,\n}\n@group(0) @binding(0) var<uniform> p: P;", ""},
	} {
		p, err := Params(c.src)
		if c.err == "" && (err != nil || !slices.Equal(p, []string{"n", "m"})) {
			t.Errorf("%q: %v, %v; want n, m", c.src, p, err)
		}
		if c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%q: error %v, want one with %q", c.src, err, c.err)
		}
	}
}
