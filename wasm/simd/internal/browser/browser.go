//go:build !js

// Package browser serves a folder cross-origin isolated (COOP/COEP) on
// 127.0.0.1 and runs a page in headless Chromium, for the simd tests and
// benchmark.
package browser

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/profiler"
	"github.com/chromedp/chromedp"

	"nnst/wasm/internal/chrome"
)

// Chromium returns the browser to use: $NNST_CHROMIUM or chromium on PATH.
func Chromium() (string, error) { return chrome.Path() }

// Serve serves dir with the headers a SharedArrayBuffer needs; extra maps
// URL paths to more handlers.
func Serve(dir string, extra map[string]http.Handler) *httptest.Server {
	return serve(dir, extra, true)
}

// ServePlain serves dir without cross-origin isolation.
func ServePlain(dir string) *httptest.Server { return serve(dir, nil, false) }

func serve(dir string, extra map[string]http.Handler, isolated bool) *httptest.Server {
	mime.AddExtensionType(".wasm", "application/wasm")
	mime.AddExtensionType(".mjs", "text/javascript")
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir(dir)))
	for p, h := range extra {
		mux.Handle(p, h)
	}
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isolated {
			w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
			w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
			w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
		}
		w.Header().Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	}))
}

// Eval opens url in a fresh headless Chromium and returns the value of
// expr (a promise is awaited). Console output goes to log when not nil;
// flags are extra Chromium switches without the dashes (e.g.
// "enable-unsafe-webgpu").
func Eval[T any](ctx context.Context, url, expr string, log func(string), flags ...string) (T, error) {
	return EvalProfile[T](ctx, url, expr, log, nil, flags...)
}

// EvalProfile is Eval with the page's main thread sampled by V8's CPU
// profiler while expr is awaited; the profile goes to prof unless it is nil.
func EvalProfile[T any](ctx context.Context, url, expr string, log func(string), prof func(*profiler.Profile), flags ...string) (T, error) {
	var zero T
	bin, err := Chromium()
	if err != nil {
		return zero, err
	}
	udir, err := os.MkdirTemp("", "nnst-chromium-")
	if err != nil {
		return zero, err
	}
	defer os.RemoveAll(udir)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(udir),
	}
	for _, f := range flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	opts = append(opts, chrome.Flags()...)
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel2 := chromedp.NewContext(actx)
	defer cancel2()
	if log != nil {
		err := chromedp.Listen(bctx, func(ev any) {
			if s := consoleText(ev); s != "" {
				log(s)
			}
		})
		if err != nil {
			return zero, fmt.Errorf("starting %s: %w", bin, err)
		}
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(url)); err != nil {
		return zero, fmt.Errorf("opening %s: %w", url, err)
	}
	if prof == nil {
		return chromedp.Run(bctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	}
	if _, err := chromedp.Call(bctx, profiler.Enable, cdp.Empty{}); err != nil {
		return zero, err
	}
	if _, err := chromedp.Call(bctx, profiler.SetSamplingInterval, profiler.SetSamplingIntervalParams{Interval: 1000}); err != nil {
		return zero, err
	}
	if _, err := chromedp.Call(bctx, profiler.Start, cdp.Empty{}); err != nil {
		return zero, err
	}
	v, err := chromedp.Run(bctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		return zero, err
	}
	res, err := chromedp.Call(bctx, profiler.Stop, cdp.Empty{})
	if err != nil {
		return zero, err
	}
	prof(res.Profile)
	return v, nil
}

// GoEnv returns the environment for building GOOS=js GOARCH=wasm.
func GoEnv() []string { return append(os.Environ(), "GOOS=js", "GOARCH=wasm") }

// WasmExec returns the path of Go's wasm_exec.js.
func WasmExec() (string, error) {
	if r := os.Getenv("GOROOT"); r != "" {
		return filepath.Join(r, "lib", "wasm", "wasm_exec.js"), nil
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", err
	}
	return filepath.Join(strings.TrimSpace(string(out)), "lib", "wasm", "wasm_exec.js"), nil
}

// Copy copies files into dir (flat).
func Copy(dir string, files ...string) error {
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Kernels assembles wat into out with wat2wasm.
func Kernels(wat, out string) error {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		return errors.New("wat2wasm not found (apt-get install wabt)")
	}
	cmd := exec.Command("wat2wasm", "--enable-threads", wat, "-o", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("wat2wasm: %v\n%s", err, b)
	}
	return nil
}

// Root returns the module root (the folder with go.mod) above the working directory.
func Root() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		p := filepath.Dir(d)
		if p == d {
			return "", errors.New("go.mod not found")
		}
		d = p
	}
}

// Timeout is a context that ends after d.
func Timeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
