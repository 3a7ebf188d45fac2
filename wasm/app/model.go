//go:build js && wasm

package main

import (
	"fmt"
	"strconv"
	"syscall/js"
	"time"
)

// The model file: from the cache, else downloaded with a progress bar, then
// kept in the cache for offline use once the worker has verified it.

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
