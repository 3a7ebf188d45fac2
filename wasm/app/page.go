//go:build js && wasm

package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"honnef.co/go/js/dom/v2"

	"nnst/core/imageio"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// Page states.
const (
	stLoading    = "loading"    // model or engine not ready
	stIdle       = "idle"       // ready to run
	stRunning    = "running"    // a run is in progress
	stCancelling = "cancelling" // cancel asked, waiting for the worker
	stFailed     = "failed"     // an error is shown with a retry
)

// hooks are test settings from the URL query (?size=64&steps=2&scales=2).
type hooks struct {
	size, steps, scales int
	backend             string
	fault               string // "crash", "lost" or "oom": the first run fails that way
}

type page struct {
	doc            dom.Document
	content, style *slot
	pasteTarget    *slot
	eng            engine
	hooks          hooks
	state          string
	ready          js.Value // the worker's "ready" message

	modelFromCache bool
	modelRetried   bool
	retry          func()
	runAfterReady  bool // a retry waits for the restarted engine
	swReady        bool
	updateWorker   js.Value // a waiting service worker
	reloading      bool

	modeTouched bool               // the user chose a mode
	rate        map[string]float64 // measured operations per second, by backend

	runID      int
	runStart   time.Time
	runOpts    map[string]any
	runSize    int
	lastETA    time.Duration
	lastETAAt  time.Time
	lastSig    string
	resultRGBA js.Value
	resultW    int
	resultH    int
	resultName string

	decodes  map[int]chan js.Value // decodes waiting for the worker
	decodeID int

	seq     int
	events  []map[string]any
	waiters []waiter

	el map[string]dom.HTMLElement
}

type waiter struct {
	types   []string
	since   int
	resolve js.Value
}

func runPage() {
	doc := dom.GetWindow().Document()
	p := &page{doc: doc, el: map[string]dom.HTMLElement{}, state: stLoading, decodes: map[int]chan js.Value{}}
	for _, id := range []string{
		"model-box", "model-progress", "model-status", "update-banner", "update-reload",
		"alpha", "alpha-value", "alpha-hint", "mode-fieldset", "mode-fast", "mode-best", "mode-note", "size-fieldset", "size-256", "size-512", "size-1024", "size-note",
		"flip", "color", "content-loss", "backend", "backend-note", "run", "cancel", "reuse-note",
		"progress-box", "stage", "progress", "times", "result", "result-empty", "compare", "out", "before", "split",
		"download", "details", "error-box", "error-text", "retry", "status", "offline-note",
	} {
		e := doc.GetElementByID(id)
		if e == nil {
			panic("page lacks #" + id)
		}
		p.el[id] = e.(dom.HTMLElement)
	}
	p.content = p.newSlot("content", "Photo")
	p.style = p.newSlot("style", "Style image")
	p.parseHooks()
	p.bind()
	p.exposeTestAPI()
	p.eng.pref = "auto"
	if p.hooks.backend != "" {
		p.eng.pref = p.hooks.backend
	}
	p.eng.onMsg = p.onWorker
	p.eng.onCrash = p.onCrash
	p.updateAlpha()
	p.update()
	p.eng.start()
	go p.registerServiceWorker()
	go p.loadModel()
}

func (p *page) newSlot(key, what string) *slot {
	get := func(id string) dom.Element { return p.doc.GetElementByID(id + "-" + key) }
	s := &slot{
		key: key, what: what, fits: map[int]*tensor.T{},
		zone:  get("zone").(*dom.HTMLDivElement),
		input: get("file").(*dom.HTMLInputElement),
		thumb: get("thumb").(*dom.HTMLCanvasElement),
		msg:   get("msg").(dom.HTMLElement),
		note:  get("note").(dom.HTMLElement),
	}
	p.bindSlot(s)
	return s
}

