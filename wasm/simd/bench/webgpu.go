//go:build !js

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"nnst/wasm/simd/internal/browser"
)

// runWebGPU times VGG19 to relu4_3 with onnxruntime-web's WebGPU execution
// provider and with nnst's WebGPU backend (gpupage) in one headless
// Chromium with --enable-unsafe-webgpu, and prints a Markdown table. If
// onnxruntime-web fails, its error is printed and ours is still timed.
func runWebGPU(modelPath string, threads int, sizeList string, rounds int, timeout time.Duration) error {
	sizes, err := parseSizes(sizeList)
	if err != nil {
		return err
	}
	m, root, dir, onnx, err := prepare(modelPath, "nnst-bench-webgpu-", "./wasm/simd/bench/gpupage", "webgpu.wasm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wasmExec, err := browser.WasmExec()
	if err != nil {
		return err
	}
	b := filepath.Join(root, "wasm/simd/bench")
	if err := browser.Copy(dir, wasmExec, filepath.Join(b, "static/webgpu.html"), filepath.Join(b, "static/webgpu.js")); err != nil {
		return err
	}
	ortDir := filepath.Join(b, "node_modules/onnxruntime-web/dist")
	if _, err := os.Stat(filepath.Join(ortDir, "ort.webgpu.min.js")); err != nil {
		return fmt.Errorf("onnxruntime-web not installed (cd wasm/simd/bench && npm ci): %w", err)
	}
	cfg, _ := json.Marshal(map[string]any{"threads": threads, "sizes": sizes, "rounds": rounds})
	srv := browser.Serve(dir, map[string]http.Handler{
		"/ort/":              http.StripPrefix("/ort/", http.FileServer(http.Dir(ortDir))),
		"/model.onnx":        blob(onnx, "application/octet-stream"),
		"/config.json":       blob(cfg, "application/json"),
		"/vgg19.safetensors": file(modelPath),
	})
	defer srv.Close()
	ctx, cancel := browser.Timeout(timeout)
	defer cancel()
	start := time.Now()
	out, err := browser.Eval[string](ctx, srv.URL+"/webgpu.html", "window.benchResult", func(s string) {
		fmt.Fprintf(os.Stderr, "  browser %4.0fs: %s\n", time.Since(start).Seconds(), s)
	}, "enable-unsafe-webgpu")
	if err != nil {
		return err
	}
	var res struct {
		Ort, Ours      map[string][]float64
		Threads, Cores int
		UA, Adapter    string
		OursAdapter    string
		OrtError       string
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return err
	}
	fmt.Printf("## WebGPU: nnst WebGPU backend vs onnxruntime-web (WebGPU EP)\n\n")
	fmt.Printf("%s; navigator.hardwareConcurrency %d; adapter %s (ours: %s); onnxruntime-web wasm threads %d.\n", res.UA, res.Cores, res.Adapter, res.OursAdapter, res.Threads)
	second := "median"
	if rounds == 2 {
		second = "the other run"
	}
	fmt.Printf("VGG19 forward to relu4_3, square input, upload to download of the output, best of %d after a warm-up (%s in brackets).\n\n", rounds, second)
	fmt.Println("| size | GFLOP | onnxruntime-web WebGPU ms | ours WebGPU ms | ours GFLOP/s | ours/onnxruntime |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, s := range sizes {
		k := strconv.Itoa(s)
		o, u := stats(res.Ort[k]), stats(res.Ours[k])
		gf := flops(m, s) / 1e9
		ort, ratio := "failed", "-"
		if len(res.Ort[k]) > 0 {
			ort, ratio = fmt.Sprintf("%.1f (%.1f)", 1000*o[0], 1000*o[1]), fmt.Sprintf("%.2f (%.2f)", u[0]/o[0], u[1]/o[1])
		}
		fmt.Printf("| %d | %.2f | %s | %.1f (%.1f) | %.0f | %s |\n", s, gf, ort, 1000*u[0], 1000*u[1], gf/u[0], ratio)
	}
	if res.OrtError != "" {
		fmt.Printf("\nonnxruntime-web failed: %s\n", strings.TrimSpace(res.OrtError))
	}
	return nil
}
