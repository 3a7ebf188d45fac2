//go:build js && wasm

package main

import (
	"fmt"
	"time"
)

// A run that fails mid-way from a lost GPU device or a crashed worker loses
// only the stage it was in: the worker sends a checkpoint at the end of
// each stage it can resume from (each of Best's scales, Fast's match), the
// page keeps the last one, restarts the engine (a fresh worker and device,
// or the CPU when the GPU is gone) and sends it back with the same run.

// inputSig identifies the images and the size of a run.
func (p *page) inputSig() string {
	return fmt.Sprint(p.content.id, "/", p.style.id, "/", p.size())
}

// resumeAfter restarts the engine to resume the running run after a fault
// (why: a sentence) from its last checkpoint; false when it has none. When
// the last attempt finished no stage, the user chooses to try again.
func (p *page) resumeAfter(why string) bool {
	rs := &p.rs
	if p.state != stRunning || rs.ck == nil || rs.sig != p.inputSig() {
		return false
	}
	during, after := rs.ck.stages()
	rs.pending = why
	restart := func() { p.restartEngine(fmt.Sprintf("Restarting the engine to resume from the end of %s…", after)) }
	if !rs.fresh {
		// The resumed attempt failed before finishing a stage: no loop.
		p.state = stFailed
		show(p.el["progress-box"], false)
		p.fail(fmt.Sprintf("%s during %s, again. Try again to resume from the end of %s.", trimStop(why), during, after), restart)
		return true
	}
	p.state = stIdle
	setText(p.el["stage"], "Resuming…")
	restart()
	p.setStatus(fmt.Sprintf("%s during %s. Restarting the engine to resume from the end of %s…", trimStop(why), during, after))
	return true
}

// resumeRun resumes the run from the kept checkpoint once the restarted
// engine is ready, with the run's settings.
func (p *page) resumeRun() {
	rs := &p.rs
	why := rs.pending
	rs.pending = ""
	if p.state != stIdle || !p.eng.ready {
		return
	}
	if rs.ck == nil || rs.sig != p.inputSig() {
		show(p.el["progress-box"], false)
		p.setStatus(trimStop(why) + ". The run could not resume: the images or the size changed. Run it again.")
		p.update()
		return
	}
	during, after := rs.ck.stages()
	rs.note = resumeText(why, during, after, p.ready.Label)
	rs.fresh = false
	size := p.runOpts.Size
	c, st := p.content.fit(size), p.style.fit(size)
	p.runID++
	p.state = stRunning
	show(p.el["error-box"], false)
	show(p.el["progress-box"], true)
	setText(p.el["stage"], "Resuming…")
	p.update()
	p.setStatus(rs.note)
	p.eng.post(runMsg{ID: p.runID, Opts: p.runOpts, Content: planesOf(c), Style: planesOf(st), Resume: rs.ck.clone(), Fault: p.hooks.again})
	p.hooks.again = ""
	p.emit("resumed", rs.note)
	p.watchTimes()
}

// watchTimes updates the elapsed time while the current run runs.
func (p *page) watchTimes() {
	id := p.runID
	go func() {
		for p.running() && p.runID == id {
			p.updateTimes()
			time.Sleep(500 * time.Millisecond)
		}
	}()
}

func trimStop(s string) string {
	if n := len(s); n > 0 && s[n-1] == '.' {
		return s[:n-1]
	}
	return s
}