func (p *page) parseHooks() {
	q := global.Get("URLSearchParams").New(global.Get("location").Get("search"))
	num := func(k string, lo, hi int) int {
		v := q.Call("get", k)
		if v.IsNull() {
			return 0
		}
		n, err := strconv.Atoi(v.String())
		if err != nil || n < lo || n > hi {
			return 0
		}
		return n
	}
	p.hooks.size = num("size", nnst.MinSize, 1024)
	p.hooks.steps = num("steps", 1, 1000)
	p.hooks.scales = num("scales", 1, 8)
	if b := q.Call("get", "backend"); !b.IsNull() && (b.String() == "cpu" || b.String() == "webgpu") {
		p.hooks.backend = b.String()
	}
	if f := q.Call("get", "fault"); !f.IsNull() && (f.String() == "crash" || f.String() == "lost" || f.String() == "oom") {
		p.hooks.fault = f.String()
	}
	if n := p.hooks.size; n != 0 && n != 256 && n != 512 && n != 1024 {
		// A test size: an extra choice in the size group.
		in := p.doc.CreateElement("input").(*dom.HTMLInputElement)
		in.SetType("radio")
		in.SetName("size")
		in.SetID("size-test")
		in.SetValue(strconv.Itoa(n))
		lab := p.doc.CreateElement("label").(*dom.HTMLLabelElement)
		lab.SetAttribute("for", "size-test")
		lab.SetTextContent(fmt.Sprintf("Test: %d px (from the page address)", n))
		row := p.doc.CreateElement("div")
		row.Class().Add("choice")
		row.AppendChild(in)
		row.AppendChild(lab)
		p.el["size-fieldset"].InsertBefore(row, p.el["size-note"])
		in.SetChecked(true)
		p.el["size-test"] = in
	}
}

func (p *page) input(id string) *dom.HTMLInputElement { return p.el[id].(*dom.HTMLInputElement) }
func (p *page) button(id string) *dom.HTMLButtonElement {
	return p.el[id].(*dom.HTMLButtonElement)
}

func (p *page) bind() {
	p.input("alpha").AddEventListener("input", false, func(dom.Event) { p.updateAlpha(); p.updateNotes() })
	// In Fast, letting go of the slider re-runs with the new balance (the
	// worker reuses the matched style pixels).
	p.input("alpha").AddEventListener("change", false, func(dom.Event) {
		if p.mode() == nnst.ModeFast && p.resultRGBA.Truthy() && p.state == stIdle {
			go p.startRun()
		}
	})
	for _, id := range []string{"flip", "color", "content-loss"} {
		p.input(id).AddEventListener("change", false, func(dom.Event) { p.updateNotes() })
	}
	p.el["size-fieldset"].AddEventListener("change", false, func(dom.Event) { p.updateNotes() })
	p.el["mode-fieldset"].AddEventListener("change", false, func(dom.Event) {
		p.modeTouched = true
		p.updateAlpha()
		p.updateNotes()
	})
	p.el["backend"].AddEventListener("change", false, func(dom.Event) {
		p.eng.pref = p.el["backend"].Underlying().Get("value").String()
		p.restartEngine("Switching the backend…")
	})
	p.button("run").AddEventListener("click", false, func(dom.Event) { go p.startRun() })
	p.button("cancel").AddEventListener("click", false, func(dom.Event) { p.cancelRun() })
	p.button("retry").AddEventListener("click", false, func(dom.Event) {
		if p.retry != nil {
			f := p.retry
			p.retry = nil
			show(p.el["error-box"], false)
			f()
		}
	})
	p.button("update-reload").AddEventListener("click", false, func(dom.Event) { p.reloadForUpdate() })
	p.button("download").AddEventListener("click", false, func(dom.Event) { go p.download() })
	p.input("split").AddEventListener("input", false, func(dom.Event) { p.updateSplit() })
	p.doc.AddEventListener("paste", false, p.onPaste)
	// Dropping a file outside the drop zones must not navigate away.
	for _, t := range []string{"dragover", "drop"} {
		dom.GetWindow().AddEventListener(t, false, func(e dom.Event) { e.PreventDefault() })
	}
}

// ---- state and notes ----

func (p *page) running() bool { return p.state == stRunning || p.state == stCancelling }

// update sets which controls are usable.
func (p *page) update() {
	busy := p.content.busy || p.style.busy
	canRun := p.state == stIdle && p.eng.ready && p.content.img != nil && p.style.img != nil && !busy
	p.button("run").SetDisabled(!canRun)
	p.button("cancel").SetDisabled(p.state != stRunning)
	p.el["backend"].Underlying().Set("disabled", p.running() || !p.ready.Truthy())
	for _, s := range []*slot{p.content, p.style} {
		s.input.SetDisabled(p.running())
	}
	p.button("download").SetDisabled(!p.resultRGBA.Truthy() || p.running())
	p.doc.DocumentElement().SetAttribute("data-state", p.state)
	p.updateRunHint(canRun)
}

func (p *page) updateRunHint(canRun bool) {
	if p.running() || p.state == stFailed {
		return
	}
	var missing []string
	if p.content.img == nil {
		missing = append(missing, "a photo")
	}
	if p.style.img == nil {
		missing = append(missing, "a style image")
	}
	switch {
	case len(missing) > 0:
		setText(p.el["reuse-note"], "Add "+strings.Join(missing, " and ")+" to start.")
	case !p.eng.ready:
		setText(p.el["reuse-note"], "Waiting for the model to load…")
	case canRun:
		setText(p.el["reuse-note"], p.reuseText())
	}
}

