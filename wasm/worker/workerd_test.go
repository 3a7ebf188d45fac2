//go:build !js

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nnst/core/bundle"
	"nnst/core/site"
)

// TestWorkerdMatchesServe runs the Worker in workerd (a disk service stands
// in for the ASSETS binding; only loopback) and `nnst serve` on the same
// bundle, and checks they answer the same requests with the same status,
// headers and body. NNST_WORKERD names the workerd binary (make test-hosting
// installs it with npm ci).
func TestWorkerdMatchesServe(t *testing.T) {
	workerd := os.Getenv("NNST_WORKERD")
	if workerd == "" {
		t.Skip("NNST_WORKERD is not set (make test-hosting sets it)")
	}
	if _, err := os.Stat(workerd); err != nil {
		t.Fatalf("NNST_WORKERD: %v", err)
	}
	tmp := t.TempDir()
	src, dist, wdir := filepath.Join(tmp, "site"), filepath.Join(tmp, "dist"), filepath.Join(tmp, "worker")
	if err := bundle.WriteTestSite(src); err != nil {
		t.Fatal(err)
	}
	m, err := bundle.Build(bundle.Options{Src: src, Out: dist})
	if err != nil {
		t.Fatal(err)
	}

	// Build the Worker and the CLI.
	for _, f := range []string{"entry.mjs", "workerd.capnp"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(wdir, 0o755)
		os.WriteFile(filepath.Join(wdir, f), b, 0o644)
	}
	goTool := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	run := func(env []string, args ...string) {
		cmd := exec.Command(goTool, args...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run(nil, "run", "github.com/syumai/workers/cmd/workers-assets-gen", "-mode=go", "-o", filepath.Join(wdir, "build"))
	run([]string{"GOOS=js", "GOARCH=wasm"}, "build", "-o", filepath.Join(wdir, "build", "app.wasm"), ".")
	nnst := filepath.Join(tmp, "nnst")
	run(nil, "build", "-o", nnst, "../../cmd/nnst")

	servePort, workerPort := freePort(t), freePort(t)
	start(t, exec.Command(nnst, "serve", "--addr", "127.0.0.1:"+servePort, "--dir", dist))
	start(t, exec.Command(workerd, "serve", filepath.Join(wdir, "workerd.capnp"),
		"--socket-addr", "http=127.0.0.1:"+workerPort, "--directory-path", "assets="+dist))
	serveAddr, workerAddr := "127.0.0.1:"+servePort, "127.0.0.1:"+workerPort
	waitUp(t, serveAddr)
	waitUp(t, workerAddr)

	// The requests.
	type request struct{ method, target, headers string }
	var reqs []request
	var wasm, model site.File
	for _, f := range m.Files {
		for _, ae := range []string{"", "gzip", "gzip, deflate, br"} {
			h := ""
			if ae != "" {
				h = "Accept-Encoding: " + ae + "\r\n"
			}
			reqs = append(reqs, request{"GET", "/" + f.Path, h})
		}
		reqs = append(reqs, request{"HEAD", "/" + f.Path, "Accept-Encoding: br\r\n"})
		switch {
		case strings.HasSuffix(f.Path, ".wasm"):
			wasm = f
		case strings.HasSuffix(f.Path, ".safetensors"):
			model = f
		}
	}
	wasmBr := site.ETag(wasm.Brotli.SHA256)
	modelTag := site.ETag(model.SHA256)
	mp := "/" + model.Path
	reqs = append(reqs,
		request{"GET", "/", "Accept-Encoding: br\r\n"},
		request{"GET", "/?x=1", ""},
		request{"HEAD", "/", ""},
		request{"GET", "/" + wasm.Path, "Accept-Encoding: br\r\nIf-None-Match: " + wasmBr + "\r\n"},
		request{"GET", "/" + wasm.Path, "Accept-Encoding: br\r\nIf-None-Match: \"x\", W/" + wasmBr + "\r\n"},
		request{"GET", "/" + wasm.Path, "If-None-Match: " + wasmBr + "\r\n"},
		request{"GET", mp, "Range: bytes=0-99\r\n"},
		request{"GET", mp, "Range: bytes=1000-\r\n"},
		request{"GET", mp, "Range: bytes=-10\r\n"},
		request{"GET", mp, "Range: bytes=1000000000-\r\n"},
		request{"GET", mp, "Range: bytes=0-1,4-5\r\n"},
		request{"GET", mp, "Range: bytes=5-9\r\nIf-Range: " + modelTag + "\r\n"},
		request{"GET", mp, "Range: bytes=5-9\r\nIf-Range: \"0000000000000000\"\r\n"},
		request{"GET", "/" + wasm.Path, "Range: bytes=4-20\r\nAccept-Encoding: br\r\n"},
		request{"GET", "/nope", ""},
		request{"GET", "/nope.js", "Accept-Encoding: br\r\n"},
		request{"GET", "/" + site.ManifestName, ""},
		request{"GET", "/_headers", ""},
		request{"GET", "/app.js.br", ""},
		request{"GET", "/icons/", ""},
		request{"POST", "/", "Content-Length: 2\r\n\r\nhi"},
		request{"PUT", "/index.html", "Content-Length: 0\r\n"},
		request{"DELETE", "/", ""},
		request{"OPTIONS", "/", ""},
		request{"PATCH", "/sw.js", "Content-Length: 0\r\n"},
		request{"GET", "/", "X-Big: " + strings.Repeat("a", 18<<10) + "\r\n"},
		request{"GET", "/", "X-Big: " + strings.Repeat("a", 64<<10) + "\r\n"},
		request{"GET", "/../" + site.ManifestName, ""},
		request{"GET", "/icons/../../etc/passwd", ""},
		request{"GET", "/%2e%2e/" + site.ManifestName, ""},
		request{"GET", "/icons%2f..%2f" + site.ManifestName, ""},
		request{"GET", "/..%5c" + site.ManifestName, ""},
		request{"GET", "/icons/%2E%2E/%2E%2E/etc/passwd", ""},
	)
	compared := []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range", "Accept-Ranges",
		"Cache-Control", "ETag", "Vary", "Allow"}
	for _, kv := range site.SecurityHeaders {
		compared = append(compared, kv[0])
	}
	codes := map[int]int{}
	for _, r := range reqs {
		raw := r.method + " " + r.target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + r.headers
		if !strings.Contains(r.headers, "\r\n\r\n") {
			raw += "\r\n"
		}
		name := fmt.Sprintf("%s %s %.40q", r.method, r.target, r.headers)
		a := roundTrip(t, serveAddr, r.method, raw)
		b := roundTrip(t, workerAddr, r.method, raw)
		codes[a.status]++
		if a.status != b.status {
			t.Errorf("%s: nnst serve %d, worker %d (%q)", name, a.status, b.status, b.body)
			continue
		}
		for _, h := range compared {
			if a.header.Get(h) != b.header.Get(h) {
				t.Errorf("%s: %s: nnst serve %q, worker %q", name, h, a.header.Get(h), b.header.Get(h))
			}
		}
		if !bytes.Equal(a.body, b.body) {
			t.Errorf("%s: bodies differ (%d and %d bytes)", name, len(a.body), len(b.body))
		}
	}
	// The list must have covered every kind of answer.
	for _, c := range []int{200, 206, 304, 400, 404, 405, 416, 431} {
		if codes[c] == 0 {
			t.Errorf("no request got %d: %v", c, codes)
		}
	}
	js, _ := json.Marshal(codes)
	t.Logf("%d requests, statuses %s", len(reqs), js)
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func roundTrip(t *testing.T, addr, method, raw string) answer {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %.60q: %v", addr, raw, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %.60q: body: %v", addr, raw, err)
	}
	if resp.ContentLength >= 0 && method != "HEAD" && int64(len(body)) != resp.ContentLength {
		t.Errorf("%s %.60q: %d bytes for Content-Length %d", addr, raw, len(body), resp.ContentLength)
	}
	return answer{resp.StatusCode, resp.Header, body}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func start(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("%s:\n%s", filepath.Base(cmd.Path), out.String())
		}
	})
}

func waitUp(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
