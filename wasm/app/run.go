//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall/js"
	"time"

	"honnef.co/go/js/dom/v2"

	"nnst/core/tensor"
)

// The page's side of a run: start, progress, result, errors, cancel, and
// the output's comparison and download.

func (p *page) startRun() {
	if p.state != stIdle || !p.eng.ready || p.content.img == nil || p.style.img == nil {
		return
	}
	size := p.size()
	for _, s := range []*slot{p.content, p.style} {
		if n := s.sizeNote(size); tooNarrow(n) {
			p.setStatus(s.what + ": " + n)
			return
		}
	}
	c, st := p.content.fit(size), p.style.fit(size)
	p.runID++
	p.runOpts = newRunOptions(p.mode(), size, p.hooks)
	p.runOpts.Alpha = p.input("alpha").ValueAsNumber()
	p.runOpts.Flip, p.runOpts.Color = p.input("flip").Checked(), p.input("color").Checked()
	p.runOpts.ContentLoss = p.input("content-loss").Checked()
	p.rs = resumeState{sig: p.inputSig()}
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
	p.el["progress"].Underlying().Set("value", 0)
	setText(p.el["stage"], "Starting…")
	setText(p.el["times"], "")
	drawRGBA(p.el["before"].(*dom.HTMLCanvasElement), rgbaOf(c))
	p.result = false
	p.resultStem = resultStem(p.content.name, p.style.name)
	p.update()
	p.setStatus("Stylizing…")
	p.eng.post(runMsg{
		ID: p.runID, Opts: p.runOpts, Fault: p.hooks.fault,
		Content: planesOf(c), Style: planesOf(st),
	})
	p.hooks.fault, p.hooks.again = "", p.hooks.fault.again() // only the first run fails
	p.button("cancel").Focus()
	p.emit("started", strconv.Itoa(p.runID))
	p.watchTimes()
}

// planesOf copies an RGB tensor into an ArrayBuffer to send.
func planesOf(t *tensor.T) planes {
	return planes{W: t.W, H: t.H, Data: uint8Array(floatBytes(t.Data)).Get("buffer")}
}

