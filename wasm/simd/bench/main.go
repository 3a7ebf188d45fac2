//go:build !js

// Command bench (make bench-simd) times VGG19 to relu4_3 in headless
// Chromium with nnst's SIMD kernels against onnxruntime-web's wasm backend
// on the same weights and thread count, then a stylization with the SIMD
// backend, and prints a Markdown report. The ONNX graph is built here from
// the model file and only ever served from memory.
//
// With -webgpu (make bench-webgpu-ort) it times the same forward with
// onnxruntime-web's WebGPU execution provider against nnst's WebGPU backend
// instead (webgpu.go).
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/profiler"

	"nnst/core/model"
	"nnst/wasm/simd/internal/browser"
)

func main() {
	modelPath := flag.String("model", "build/models/vgg19.safetensors", "model file")
	threads := flag.Int("threads", 2, "threads for both runtimes")
	sizes := flag.String("sizes", "64,128,256", "input sizes (px, square)")
	reps := flag.Int("reps", 1, "timed passes per round")
	rounds := flag.Int("rounds", 8, "alternating rounds per size")
	steps := flag.Int("steps", 5, "steps per scale of the timed stylization (0: the mode's default)")
	mode := flag.String("mode", "best", "mode of the timed stylization: best or fast")
	stylizeOnly := flag.Bool("stylize-only", false, "time only the stylization")
	styleSize := flag.Int("style-size", 256, "size of the timed stylization")
	images := flag.String("images", "../shared/images", "folder with the pair's content-cN.jpg and style-sM.jpg")
	pair := flag.String("pair", "c1-s4", "content and style of the timed stylization")
	gpu := flag.Bool("webgpu", false, "compare the WebGPU backends instead (sizes 64,128 and 2 rounds unless set)")
	profile := flag.String("cpuprofile", "", "profile the page's main thread (the Go side) to this file (opens in Chrome's DevTools) and print its top functions")
	timeout := flag.Duration("timeout", 0, "browser time limit (default 15m, 60m with -webgpu)")
	flag.Parse()
	if *gpu {
		set := map[string]bool{}
		flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["sizes"] {
			*sizes = "64,128"
		}
		if !set["rounds"] {
			*rounds = 2
		}
		if *timeout == 0 {
			*timeout = 60 * time.Minute
		}
		if err := runWebGPU(*modelPath, *threads, *sizes, *rounds, *timeout); err != nil {
			fmt.Fprintln(os.Stderr, "bench-webgpu-ort:", err)
			os.Exit(1)
		}
		return
	}
	if *timeout == 0 {
		*timeout = 15 * time.Minute
	}
	c, st, ok := strings.Cut(*pair, "-")
	if !ok {
		fmt.Fprintln(os.Stderr, "bench: -pair takes cN-sM, e.g. c1-s4")
		os.Exit(2)
	}
	content, style := filepath.Join(*images, "content-"+c+".jpg"), filepath.Join(*images, "style-"+st+".jpg")
	for _, f := range []string{content, style} {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(2)
		}
	}
	if err := run(*modelPath, *threads, *sizes, *reps, *rounds, *steps, *styleSize, content, style, *timeout, *mode, *stylizeOnly, *profile); err != nil {
		fmt.Fprintln(os.Stderr, "bench-simd:", err)
		os.Exit(1)
	}
}

// parseSizes reads a comma-separated list of sizes.
func parseSizes(list string) ([]int, error) {
	var sizes []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 16 {
			return nil, fmt.Errorf("bad size %q", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// blob serves data from memory.
func blob(data []byte, typ string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", typ)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	})
}

// file serves one file.
func file(path string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, path) })
}

// prepare loads the model, finds the repository root, emits the ONNX graph of the model and
// builds the Go page pkg into a new temporary folder as wasmName; the caller
// removes dir.
func prepare(modelPath, tmpPrefix, pkg, wasmName string) (m *model.Model, root, dir string, onnx []byte, err error) {
	if root, err = browser.Root(); err != nil {
		return
	}
	if m, err = model.Load(modelPath); err != nil {
		return
	}
	if onnx, err = vggONNX(m); err != nil {
		return
	}
	if dir, err = os.MkdirTemp("", tmpPrefix); err != nil {
		return
	}
	// NNST_BENCH_WASM names a page built beforehand (for a machine
	// without Go).
	if pre := os.Getenv("NNST_BENCH_WASM"); pre != "" {
		b, rerr := os.ReadFile(pre)
		if rerr == nil {
			rerr = os.WriteFile(filepath.Join(dir, wasmName), b, 0o644)
		}
		if rerr != nil {
			os.RemoveAll(dir)
			return nil, "", "", nil, rerr
		}
		return
	}
	build := exec.Command("go", "build", "-o", filepath.Join(dir, wasmName), pkg)
	build.Dir, build.Env = root, browser.GoEnv()
	if out, berr := build.CombinedOutput(); berr != nil {
		os.RemoveAll(dir)
		return nil, "", "", nil, fmt.Errorf("building the page: %v\n%s", berr, out)
	}
	return
}

