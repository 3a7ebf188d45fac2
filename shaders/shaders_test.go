package shaders

import (
	"strings"
	"testing"
)

// Every kernel is a module with one entry point main, bindings in group 0
// numbered from 0, and the uniform last.
func TestKernels(t *testing.T) {
	fams := Families()
	if len(fams) < 7 {
		t.Fatalf("families %v", fams)
	}
	total := 0
	for _, f := range fams {
		names, err := Kernels(f)
		if err != nil || len(names) == 0 {
			t.Fatalf("%s: %v %v", f, names, err)
		}
		seen := map[string]bool{}
		for _, n := range names {
			if seen[n] {
				t.Errorf("%s: kernel %s twice", f, n)
			}
			seen[n] = true
			src, err := Kernel(f, n)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(src, "fn main(") != 1 || strings.Count(src, "@compute") != 1 {
				t.Errorf("%s/%s: want one @compute fn main", f, n)
			}
			nb := strings.Count(src, "@binding(")
			for i := 0; i < nb; i++ {
				if !strings.Contains(src, "@binding("+string(rune('0'+i))+")") {
					t.Errorf("%s/%s: bindings not numbered 0..%d", f, n, nb-1)
				}
			}
			if nb > 0 && !strings.Contains(src, "@binding("+string(rune('0'+nb-1))+") var<uniform>") {
				t.Errorf("%s/%s: the uniform is not the last binding", f, n)
			}
			total++
		}
	}
	if _, err := Kernel("conv", "nope"); err == nil {
		t.Error("missing kernel: no error")
	}
	t.Logf("%d kernels in %d families", total, len(fams))
}

func TestVersion(t *testing.T) {
	v := Version()
	if len(v) != 12 || v != Version() {
		t.Errorf("Version() = %q, want 12 hex digits, the same each call", v)
	}
}
