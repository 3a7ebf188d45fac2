//go:build js && wasm

// Package jsutil holds the promise helper every Go wasm package here needs.
package jsutil

import (
	"errors"
	"syscall/js"
)

// Await blocks the calling goroutine until the promise p settles and
// returns its value (undefined when it has none) or its rejection as an
// error. It must not be called from inside a JS callback, which would
// block the event loop the promise needs.
func Await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: arg0(args)}
		return nil
	})
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: Error(arg0(args))}
		return nil
	})
	p.Call("then", then, catch)
	r := <-ch
	then.Release()
	catch.Release()
	return r.v, r.err
}

// Error turns a thrown or rejected JS value into an error: an Error's
// message, else the value as a string.
func Error(v js.Value) error {
	return errors.New(String(v))
}

// String is an Error's message, or the value converted with String().
func String(v js.Value) string {
	if v.Type() == js.TypeObject {
		if m := v.Get("message"); m.Type() == js.TypeString {
			return m.String()
		}
	}
	return js.Global().Get("String").Invoke(v).String()
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}
