package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"nnst/core/site"
)

// bigSite writes a site folder with a 16 MB file: more than the socket
// buffers of a client that stops reading hold.
func bigSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html><title>big</title>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), make([]byte, 16<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type testServer struct {
	*server
	addr     string
	log, out syncBuffer
	sig      chan os.Signal
	done     chan error
}

// startServer serves dir in-process with nnst serve's server; set changes
// its limits before it starts.
func startServer(t *testing.T, dir string, set func(*server)) *testServer {
	t.Helper()
	h, err := site.New(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), sig: make(chan os.Signal, 2), done: make(chan error, 1)}
	ts.server = newServer(h, log.New(&ts.log, "", 0))
	if set != nil {
		set(ts.server)
	}
	go func() { ts.done <- ts.serve(ln, ts.sig, &ts.out) }()
	t.Cleanup(func() { ts.Close() })
	return ts
}

// stuckGet asks for big.bin with a small receive buffer and reads no more
// than the headers.
func stuckGet(t *testing.T, addr string) (net.Conn, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.(*net.TCPConn).SetReadBuffer(256 << 10) // fixed: no autotuning
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 4096), nil)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 16<<20 {
		t.Fatalf("GET /big.bin: %v %v", err, resp)
	}
	return c, resp
}

// TestServeSlowReader: a client that stops reading is cut off after the
// stall timeout; one that reads slowly, for longer than the timeout in all,
// gets the whole file.
func TestServeSlowReader(t *testing.T) {
	// The slow reader drains 256 KiB every 100 ms: ten pauses per stall
	// timeout, margin enough on a loaded machine.
	ts := startServer(t, bigSite(t), func(s *server) { s.stall = time.Second })

	_, resp := stuckGet(t, ts.addr)
	start := time.Now()
	var n int64
	for {
		m, err := io.CopyN(io.Discard, resp.Body, 256<<10)
		n += m
		if err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != resp.ContentLength || time.Since(start) < 3*ts.stall {
		t.Errorf("slow reader: %d of %d bytes in %s", n, resp.ContentLength, time.Since(start))
	}

	_, resp = stuckGet(t, ts.addr)
	time.Sleep(4 * ts.stall)
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= resp.ContentLength {
		t.Errorf("stuck reader got %d of %d bytes (%v) after the stall timeout", n, resp.ContentLength, err)
	}
	if !strings.Contains(ts.log.String(), "stopped reading: closing the connection after 1s without progress") {
		t.Errorf("log: %q", ts.log.String())
	}
}

// TestServeStop stops with a client stuck mid-download: the stop waits its
// time, cuts the client off and returns no error.
func TestServeStop(t *testing.T) {
	ts := startServer(t, bigSite(t), func(s *server) { s.wait = 300 * time.Millisecond })
	stuckGet(t, ts.addr)
	ts.sig <- os.Interrupt
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still serving 5 s after the signal")
	}
	want := "stopping: waiting up to 300ms for 1 answer in progress (Ctrl-C again to stop now)\nstopped, cutting off 1 answer still in progress\n"
	if ts.out.String() != want {
		t.Errorf("printed %q, want %q", ts.out.String(), want)
	}

	// Nothing in progress: a plain stop.
	ts = startServer(t, bigSite(t), nil)
	ts.sig <- syscall.SIGTERM
	if err := <-ts.done; err != nil || ts.out.String() != "stopped\n" {
		t.Errorf("idle stop: %v, printed %q", err, ts.out.String())
	}
}

// TestServeSignals stops a real `nnst serve` with a stuck client: SIGTERM
// starts the wait, SIGINT ends it; exit 0 with plain messages.
func TestServeSignals(t *testing.T) {
	cmd, stdout, root, stderr := serveChild(t, bigSite(t))
	stuckGet(t, strings.TrimSuffix(strings.TrimPrefix(root, "http://"), "/"))
	cmd.Process.Signal(syscall.SIGTERM)
	if line := readLine(t, stdout); !strings.HasPrefix(line, "stopping: waiting up to 5s for 1 answer in progress") {
		t.Fatalf("after SIGTERM: %q", line)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if line := readLine(t, stdout); line != "stopped, cutting off 1 answer still in progress" {
		t.Errorf("after SIGINT: %q", line)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit: %v; stderr %q", err, stderr.String())
	}
}

// TestServeOwnAnswers sends requests net/http refuses before the handler
// runs: its answers carry the handler's security headers too.
func TestServeOwnAnswers(t *testing.T) {
	ts := startServer(t, bigSite(t), nil)
	ok := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, c := range []struct {
		raw   string
		codes []int
	}{
		{"GET / HTTP/1.1\r\n\r\n", []int{400}},
		{"GARBAGE\r\n\r\n", []int{400}},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 256<<10) + "\r\n\r\n", []int{431}},
		{"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", []int{501}},
		{"GET / HTTP/2.0\r\nHost: x\r\n\r\n", []int{505}},
		{"GET / HTTP/1.1\r\nHost: x\r\nExpect: fancy\r\n\r\n", []int{417}},
		{ok + ok + "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", []int{200, 200, 400}},
		{"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 18<<10) + "\r\n\r\n", []int{431}}, // the handler's own
	} {
		c2, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c2.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c2, c.raw)
		br := bufio.NewReader(c2)
		for _, code := range c.codes {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("%.40q: %v", c.raw, err)
				break
			}
			io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != code {
				t.Errorf("%.40q: %d, want %d", c.raw, resp.StatusCode, code)
			}
			for _, kv := range append(site.SecurityHeaders, [2]string{"Cache-Control", site.CacheNoCache}) {
				if vs := resp.Header.Values(kv[0]); len(vs) != 1 || vs[0] != kv[1] {
					t.Errorf("%.40q: %d: %s %q", c.raw, code, kv[0], vs)
				}
			}
		}
		c2.Close()
	}
}

