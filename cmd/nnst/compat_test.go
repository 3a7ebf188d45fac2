package main

import (
	_ "image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompatFlag: --compat reference runs Best as the reference does (its
// sizes: truncated), refuses the fast mode, unknown names and images the
// reference cannot take, with exit 2 for flags and 1 for images.
func TestCompatFlag(t *testing.T) {
	dir, small, _, mp := fixture(t)
	content := filepath.Join(dir, "c.png")
	style := filepath.Join(dir, "s.png")
	writePNG(t, content, 400, 341) // 320 x 272.8 at 320 px: 272 truncated (273 rounded)
	writePNG(t, style, 330, 380)
	out := filepath.Join(dir, "out.png")
	args := func(c, extra string) []string {
		a := []string{"stylize", "--content", c, "--style", style, "--output", out, "--model", mp, "--size", "320", "--scales", "1", "--steps", "2", "--quiet"}
		return append(a, strings.Fields(extra)...)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{args(content, "--compat reference --mode fast"), 2, "best mode only"},
		{args(content, "--compat bogus"), 2, "--compat: compat must be none or reference"},
		{args(small, "--compat reference --size 256"), 1, "reference mode needs a short side of at least 256 px"},
	} {
		code, msg := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, %q; want exit %d and %q", c.args[len(c.args)-2:], code, msg, c.code, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("output written despite the errors")
	}
	code, msg := runCLI(t, args(content, "--compat reference")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	cfg, _, err := imageConfig(out)
	if err != nil || cfg.Width != 320 || cfg.Height != 272 {
		t.Fatalf("output %dx%d (%v), want 320x272 as the reference sizes it", cfg.Width, cfg.Height, err)
	}
}