// signature identifies the prepared inputs of a run.
func (p *page) signature() string {
	return fmt.Sprint(p.content.id, "/", p.style.id, "/", p.size(), "/", p.eng.gen)
}

func (p *page) reuseText() string {
	switch {
	case p.lastSig == "":
		return "The model is loaded once and kept for later runs."
	case p.lastSig == p.signature():
		return "Re-run: reuses the decoded and resized images and the loaded model; only the style transfer runs again."
	default:
		return "Re-run: reuses the loaded model and the decoded images; the changed images or size are prepared again."
	}
}

func (p *page) size() int {
	for _, id := range []string{"size-test", "size-256", "size-512", "size-1024"} {
		if e, ok := p.el[id]; ok && e.(*dom.HTMLInputElement).Checked() {
			n, _ := strconv.Atoi(e.(*dom.HTMLInputElement).Value())
			return n
		}
	}
	return 256
}

// mode is the chosen quality mode.
func (p *page) mode() nnst.Mode {
	if p.input("mode-fast").Checked() {
		return nnst.ModeFast
	}
	return nnst.ModeBest
}

// estimate is how long a mode takes at a size on the running backend: the
// operations a dry run counted over the rate measured here (0: unknown).
func (p *page) estimate(mode nnst.Mode, size int) time.Duration {
	if !p.ready.Truthy() {
		return 0
	}
	work := p.ready.Get("work").Get(fmt.Sprintf("%s-%d", mode, size))
	rate := p.rate[p.ready.Get("backend").String()]
	if rate == 0 {
		// A forward pass runs faster than a whole run (searches, small
		// maps): a third of its rate until a run has been timed here.
		rate = p.ready.Get("rate").Float() / 3
	}
	if work.Type() != js.TypeNumber || !(rate > 0) {
		return 0
	}
	return time.Duration(work.Float() / rate * float64(time.Second))
}

// updateMode picks Fast where Best would take more than about a minute
// (unless the user chose) and says what each would take.
func (p *page) updateMode() {
	size := p.size()
	fast, best := p.estimate(nnst.ModeFast, size), p.estimate(nnst.ModeBest, size)
	if !p.modeTouched && best > 0 {
		slow := best > 70*time.Second
		p.input("mode-fast").SetChecked(slow)
		p.input("mode-best").SetChecked(!slow)
		p.updateAlpha()
	}
	note := ""
	if fast > 0 && best > 0 {
		note = fmt.Sprintf("At %d px on this device: Fast about %s, Best about %s.", size, roughly(fast), roughly(best))
	}
	setText(p.el["mode-note"], note)
}

// roughly rounds a duration for an estimate.
func roughly(d time.Duration) string {
	switch {
	case d < 10*time.Second:
		return "a few seconds"
	case d < 90*time.Second:
		return fmt.Sprintf("%d s", int(d.Seconds()/5+0.5)*5)
	case d < 90*time.Minute:
		return fmt.Sprintf("%d min", int(d.Minutes()+0.5))
	}
	return fmt.Sprintf("%.0f h", d.Hours())
}

func (p *page) updateNotes() {
	size := p.size()
	p.updateMode()
	for _, s := range []*slot{p.content, p.style} {
		n := s.sizeNote(size)
		setText(s.note, n)
		show(s.note, n != "")
	}
	p.update()
	go p.prepare(size)
}

// prepare resizes the inputs for the output size ahead of a run, so that
// Stylize starts at once.
func (p *page) prepare(size int) {
	nextFrame()
	for _, s := range []*slot{p.content, p.style} {
		if s.img != nil && !s.busy && !strings.HasPrefix(s.sizeNote(size), "Too narrow") {
			s.fit(size)
		}
	}
}

func (p *page) updateAlpha() {
	a := p.input("alpha").ValueAsNumber()
	setText(p.el["alpha-value"], strconv.FormatFloat(a, 'f', 2, 64))
	var hint string
	switch {
	case a < 0.3:
		hint = "Mostly style: the photo's shapes may dissolve into the painting."
	case a < 0.6:
		hint = "Balanced: a strong style with the photo's layout."
	case a < 0.9:
		hint = "More content: the photo stays clearly recognisable, painted in the style."
	default:
		hint = "Almost all content: only a light touch of the style."
	}
	how := "In Best, the balance steers the matching at each scale; the final pass follows the style alone, so the slider changes less."
	if p.mode() == nnst.ModeFast {
		how = "In Fast, the balance steers the whole run."
	}
	setText(p.el["alpha-hint"], "Left paints more style, right keeps more of the photo. "+hint+" "+how)
}

