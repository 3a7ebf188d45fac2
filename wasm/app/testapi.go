//go:build js && wasm

package main

import (
	"slices"
	"strings"
	"syscall/js"
)

// The page reports what happens as numbered events on window.nnst, so tests
// (and curious users) can await them instead of polling the DOM:
//
//	const s = nnst.seq(); ...act...; await nnst.wait("done,error", s)
//
// wait resolves with the first event of one of the types after seq s.
func (p *page) exposeTestAPI() {
	api := global.Get("Object").New()
	api.Set("seq", js.FuncOf(func(js.Value, []js.Value) any { return p.seq }))
	api.Set("state", js.FuncOf(func(js.Value, []js.Value) any { return p.state }))
	api.Set("wait", js.FuncOf(func(_ js.Value, args []js.Value) any {
		types := strings.Split(args[0].String(), ",")
		since := 0
		if len(args) > 1 {
			since = args[1].Int()
		}
		return global.Get("Promise").New(js.FuncOf(func(_ js.Value, a []js.Value) any {
			for _, e := range p.events {
				if e["seq"].(int) > since && slices.Contains(types, e["type"].(string)) {
					a[0].Invoke(e)
					return nil
				}
			}
			p.waiters = append(p.waiters, waiter{types: types, since: since, resolve: a[0]})
			return nil
		}))
	}))
	global.Set("nnst", api)
}

func (p *page) emit(typ, detail string) {
	p.seq++
	e := map[string]any{"seq": p.seq, "type": typ, "detail": detail}
	p.events = append(p.events, e)
	if len(p.events) > 500 {
		p.events = p.events[len(p.events)-500:]
	}
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if slices.Contains(w.types, typ) {
			w.resolve.Invoke(e)
		} else {
			kept = append(kept, w)
		}
	}
	p.waiters = kept
}