func run(modelPath string, threads int, sizeList string, reps, rounds, steps, styleSize int, content, style string, timeout time.Duration, mode string, stylizeOnly bool, profile string) error {
	sizes, err := parseSizes(sizeList)
	if err != nil {
		return err
	}
	m, root, dir, onnx, err := prepare(modelPath, "nnst-bench-simd-", "./wasm/simd/bench/page", "bench.wasm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := browser.Kernels(filepath.Join(root, "wasm/simd/kernels.wat"), filepath.Join(dir, "simd-kernels.wasm")); err != nil {
		return err
	}
	wasmExec, err := browser.WasmExec()
	if err != nil {
		return err
	}
	b := filepath.Join(root, "wasm/simd/bench")
	if err := browser.Copy(dir, wasmExec, filepath.Join(root, "web/simd.js"), filepath.Join(root, "web/simd-worker.js"),
		filepath.Join(b, "static/bench.html"), filepath.Join(b, "static/bench.js")); err != nil {
		return err
	}
	cfg, _ := json.Marshal(map[string]any{"threads": threads, "sizes": sizes, "reps": reps, "rounds": rounds, "steps": steps, "styleSize": styleSize, "mode": mode, "stylizeOnly": stylizeOnly})
	ortDir := filepath.Join(b, "node_modules/onnxruntime-web/dist")
	if _, err := os.Stat(ortDir); err != nil && !stylizeOnly {
		return fmt.Errorf("onnxruntime-web not installed (cd wasm/simd/bench && npm ci): %w", err)
	}
	srv := browser.Serve(dir, map[string]http.Handler{
		"/ort/":              http.StripPrefix("/ort/", http.FileServer(http.Dir(ortDir))),
		"/model.onnx":        blob(onnx, "application/octet-stream"),
		"/config.json":       blob(cfg, "application/json"),
		"/vgg19.safetensors": file(modelPath),
		"/content.jpg":       file(content),
		"/style.jpg":         file(style),
	})
	defer srv.Close()
	ctx, cancel := browser.Timeout(timeout)
	defer cancel()
	var prof *profiler.Profile
	keep := func(p *profiler.Profile) { prof = p }
	if profile == "" {
		keep = nil
	}
	out, err := browser.EvalProfile[string](ctx, srv.URL+"/bench.html", "window.benchResult", func(s string) {
		fmt.Fprintln(os.Stderr, "  browser:", s)
	}, keep)
	if err != nil {
		return err
	}
	var res struct {
		Ort, Ours map[string][]float64
		Threads   int
		Cores     int
		UA        string
		Kernels   []struct {
			Name          string
			In, Out, Size int
			Fwd, Bwd      float64
		}
		Stylize struct {
			Size, Steps    int
			Mode           string
			Seconds, Flops float64
			Stages         map[string]float64
		}
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return err
	}
	if prof != nil {
		defer printProfile(os.Stdout, prof, 40)
		b, err := json.Marshal(prof)
		if err == nil {
			err = os.WriteFile(profile, b, 0o644)
		}
		if err != nil {
			return err
		}
	}
	if stylizeOnly {
		printStylize(res.Stylize.Size, res.Stylize.Steps, res.Stylize.Mode, res.Stylize.Seconds, res.Stylize.Flops, res.Stylize.Stages)
		return nil
	}
	fmt.Printf("## Browser CPU: nnst SIMD kernels vs onnxruntime-web (wasm), %d threads\n\n", res.Threads)
	fmt.Printf("%s; navigator.hardwareConcurrency %d. VGG19 forward to relu4_3, square input, best of %d (median in brackets).\n\n", res.UA, res.Cores, reps*rounds)
	fmt.Println("| size | GFLOP | onnxruntime-web s | ours s | ours GFLOP/s | ours/onnxruntime |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range sizes {
		k := strconv.Itoa(s)
		o, u := stats(res.Ort[k]), stats(res.Ours[k])
		gf := flops(m, s) / 1e9
		fmt.Printf("| %d | %.2f | %.3f (%.3f) | %.3f (%.3f) | %.1f | %.2f |\n", s, gf, o[0], o[1], u[0], u[1], gf/u[0], u[0]/o[0])
	}
	fmt.Printf("\nOur kernels alone at %d px (best of 2, GFLOP/s, %d threads; data copied in and out included):\n\n", sizes[len(sizes)-1], res.Threads)
	fmt.Println("| kernel | in->out | size | forward | backward-data |")
	fmt.Println("|---|---|---|---|---|")
	for _, kr := range res.Kernels {
		if kr.Name == "nearest" {
			fmt.Printf("| nearest (bank %d x %d, %d queries) | | | %.1f | |\n", kr.Out, kr.In, kr.Size, kr.Fwd)
			continue
		}
		fmt.Printf("| %s | %d->%d | %d | %.1f | %.1f |\n", kr.Name, kr.In, kr.Out, kr.Size, kr.Fwd, kr.Bwd)
	}
	printStylize(res.Stylize.Size, res.Stylize.Steps, res.Stylize.Mode, res.Stylize.Seconds, res.Stylize.Flops, res.Stylize.Stages)
	return nil
}

func printStylize(size, steps int, mode string, secs, flops float64, stages map[string]float64) {
	fmt.Printf("\nStylization with the SIMD backend at %d px, %s mode, %d steps: %.1f s, %.2f TFLOP counted, %.1f GFLOP/s (", size, mode, steps, secs, flops/1e12, flops/secs/1e9)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(stages)) {
		parts = append(parts, fmt.Sprintf("%s %.1f s", k, stages[k]))
	}
	fmt.Printf("%s)\n", strings.Join(parts, ", "))
}

// stats returns the minimum and the median.
func stats(v []float64) [2]float64 {
	if len(v) == 0 {
		return [2]float64{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return [2]float64{s[0], s[len(s)/2]}
}

// flops counts the conv multiply-adds (x2) of m at s x s px.
func flops(m *model.Model, s int) float64 {
	h, w := s, s
	var f float64
	for _, l := range m.Layers {
		if l.Kind == "pool" {
			h, w = h/2, w/2
			continue
		}
		f += 2 * float64(l.Conv.In*9*l.Conv.Out*h*w)
	}
	return f
}
