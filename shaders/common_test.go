package shaders

import (
	"regexp"
	"strings"
	"testing"
)

// fnRE matches a function at the start of a line, to its closing brace at
// the start of a line, and its name.
var fnRE = regexp.MustCompile(`(?ms)^fn (\w+)\(.*?^\}`)

// kernelHelpers may be copied between families: they read a kernel's own
// bindings or overrides, which not every module declares.
var kernelHelpers = map[string]string{
	"ld": "reads binding x and the SRC16 override (match, reduce)",
}

// Every module starts with the common helpers; no family defines one of
// them again, and no other helper is copied from one family to another
// (shared ones go in common.wgsl).
func TestCommon(t *testing.T) {
	helpers, err := File(common)
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]bool{}
	for _, m := range fnRE.FindAllStringSubmatch(helpers, -1) {
		shared[m[1]] = true
	}
	if !shared["gid"] || !shared["half_at"] {
		t.Errorf("common.wgsl defines %v, want gid and half_at", shared)
	}
	seen := map[string]string{} // a function's text: its family
	for _, f := range Families() {
		if f == common {
			t.Fatal("Families lists the common helpers")
		}
		src, _ := File(f)
		for _, m := range fnRE.FindAllStringSubmatch(src, -1) {
			switch name := m[1]; {
			case shared[name]:
				t.Errorf("%s.wgsl defines %s again", f, name)
			case name != "main" && kernelHelpers[name] == "" && seen[m[0]] != "" && seen[m[0]] != f:
				t.Errorf("%s.wgsl and %s.wgsl both define %s: put it in common.wgsl", seen[m[0]], f, name)
			default:
				seen[m[0]] = f
			}
		}
		names, _ := Kernels(f)
		for _, n := range names {
			if src, _ := Kernel(f, n); !strings.HasPrefix(src, helpers) {
				t.Errorf("%s/%s does not start with the common helpers", f, n)
			}
		}
	}
	if _, err := Kernel(common, "gid"); err == nil {
		t.Error("Kernel(common, ...): no error")
	}
}