func (p *page) setStatus(s string) { setText(p.el["status"], s) }

// ---- model and engine ----

func (p *page) loadModel() {
	p.state = stLoading
	p.update()
	show(p.el["model-box"], true)
	prog := p.el["model-progress"].Underlying()
	prog.Call("removeAttribute", "value")
	var buf js.Value
	p.modelFromCache = false
	if caches := global.Get("caches"); caches.Truthy() {
		setText(p.el["model-status"], "Looking for the model on this device…")
		if c, err := await(caches.Call("open", modelCache())); err == nil {
			if r, err := await(c.Call("match", modelURL)); err == nil && r.Truthy() {
				if b, err := await(r.Call("arrayBuffer")); err == nil {
					buf, p.modelFromCache = b, true
				}
			}
		}
	}
	if !p.modelFromCache {
		b, err := p.downloadModel()
		if err != nil {
			p.fail("The model could not be downloaded: "+err.Error(), func() { go p.loadModel() })
			return
		}
		buf = b
	}
	prog.Call("removeAttribute", "value")
	setText(p.el["model-status"], "Checking the model (SHA-256) and loading it…")
	p.eng.setModel(buf)
}

func modelCache() string { return "nnst-model-" + modelVersion }

// downloadModel fetches the model with a progress bar.
func (p *page) downloadModel() (js.Value, error) {
	setText(p.el["model-status"], "Downloading the model (once; it is kept on this device)…")
	resp, err := await(global.Call("fetch", modelURL))
	if err != nil {
		if !global.Get("navigator").Get("onLine").Bool() {
			return js.Value{}, fmt.Errorf("this device is offline and the model is not stored yet. Connect once to download it")
		}
		return js.Value{}, err
	}
	if !resp.Get("ok").Bool() {
		return js.Value{}, fmt.Errorf("the server answered %d %s", resp.Get("status").Int(), resp.Get("statusText").String())
	}
	// Content-Length counts the compressed bytes when the server sends the
	// model with Content-Encoding; the decoded size comes from index.html.
	total := modelBytes
	if enc := resp.Get("headers").Call("get", "Content-Encoding"); total == 0 && (enc.IsNull() || enc.String() == "identity") {
		total, _ = strconv.ParseFloat(resp.Get("headers").Call("get", "Content-Length").String(), 64)
	}
	reader := resp.Get("body").Call("getReader")
	chunks := global.Get("Array").New()
	got := 0.0
	prog := p.el["model-progress"].Underlying()
	last := time.Time{}
	for {
		r, err := await(reader.Call("read"))
		if err != nil {
			return js.Value{}, err
		}
		if r.Get("done").Bool() {
			break
		}
		v := r.Get("value")
		chunks.Call("push", v)
		got += v.Get("length").Float()
		if time.Since(last) > 100*time.Millisecond {
			last = time.Now()
			if total > 0 {
				prog.Set("value", got/total)
				setText(p.el["model-status"], fmt.Sprintf("Downloading the model: %.1f of %.1f MB (once; it is kept on this device)…", got/1e6, total/1e6))
			} else {
				setText(p.el["model-status"], fmt.Sprintf("Downloading the model: %.1f MB…", got/1e6))
			}
		}
	}
	if total > 0 && got != total {
		return js.Value{}, fmt.Errorf("the download stopped at %.1f of %.1f MB", got/1e6, total/1e6)
	}
	prog.Set("value", 1)
	all := global.Get("Uint8Array").New(int(got))
	off := 0
	for i := 0; i < chunks.Length(); i++ {
		c := chunks.Index(i)
		all.Call("set", c, off)
		off += c.Get("length").Int()
	}
	return all.Get("buffer"), nil
}

// storeModel keeps the verified model in the cache for offline use.
func (p *page) storeModel() {
	caches := global.Get("caches")
	if !caches.Truthy() || p.modelFromCache {
		return
	}
	c, err := await(caches.Call("open", modelCache()))
	if err == nil {
		resp := global.Get("Response").New(p.eng.model.Call("slice", 0), map[string]any{
			"headers": map[string]any{"Content-Type": "application/octet-stream"},
		})
		_, err = await(c.Call("put", modelURL, resp))
	}
	if err != nil {
		setText(p.el["offline-note"], "The model could not be stored on this device ("+err.Error()+"); it will be downloaded again next time.")
		return
	}
	p.modelFromCache = true
	p.updateOffline()
}

