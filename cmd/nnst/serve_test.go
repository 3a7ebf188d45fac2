package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"nnst/core/bundle"
	"nnst/core/site"
)

// makeDist writes the synthetic site and bundles it with `nnst dist`.
func makeDist(t *testing.T, out string) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "site")
	if err := bundle.WriteTestSite(src); err != nil {
		t.Fatal(err)
	}
	if code := mainExit([]string{"dist", "--src", src, "--out", out}); code != 0 {
		t.Fatalf("nnst dist exited %d", code)
	}
}

// startChild runs the CLI with args and returns the first line it prints.
func startChild(t *testing.T, args ...string) (*exec.Cmd, *bufio.Reader, string) {
	t.Helper()
	cmd, r := child(t, os.Stderr, args...)
	return cmd, r, readLine(t, r)
}

// child starts the CLI with args, its stderr going to stderr, and returns
// its stdout; the test's end kills it.
func child(t *testing.T, stderr io.Writer, args ...string) (*exec.Cmd, *bufio.Reader) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "NNST_BE_CLI=1")
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewReader(out)
}

var client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableCompression: true}}

func get(t *testing.T, u string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

var (
	attrRef = regexp.MustCompile(`(?:src|href)="([^"]+)"`)
	jsRef   = regexp.MustCompile(`["']((?:\./)?[\w./-]+\.(?:wasm|safetensors))["']`)
	swList  = regexp.MustCompile(`PRECACHE = \[([^\]]*)\]`)
)

// checkSite loads the page at pageURL the way a browser would: the URLs in
// index.html, the wasm and model URLs in app.js (relative to the page) and the
// service worker's precache list (relative to sw.js), each compared with the
// bundle on disk.
func checkSite(t *testing.T, pageURL, dist string) {
	t.Helper()
	base, _ := url.Parse(pageURL)
	disk := func(u *url.URL) []byte {
		rel := strings.TrimPrefix(u.Path, strings.TrimSuffix(base.Path, "index.html"))
		if rel == "" {
			rel = "index.html"
		}
		b, err := os.ReadFile(filepath.Join(dist, filepath.FromSlash(rel)))
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		return b
	}
	fetch := func(ref string, from *url.URL) {
		t.Helper()
		u, err := from.Parse(ref)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, u.String())
		if resp.StatusCode != 200 || !bytes.Equal(body, disk(u)) {
			t.Errorf("%s (%s from %s): %d, %d bytes", u, ref, from, resp.StatusCode, len(body))
		}
	}
	resp, page := get(t, pageURL)
	if resp.StatusCode != 200 || !bytes.Equal(page, disk(base)) {
		t.Fatalf("%s: %d", pageURL, resp.StatusCode)
	}
	refs := attrRef.FindAllStringSubmatch(string(page), -1)
	if len(refs) < 6 {
		t.Fatalf("index.html has %d references", len(refs))
	}
	for _, m := range refs {
		fetch(m[1], base)
	}
	appURL, _ := base.Parse("app.js")
	_, app := get(t, appURL.String())
	jsRefs := jsRef.FindAllStringSubmatch(string(app), -1)
	n := 0
	for _, m := range jsRefs {
		if site.IsHashedName(m[1]) {
			fetch(m[1], base)
			n++
		}
	}
	if n != 2 {
		t.Errorf("app.js references %d hashed files, want 2: %q", n, jsRefs)
	}
	swURL, _ := base.Parse("sw.js")
	_, sw := get(t, swURL.String())
	list := swList.FindStringSubmatch(string(sw))
	if list == nil {
		t.Fatal("no precache list in sw.js")
	}
	var entries []string
	if err := json.Unmarshal([]byte("["+list[1]+"]"), &entries); err != nil || len(entries) != 9 {
		t.Fatalf("precache list %s: %v", list[1], err)
	}
	for _, e := range entries {
		fetch(e, swURL)
	}
}

