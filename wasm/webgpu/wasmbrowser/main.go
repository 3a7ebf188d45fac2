//go:build !js

// Command wasmbrowser runs a GOOS=js GOARCH=wasm program (a test binary)
// in headless Chromium with WebGPU enabled, forwarding its console output
// and exit code. Use it as `go test -exec`:
//
//	GOOS=js GOARCH=wasm go test -exec "go run ./wasm/webgpu/wasmbrowser" ./wasm/webgpu
//
// CHROMIUM or NNST_CHROMIUM names the browser (default: chromium on PATH);
// NNST_CHROMIUM_FLAGS adds switches (see nnst/wasm/internal/chrome).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"nnst/wasm/internal/chrome"
)

const page = `<!doctype html><meta charset="utf-8"><script src="/wasm_exec.js"></script>
<script>
window.goDone = (async () => {
	const go = new Go();
	go.argv = ARGV;
	go.env = ENV;
	let code = null;
	go.exit = (c) => { code = c; };
	const buf = await (await fetch("/prog.wasm")).arrayBuffer();
	const { instance } = await WebAssembly.instantiate(buf, go.importObject);
	await go.run(instance);
	// Let the last console lines go out before reporting.
	await new Promise((r) => setTimeout(r, 50));
	return code === null ? 0 : code;
})();
</script>`

func goroot() string {
	if r := os.Getenv("GOROOT"); r != "" {
		return r
	}
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser: go env GOROOT:", err)
		os.Exit(2)
	}
	return strings.TrimSpace(string(out))
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wasmbrowser prog.wasm [args...]")
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2:]))
}

func run(prog string, args []string) int {
	wasmExec := filepath.Join(goroot(), "lib", "wasm", "wasm_exec.js")
	argv, _ := json.Marshal(append([]string{filepath.Base(prog)}, args...))
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "NNST_") {
			env[k] = v
		}
	}
	envJSON, _ := json.Marshal(env)
	html := strings.Replace(strings.Replace(page, "ARGV", string(argv), 1), "ENV", string(envJSON), 1)

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, html)
	})
	mux.HandleFunc("/wasm_exec.js", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, wasmExec) })
	mux.HandleFunc("/prog.wasm", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/wasm")
		http.ServeFile(w, r, prog)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser:", err)
		return 2
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	dir, err := os.MkdirTemp("", "wasmbrowser-profile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser:", err)
		return 2
	}
	defer os.RemoveAll(dir)
	browser := os.Getenv("CHROMIUM")
	if browser == "" {
		if browser, err = chrome.Path(); err != nil {
			fmt.Fprintln(os.Stderr, "wasmbrowser:", err)
			return 2
		}
	}
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("enable-unsafe-webgpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.UserDataDir(dir),
	}, chrome.Flags()...)
	logOpts, closeLog, err := chrome.Log()
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser:", err)
		return 2
	}
	defer closeLog()
	opts = append(opts, logOpts...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel2 := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var parts []string
			for _, a := range e.Args {
				var s string
				if a.Type == "string" && json.Unmarshal([]byte(a.Value), &s) == nil {
					parts = append(parts, s)
				} else if a.Description != "" {
					parts = append(parts, a.Description)
				} else {
					parts = append(parts, string(a.Value))
				}
			}
			line := strings.Join(parts, " ")
			if e.Type == "error" || e.Type == "warning" {
				fmt.Fprintln(os.Stderr, line)
			} else {
				fmt.Fprintln(os.Stdout, line)
			}
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			msg := d.Text
			if d.Exception != nil && d.Exception.Description != "" {
				msg += " " + d.Exception.Description
			}
			fmt.Fprintln(os.Stderr, "wasmbrowser: uncaught exception:", msg)
		}
	}))
	defer cancel2()
	if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("http://%s/", ln.Addr()))); err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser: navigate:", err)
		return 2
	}
	tctx, cancel3 := context.WithTimeout(ctx, 60*time.Minute)
	defer cancel3()
	code, err := chromedp.Run(tctx, chromedp.Evaluate[int]("window.goDone", chromedp.EvalAwaitPromise))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmbrowser: running the program:", err)
		return 2
	}
	return code
}
