//go:build js && wasm

package main

import "syscall/js"

// engine runs the compute worker for the page. A worker that does not stop
// when asked, or that dies, is replaced by a fresh one. The callbacks of
// replaced workers are few and are not released.
type engine struct {
	w       js.Value
	model   js.Value // the model file's ArrayBuffer, kept to restart
	pref    string   // backend preference
	ready   bool
	gen     int // bumps on each restart; stale messages are dropped
	onMsg   func(msg js.Value)
	onCrash func(reason string)
}

func (e *engine) start() {
	e.stop()
	e.gen++
	gen := e.gen
	e.w = global.Get("Worker").New("worker.js")
	msgFn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if gen != e.gen {
			return nil
		}
		msg := arg0(args).Get("data")
		switch msg.Get("type").String() {
		case "started":
			e.w.Call("postMessage", map[string]any{"type": "init", "model": e.model.Call("slice", 0), "backend": e.pref})
			return nil
		case "ready":
			e.ready = true
		case "exit", "crash":
			e.ready = false
			reason := "The compute engine stopped unexpectedly (most likely it ran out of memory)."
			if m := msg.Get("message"); m.Type() == js.TypeString {
				reason = "The compute engine failed to start: " + m.String()
			}
			e.onCrash(reason)
			return nil
		}
		e.onMsg(msg)
		return nil
	})
	errFn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if gen != e.gen {
			return nil
		}
		e.ready = false
		ev := arg0(args)
		reason := "The compute engine could not run."
		if m := ev.Get("message"); m.Type() == js.TypeString && m.String() != "" {
			reason += " (" + m.String() + ")"
		}
		e.onCrash(reason)
		return nil
	})
	e.w.Set("onmessage", msgFn)
	e.w.Set("onerror", errFn)
}

// stop terminates the worker at once, whatever it is doing.
func (e *engine) stop() {
	if e.w.Truthy() {
		e.w.Call("terminate")
		e.w = js.Undefined()
	}
	e.ready = false
}

func (e *engine) post(msg map[string]any, transfer ...any) {
	e.w.Call("postMessage", msg, transfer)
}
