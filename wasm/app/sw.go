//go:build js && wasm

package main

import "syscall/js"

// registerServiceWorker installs sw.js for offline use and offers a reload
// when a new version has been installed.
func (p *page) registerServiceWorker() {
	sw := global.Get("navigator").Get("serviceWorker")
	if !sw.Truthy() {
		setText(p.el["offline-note"], "This browser cannot keep the app for offline use.")
		return
	}
	hadController := sw.Get("controller").Truthy()
	reg, err := await(sw.Call("register", "sw.js"))
	if err != nil {
		setText(p.el["offline-note"], "Offline use is unavailable: "+err.Error())
		return
	}
	offer := func(w js.Value) {
		show(p.el["update-banner"], true)
		p.emit("update", "")
		p.updateWorker = w
	}
	if w := reg.Get("waiting"); w.Truthy() && hadController {
		offer(w)
	}
	reg.Set("onupdatefound", js.FuncOf(func(js.Value, []js.Value) any {
		w := reg.Get("installing")
		if !w.Truthy() {
			return nil
		}
		w.Set("onstatechange", js.FuncOf(func(js.Value, []js.Value) any {
			if w.Get("state").String() == "installed" && sw.Get("controller").Truthy() {
				offer(w)
			}
			return nil
		}))
		return nil
	}))
	sw.Set("oncontrollerchange", js.FuncOf(func(js.Value, []js.Value) any {
		if p.reloading {
			global.Get("location").Call("reload")
		}
		if !hadController {
			hadController = true
			p.updateOffline()
		}
		return nil
	}))
	if _, err := await(sw.Get("ready")); err == nil {
		p.swReady = true
		p.updateOffline()
	}
}

// reloadForUpdate activates the waiting service worker; the page reloads
// when it takes control.
func (p *page) reloadForUpdate() {
	if !p.updateWorker.Truthy() {
		global.Get("location").Call("reload")
		return
	}
	p.reloading = true
	p.updateWorker.Call("postMessage", map[string]any{"type": "skipWaiting"})
}

func (p *page) updateOffline() {
	if p.swReady && p.modelFromCache && p.eng.ready {
		setText(p.el["offline-note"], "Ready to work offline: the app and the model are stored on this device.")
		p.emit("offline-ready", "")
	}
}
