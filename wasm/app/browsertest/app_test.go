// Package browsertest drives the built site (make site) in headless
// Chromium. Run with `make test-web`; without NNST_SITE the tests skip.
package browsertest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"nnst/wasm/internal/chrome"
	"nnst/wasm/webgpu"
)

// chromium is $NNST_CHROMIUM or Debian's; NNST_CHROMIUM_FLAGS adds
// switches (nnst/wasm/internal/chrome).
var chromium = func() string {
	if p := os.Getenv("NNST_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}()

// The test hooks: 64 px, 1 step, 2 scales keep a CPU run short.
const query = "?size=64&steps=1&scales=2"

func siteDir(t *testing.T) string {
	dir := os.Getenv("NNST_SITE")
	if dir == "" {
		t.Skip("NNST_SITE is not set: run `make test-web`")
	}
	if _, err := os.Stat(filepath.Join(dir, "app.wasm")); err != nil {
		t.Fatalf("NNST_SITE=%s is not a built site: %v", dir, err)
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is needed for the browser tests: %v", chromium, err)
	}
	return dir
}

// tab is a browser tab plus the problems it reported (exceptions, CSP).
type tab struct {
	t        *testing.T
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func startBrowser(t *testing.T, webgpu bool) *tab {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	if webgpu {
		opts = append(opts, chromedp.Flag("enable-unsafe-webgpu", true))
	}
	opts = append(opts, chrome.Flags()...)
	logOpts, closeLog, err := chrome.Log()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeLog)
	opts = append(opts, logOpts...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	tb := &tab{t: t, ctx: ctx}
	if err := chromedp.Listen(ctx, func(ev any) {
		var p string
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			p = "exception: " + (&chromedp.ExceptionError{ExceptionDetails: e.ExceptionDetails}).Error()
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError && (e.Entry.Source == cdplog.EntrySourceSecurity || strings.Contains(e.Entry.Text, "Content Security Policy")) {
				p = "security: " + e.Entry.Text
			}
		}
		if p != "" {
			tb.mu.Lock()
			tb.problems = append(tb.problems, p)
			tb.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	// Report CSP violations from the page itself too (not subject to CSP).
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));`,
	}); err != nil {
		t.Fatal(err)
	}
	return tb
}

func (tb *tab) checkProblems() {
	tb.t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		tb.t.Errorf("page problem: %s", p)
	}
	tb.problems = nil
	if v := evalT[[]string](tb, `window.__csp || []`, 5*time.Second); len(v) > 0 {
		tb.t.Errorf("CSP violations: %v", v)
	}
}

func (tb *tab) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatal(err)
	}
}

func evalT[T any](tb *tab, expr string, timeout time.Duration) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, timeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tb.t.Fatalf("evaluating %.80q: %v", expr, err)
	}
	return v
}

// event is what window.nnst.wait resolves with.
type event struct {
	Seq    int    `json:"seq"`
	Type   string `json:"type"`
	Detail string `json:"detail"`
}

func (tb *tab) seq() int { return evalT[int](tb, `nnst.seq()`, 5*time.Second) }

// wait awaits the first event of the given types after seq since.
func (tb *tab) wait(types string, since int, timeout time.Duration) event {
	tb.t.Helper()
	// window.nnst appears once app.wasm has started.
	return evalT[event](tb, fmt.Sprintf(`(async () => {
		while (!window.nnst) await new Promise(r => setTimeout(r, 50));
		return nnst.wait(%q, %d);
	})()`, types, since), timeout)
}

func (tb *tab) text(id string) string {
	return evalT[string](tb, fmt.Sprintf(`document.getElementById(%q).textContent`, id), 5*time.Second)
}

func (tb *tab) upload(slot, file string) event {
	tb.t.Helper()
	s := tb.seq()
	tb.do(10*time.Second, chromedp.SetUploadFiles(chromedp.ID("file-"+slot), []string{file}))
	return tb.wait("input,refused", s, 60*time.Second)
}

func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 30*time.Second)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(90))
	if err != nil {
		tb.t.Fatal(err)
	}
	dir := os.Getenv("NNST_SHOTS")
	if dir == "" {
		dir = tb.t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		tb.t.Fatal(err)
	}
	tb.t.Logf("screenshot %s", p)
}

// ---- inputs ----

// uploadPair drops in the content and the style image; each must be taken.
func (tb *tab) uploadPair(in inputs) {
	tb.t.Helper()
	for _, u := range [][2]string{{"content", in.content}, {"style", in.style}} {
		if e := tb.upload(u[0], u[1]); e.Type != "input" {
			tb.t.Fatalf("%s refused: %+v", u[0], e)
		}
	}
}

type inputs struct {
	content, style, text, tiny, exif, big string
	contentName, styleName                string
}

func makeInputs(t *testing.T) inputs {
	dir := t.TempDir()
	in := inputs{
		text: filepath.Join(dir, "notes.txt"),
		tiny: filepath.Join(dir, "tiny.png"),
		exif: filepath.Join(dir, "rotated.jpg"),
		big:  filepath.Join(dir, "big.jpg"),
	}
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(in.text, []byte("This is a text file, not an image.\n"))
	write(in.tiny, encodePNG(t, pattern(40, 40, 1)))
	write(in.exif, exifJPEG(t, pattern(160, 96, 2), 6))
	var big bytes.Buffer
	if err := jpeg.Encode(&big, pattern(3000, 2000, 4), &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	write(in.big, big.Bytes())
	shared := os.Getenv("NNST_SHARED")
	if shared == "" {
		shared = "../../../../shared"
	}
	shared, err := filepath.Abs(shared) // the browser needs absolute paths
	if err != nil {
		t.Fatal(err)
	}
	c, s := filepath.Join(shared, "images/content-c1.jpg"), filepath.Join(shared, "images/style-s4.jpg")
	if _, err := os.Stat(c); err == nil {
		if _, err := os.Stat(s); err == nil {
			in.content, in.style = c, s
			in.contentName, in.styleName = "content-c1", "style-s4"
			return in
		}
	}
	in.content, in.style = filepath.Join(dir, "photo.png"), filepath.Join(dir, "painting.png")
	write(in.content, encodePNG(t, pattern(200, 150, 3)))
	write(in.style, encodePNG(t, stripes(180, 180)))
	in.contentName, in.styleName = "photo", "painting"
	return in
}

func pattern(w, h int, seed float64) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			r := 0.5 + 0.5*math.Sin(6*fx+seed)
			g := 0.5 + 0.5*math.Cos(5*fy+2*seed)
			b := 0.5 + 0.5*math.Sin(4*(fx+fy)+3*seed)
			if math.Hypot(fx-0.5, fy-0.5) < 0.2 {
				r, g, b = 0.9, 0.85, 0.2
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(255 * r), uint8(255 * g), uint8(255 * b), 255})
		}
	}
	return img
}

func stripes(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := math.Sin(float64(x+2*y)/4) > 0
			c := color.NRGBA{30, 60, 160, 255}
			if v {
				c = color.NRGBA{240, 190, 40, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// exifJPEG encodes img as a JPEG carrying an EXIF orientation tag.
func exifJPEG(t *testing.T, img image.Image, orient uint16) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("II*\x00\x08\x00\x00\x00")
	ifd := make([]byte, 2+12+4)
	binary.LittleEndian.PutUint16(ifd[0:], 1)
	binary.LittleEndian.PutUint16(ifd[2:], 0x0112) // Orientation
	binary.LittleEndian.PutUint16(ifd[4:], 3)      // SHORT
	binary.LittleEndian.PutUint32(ifd[6:], 1)
	binary.LittleEndian.PutUint16(ifd[10:], orient)
	payload := append(append([]byte("Exif\x00\x00"), tiff...), ifd...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	j := b.Bytes()
	out := append([]byte{}, j[:2]...) // SOI
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, j[2:]...)
}

// ---- the tests ----

func TestApp(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	in := makeInputs(t)
	tb := startBrowser(t, false)
	url := srv.URL + "/" + query
	tb.do(60*time.Second, chromedp.Navigate(url))

	if !t.Run("ready without WebGPU", func(t *testing.T) {
		tb.t = t
		e := tb.wait("ready,error", 0, 3*time.Minute)
		if e.Type != "ready" || e.Detail != "cpu" {
			t.Fatalf("want ready on the cpu backend, got %+v", e)
		}
		note := tb.text("backend-note")
		if !strings.Contains(note, "Running on the CPU") || !strings.Contains(note, "WebGPU") {
			t.Errorf("backend note does not explain the missing WebGPU: %q", note)
		}
		// The site is cross-origin isolated: the SIMD kernels must run.
		if !strings.Contains(note, "WebAssembly SIMD") {
			t.Errorf("not on the SIMD CPU path: %q", note)
		}
		// Fast goes to 2048 px on the CPU (TestPrint), not to 4096.
		if !evalT[bool](tb, `document.getElementById("size-4096").disabled`, 5*time.Second) {
			t.Error("the 4096 px size is offered on the CPU backend")
		}
		opt := evalT[string](tb, `document.querySelector('#backend option[value="webgpu"]').textContent`, 5*time.Second)
		if !strings.Contains(opt, "unavailable") {
			t.Errorf("WebGPU choice is not marked unavailable: %q", opt)
		}
		tb.checkProblems()
	}) {
		return
	}

	t.Run("refuses bad files", func(t *testing.T) {
		tb.t = t
		e := tb.upload("content", in.text)
		if e.Type != "refused" || !strings.Contains(e.Detail, "“notes.txt” is not an image") {
			t.Errorf("text file: got %+v", e)
		}
		if m := tb.text("msg-content"); !strings.Contains(m, "not an image") {
			t.Errorf("message shown for a text file: %q", m)
		}
		e = tb.upload("style", in.tiny)
		if e.Type != "refused" || !strings.Contains(e.Detail, "too small") || !strings.Contains(e.Detail, "40x40") || !strings.Contains(e.Detail, "at least 64 px") {
			t.Errorf("tiny image: got %+v", e)
		}
		if evalT[bool](tb, `!document.getElementById("run").disabled`, 5*time.Second) {
			t.Error("Stylize is enabled without images")
		}
	})

	t.Run("EXIF orientation", func(t *testing.T) {
		tb.t = t
		e := tb.upload("content", in.exif)
		if e.Type != "input" {
			t.Fatalf("rotated JPEG refused: %+v", e)
		}
		// Stored 160x96 with orientation 6: shown upright, 96 wide.
		if m := tb.text("msg-content"); !strings.Contains(m, "96×160 px") {
			t.Errorf("rotated JPEG message %q, want 96×160 px", m)
		}
		w := evalT[int](tb, `document.getElementById("thumb-content").width`, 5*time.Second)
		h := evalT[int](tb, `document.getElementById("thumb-content").height`, 5*time.Second)
		if w >= h {
			t.Errorf("thumbnail is %dx%d, want portrait", w, h)
		}
	})

	t.Run("drop and paste", func(t *testing.T) {
		tb.t = t
		// A PNG made in the page, dropped on the style zone, then pasted
		// while the photo zone has focus.
		make := `(async () => {
			const c = new OffscreenCanvas(120, 90), g = c.getContext("2d");
			g.fillStyle = "#c33"; g.fillRect(0, 0, 120, 90); g.fillStyle = "#33c"; g.fillRect(30, 20, 60, 50);
			return new File([await c.convertToBlob({type: "image/png"})], "made.png", {type: "image/png"});
		})()`
		s := tb.seq()
		evalT[bool](tb, `(async () => {
			const dt = new DataTransfer(); dt.items.add(await `+make+`);
			document.getElementById("zone-style").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
			return true;
		})()`, 10*time.Second)
		if e := tb.wait("input,refused", s, 30*time.Second); e.Type != "input" || e.Detail != "style" {
			t.Errorf("drop on the style zone: %+v", e)
		}
		s = tb.seq()
		tb.do(5*time.Second, chromedp.Focus(chromedp.ID("file-content")))
		evalT[bool](tb, `(async () => {
			const dt = new DataTransfer(); dt.items.add(await `+make+`);
			document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt, bubbles: true, cancelable: true}));
			return true;
		})()`, 10*time.Second)
		if e := tb.wait("input,refused", s, 30*time.Second); e.Type != "input" || e.Detail != "content" {
			t.Errorf("paste with the photo zone focused: %+v", e)
		}
		if m := tb.text("msg-content"); !strings.Contains(m, "120×90 px") {
			t.Errorf("pasted image message %q", m)
		}
	})

	if !t.Run("upload and settings", func(t *testing.T) {
		tb.t = t
		// A 6 MP photo is decoded off the page's thread, and scaled down.
		evalT[bool](tb, `window.__long = 0; window.__obs = new PerformanceObserver(l => { for (const e of l.getEntries()) window.__long = Math.max(window.__long, e.duration); }); __obs.observe({type: "longtask"}); true`, 5*time.Second)
		if e := tb.upload("content", in.big); e.Type != "input" {
			t.Fatalf("large photo refused: %+v", e)
		}
		time.Sleep(500 * time.Millisecond) // long-task entries arrive late
		if l := evalT[float64](tb, `__obs.disconnect(), window.__long`, 5*time.Second); l > 500 {
			t.Errorf("decoding a 6 MP photo blocked the page for %.0f ms", l)
		}
		if m := tb.text("msg-content"); !strings.Contains(m, "3000×2000 px") {
			t.Errorf("large photo message %q", m)
		}
		if n := tb.text("note-content"); !strings.Contains(n, "scaled down to 64×43 px") {
			t.Errorf("large photo notice %q", n)
		}
		for _, u := range [][2]string{{"content", in.content}, {"style", in.style}} {
			if e := tb.upload(u[0], u[1]); e.Type != "input" {
				t.Fatalf("%s refused: %+v", u[0], e)
			}
			if !evalT[bool](tb, fmt.Sprintf(`!document.getElementById("thumb-%s").hidden && document.getElementById("thumb-%s").width > 0`, u[0], u[0]), 5*time.Second) {
				t.Errorf("no %s thumbnail", u[0])
			}
		}
		if n := tb.text("note-content"); !strings.Contains(n, "scaled down") {
			t.Errorf("no downscale notice: %q", n)
		}
		// The slider by keyboard: two steps left from 0.75.
		tb.do(10*time.Second, chromedp.Focus(chromedp.ID("alpha")), chromedp.KeyEvent(kb.ArrowLeft+kb.ArrowLeft))
		if v := tb.text("alpha-value"); v != "0.65" {
			t.Errorf("alpha after two left arrows = %q, want 0.65", v)
		}
		if h := tb.text("alpha-hint"); !strings.Contains(h, "more style") {
			t.Errorf("alpha hint %q", h)
		}
		// Rotations off by keyboard: four times less work on the slow CPU path.
		tb.do(10*time.Second, chromedp.Focus(chromedp.ID("flip")), chromedp.KeyEvent(" "))
		if evalT[bool](tb, `document.getElementById("flip").checked`, 5*time.Second) {
			t.Error("Space did not untick the rotations")
		}
		if !evalT[bool](tb, `!document.getElementById("run").disabled`, 5*time.Second) {
			t.Fatal("Stylize is disabled with both images")
		}
	}) {
		return
	}

	t.Run("keyboard", func(t *testing.T) {
		tb.t = t
		// Tabbing reaches every control in order (the walk starts wherever
		// focus was last and wraps round through the top of the page).
		evalT[bool](tb, `document.activeElement.blur(), window.scrollTo(0, 0), true`, 5*time.Second)
		var seen []string
		for i := 0; i < 22; i++ {
			tb.do(5*time.Second, chromedp.KeyEvent(kb.Tab))
			id := evalT[string](tb, `document.activeElement.id || document.activeElement.className`, 5*time.Second)
			seen = append(seen, id)
			if id == "file-content" {
				tb.screenshot("focus-file.png")
			}
		}
		t.Logf("tab order: %v", seen)
		want := []string{"skip", "file-content", "file-style", "alpha", "size-test", "flip", "color", "content-loss", "backend", "run"}
		j := 0
		for _, id := range seen {
			if j < len(want) && id == want[j] {
				j++
			}
		}
		if j < len(want) {
			t.Errorf("tab order %v lacks %v (in order)", seen, want[j:])
		}
	})

	if !t.Run("stylize", func(t *testing.T) {
		tb.t = t
		type result struct {
			End      event     `json:"end"`
			Stages   []string  `json:"stages"`
			Fraction []float64 `json:"fraction"`
			MaxLagMs float64   `json:"maxLagMs"`
			LagAt    string    `json:"lagAt"`
			LongTask float64   `json:"longTaskMs"`
		}
		// The long-task probe used below must see a 150 ms busy task.
		probe := evalT[float64](tb, `(async () => {
			let d = 0;
			const o = new PerformanceObserver(l => { for (const e of l.getEntries()) d = Math.max(d, e.duration); });
			o.observe({type: "longtask"});
			setTimeout(() => { const t = performance.now(); while (performance.now() - t < 150) {} }, 0);
			await new Promise(r => setTimeout(r, 500));
			o.disconnect();
			return d;
		})()`, 10*time.Second)
		if probe < 150 {
			t.Fatalf("the long-task probe saw %.0f ms for a 150 ms task", probe)
		}
		// Run, record progress, and measure how long the page's event loop
		// takes to answer while the worker computes.
		r := evalT[result](tb, `(async () => {
			let s = nnst.seq();
			let running = true, maxLag = 0, lagAt = "";
			(async () => { while (running) { const t0 = performance.now(); await new Promise(r => setTimeout(r, 20)); const l = performance.now() - t0 - 20; if (l > maxLag) { maxLag = l; lagAt = nnst.seq() + " " + document.getElementById("stage").textContent; } } })();
			let longTask = 0;
			const obs = new PerformanceObserver(l => { for (const e of l.getEntries()) longTask = Math.max(longTask, e.duration); });
			obs.observe({type: "longtask"});
			document.getElementById("run").click();
			const stages = [], fraction = [];
			for (;;) {
				const e = await nnst.wait("progress,done,error,cancelled", s);
				s = e.seq;
				if (e.type !== "progress") { running = false; obs.disconnect(); return {end: e, stages, fraction, maxLagMs: maxLag, lagAt, longTaskMs: longTask}; }
				stages.push(e.detail);
				fraction.push(document.getElementById("progress").value);
			}
		})()`, 6*time.Minute)
		t.Logf("stages: %q", r.Stages)
		t.Logf("fractions: %v; worst event-loop lag %.0f ms (at %s); longest task %.0f ms", r.Fraction, r.MaxLagMs, r.LagAt, r.LongTask)
		if r.End.Type != "done" {
			t.Fatalf("run ended with %+v (%s)", r.End, tb.text("error-text"))
		}
		joined := strings.Join(r.Stages, "|")
		for _, want := range []string{"Scale 1 of 2", "Scale 2 of 2: step 1 of 1", "Final pass: step", "Colour matching"} {
			if !strings.Contains(joined, want) {
				t.Errorf("no progress stage %q", want)
			}
		}
		if len(r.Fraction) < 3 || r.Fraction[len(r.Fraction)-1] <= r.Fraction[0] {
			t.Errorf("progress did not advance: %v", r.Fraction)
		}
		// Computing on the page's thread would block it for many seconds.
		// The limits leave room for a busy shared machine, where the lag
		// also counts time the thread waits for a core.
		if r.LongTask > 500 {
			t.Errorf("a task blocked the page for %.0f ms during the run", r.LongTask)
		}
		if r.MaxLagMs > 3000 {
			t.Errorf("the page did not answer for %.0f ms during the run", r.MaxLagMs)
		}
		type stats struct {
			W, H     int
			Std      float64
			DiffMean float64
		}
		st := evalT[stats](tb, `(() => {
			const o = document.getElementById("out"), b = document.getElementById("before");
			const a = o.getContext("2d").getImageData(0, 0, o.width, o.height).data;
			const c = b.getContext("2d").getImageData(0, 0, b.width, b.height).data;
			let sum = 0, sq = 0, diff = 0, n = 0;
			for (let i = 0; i < a.length; i += 4) for (let k = 0; k < 3; k++) {
				sum += a[i+k]; sq += a[i+k]*a[i+k]; diff += Math.abs(a[i+k] - c[i+k]); n++;
			}
			const m = sum / n;
			return {W: o.width, H: o.height, Std: Math.sqrt(sq/n - m*m), DiffMean: diff / n};
		})()`, 10*time.Second)
		t.Logf("output %dx%d, std %.1f, mean difference from the content %.1f", st.W, st.H, st.Std, st.DiffMean)
		if st.W != 64 || st.H < 32 || st.H > 64 {
			t.Errorf("output is %dx%d, want 64 px wide", st.W, st.H)
		}
		if st.Std < 5 {
			t.Errorf("output looks blank (std %.1f)", st.Std)
		}
		if st.DiffMean < 3 {
			t.Errorf("output barely differs from the content (mean difference %.1f)", st.DiffMean)
		}
		d := tb.text("details")
		for _, want := range []string{"64×", "CPU", "alpha 0.65", "rotations off"} {
			if !strings.Contains(d, want) {
				t.Errorf("run details %q lack %q", d, want)
			}
		}
		tb.checkProblems()
		tb.screenshot("desktop-done.png")
		tb.do(10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		tb.screenshot("phone-done.png")
		tb.do(10*time.Second, chromedp.EmulateReset(), chromedp.EmulateViewport(1280, 1000))
		if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
		}); err != nil {
			t.Fatal(err)
		}
		tb.screenshot("desktop-dark.png")
		if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
	}) {
		return
	}

	t.Run("download", func(t *testing.T) {
		tb.t = t
		name, b := tb.download("download", time.Minute)
		want := in.contentName + "-in-style-of-" + in.styleName + ".png"
		if name != want {
			t.Errorf("download named %q, want %q", name, want)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("downloaded file is not a PNG: %v", err)
		}
		if img.Bounds().Dx() != 64 {
			t.Errorf("downloaded PNG is %v, want 64 px wide", img.Bounds())
		}
	})

	t.Run("re-run reuses", func(t *testing.T) {
		tb.t = t
		tb.do(10*time.Second, chromedp.Focus(chromedp.ID("alpha")), chromedp.KeyEvent(kb.ArrowRight))
		if n := tb.text("reuse-note"); !strings.Contains(n, "reuses the decoded and resized images and the loaded model") {
			t.Errorf("reuse note after an alpha change: %q", n)
		}
	})

	t.Run("fast mode", func(t *testing.T) {
		tb.t = t
		// Best at 256 px would take the CPU path far more than a minute:
		// the page picks Fast and says what each would take.
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("size-256")))
		if !evalT[bool](tb, `document.getElementById("mode-fast").checked`, 5*time.Second) {
			t.Error("Fast is not chosen at 256 px on the CPU")
		}
		if n := tb.text("mode-note"); !strings.Contains(n, "Fast about") || !strings.Contains(n, "Best about") {
			t.Errorf("mode note %q", n)
		}
		if h := tb.text("alpha-hint"); !strings.Contains(h, "In Fast, the balance steers the whole run") {
			t.Errorf("alpha hint in Fast: %q", h)
		}
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("size-test")))
		s := tb.seq()
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
		if e := tb.wait("done,error", s, 5*time.Minute); e.Type != "done" {
			t.Fatalf("fast run ended with %+v (%s)", e, tb.text("error-text"))
		}
		d := tb.text("details")
		for _, want := range []string{"Fast: one match, then a final pass of 1 step", "TFLOP"} {
			if !strings.Contains(d, want) {
				t.Errorf("run details %q lack %q", d, want)
			}
		}
		// Moving the slider re-runs Fast by itself.
		s = tb.seq()
		tb.do(10*time.Second, chromedp.Focus(chromedp.ID("alpha")), chromedp.KeyEvent(kb.ArrowLeft))
		if e := tb.wait("done,error", s, 5*time.Minute); e.Type != "done" {
			t.Fatalf("the slider's re-run ended with %+v (%s)", e, tb.text("error-text"))
		}
		if d := tb.text("details"); !strings.Contains(d, "alpha 0.65") {
			t.Errorf("the re-run's details %q lack the new alpha", d)
		}
		tb.checkProblems()
	})

	t.Run("cancel", func(t *testing.T) {
		tb.t = t
		type result struct {
			Type   string  `json:"type"`
			Detail string  `json:"detail"`
			Ms     float64 `json:"ms"`
			Seq    int     `json:"seq"`
		}
		// stage is the progress text to cancel at: the first report (the
		// worker sees the cancel between steps), or the feature matching
		// (a long computation: the worker is replaced after a second).
		cancelAt := func(stage string) result {
			return evalT[result](tb, fmt.Sprintf(`(async () => {
				let s = nnst.seq();
				document.getElementById("run").click();
				for (;;) {
					const e = await nnst.wait("progress,done,error", s);
					s = e.seq;
					if (e.type !== "progress") return {type: e.type, detail: e.detail, ms: 0, seq: e.seq};
					if (e.detail.includes(%q)) break;
				}
				const t0 = performance.now();
				document.getElementById("cancel").click();
				const e = await nnst.wait("cancelled,done,error", s);
				return {type: e.type, detail: e.detail, ms: performance.now() - t0, seq: e.seq};
			})()`, stage), 3*time.Minute)
		}
		for _, stage := range []string{"Preparing", "matching style features"} {
			r := cancelAt(stage)
			t.Logf("cancel at %q took %.0f ms: %s", stage, r.Ms, r.Detail)
			if r.Type != "cancelled" {
				t.Fatalf("cancel at %q ended with %+v", stage, r)
			}
			if r.Ms > 1500 {
				t.Errorf("cancel at %q took %.0f ms", stage, r.Ms)
			}
			if s := tb.text("status"); !strings.Contains(s, "Cancelled") {
				t.Errorf("status after cancel: %q", s)
			}
			// The page stays usable: the engine is ready again.
			if evalT[bool](tb, `document.getElementById("run").disabled`, 5*time.Second) {
				if e := tb.wait("ready,error", r.Seq, 2*time.Minute); e.Type != "ready" {
					t.Fatalf("after cancel: %+v", e)
				}
			}
			if !evalT[bool](tb, `!document.getElementById("run").disabled`, 5*time.Second) {
				t.Error("Stylize is not available after a cancel")
			}
		}
		if n := srv.hitCount("/models/vgg19.safetensors"); n != 1 {
			t.Errorf("the model was fetched %d times, want once", n)
		}
		tb.checkProblems()
	})

	t.Run("offline reload", func(t *testing.T) {
		tb.t = t
		if e := tb.wait("offline-ready", 0, time.Minute); e.Type != "offline-ready" {
			t.Fatalf("never ready for offline use: %+v", e)
		}
		ctx := tb.ctx
		if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			EmulateOfflineServiceWorker: ptr(true),
			MatchedNetworkConditions:    []*network.Conditions{{Offline: true}},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: true}); err != nil {
			t.Fatal(err)
		}
		srv.down.Store(true)
		tb.do(60*time.Second, chromedp.Reload())
		if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" {
			t.Fatalf("offline reload: %+v (%s)", e, tb.text("error-text"))
		}
		if !evalT[bool](tb, `!navigator.onLine && !!navigator.serviceWorker.controller`, 5*time.Second) {
			t.Error("the reloaded page is not offline under the service worker")
		}
		tb.uploadPair(in)
		s := tb.seq()
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
		if e := tb.wait("done,error,cancelled", s, 6*time.Minute); e.Type != "done" {
			t.Fatalf("offline run: %+v", e)
		}
		// The browser itself checks /sw.js for updates outside the page's
		// network emulation; that check fails harmlessly. Nothing else may
		// reach the server.
		for _, p := range srv.lostRequests() {
			if p != "/sw.js" {
				t.Errorf("request for %s reached the server while offline", p)
			}
		}
		tb.checkProblems()
	})
}

// TestFaults makes the first run find too little GPU memory before it
// starts, through the ?fault= hook: the page must say so and recover with
// its button (a run at the next smaller size). TestResume covers the
// faults mid-run.
func TestFaults(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	in := makeInputs(t)
	for _, c := range []struct{ fault, size, want, button string }{
		{"oom", "size-512", "Not enough GPU memory for a 512 px run, so it was not started", "Run at 256 px"},
	} {
		t.Run(c.fault, func(t *testing.T) {
			tb := startBrowser(t, false)
			tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query+"&fault="+c.fault))
			if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" {
				t.Fatalf("not ready: %+v", e)
			}
			tb.uploadPair(in)
			if c.size != "" {
				tb.do(10*time.Second, chromedp.Click(chromedp.ID(c.size)))
			}
			s := tb.seq()
			tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
			e := tb.wait("error,done,cancelled", s, time.Minute)
			if e.Type != "error" || !strings.Contains(e.Detail, c.want) {
				t.Fatalf("want an error saying %q, got %+v", c.want, e)
			}
			if !evalT[bool](tb, `!document.getElementById("error-box").hidden && document.activeElement.id === "retry"`, 5*time.Second) {
				t.Error("the error and its retry button are not shown and focused")
			}
			if got := evalT[string](tb, `document.getElementById("retry").textContent`, 5*time.Second); got != c.button {
				t.Errorf("the button says %q, want %q", got, c.button)
			}
			// The button runs again (after restarting the engine, or at the
			// smaller size); cancel once it runs.
			s = tb.seq()
			tb.do(10*time.Second, chromedp.Click(chromedp.ID("retry")))
			if e := tb.wait("progress,error", s, 2*time.Minute); e.Type != "progress" {
				t.Fatalf("retry: %+v", e)
			}
			if c.fault == "oom" && !evalT[bool](tb, `document.getElementById("size-256").checked`, 5*time.Second) {
				t.Error("the run at the smaller size did not select 256 px")
			}
			s = tb.seq()
			tb.do(10*time.Second, chromedp.Click(chromedp.ID("cancel")))
			if e := tb.wait("cancelled,error,done", s, time.Minute); e.Type != "cancelled" {
				t.Fatalf("cancel after retry: %+v", e)
			}
			tb.checkProblems()
		})
	}
}

// TestUpdate serves a new sw.js: the page must offer a reload, and the
// reload must bring the new version in.
func TestUpdate(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	tb := startBrowser(t, false)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	if e := tb.wait("offline-ready,error", 0, 3*time.Minute); e.Type != "offline-ready" {
		t.Fatalf("not ready for offline use: %+v", e)
	}
	if !evalT[bool](tb, `document.getElementById("update-banner").hidden`, 5*time.Second) {
		t.Error("update banner shown before any update")
	}
	srv.newVersion.Store(true)
	s := tb.seq()
	evalT[bool](tb, `navigator.serviceWorker.getRegistration().then(r => r.update()).then(() => true)`, 30*time.Second)
	if e := tb.wait("update", s, time.Minute); e.Type != "update" {
		t.Fatalf("no update offered: %+v", e)
	}
	if evalT[bool](tb, `document.getElementById("update-banner").hidden`, 5*time.Second) {
		t.Error("update banner hidden")
	}
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("update-reload")))
	// The page reloads under the new service worker.
	reloaded := false
	for i := 0; i < 150 && !reloaded; i++ {
		time.Sleep(200 * time.Millisecond)
		ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
		reloaded, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`performance.getEntriesByType("navigation")[0].type === "reload" && !!window.nnst && !!navigator.serviceWorker.controller`))
		cancel()
	}
	if !reloaded {
		t.Fatal("the page did not reload")
	}
	shells := evalT[[]string](tb, `caches.keys().then(k => k.filter(n => n.startsWith("nnst-shell-")))`, 10*time.Second)
	if len(shells) != 1 || !strings.HasPrefix(shells[0], "nnst-shell-v2-") {
		t.Errorf("shell caches after the update: %v, want only the new version", shells)
	}
	if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" {
		t.Errorf("after the update: %+v", e)
	}
	tb.checkProblems()
}

// TestBadModel serves a model with one payload byte changed: the SHA-256
// check must refuse it with a clear message and a retry.
func TestBadModel(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	srv.corruptModel.Store(true)
	tb := startBrowser(t, false)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	e := tb.wait("ready,error", 0, 3*time.Minute)
	if e.Type != "error" || !strings.Contains(e.Detail, "damaged") || !strings.Contains(e.Detail, "hash mismatch") {
		t.Fatalf("want a damaged-model error, got %+v", e)
	}
	// Fixed on the server: Retry downloads it again and the app starts.
	srv.corruptModel.Store(false)
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("retry")))
	if e := tb.wait("ready,error", s, 3*time.Minute); e.Type != "ready" {
		t.Fatalf("after retry: %+v", e)
	}
	tb.checkProblems()
}

// TestWebGPU starts the browser with WebGPU enabled. Here the adapter is
// SwiftShader, a software fallback: "auto" must stay on the CPU and say why,
// and choosing WebGPU must run the whole pipeline on it.
func TestWebGPU(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	in := makeInputs(t)
	tb := startBrowser(t, true)
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query))
	e := tb.wait("ready,error", 0, 3*time.Minute)
	if e.Type != "ready" || e.Detail != "cpu" {
		t.Fatalf("auto: %+v, want ready on the cpu", e)
	}
	note := tb.text("backend-note")
	if !strings.Contains(note, "software") || !strings.Contains(note, "Running on the CPU") {
		t.Errorf("the note does not explain the software adapter: %q", note)
	}
	if evalT[bool](tb, `document.querySelector('#backend option[value="webgpu"]').disabled`, 5*time.Second) {
		t.Error("the WebGPU choice is disabled although an adapter exists")
	}

	// Conv kernel choices kept by an earlier load: damaged ones are left
	// out, and the WebGPU backend still starts; ones made on this adapter
	// with these kernels come back.
	id := evalT[string](tb, `(async () => {
		const i = (await navigator.gpu.requestAdapter({powerPreference: "high-performance"})).info;
		return [i.vendor, i.architecture, i.device, i.description].join("|");
	})()`, 30*time.Second)
	saved, err := json.Marshal(map[string]any{"adapter": id, "kernels": webgpu.KernelsVersion(), "choices": []map[string]any{
		{"In": 3, "Out": 64, "H": 64, "W": 64, "Backward": true, "Fwd": []int{1, 0}, "Bwd": []int{1, 0}},
		{"In": 64, "Out": 64, "H": 64, "W": 64, "Backward": true, "Wino": true, "Fwd": []int{1, 1}, "Bwd": []int{1, 0}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ stored, want string }{{`{"adapter": 1`, "not used"}, {string(saved), "restored 2"}} {
		evalT[bool](tb, fmt.Sprintf(`localStorage.setItem("nnst-kernel-choices", %q), true`, c.stored), 5*time.Second)
		tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query+"&backend=webgpu"))
		e = tb.wait("ready,error", 0, 3*time.Minute)
		if e.Type != "ready" || e.Detail != "webgpu" {
			t.Fatalf("backend=webgpu: %+v (%s)", e, tb.text("backend-note"))
		}
		if k := tb.wait("kernel-choices", 0, 5*time.Second); !strings.Contains(k.Detail, c.want) {
			t.Errorf("stored kernel choices %.40q: %+v, want %q", c.stored, k, c.want)
		}
	}
	// Print sizes: Best stops at 1024 px (at 2048 it needs 10 GB, more
	// than the page asks a device for) and Fast, whose passes run at
	// 512 px, goes to 4096.
	if evalT[bool](tb, `document.getElementById("size-4096").disabled`, 5*time.Second) {
		t.Error("4096 px is not offered on WebGPU")
	}
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("size-2048")))
	if !evalT[bool](tb, `document.getElementById("mode-best").disabled && document.getElementById("mode-fast").checked`, 5*time.Second) {
		t.Error("Best is offered at 2048 px on SwiftShader, or Fast is not chosen")
	}
	if n := tb.text("mode-note"); !strings.Contains(n, "Best at 2048 px needs") || !strings.Contains(n, "GPU memory, more than") {
		t.Errorf("the mode note at 2048 px: %q", n)
	}
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("size-test")), chromedp.Click(chromedp.ID("mode-best")))
	tb.uploadPair(in)
	// Rotations off keeps the SwiftShader run to a few minutes.
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("flip")))
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
	if e := tb.wait("done,error,cancelled", s, 12*time.Minute); e.Type != "done" {
		t.Fatalf("WebGPU run: %+v (%s)", e, tb.text("error-text"))
	}
	tb.checkProblems()
}

func ptr[T any](v T) *T { return &v }