func (p *page) onProgress(m progressMsg) {
	p.rs.keep(m.Checkpoint)
	p.el["progress"].Underlying().Set("value", m.Fraction)
	s := stageText(m)
	if p.state == stCancelling {
		s = "Cancelling…"
	}
	setText(p.el["stage"], s)
	p.lastETA = m.ETA
	p.lastETAAt = time.Now()
	if m.Preview != nil {
		drawRGBA(p.el["out"].(*dom.HTMLCanvasElement), *m.Preview)
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

func (p *page) onDone(m doneMsg) {
	elapsed := time.Since(p.runStart)
	p.state = stIdle
	w, h := m.Image.W, m.Image.H
	p.result = true
	drawRGBA(p.el["out"].(*dom.HTMLCanvasElement), m.Image)
	p.el["out"].SetAttribute("aria-label", fmt.Sprintf("Result: %s in the style of %s, %d×%d px", p.content.name, p.style.name, w, h))
	p.el["progress"].Underlying().Set("value", 1)
	setText(p.el["stage"], "Done")
	setText(p.el["times"], "Took "+duration(elapsed))
	p.el["result"].Class().Add("finished")
	p.input("split").SetValue("50")
	p.updateSplit()
	if m.Flops > 0 && m.Run > 0 {
		if p.rate == nil {
			p.rate = map[string]float64{}
		}
		p.rate[p.ready.Backend] = p.ready.runRate(m.Flops, m.Run, max(w, h))
	}
	adapter := ""
	if p.ready.Backend == "webgpu" {
		adapter = " — " + p.ready.Adapter
	}
	rows := [][2]string{
		{"Size", fmt.Sprintf("%d×%d px", w, h)},
		{"Time", duration(elapsed)},
		{"Backend", p.ready.Label + adapter},
		{"Settings", p.runOpts.settingsText()},
		{"Work", p.runOpts.workText(m.Flops)},
		{"Peak memory", fmt.Sprintf("%.0f MB", float64(m.PeakBytes)/1e6)},
		{"Tab memory", memoryText(m.HeapBytes, m.KernelBytes)},
	}
	note := p.rs.note // a fault the run resumed after
	if note != "" {
		rows = append(rows, [2]string{"Recovered", note})
		note += " "
	}
	p.rs = resumeState{}
	p.details(rows)
	p.updateMode()
	p.update()
	p.setStatus(fmt.Sprintf("Done in %s. %sDownload the PNG or the JPEG, or change the settings and run again.", duration(elapsed), note))
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

func (p *page) onRunError(m errorMsg) {
	if m.Kind == kindCancelled {
		p.finishCancel(false)
		return
	}
	if m.Kind == kindDevice && p.resumeAfter("The graphics device was lost (the GPU driver reset or the tab was in the background too long)") {
		return
	}
	p.state = stFailed
	show(p.el["progress-box"], false)
	if m.Kind == kindMemory && m.Before {
		// The check before the run: nothing was computed or lost.
		msg := fmt.Sprintf("Not enough GPU memory for a %d px run, so it was not started (%s).", m.Size, m.Message)
		if m.Smaller == 0 {
			p.fail(msg+" Close other tabs or programs that use the GPU and try again.", func() { go p.startRun() })
		} else {
			smaller := m.Smaller
			p.failAction(msg+fmt.Sprintf(" A %d px run needs about %.1f GiB.", smaller, float64(m.SmallerBytes)/(1<<30)), fmt.Sprintf("Run at %d px", smaller), func() {
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
	switch m.Kind {
	case kindDevice:
		msg = "The graphics device was lost (the GPU driver reset or the tab was in the background too long). "
	case kindMemory:
		msg = "The backend ran out of memory. A smaller output size may work. "
	}
	p.fail(msg+"The run stopped: "+m.Message, func() {
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
	p.eng.post(cancelMsg{ID: id})
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

// download saves the output canvas as ext, of the MIME type typ. The
// browser encodes it (canvas.toBlob): Go's PNG encoder takes seconds at
// 4096 px in wasm, on the page's thread.
func (p *page) download(ext, typ string) {
	if !p.result {
		return
	}
	name := p.resultStem + "." + ext
	start := time.Now()
	ch := make(chan js.Value, 1)
	done := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- arg0(args)
		return nil
	})
	defer done.Release()
	p.el["out"].Underlying().Call("toBlob", done, typ, 0.92)
	blob := <-ch
	if !blob.Truthy() {
		p.setStatus("The " + strings.ToUpper(ext) + " file could not be made.")
		return
	}
	logf("%s encoded in %d ms (%d bytes)", name, time.Since(start).Milliseconds(), blob.Get("size").Int())
	url := global.Get("URL").Call("createObjectURL", blob)
	a := p.doc.CreateElement("a").(*dom.HTMLAnchorElement)
	a.SetHref(url.String())
	a.SetAttribute("download", name)
	p.doc.(dom.HTMLDocument).Body().AppendChild(a)
	a.Click()
	a.Remove()
	p.setStatus(fmt.Sprintf("Saved %s (%.1f MB).", name, blob.Get("size").Float()/1e6))
	p.emit("download", name)
	time.Sleep(10 * time.Second)
	global.Get("URL").Call("revokeObjectURL", url)
}

// zoomed says whether the result shows at 100 %.
func (p *page) zoomed() bool { return p.el["compare"].Class().Contains("actual") }

// setZoom shows the result at its natural size in a scrollable box (on),
// or fitted to the panel.
func (p *page) setZoom(on bool) {
	c := p.el["compare"]
	if on {
		c.Class().Add("actual")
	} else {
		c.Class().Remove("actual")
	}
	p.el["zoom"].SetAttribute("aria-pressed", strconv.FormatBool(on))
	if on {
		// A scrollable box is reached by keyboard.
		c.SetAttribute("tabindex", "0")
		c.SetAttribute("role", "region")
		c.SetAttribute("aria-label", "The output at 100 %: scroll to see all of it")
	} else {
		for _, a := range []string{"tabindex", "role", "aria-label"} {
			c.RemoveAttribute(a)
		}
	}
}

// drawRGBA puts an image on a canvas, sized to it.
func drawRGBA(c *dom.HTMLCanvasElement, img rgba) {
	if c.Width() != img.W || c.Height() != img.H {
		c.SetWidth(img.W)
		c.SetHeight(img.H)
	}
	data := global.Get("ImageData").New(img.RGBA.(js.Value), img.W, img.H)
	c.GetContext("2d").Call("putImageData", data, 0, 0)
}
