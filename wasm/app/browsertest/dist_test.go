package browsertest

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	sitehandler "nnst/core/site"
)

// serveDist serves a `make dist` folder through the handler of `nnst serve`
// and the Worker, until the test ends.
func serveDist(t *testing.T, dir string) *httptest.Server {
	t.Helper()
	h, err := sitehandler.New(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestDist runs the bundle `make dist` wrote (hashed names, precompressed
// copies) through the same handler as `nnst serve` and the Worker, with its
// real headers (strict CSP, COOP/COEP): the app must load, use the SIMD
// path and stylize.
func TestDist(t *testing.T) {
	dir := os.Getenv("NNST_DIST")
	if dir == "" {
		t.Skip("NNST_DIST is not set: run `make test-web`")
	}
	srv := serveDist(t, dir)
	in := makeInputs(t)
	tb := startBrowser(t, false)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	e := tb.wait("ready,error", 0, 3*time.Minute)
	if e.Type != "ready" {
		t.Fatalf("not ready: %+v (%s)", e, tb.text("error-text"))
	}
	if note := tb.text("backend-note"); !strings.Contains(note, "WebAssembly SIMD") {
		t.Errorf("not on the SIMD CPU path: %q", note)
	}
	tb.uploadPair(in)
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
	if e := tb.wait("done,error,cancelled", s, 6*time.Minute); e.Type != "done" {
		t.Fatalf("run: %+v (%s)", e, tb.text("error-text"))
	}
	tb.checkProblems()
}
