//go:build js && wasm

package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"honnef.co/go/js/dom/v2"

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

type page struct {
	doc            dom.Document
	content, style *slot
	pasteTarget    *slot
	eng            engine
	hooks          hooks
	state          string
	ready          *readyMsg // nil until the worker is first ready

	modelFromCache bool
	modelRetried   bool
	retry          func()
	runAfterReady  bool // a retry waits for the restarted engine
	swReady        bool
	updateWorker   js.Value // a waiting service worker
	reloading      bool

	modeTouched bool               // the user chose a mode
	userMode    nnst.Mode          // the mode the user chose
	rate        map[string]float64 // measured operations per second, by backend

	runID      int
	rs         resumeState // to resume the run after a fault (resume.go)
	runStart   time.Time
	runOpts    runOptions
	lastETA    time.Duration
	lastETAAt  time.Time
	lastSig    string
	result     bool   // the output canvas holds the last run's result
	resultStem string // the downloads' name without the extension

	decodes  map[int]chan decodedMsg // decodes waiting for the worker
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
	p := &page{doc: doc, el: map[string]dom.HTMLElement{}, state: stLoading, decodes: map[int]chan decodedMsg{}}
	for _, id := range []string{
		"model-box", "model-progress", "model-status", "update-banner", "update-reload",
		"alpha", "alpha-value", "alpha-hint", "mode-fieldset", "mode-fast", "mode-best", "mode-note", "size-fieldset", "size-256", "size-512", "size-1024", "size-2048", "size-4096", "size-note",
		"flip", "color", "content-loss", "backend", "backend-note", "run", "cancel", "reuse-note",
		"progress-box", "stage", "progress", "times", "result", "result-empty", "zoom", "compare", "out", "before", "split",
		"download", "download-jpeg", "details", "error-box", "error-text", "retry", "status", "offline-note",
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
	p.input("alpha").SetValue(strconv.FormatFloat(defaultAlpha(), 'f', -1, 64))
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
	p.hooks = parseHooks(func(k string) (string, bool) {
		v := q.Call("get", k)
		if v.IsNull() {
			return "", false
		}
		return v.String(), true
	})
	if n := p.hooks.size; n != 0 && !slices.Contains(sizes, n) {
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
		if p.mode() == nnst.ModeFast && p.result && p.state == stIdle {
			go p.startRun()
		}
	})
	for _, id := range []string{"flip", "color", "content-loss"} {
		p.input(id).AddEventListener("change", false, func(dom.Event) { p.updateNotes() })
	}
	p.el["size-fieldset"].AddEventListener("change", false, func(dom.Event) { p.updateNotes() })
	p.el["mode-fieldset"].AddEventListener("change", false, func(dom.Event) {
		p.modeTouched, p.userMode = true, p.mode()
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
	p.button("download").AddEventListener("click", false, func(dom.Event) { go p.download("png", "image/png") })
	p.button("download-jpeg").AddEventListener("click", false, func(dom.Event) { go p.download("jpg", "image/jpeg") })
	p.button("zoom").AddEventListener("click", false, func(dom.Event) { p.setZoom(!p.zoomed()) })
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
	p.el["backend"].Underlying().Set("disabled", p.running() || p.ready == nil)
	for _, s := range []*slot{p.content, p.style} {
		s.input.SetDisabled(p.running())
	}
	for _, id := range []string{"download", "download-jpeg"} {
		p.button(id).SetDisabled(!p.result || p.running())
	}
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
	for _, id := range append([]string{"size-test"}, sizeIDs()...) {
		if e, ok := p.el[id]; ok && e.(*dom.HTMLInputElement).Checked() {
			n, _ := strconv.Atoi(e.(*dom.HTMLInputElement).Value())
			return n
		}
	}
	return 256
}

// sizeIDs are the size choices' element ids.
func sizeIDs() []string {
	var ids []string
	for _, s := range sizes {
		ids = append(ids, sizeID(s))
	}
	return ids
}

func sizeID(size int) string { return "size-" + strconv.Itoa(size) }

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
	if p.ready == nil {
		return 0
	}
	return p.ready.estimate(mode, size, p.rate[p.ready.Backend])
}

// updateMode offers the modes that can run at the chosen size, picks Fast
// where Best would take more than about a minute or is not offered (unless
// the user chose), and says what each would take.
func (p *page) updateMode() {
	size := p.size()
	fast, best := p.estimate(nnst.ModeFast, size), p.estimate(nnst.ModeBest, size)
	want := p.mode()
	switch {
	case p.modeTouched:
		want = p.userMode
	case best > 0 && best > 70*time.Second:
		want = nnst.ModeFast
	case best > 0:
		want = nnst.ModeBest
	}
	why := map[nnst.Mode]string{}
	if r := p.ready; r != nil {
		for _, m := range modes {
			if !r.offered(m, size) {
				what := fmt.Sprintf("%s at %d px", modeName(m), size)
				why[m] = limitText(what, r.Limits[workKey(m, size)], r.estimate(m, size, p.rate[r.Backend]))
			}
		}
	}
	p.input("mode-fast").SetDisabled(why[nnst.ModeFast] != "")
	p.input("mode-best").SetDisabled(why[nnst.ModeBest] != "")
	if why[want] != "" { // the other one
		want = map[nnst.Mode]nnst.Mode{nnst.ModeFast: nnst.ModeBest, nnst.ModeBest: nnst.ModeFast}[want]
	}
	if want != p.mode() {
		p.input("mode-fast").SetChecked(want == nnst.ModeFast)
		p.input("mode-best").SetChecked(want == nnst.ModeBest)
		p.updateAlpha()
	}
	setText(p.el["mode-note"], modeNote(size, fast, best, why[nnst.ModeFast], why[nnst.ModeBest]))
}

// updateSizes offers the sizes some mode can run at and says why the
// others are missing; a size no longer offered gives way to the next
// smaller one.
func (p *page) updateSizes() {
	r := p.ready
	var notes []string
	for _, size := range sizes {
		in := p.input(sizeID(size))
		ok := r.offered(nnst.ModeFast, size) || r.offered(nnst.ModeBest, size)
		in.SetDisabled(!ok)
		if ok {
			continue
		}
		if in.Checked() {
			for s := smallerSize(size); s > 0; s = smallerSize(s) {
				if !p.input(sizeID(s)).Disabled() {
					p.input(sizeID(s)).SetChecked(true)
					break
				}
			}
		}
		// Fast goes furthest: its limit is the size's.
		what := fmt.Sprintf("%s (%d px)", sizeNames[size], size)
		notes = append(notes, limitText(what, r.Limits[workKey(nnst.ModeFast, size)], 0))
	}
	if r.Backend == "cpu" && p.hooks.size == 0 && p.lastSig == "" {
		p.input("size-256").SetChecked(true)
		notes = append(notes, "On the CPU, Best takes a long time even at 256 px; Fast is chosen for it.")
	}
	setText(p.el["size-note"], strings.Join(notes, " "))
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
		if s.img != nil && !s.busy && !tooNarrow(s.sizeNote(size)) {
			s.fit(size)
		}
	}
}

