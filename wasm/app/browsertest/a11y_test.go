package browsertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeResult is the part of axe.run()'s result the test reports.
type axeResult struct {
	Violations []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target  []any  `json:"target"`
			Summary string `json:"failureSummary"`
		} `json:"nodes"`
	} `json:"violations"`
	Passes int `json:"passes"`
}

// axeSource is axe-core from a11y/node_modules (npm ci in a11y/, which
// `make test-web` does).
func axeSource(t *testing.T) string {
	p := filepath.Join("a11y", "node_modules", "axe-core", "axe.min.js")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("axe-core is missing (run `npm ci` in wasm/app/browsertest/a11y): %v", err)
	}
	return string(b)
}

// audit injects axe-core through Runtime.evaluate (the page's CSP blocks
// foreign script elements, not the DevTools protocol) and fails on every
// serious or critical violation.
func (tb *tab) audit(state, axe string) {
	tb.t.Helper()
	if !evalT[bool](tb, `typeof window.axe === "object"`, 5*time.Second) {
		tb.do(30*time.Second, chromedp.Evaluate[chromedp.Void](axe))
	}
	r := evalT[axeResult](tb, `axe.run(document).then(r => ({
		violations: r.violations,
		passes: r.passes.length,
	}))`, 2*time.Minute)
	if r.Passes == 0 {
		tb.t.Fatalf("%s: axe checked nothing", state)
	}
	tb.t.Logf("%s: axe: %d rules passed, %d violated", state, r.Passes, len(r.Violations))
	for _, v := range r.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v: %s", n.Target, strings.ReplaceAll(n.Summary, "\n", " ")))
		}
		msg := fmt.Sprintf("%s: [%s] %s (%s)\n\t%s", state, v.Impact, v.ID, v.Help, strings.Join(where, "\n\t"))
		if v.Impact == "serious" || v.Impact == "critical" {
			tb.t.Error(msg)
		} else {
			tb.t.Log(msg)
		}
	}
}

func (tb *tab) auditSchemes(state, axe string) {
	tb.t.Helper()
	for _, scheme := range []string{"light", "dark"} {
		if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}); err != nil {
			tb.t.Fatal(err)
		}
		if !evalT[bool](tb, fmt.Sprintf(`matchMedia("(prefers-color-scheme: %s)").matches`, scheme), 5*time.Second) {
			tb.t.Fatalf("the %s colour scheme is not in effect", scheme)
		}
		tb.audit(state+", "+scheme, axe)
	}
}

// TestAccessibility runs axe-core on the page when idle (model loaded, no
// images) and after a finished tiny run, in the light and the dark colour
// scheme (style.css has both).
func TestAccessibility(t *testing.T) {
	dir := siteDir(t)
	axe := axeSource(t)
	srv := serveSite(t, dir)
	in := makeInputs(t)
	tb := startBrowser(t, false)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" {
		t.Fatalf("want ready, got %+v", e)
	}
	tb.auditSchemes("idle", axe)

	tb.uploadPair(in)
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
	if e := tb.wait("done,error,cancelled", s, 6*time.Minute); e.Type != "done" {
		t.Fatalf("tiny run: %+v", e)
	}
	tb.auditSchemes("after a run", axe)
	tb.checkProblems()
}