func (p *page) restartEngine(why string) {
	if p.running() {
		return
	}
	p.state = stLoading
	show(p.el["model-box"], true)
	p.el["model-progress"].Underlying().Call("removeAttribute", "value")
	setText(p.el["model-status"], why)
	p.failDecodes()
	p.eng.start()
	p.update()
}

// onWorker handles the worker's messages (in a JS callback: never blocks).
func (p *page) onWorker(msg js.Value) {
	switch msg.Get("type").String() {
	case "ready":
		p.onReady(msg)
	case "init-error":
		p.eng.stop()
		if p.modelFromCache && !p.modelRetried {
			// A damaged stored copy: drop it and download again.
			p.modelRetried = true
			go func() {
				if c, err := await(global.Get("caches").Call("open", modelCache())); err == nil {
					await(c.Call("delete", modelURL))
				}
				p.loadModel()
			}()
			return
		}
		p.fail(msg.Get("message").String(), func() { go p.loadModel() })
	case "decoded":
		if ch, ok := p.decodes[msg.Get("id").Int()]; ok {
			delete(p.decodes, msg.Get("id").Int())
			ch <- msg
		}
	case "progress":
		if msg.Get("id").Int() == p.runID && p.running() {
			p.onProgress(msg)
		}
	case "done":
		if msg.Get("id").Int() == p.runID {
			p.onDone(msg)
		}
	case "error":
		if msg.Get("id").Int() == p.runID {
			p.onRunError(msg)
		}
	}
}

func (p *page) onReady(msg js.Value) {
	p.ready = msg
	show(p.el["model-box"], false)
	maxSize := msg.Get("maxSize").Int()
	hi := p.input("size-1024")
	hi.SetDisabled(maxSize < 1024)
	sizeNote := ""
	if maxSize < 1024 {
		if hi.Checked() {
			p.input("size-512").SetChecked(true)
		}
		sizeNote = "High (1024 px) needs more memory and speed than the " + msg.Get("label").String() + " backend has; it needs WebGPU."
	}
	if msg.Get("backend").String() == "cpu" && p.hooks.size == 0 && p.lastSig == "" {
		p.input("size-256").SetChecked(true)
		sizeNote += " On the CPU, Best takes a long time even at this size; Fast is chosen for it."
	}
	setText(p.el["size-note"], strings.TrimSpace(sizeNote))
	p.fillBackends(msg)
	setText(p.el["backend-note"], msg.Get("note").String())
	if p.state == stLoading || p.state == stFailed {
		p.state = stIdle
	}
	p.updateNotes()
	// Conv kernel choices kept from an earlier load (WebGPU), for tests.
	if n := msg.Get("tuneRestored").Int(); n > 0 {
		p.emit("kernel-choices", fmt.Sprintf("restored %d", n))
	} else if note := msg.Get("tuneNote").String(); note != "" {
		p.emit("kernel-choices", note)
	}
	p.emit("ready", msg.Get("backend").String())
	go p.storeModel()
	if p.runAfterReady && p.state == stIdle {
		p.runAfterReady = false
		go p.startRun()
	}
}

func (p *page) fillBackends(msg js.Value) {
	sel := p.el["backend"]
	sel.SetInnerHTML("")
	add := func(value, label string, disabled bool) {
		o := p.doc.CreateElement("option").(*dom.HTMLOptionElement)
		o.SetValue(value)
		o.SetTextContent(label)
		o.SetDisabled(disabled)
		o.SetSelected(value == p.eng.pref)
		sel.AppendChild(o)
	}
	running := "CPU"
	if msg.Get("backend").String() == "webgpu" {
		running = "WebGPU"
	}
	add("auto", "Automatic (now: "+running+")", false)
	webgpu := "WebGPU"
	r := msg.Get("webgpuReason").String()
	if r != "" {
		webgpu += " (unavailable: " + r + ")"
	}
	add("webgpu", webgpu, r != "")
	add("cpu", "CPU (slow, works everywhere)", false)
}

// fail shows an error with a retry button that runs again.
func (p *page) fail(msg string, again func()) {
	p.failAction(msg, "Try again", again)
}

// failAction is fail with the button's label.
func (p *page) failAction(msg, label string, again func()) {
	if p.state != stRunning && p.state != stCancelling {
		p.state = stFailed
	}
	p.retry = again
	setText(p.el["retry"], label)
	setText(p.el["error-text"], msg)
	show(p.el["error-box"], true)
	show(p.el["model-box"], false)
	p.update()
	p.button("retry").Focus()
	p.emit("error", msg)
}

