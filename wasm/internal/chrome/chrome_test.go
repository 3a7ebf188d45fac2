//go:build !js

package chrome

import (
	"reflect"
	"testing"
)

func TestSwitches(t *testing.T) {
	got := switches(" use-angle=vulkan, ,enable-unsafe-webgpu,enable-features=Vulkan,X=a=b")
	want := []switchValue{{"use-angle", "vulkan"}, {"enable-unsafe-webgpu", true}, {"enable-features", "Vulkan"}, {"X", "a=b"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("switches = %v, want %v", got, want)
	}
	if s := switches(""); len(s) != 0 {
		t.Errorf("empty list gave %v", s)
	}
	t.Setenv("NNST_CHROMIUM_FLAGS", "a,b=c")
	if n := len(Flags()); n != 2 {
		t.Errorf("Flags() gave %d options, want 2", n)
	}
	t.Setenv("NNST_CHROMIUM", "/opt/x/chrome")
	if p, err := Path(); err != nil || p != "/opt/x/chrome" {
		t.Errorf("Path() = %q, %v", p, err)
	}
}
