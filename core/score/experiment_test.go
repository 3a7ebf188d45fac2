package score_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nnst/core/cpu"
	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/score"
	"nnst/core/tensor"
)

// TestExperiment runs the fast mode's levers on image pairs and scores the
// outputs (not a test: a tool for BENCHMARKS.md). NNST_EXP is a JSON list
// of {"name", "steps", "alpha", "size", "fast": FastParams}; NNST_PAIRS
// lists content-style pairs of ../shared/images ("1-1,2-4"); outputs go to
// NNST_EXP_OUT (default a temporary folder).
func TestExperiment(t *testing.T) {
	spec := os.Getenv("NNST_EXP")
	if spec == "" {
		t.Skip("NNST_EXP not set")
	}
	var runs []struct {
		Name  string
		Steps *int
		Alpha *float64
		Size  int
		Mode  string
		Fast  nnst.FastParams
	}
	if err := json.Unmarshal([]byte(spec), &runs); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(os.Getenv("NNST_MODEL"))
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := score.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	out := os.Getenv("NNST_EXP_OUT")
	if out == "" {
		out = t.TempDir()
	}
	img := func(name string) string { return filepath.Join("..", "..", "..", "shared", "images", name) }
	for _, pair := range strings.Split(os.Getenv("NNST_PAIRS"), ",") {
		c, s, _ := strings.Cut(pair, "-")
		content, err := imageio.DecodeFile(img("content-c" + c + ".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		style, err := imageio.DecodeFile(img("style-s" + s + ".jpg"))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range runs {
			o := nnst.FastDefaults()
			if r.Mode == "best" {
				o = nnst.Defaults(false)
			}
			o.Fast = r.Fast
			if r.Steps != nil {
				o.Steps = *r.Steps
			}
			if r.Alpha != nil {
				o.Alpha = *r.Alpha
			}
			if r.Size != 0 {
				o.Size = r.Size
			}
			cb := nnst.Count(cpu.New())
			st, err := nnst.New(cb, m)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := st.Run(context.Background(), content, style, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			secs := time.Since(start).Seconds()
			path := filepath.Join(out, fmt.Sprintf("%s-c%s-s%s.png", r.Name, c, s))
			if err := imageio.SaveFile(path, res); err != nil {
				t.Fatal(err)
			}
			sc, err := scorer.Images(content, style, res)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Printf("| c%s-s%s | %s | %.2f | %.0f | %s\n", c, s, r.Name, cb.Flops()/1e12, secs, row(sc))
		}
	}
}

// row formats scores as the tail of a Markdown table row, split by tap last.
func row(sc score.Scores) string {
	taps := make([]string, len(sc.SplitTaps))
	for i, d := range sc.SplitTaps {
		taps[i] = fmt.Sprintf("%.3f", d)
	}
	return fmt.Sprintf("%.4f | %.4f | %.4g | %.4f | %.4f | %s |", sc.Split, sc.Hyper, sc.Gram, sc.Content, sc.SSIM, strings.Join(taps, " "))
}

// TestScoreFiles scores saved outputs (not a test: a tool). NNST_SCORE is a
// comma-separated list of C-S=PATH, e.g. 1-1=/tmp/out.png.
func TestScoreFiles(t *testing.T) {
	spec := os.Getenv("NNST_SCORE")
	if spec == "" {
		t.Skip("NNST_SCORE not set")
	}
	m, err := model.Load(os.Getenv("NNST_MODEL"))
	if err != nil {
		t.Fatal(err)
	}
	scorer, err := score.New(cpu.New(), m)
	if err != nil {
		t.Fatal(err)
	}
	img := func(name string) *tensor.T {
		x, err := imageio.DecodeFile(filepath.Join("..", "..", "..", "shared", "images", name))
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, item := range strings.Split(spec, ",") {
		pair, path, _ := strings.Cut(item, "=")
		c, s, _ := strings.Cut(pair, "-")
		out, err := imageio.DecodeFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := scorer.Images(img("content-c"+c+".jpg"), img("style-s"+s+".jpg"), out)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("| c%s-s%s | %s | %s\n", c, s, filepath.Base(path), row(sc))
	}
}