// TestServeUnreadBody: a request body that nobody reads cannot hold the
// connection: after the answer, the server waits for it only so long.
func TestServeUnreadBody(t *testing.T) {
	ts := startServer(t, bigSite(t), func(s *server) { s.body = 300 * time.Millisecond })
	c, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST: %v %v", err, resp)
	}
	io.Copy(io.Discard, resp.Body)
	start := time.Now()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("after the answer: %v, want the connection closed", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("closed after %s", d)
	}
}

// TestServeChangedBundle edits a bundle after nnst dist: serve refuses to
// start and names the files.
func TestServeChangedBundle(t *testing.T) {
	dist := filepath.Join(t.TempDir(), "dist")
	makeDist(t, dist)
	f, _ := os.OpenFile(filepath.Join(dist, "sw.js"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("// edited\n")
	f.Close()
	css := filepath.Join(dist, "style.css")
	b, _ := os.ReadFile(css)
	b[0] ^= 1
	os.WriteFile(css, b, 0o644)
	os.Remove(filepath.Join(dist, "app.js.br"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "--addr", "127.0.0.1:0", "--dir", dist)
	cmd.Env = append(os.Environ(), "NNST_BE_CLI=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v: %s", err, out)
	}
	for _, want := range []string{"dist: the bundle changed after it was written (run nnst dist again):\n  ", "sw.js: ", "bytes, the manifest says", "style.css: the content differs", "app.js.br: missing"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// TestServeFileChangedWhileServing edits files of a bundle being served:
// 500 and a log line, never a body that disagrees with its Content-Length.
func TestServeFileChangedWhileServing(t *testing.T) {
	dist := filepath.Join(t.TempDir(), "dist")
	makeDist(t, dist)
	_, _, root, stderr := serveChild(t, dist)
	if resp, _ := get(t, root+"sw.js"); resp.StatusCode != 200 {
		t.Fatalf("sw.js: %d", resp.StatusCode)
	}
	f, _ := os.OpenFile(filepath.Join(dist, "sw.js"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("// edited\n")
	f.Close()
	os.WriteFile(filepath.Join(dist, "index.html.br"), []byte("short"), 0o644)
	for _, c := range [][]string{{"sw.js"}, {"", "Accept-Encoding", "br"}, {"sw.js", "Range", "bytes=0-9"}} {
		resp, body := get(t, root+c[0], c[1:]...)
		if resp.StatusCode != 500 || string(body) != "500 Internal Server Error\n" || resp.Header.Get("Cross-Origin-Embedder-Policy") == "" {
			t.Errorf("/%s %q: %d %q", c[0], c[1:], resp.StatusCode, body)
		}
	}
	if !regexp.MustCompile(`nnst serve: .*GET /sw.js: sw.js is \d+ bytes, the manifest says \d+`).MatchString(stderr.String()) ||
		!strings.Contains(stderr.String(), "GET /: index.html.br is 5 bytes") {
		t.Errorf("log: %q", stderr.String())
	}
}

// serveChild runs `nnst serve` on dir and returns its root URL; stderr
// collects what it logs.
func serveChild(t *testing.T, dir string) (*exec.Cmd, *bufio.Reader, string, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	cmd, stdout := child(t, stderr, "serve", "--addr", "127.0.0.1:0", "--dir", dir)
	line := readLine(t, stdout)
	m := regexp.MustCompile(`^serving .* at (http://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("first line %q; stderr %q", line, stderr.String())
	}
	return cmd, stdout, m[1], stderr
}

// readLine reads a line, waiting at most 20 s.
func readLine(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	line := make(chan string, 1)
	go func() { s, _ := r.ReadString('\n'); line <- s }()
	select {
	case s := <-line:
		return strings.TrimSpace(s)
	case <-time.After(20 * time.Second):
		t.Fatal("no output from the child")
	}
	return ""
}
