package browsertest

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/wasm/webgpu"
)

// TestGPURun is a benchmark, not a test: with NNST_GPU_RUN set to a
// `make dist` folder it opens the app on a machine with a real GPU, lets
// "auto" pick the backend (it must pick WebGPU), and stylizes the example
// pair with the default settings at each size in NNST_GPU_RUN_SIZES
// (default 512), logging the wall time and the run details and saving the
// output to NNST_SHOTS. make bench-gpu-run runs it.
func TestGPURun(t *testing.T) {
	dir := os.Getenv("NNST_GPU_RUN")
	if dir == "" {
		t.Skip("NNST_GPU_RUN is not set (a dist folder; make bench-gpu-run)")
	}
	srv := serveDist(t, dir)
	in := makeInputs(t)
	tb := startBrowser(t, true)
	// NNST_GPU_RUN_QUERY (e.g. "?backend=webgpu&size=64&steps=1") and
	// NNST_GPU_RUN_SIZES=- try the test on a small run without a GPU.
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+os.Getenv("NNST_GPU_RUN_QUERY")))
	e := tb.wait("ready,error", 0, 3*time.Minute)
	note := tb.text("backend-note")
	t.Logf("backend: %+v; %s", e, note)
	if e.Type != "ready" || e.Detail != "webgpu" {
		t.Fatalf("auto did not choose WebGPU: %+v (%s)", e, note)
	}
	tb.uploadPair(in)
	sizes := os.Getenv("NNST_GPU_RUN_SIZES")
	if sizes == "" {
		sizes = "512"
	}
	limit := 20 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("NNST_GPU_RUN_TIMEOUT")); err == nil {
		limit = d
	}
	modes := os.Getenv("NNST_GPU_RUN_MODES")
	if modes == "" {
		modes = "fast,best"
	}
	for _, run := range runsOf(sizes, modes) {
		size, mode := run[0], run[1]
		if size != "-" {
			tb.do(10*time.Second, chromedp.Click(chromedp.ID("size-"+size)))
		}
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("mode-"+mode)))
		s := tb.seq()
		start := time.Now()
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
		e := tb.wait("done,error,cancelled", s, limit)
		wall := time.Since(start)
		if e.Type != "done" {
			t.Fatalf("%s px, %s: %+v (%s)", size, mode, e, tb.text("error-text"))
		}
		details := tb.text("details")
		t.Logf("GPU RUN %s px, %s: %.1f s wall (click to done); details: %s", size, mode, wall.Seconds(), details)
		// Each run reports its own peak, within the estimate Reserve asked for.
		var mb float64
		if i := strings.Index(details, "Peak memory"); i < 0 {
			t.Errorf("%s px: no peak in the details", size)
		} else if _, err := fmt.Sscanf(details[i+len("Peak memory"):], "%f MB", &mb); err != nil {
			t.Errorf("%s px: peak in %q: %v", size, details, err)
		} else if n, err := strconv.Atoi(size); err == nil {
			o := nnst.Defaults(n >= 1024)
			if mode == "fast" {
				o = nnst.FastDefaults()
			}
			o.Size = n
			est, err := webgpu.Estimate(model.Shapes(model.VGG19, 1), o, n, n, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if mb*1e6 > float64(est.Bytes) {
				t.Errorf("%s px, %s: peak %.0f MB is over the estimate %.0f MB", size, mode, mb, float64(est.Bytes)/1e6)
			}
		}
		png := evalT[string](tb, `document.getElementById("out").toDataURL("image/png")`, 30*time.Second)
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(png, "data:image/png;base64,"))
		if err != nil {
			t.Fatal(err)
		}
		if out := os.Getenv("NNST_SHOTS"); out != "" {
			p := filepath.Join(out, "gpu-run-"+mode+"-"+size+".png")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("output %s (%d bytes)", p, len(b))
		}
	}
	tb.screenshot("gpu-run.png")
	tb.checkProblems()
}

// runsOf lists each size with each mode, the modes side by side.
func runsOf(sizes, modes string) [][2]string {
	var r [][2]string
	for _, s := range strings.Split(sizes, ",") {
		for _, m := range strings.Split(modes, ",") {
			r = append(r, [2]string{s, m})
		}
	}
	return r
}