func (p *page) updateAlpha() {
	a := p.input("alpha").ValueAsNumber()
	setText(p.el["alpha-value"], strconv.FormatFloat(a, 'f', 2, 64))
	setText(p.el["alpha-hint"], alphaHint(a, p.mode()))
}

func (p *page) setStatus(s string) { setText(p.el["status"], s) }

// ---- engine ----

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
func (p *page) onWorker(msg message) {
	switch m := msg.(type) {
	case readyMsg:
		p.onReady(&m)
	case initErrorMsg:
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
		p.fail(m.Message, func() { go p.loadModel() })
	case decodedMsg:
		if ch, ok := p.decodes[m.ID]; ok {
			delete(p.decodes, m.ID)
			ch <- m
		}
	case progressMsg:
		if m.ID == p.runID && p.running() {
			p.onProgress(m)
		}
	case doneMsg:
		if m.ID == p.runID {
			p.onDone(m)
		}
	case errorMsg:
		if m.ID == p.runID {
			p.onRunError(m)
		}
	}
}

func (p *page) onReady(msg *readyMsg) {
	p.ready = msg
	show(p.el["model-box"], false)
	p.updateSizes()
	p.fillBackends(msg)
	setText(p.el["backend-note"], msg.Note)
	if p.state == stLoading || p.state == stFailed {
		p.state = stIdle
	}
	p.updateNotes()
	// Conv kernel choices kept from an earlier load (WebGPU), for tests.
	if n := msg.TuneRestored; n > 0 {
		p.emit("kernel-choices", fmt.Sprintf("restored %d", n))
	} else if msg.TuneNote != "" {
		p.emit("kernel-choices", msg.TuneNote)
	}
	p.emit("ready", msg.Backend)
	go p.storeModel()
	if p.rs.pending != "" && p.state == stIdle {
		p.runAfterReady = false
		go p.resumeRun()
		return
	}
	if p.runAfterReady && p.state == stIdle {
		p.runAfterReady = false
		go p.startRun()
	}
}

func (p *page) fillBackends(msg *readyMsg) {
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
	if msg.Backend == "webgpu" {
		running = "WebGPU"
	}
	add("auto", "Automatic (now: "+running+")", false)
	webgpu := "WebGPU"
	r := msg.WebGPUReason
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
	p.eng.stop()
	if p.resumeAfter(reason) {
		return
	}
	p.state = stFailed
	if wasRunning {
		p.fail(reason+" Try again, perhaps with a smaller output size.", func() {
			p.restartEngine("Restarting the engine…")
			p.runAfterReady = true
		})
		return
	}
	p.fail(reason, func() { p.restartEngine("Restarting the engine…") })
}

func setText(e dom.Element, s string) { e.SetTextContent(s) }

func show(e dom.Element, on bool) {
	if on {
		e.RemoveAttribute("hidden")
	} else {
		e.SetAttribute("hidden", "")
	}
}