func (p *page) onCrash(reason string) {
	p.failDecodes()
	wasRunning := p.running()
	p.state = stFailed
	p.eng.stop()
	if wasRunning {
		p.fail(reason+" Try again, perhaps with a smaller output size.", func() {
			p.restartEngine("Restarting the engine…")
			p.runAfterReady = true
		})
		return
	}
	p.fail(reason, func() { p.restartEngine("Restarting the engine…") })
}

// ---- running ----

func (p *page) options(size int) map[string]any {
	d := nnst.Defaults(size >= 1024)
	if p.mode() == nnst.ModeFast {
		d = nnst.FastDefaults()
	}
	if p.hooks.steps > 0 {
		d.Steps = p.hooks.steps
	}
	if p.hooks.scales > 0 {
		d.Scales = p.hooks.scales
	}
	return map[string]any{
		"mode": string(d.Mode), "alpha": p.input("alpha").ValueAsNumber(), "size": size, "scales": d.Scales, "steps": d.Steps,
		"flip": p.input("flip").Checked(), "color": p.input("color").Checked(),
		"contentLoss": p.input("content-loss").Checked(),
	}
}

func (p *page) startRun() {
	if p.state != stIdle || !p.eng.ready || p.content.img == nil || p.style.img == nil {
		return
	}
	size := p.size()
	for _, s := range []*slot{p.content, p.style} {
		if n := s.sizeNote(size); strings.HasPrefix(n, "Too narrow") {
			p.setStatus(s.what + ": " + n)
			return
		}
	}
	c, st := p.content.fit(size), p.style.fit(size)
	p.runID++
	p.runOpts = p.options(size)
	p.runSize = size
	p.state = stRunning
	p.runStart = time.Now()
	p.lastETA = 0
	setText(p.el["reuse-note"], p.reuseText())
	p.lastSig = p.signature()
	show(p.el["error-box"], false)
	show(p.el["progress-box"], true)
	show(p.el["result-empty"], false)
	p.el["result"].Class().Remove("finished")
	show(p.el["details"], false)
	prog := p.el["progress"].Underlying()
	prog.Set("value", 0)
	setText(p.el["stage"], "Starting…")
	setText(p.el["times"], "")
	drawTensor(p.el["before"].(*dom.HTMLCanvasElement), c)
	p.resultRGBA = js.Undefined()
	p.resultName = p.content.name + "-in-style-of-" + p.style.name + ".png"
	p.update()
	p.setStatus("Stylizing…")
	cb, sb := uint8Array(floatBytes(c.Data)), uint8Array(floatBytes(st.Data))
	msg := map[string]any{
		"type": "run", "id": p.runID, "opts": p.runOpts,
		"content": map[string]any{"w": c.W, "h": c.H, "data": cb.Get("buffer")},
		"style":   map[string]any{"w": st.W, "h": st.H, "data": sb.Get("buffer")},
	}
	if p.hooks.fault != "" {
		msg["fault"] = p.hooks.fault
		p.hooks.fault = "" // only the first run fails
	}
	p.eng.post(msg, cb.Get("buffer"), sb.Get("buffer"))
	p.button("cancel").Focus()
	p.emit("started", strconv.Itoa(p.runID))
	id := p.runID
	go func() {
		for p.running() && p.runID == id {
			p.updateTimes()
			time.Sleep(500 * time.Millisecond)
		}
	}()
}

func (p *page) onProgress(m js.Value) {
	p.el["progress"].Underlying().Set("value", m.Get("fraction").Float())
	scale, scales := m.Get("scale").Int(), m.Get("scales").Int()
	step, steps := m.Get("step").Int(), m.Get("steps").Int()
	var s string
	switch m.Get("stage").String() {
	case stageTune:
		s = "Choosing the fastest GPU kernels for this size"
	case nnst.StagePrepare:
		s = "Preparing the images"
	case nnst.StageMatch:
		s = fmt.Sprintf("Scale %d of %d: matching style features", scale, scales)
	case nnst.StageScale:
		s = fmt.Sprintf("Scale %d of %d: step %d of %d", scale, scales, step, steps)
	case nnst.StageFinal:
		s = fmt.Sprintf("Final pass: step %d of %d", step, steps)
		if step == 0 {
			s = "Final pass: preparing"
		}
	case nnst.StageColor:
		s = "Colour matching"
	case nnst.StageDone:
		s = "Finishing"
	default:
		s = m.Get("stage").String()
	}
	if p.state == stCancelling {
		s = "Cancelling…"
	}
	setText(p.el["stage"], s)
	p.lastETA = time.Duration(m.Get("etaMs").Float()) * time.Millisecond
	p.lastETAAt = time.Now()
	if pv := m.Get("preview"); pv.Truthy() {
		drawRGBA(p.el["out"].(*dom.HTMLCanvasElement), pv.Get("w").Int(), pv.Get("h").Int(), pv.Get("rgba"))
		p.el["out"].SetAttribute("aria-label", "The output as it forms")
	}
	p.emit("progress", s)
}

