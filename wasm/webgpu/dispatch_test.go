//go:build js && wasm

package webgpu

import (
	"fmt"
	"strings"
	"testing"
)

// A dispatch whose uniform words or buffers do not match its kernel's WGSL
// panics before anything is recorded.
func TestDispatchChecks(t *testing.T) {
	buf := gpu.newBuf(1024)
	defer gpu.freeBuf(buf)
	panics := func(f func()) (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		f()
		return ""
	}
	n0, a0 := gpu.Dispatches(), gpu.arenaOff
	if msg := panics(func() { gpu.run1("elementwise", "fill", noOverrides, 256, params{256}, buf) }); !strings.Contains(msg, "elementwise/fill takes 2 uniform words, not 1") {
		t.Errorf("one word short: panic %q", msg)
	}
	if msg := panics(func() { gpu.run1("elementwise", "fill", noOverrides, 256, params{256, 0}) }); !strings.Contains(msg, "binds 1 buffers, not 0") {
		t.Errorf("no buffer: panic %q", msg)
	}
	if gpu.Dispatches() != n0 || gpu.arenaOff != a0 {
		t.Errorf("%d dispatches recorded, %d bytes of uniforms", gpu.Dispatches()-n0, gpu.arenaOff-a0)
	}
	gpu.run1("elementwise", "fill", noOverrides, 256, params{256, f32(1)}, buf)
	if err := gpu.Err(); err != nil || gpu.Dispatches() != n0+1 {
		t.Errorf("a matching dispatch: %v, %d recorded", err, gpu.Dispatches()-n0)
	}
}