func TestServeBundle(t *testing.T) {
	dist := filepath.Join(t.TempDir(), "dist")
	makeDist(t, dist)
	cmd, stdout, line := startChild(t, "serve", "--addr", "127.0.0.1:0", "--dir", dist)
	m := regexp.MustCompile(`^serving .* at (http://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q", line)
	}
	root := m[1]
	checkSite(t, root, dist)

	// Headers of the real server.
	var man site.Manifest
	b, _ := os.ReadFile(filepath.Join(dist, site.ManifestName))
	json.Unmarshal(b, &man)
	var wasm site.File
	for _, f := range man.Files {
		if strings.HasSuffix(f.Path, ".wasm") {
			wasm = f
		}
	}
	resp, body := get(t, root+wasm.Path, "Accept-Encoding", "gzip, deflate, br")
	h := resp.Header
	if h.Get("Content-Type") != "application/wasm" || h.Get("Content-Encoding") != "br" || h.Get("Cache-Control") != site.CacheImmutable ||
		h.Get("Vary") != "Accept-Encoding" || h.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Errorf("wasm headers %v", h)
	}
	dec, err := io.ReadAll(brotli.NewReader(bytes.NewReader(body)))
	raw, _ := os.ReadFile(filepath.Join(dist, wasm.Path))
	if err != nil || !bytes.Equal(dec, raw) {
		t.Error("brotli body does not decode to the wasm")
	}
	if resp, _ := get(t, root+wasm.Path, "Accept-Encoding", "br", "If-None-Match", h.Get("ETag")); resp.StatusCode != 304 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp, body := get(t, root+wasm.Path, "Range", "bytes=0-3"); resp.StatusCode != 206 || string(body) != "\x00asm" {
		t.Errorf("range: %d %q", resp.StatusCode, body)
	}
	for _, p := range []string{"", "sw.js", "manifest.webmanifest"} {
		resp, _ := get(t, root+p)
		if resp.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("/%s Cache-Control %q", p, resp.Header.Get("Cache-Control"))
		}
	}
	if resp, _ := get(t, root+"manifest.webmanifest"); resp.Header.Get("Content-Type") != "application/manifest+json" {
		t.Errorf("manifest type %q", resp.Header.Get("Content-Type"))
	}
	if resp, _ := get(t, root+"help.htm"); resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Errorf(".htm type %q", resp.Header.Get("Content-Type"))
	}

	// Raw requests: what a client library would clean up first.
	host := strings.TrimSuffix(strings.TrimPrefix(root, "http://"), "/")
	raw1 := func(req string) string {
		c, err := net.DialTimeout("tcp", host, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, req)
		status, _ := bufio.NewReader(c).ReadString('\n')
		return strings.TrimSpace(status)
	}
	for req, want := range map[string]string{
		"GET /../" + site.ManifestName + " HTTP/1.1\r\nHost: x\r\n\r\n":                    "HTTP/1.1 400 Bad Request",
		"GET /icons/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n":                          "HTTP/1.1 400 Bad Request",
		"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n":                        "HTTP/1.1 400 Bad Request",
		"GET /icons%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n":                  "HTTP/1.1 400 Bad Request",
		"GET /..%5c..%5cetc%5cpasswd HTTP/1.1\r\nHost: x\r\n\r\n":                          "HTTP/1.1 400 Bad Request",
		"GET /" + site.ManifestName + " HTTP/1.1\r\nHost: x\r\n\r\n":                       "HTTP/1.1 404 Not Found",
		"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n":                          "HTTP/1.1 405 Method Not Allowed",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 256<<10) + "\r\n\r\n": "HTTP/1.1 431 Request Header Fields Too Large",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 18<<10) + "\r\n\r\n":  "HTTP/1.1 431 Request Header Fields Too Large",
	} {
		if got := raw1(req); got != want {
			t.Errorf("%.60q: %q, want %q", req, got, want)
		}
	}

	// Ctrl-C: a clean exit.
	cmd.Process.Signal(syscall.SIGINT)
	exited := make(chan error, 1)
	go func() { rest, _ := io.ReadAll(stdout); exited <- cmd.Wait(); t.Logf("after Ctrl-C: %q", rest) }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after Ctrl-C: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("still running 10 s after Ctrl-C")
	}
}

func TestServeRefusesBadDir(t *testing.T) {
	if code := mainExit([]string{"serve", "--dir", filepath.Join(t.TempDir(), "none")}); code != 1 {
		t.Errorf("missing folder: exit %d", code)
	}
	if code := mainExit([]string{"serve", "--dir", t.TempDir()}); code != 1 {
		t.Errorf("empty folder: exit %d", code)
	}
	if code := mainExit([]string{"serve", "extra"}); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

// TestPythonSubPath serves the bundle with a plain static server under a
// sub-path, as GitHub Pages serves a project site.
func TestPythonSubPath(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is needed for this test: ", err)
	}
	parent := t.TempDir()
	dist := filepath.Join(parent, "sub", "path")
	makeDist(t, dist)
	cmd := exec.Command(py, "-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory", parent, "0")
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, _ := bufio.NewReader(out).ReadString('\n')
	m := regexp.MustCompile(`port (\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("python3 said %q", line)
	}
	checkSite(t, fmt.Sprintf("http://127.0.0.1:%s/sub/path/index.html", m[1]), dist)
}