func (p *page) updateTimes() {
	t := "Elapsed " + duration(time.Since(p.runStart))
	if p.lastETA > 0 {
		left := p.lastETA - time.Since(p.lastETAAt)
		if left > time.Second {
			t += " · about " + duration(left) + " left"
		} else {
			t += " · almost done"
		}
	}
	setText(p.el["times"], t)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func duration(d time.Duration) string {
	s := int(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%d s", s)
	case s < 3600:
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	}
	return fmt.Sprintf("%d h %02d min", s/3600, s/60%60)
}

func (p *page) onDone(m js.Value) {
	elapsed := time.Since(p.runStart)
	p.state = stIdle
	w, h := m.Get("w").Int(), m.Get("h").Int()
	p.resultRGBA, p.resultW, p.resultH = m.Get("rgba"), w, h
	drawRGBA(p.el["out"].(*dom.HTMLCanvasElement), w, h, p.resultRGBA)
	p.el["out"].SetAttribute("aria-label", fmt.Sprintf("Result: %s in the style of %s, %d×%d px", p.content.name, p.style.name, w, h))
	p.el["progress"].Underlying().Set("value", 1)
	setText(p.el["stage"], "Done")
	setText(p.el["times"], "Took "+duration(elapsed))
	p.el["result"].Class().Add("finished")
	p.input("split").SetValue("50")
	p.updateSplit()
	o := p.runOpts
	onOff := func(k string) string {
		if o[k].(bool) {
			return "on"
		}
		return "off"
	}
	work := fmt.Sprintf("Best: %s × %s, then a final pass of %s", plural(o["scales"].(int), "scale"), plural(o["steps"].(int), "step"), plural(o["steps"].(int), "step"))
	if o["mode"] == string(nnst.ModeFast) {
		work = fmt.Sprintf("Fast: one match, then a final pass of %s", plural(o["steps"].(int), "step"))
	}
	if f := m.Get("flops").Float(); f > 0 {
		work += fmt.Sprintf(" · %.2f TFLOP", f/1e12)
		if ms := m.Get("runMs").Float(); ms > 0 {
			if p.rate == nil {
				p.rate = map[string]float64{}
			}
			p.rate[p.ready.Get("backend").String()] = f / ms * 1000
		}
	}
	adapter := ""
	if p.ready.Get("backend").String() == "webgpu" {
		adapter = " — " + p.ready.Get("adapter").String()
	}
	p.details([][2]string{
		{"Size", fmt.Sprintf("%d×%d px", w, h)},
		{"Time", duration(elapsed)},
		{"Backend", p.ready.Get("label").String() + adapter},
		{"Settings", fmt.Sprintf("alpha %.2f · style rotations %s · colour matching %s · content loss %s", o["alpha"], onOff("flip"), onOff("color"), onOff("contentLoss"))},
		{"Work", work},
		{"Peak memory", fmt.Sprintf("%.0f MB", m.Get("peakBytes").Float()/1e6)},
	})
	p.updateMode()
	p.update()
	p.setStatus(fmt.Sprintf("Done in %s. Download the PNG or change the settings and run again.", duration(elapsed)))
	p.button("download").Focus()
	p.emit("done", fmt.Sprintf("%dx%d", w, h))
}

func (p *page) details(rows [][2]string) {
	dl := p.el["details"]
	dl.SetInnerHTML("")
	for _, r := range rows {
		dt := p.doc.CreateElement("dt")
		dt.SetTextContent(r[0])
		dd := p.doc.CreateElement("dd")
		dd.SetTextContent(r[1])
		dl.AppendChild(dt)
		dl.AppendChild(dd)
	}
	show(dl, true)
}

func (p *page) onRunError(m js.Value) {
	kind, text := m.Get("kind").String(), m.Get("message").String()
	if kind == "cancelled" {
		p.finishCancel(false)
		return
	}
	p.state = stFailed
	show(p.el["progress-box"], false)
	if kind == "memory" && m.Get("before").Truthy() {
		// The check before the run: nothing was computed or lost.
		size, smaller := m.Get("size").Int(), m.Get("smaller").Int()
		msg := fmt.Sprintf("Not enough GPU memory for a %d px run, so it was not started (%s).", size, text)
		if smaller == 0 {
			p.fail(msg+" Close other tabs or programs that use the GPU and try again.", func() { go p.startRun() })
		} else {
			p.failAction(msg+fmt.Sprintf(" A %d px run needs about %.1f GiB.", smaller, m.Get("smallerBytes").Float()/(1<<30)), fmt.Sprintf("Run at %d px", smaller), func() {
				p.input("size-" + strconv.Itoa(smaller)).SetChecked(true)
				p.updateNotes()
				go p.startRun()
			})
		}
		// The page stays usable: any size can be chosen and run.
		p.state = stIdle
		p.update()
		return
	}
	var msg string
	switch kind {
	case "device":
		msg = "The graphics device was lost (the GPU driver reset or the tab was in the background too long). "
	case "memory":
		msg = "The backend ran out of memory. A smaller output size may work. "
	}
	p.fail(msg+"The run stopped: "+text, func() {
		p.restartEngine("Restarting the engine…")
		p.runAfterReady = true
	})
}

func (p *page) cancelRun() {
	if p.state != stRunning {
		return
	}
	p.state = stCancelling
	id := p.runID
	setText(p.el["stage"], "Cancelling…")
	p.eng.post(map[string]any{"type": "cancel", "id": id})
	p.update()
	go func() {
		// The driver checks between steps; a slow step is cut short by
		// replacing the worker.
		time.Sleep(time.Second)
		if p.state == stCancelling && p.runID == id {
			p.eng.stop()
			p.failDecodes()
			p.finishCancel(true)
		}
	}()
}

func (p *page) finishCancel(restart bool) {
	elapsed := time.Since(p.runStart)
	p.state = stIdle
	show(p.el["progress-box"], false)
	msg := fmt.Sprintf("Cancelled after %s.", duration(elapsed))
	if restart {
		msg += " The engine is restarting (the model stays in memory)."
		p.restartEngine("Restarting the engine after the cancel…")
	}
	p.setStatus(msg)
	p.update()
	p.button("run").Focus()
	p.emit("cancelled", msg)
}

// ---- output ----

func (p *page) updateSplit() {
	v := p.input("split").ValueAsNumber()
	p.el["before"].Style().SetProperty("clip-path", fmt.Sprintf("inset(0 %.1f%% 0 0)", 100-v), "")
	p.el["split"].SetAttribute("aria-valuetext", fmt.Sprintf("%.0f%% before, %.0f%% after", v, 100-v))
}

func (p *page) download() {
	if !p.resultRGBA.Truthy() {
		return
	}
	img := &image.NRGBA{Pix: bytesOf(p.resultRGBA), Stride: 4 * p.resultW, Rect: image.Rect(0, 0, p.resultW, p.resultH)}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		p.setStatus("The PNG could not be made: " + err.Error())
		return
	}
	blob := global.Get("Blob").New([]any{uint8Array(b.Bytes())}, map[string]any{"type": "image/png"})
	url := global.Get("URL").Call("createObjectURL", blob)
	a := p.doc.CreateElement("a").(*dom.HTMLAnchorElement)
	a.SetHref(url.String())
	a.SetAttribute("download", p.resultName)
	p.doc.(dom.HTMLDocument).Body().AppendChild(a)
	a.Click()
	a.Remove()
	p.setStatus("Saved " + p.resultName + ".")
	p.emit("download", p.resultName)
	time.Sleep(10 * time.Second)
	global.Get("URL").Call("revokeObjectURL", url)
}

// ---- drawing ----

func drawTensor(c *dom.HTMLCanvasElement, t *tensor.T) {
	img := imageio.ToImage(t)
	arr := global.Get("Uint8ClampedArray").New(len(img.Pix))
	js.CopyBytesToJS(arr, img.Pix)
	drawRGBA(c, t.W, t.H, arr)
}

func drawRGBA(c *dom.HTMLCanvasElement, w, h int, rgba js.Value) {
	if c.Width() != w || c.Height() != h {
		c.SetWidth(w)
		c.SetHeight(h)
	}
	data := global.Get("ImageData").New(rgba, w, h)
	c.GetContext("2d").Call("putImageData", data, 0, 0)
}

func setText(e dom.Element, s string) { e.SetTextContent(s) }

func show(e dom.Element, on bool) {
	if on {
		e.RemoveAttribute("hidden")
	} else {
		e.SetAttribute("hidden", "")
	}
}
