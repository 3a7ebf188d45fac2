//go:build !js

package simd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nnst/wasm/simd/internal/browser"
)

// TestBrowser builds this package's js/wasm tests (simd_js_test.go) and
// runs them in headless Chromium on a cross-origin isolated page. Without
// chromium or wat2wasm it skips, unless NNST_SIMD_REQUIRE=1.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	need := func(err error) {
		if err != nil {
			if os.Getenv("NNST_SIMD_REQUIRE") == "1" {
				t.Fatal(err)
			}
			t.Skip(err)
		}
	}
	_, err := browser.Chromium()
	need(err)
	_, err = exec.LookPath("wat2wasm")
	need(err)
	root, err := browser.Root()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	build := exec.Command("go", "test", "-c", "-o", filepath.Join(dir, "simd.test.wasm"), ".")
	build.Env = browser.GoEnv()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the wasm tests: %v\n%s", err, out)
	}
	if err := browser.Kernels("kernels.wat", filepath.Join(dir, "simd-kernels.wasm")); err != nil {
		t.Fatal(err)
	}
	wasmExec, err := browser.WasmExec()
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(root, "web")
	if err := browser.Copy(dir, wasmExec, filepath.Join(web, "simd.js"), filepath.Join(web, "simd-worker.js"),
		"testdata/page.html", "testdata/run.js", "testdata/worker.html", "testdata/worker-page.js", "testdata/worker-run.js"); err != nil {
		t.Fatal(err)
	}
	srv := browser.Serve(dir, nil)
	defer srv.Close()
	// On the page with the whole backend suite; in a worker (where the web
	// app runs its engine) with its network and search cases.
	runPage(t, srv.URL+`/page.html?wasm=simd.test.wasm&args=["-test.v","-test.run=Suite|KernelFailure|MaxPool|Forward"]`,
		"TestSuite", "TestKernelFailure", "TestMaxPool", "TestForward")
	runPage(t, srv.URL+`/worker.html?wasm=simd.test.wasm&args=["-test.v","-test.run=Suite/(network|search)"]`,
		"TestSuite/network", "TestSuite/search")
	// Without COOP/COEP there is no SharedArrayBuffer: not available.
	plain := browser.ServePlain(dir)
	defer plain.Close()
	runPage(t, plain.URL+`/page.html?wasm=simd.test.wasm&args=["-test.v","-test.run=NotIsolated"]`,
		"TestNotIsolated")
}

func runPage(t *testing.T, url string, tests ...string) {
	t.Helper()
	ctx, cancel := browser.Timeout(3 * time.Minute)
	defer cancel()
	type result struct {
		Code   int    `json:"code"`
		Output string `json:"output"`
	}
	res, err := browser.Eval[result](ctx, url, "window.goResult", func(s string) {
		if strings.HasPrefix(s, "exception") {
			t.Log(s)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s:\n%s", url, res.Output)
	for _, name := range tests {
		if !strings.Contains(res.Output, fmt.Sprintf("--- PASS: %s", name)) {
			t.Errorf("%s did not pass in the browser", name)
		}
	}
	if res.Code != 0 {
		t.Errorf("browser tests exited with %d", res.Code)
	}
}
