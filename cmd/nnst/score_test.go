package main

import (
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nnst/core/score"
)

// stdout runs the command in-process and returns its exit code, stdout and
// stderr.
func stdout(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stdout
	os.Stdout = w
	code, msg := runCLI(t, args...)
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	return code, string(b), msg
}

func TestStylizeFastAndScore(t *testing.T) {
	dir, content, style, mp := fixture(t)
	out := filepath.Join(dir, "out.png")
	code, msg := runCLI(t, "stylize", "--mode", "fast", "--content", content, "--style", style, "--output", out,
		"--model", mp, "--size", "96", "--steps", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	if !strings.Contains(msg, "fast mode") || !strings.Contains(msg, "TFLOP") {
		t.Errorf("no mode and operation count in %q", msg)
	}
	if !strings.Contains(msg, "fast mode at 96 px: ") || !strings.Contains(msg, "here\n") {
		t.Errorf("no forecast in %q", msg)
	}
	// Best says what Fast would take.
	code, msg = runCLI(t, "stylize", "--content", content, "--style", style, "--output", filepath.Join(dir, "best.png"),
		"--model", mp, "--size", "64", "--steps", "1", "--scales", "1")
	if code != 0 || !strings.Contains(msg, "best mode at 64 px: ") || !strings.Contains(msg, "(--mode fast: ") {
		t.Errorf("best: exit %d, no forecast in %q", code, msg)
	}
	code, js, msg := stdout(t, "score", "--content", content, "--style", style, "--output", out, "--model", mp, "--json")
	if code != 0 {
		t.Fatalf("score: exit %d: %s", code, msg)
	}
	var sc score.Scores
	if err := json.Unmarshal([]byte(js), &sc); err != nil {
		t.Fatalf("score --json printed %q: %v", js, err)
	}
	sum := 0.0
	for _, d := range sc.SplitTaps {
		sum += d
	}
	if sc.Split <= 0 || sc.Hyper <= 0 || sc.Gram <= 0 || sc.SSIM <= 0 || len(sc.SplitTaps) != 10 || math.Abs(sum-sc.Split) > 1e-6 {
		t.Errorf("score --json: %s", js)
	}
	// The content itself, brought to the output's size, as a baseline.
	code, txt, msg := stdout(t, "score", "--content", content, "--style", style, "--output", content, "--size", "80", "--model", mp)
	if code != 0 || !strings.Contains(txt, "ssim     1.0000") || !strings.Contains(txt, "content  0.0000") {
		t.Errorf("content as output: exit %d, %q, %s", code, txt, msg)
	}
	for _, c := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"stylize", "--mode", "quick", "--content", content, "--style", style, "--output", out}, "mode must be fast or best", 2},
		{[]string{"score", "--content", content, "--style", style}, "--output is required", 2},
		{[]string{"score", "--content", content, "--style", style, "--output", content, "--size", "5"}, "--size must be between", 2},
		{[]string{"score", "--content", content, "--style", style, "--output", mp, "--model", mp}, "output:", 1},
	} {
		code, msg := runCLI(t, c.args...)
		if code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", c.args, code, msg, c.code, c.want)
		}
	}
}
