//go:build js && wasm

package main

import "syscall/js"

// engine runs the compute worker for the page. The worker starts with the
// page (compiling app.wasm while the model downloads) and gets the model
// when it is there. A worker that does not stop when asked, or that dies,
// is replaced by a fresh one. The callbacks of replaced workers are few and
// are not released.
type engine struct {
	w       js.Value
	model   js.Value  // the model file's ArrayBuffer, kept to restart
	pref    string    // backend preference
	alive   bool      // the worker's Go program is listening
	ready   bool      // the model is verified and loaded
	gen     int       // bumps on each restart; stale messages are dropped
	pending []message // messages posted before the worker listened
	onMsg   func(msg message)
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
		msg, err := received(arg0(args))
		if err != nil {
			logf("the page got a bad message: %v", err)
			return nil
		}
		switch m := msg.(type) {
		case startedMsg:
			e.alive = true
			for _, q := range e.pending {
				postTo(e.w, q)
			}
			e.pending = nil
			if e.model.Truthy() {
				e.sendInit()
			}
			return nil
		case readyMsg:
			e.ready = true
		case tuneMsg:
			storageSet(tuneStorage, m.Data)
			return nil
		case exitMsg:
			e.stop()
			e.onCrash("The compute engine stopped unexpectedly (most likely it ran out of memory).")
			return nil
		case crashMsg:
			e.stop()
			e.onCrash("The compute engine failed to start: " + m.Message)
			return nil
		}
		e.onMsg(msg)
		return nil
	})
	errFn := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if gen != e.gen {
			return nil
		}
		e.stop()
		reason := "The compute engine could not run."
		if m := arg0(args).Get("message"); m.Type() == js.TypeString && m.String() != "" {
			reason += " (" + m.String() + ")"
		}
		e.onCrash(reason)
		return nil
	})
	e.w.Set("onmessage", msgFn)
	e.w.Set("onerror", errFn)
}

// setModel hands the model to the worker, starting one if needed.
func (e *engine) setModel(buf js.Value) {
	e.model = buf
	switch {
	case !e.w.Truthy():
		e.start()
	case e.alive:
		e.sendInit()
	}
}

func (e *engine) sendInit() {
	e.ready = false
	postTo(e.w, initMsg{Model: e.model.Call("slice", 0), Backend: e.pref, Tune: storageGet(tuneStorage)})
}

// tuneStorage is where the page keeps the WebGPU backend's conv kernel
// choices (nnst.Preparer.SavedTune) from one load to the next, so that a size
// tuned before starts at once.
const tuneStorage = "nnst-kernel-choices"

// storageGet returns a localStorage item, or "" if there is none or no
// storage (a private window may refuse it).
func storageGet(key string) (v string) {
	defer func() {
		if recover() != nil {
			v = ""
		}
	}()
	if st := global.Get("localStorage"); st.Truthy() {
		if r := st.Call("getItem", key); r.Type() == js.TypeString {
			return r.String()
		}
	}
	return ""
}

// storageSet keeps a localStorage item where storage allows (what it holds
// is only a cache).
func storageSet(key, v string) {
	defer func() { recover() }()
	if st := global.Get("localStorage"); st.Truthy() {
		st.Call("setItem", key, v)
	}
}

// stop terminates the worker at once, whatever it is doing.
func (e *engine) stop() {
	if e.w.Truthy() {
		e.w.Call("terminate")
		e.w = js.Undefined()
	}
	e.alive, e.ready, e.pending = false, false, nil
	e.gen++
}

// post sends m to the worker, or queues it until the worker listens.
func (e *engine) post(m message) {
	if !e.alive {
		if !e.w.Truthy() {
			e.start()
		}
		e.pending = append(e.pending, m)
		return
	}
	postTo(e.w, m)
}
