package browsertest

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sitehandler "nnst/core/site"
)

// chromeFlags are startBrowser's flags, for Lighthouse's own Chromium.
const chromeFlags = "--headless --no-sandbox --disable-background-networking --disable-component-update --disable-sync --no-first-run"

// minScore is the least accessibility and best-practices score accepted.
const minScore = 0.95

// TestLighthouse audits the bundle `make dist` wrote, served by the handler
// of `nnst serve` (real headers), with Lighthouse 12.2.3 from a11y/ for
// accessibility and best practices: both scores must be at least 95.
func TestLighthouse(t *testing.T) {
	dir := os.Getenv("NNST_DIST")
	if dir == "" {
		t.Skip("NNST_DIST is not set: run `make test-web` or `make audit`")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is needed for Lighthouse: %v", chromium, err)
	}
	lh, err := filepath.Abs(filepath.Join("a11y", "node_modules", ".bin", "lighthouse"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lh); err != nil {
		t.Fatalf("Lighthouse is missing (run `npm ci` in wasm/app/browsertest/a11y): %v", err)
	}
	h, err := sitehandler.New(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	out := filepath.Join(t.TempDir(), "report.json")
	args := []string{srv.URL + "/",
		"--only-categories=accessibility,best-practices",
		"--output=json", "--output-path=" + out, "--quiet",
		"--chrome-flags=" + chromeFlags + " --user-data-dir=" + t.TempDir(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, lh, args...)
	cmd.Env = append(os.Environ(), "CHROME_PATH="+chromium)
	t.Logf("CHROME_PATH=%s lighthouse %s", chromium, strings.Join(args, " "))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("lighthouse: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Version      string `json:"lighthouseVersion"`
		RuntimeError *struct {
			Code, Message string
		} `json:"runtimeError"`
		Categories map[string]struct {
			Score     *float64 `json:"score"`
			AuditRefs []struct {
				ID     string  `json:"id"`
				Weight float64 `json:"weight"`
			} `json:"auditRefs"`
		} `json:"categories"`
		Audits map[string]struct {
			Title string   `json:"title"`
			Score *float64 `json:"score"`
		} `json:"audits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.RuntimeError != nil {
		t.Fatalf("lighthouse %s: %s: %s", r.Version, r.RuntimeError.Code, r.RuntimeError.Message)
	}
	for _, id := range []string{"accessibility", "best-practices"} {
		c, ok := r.Categories[id]
		if !ok || c.Score == nil {
			t.Errorf("no %s score in the report", id)
			continue
		}
		t.Logf("lighthouse %s: %s %.0f", r.Version, id, 100**c.Score)
		for _, ref := range c.AuditRefs {
			if a := r.Audits[ref.ID]; a.Score != nil && *a.Score < 1 && ref.Weight > 0 {
				t.Logf("  failed audit %s (weight %g): %s", ref.ID, ref.Weight, a.Title)
			}
		}
		if *c.Score < minScore {
			t.Errorf("%s score %.0f, want at least %.0f", id, 100**c.Score, 100*minScore)
		}
	}
}
