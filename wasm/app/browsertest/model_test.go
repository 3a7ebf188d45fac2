package browsertest

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// modelPath is the model's path on the server.
const modelPath = "/models/vgg19.safetensors"

// TestDamagedCachedModel damages the model the page stored in Cache
// Storage (one payload byte changed, as a disk or an interrupted write
// might): on the next load the worker refuses it, and the page must drop
// it, download the model again and start, then store the good copy.
func TestDamagedCachedModel(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	file, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(modelPath)))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(file)
	want := hex.EncodeToString(sum[:])
	tb := startBrowser(t, false)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	if e := tb.wait("offline-ready,error", 0, 3*time.Minute); e.Type != "offline-ready" {
		t.Fatalf("the model was not stored: %+v", e)
	}
	if got := tb.storedModelSHA(); got != want {
		t.Fatalf("the stored model's SHA-256 is %s, want %s", got, want)
	}
	downloads := srv.hitCount(modelPath)
	tb.damageStoredModel()
	if got := tb.storedModelSHA(); got == want {
		t.Fatal("the stored model did not change")
	}

	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" {
		t.Fatalf("with a damaged stored model: %+v, want the app to start", e)
	}
	if n := srv.hitCount(modelPath) - downloads; n != 1 {
		t.Errorf("the model was downloaded %d times after the damage, want once", n)
	}
	if e := tb.wait("offline-ready,error", 0, time.Minute); e.Type != "offline-ready" {
		t.Fatalf("the good copy was not stored: %+v", e)
	}
	if got := tb.storedModelSHA(); got != want {
		t.Errorf("the stored model's SHA-256 is %s after the recovery, want %s", got, want)
	}
	tb.checkProblems()
}

// storedModel is JavaScript that finds the model's cache and request.
const storedModel = `const name = (await caches.keys()).find(n => n.startsWith("nnst-model-"));
		if (!name) return "";
		const c = await caches.open(name);
		const req = (await c.keys()).find(r => r.url.endsWith(` + "`" + modelPath + "`" + `));
		if (!req) return "";`

// storedModelSHA is the SHA-256 of the model in Cache Storage ("" none).
func (tb *tab) storedModelSHA() string {
	tb.t.Helper()
	return evalT[string](tb, `(async () => {
		`+storedModel+`
		const d = await crypto.subtle.digest("SHA-256", await (await c.match(req)).arrayBuffer());
		return [...new Uint8Array(d)].map(b => b.toString(16).padStart(2, "0")).join("");
	})()`, 30*time.Second)
}

// damageStoredModel changes the last byte of the stored model.
func (tb *tab) damageStoredModel() {
	tb.t.Helper()
	url := evalT[string](tb, `(async () => {
		`+storedModel+`
		const b = new Uint8Array(await (await c.match(req)).arrayBuffer());
		b[b.length - 1] ^= 0x55;
		await c.put(req, new Response(b, {headers: {"Content-Type": "application/octet-stream"}}));
		return req.url;
	})()`, 30*time.Second)
	if !strings.HasSuffix(url, modelPath) {
		tb.t.Fatalf("no stored model to damage (%q)", url)
	}
}
