package main

import (
	"errors"
	"reflect"
	"testing"

	"nnst/core/nnst"
)

func TestParseHooks(t *testing.T) {
	for _, c := range []struct {
		query map[string]string
		want  hooks
	}{
		{nil, hooks{}},
		{map[string]string{"size": "64", "steps": "2", "scales": "2", "half": "1", "backend": "cpu", "fault": "oom"},
			hooks{size: 64, steps: 2, scales: 2, half: 1, backend: "cpu", fault: faultOOM}},
		{map[string]string{"half": "-1"}, hooks{half: -1}},
		{map[string]string{"half": "-2"}, hooks{}},
		{map[string]string{"size": "32", "steps": "0", "scales": "9"}, hooks{}}, // out of range
		{map[string]string{"size": "2048", "steps": "x", "scales": "-1"}, hooks{}},
		{map[string]string{"backend": "auto", "fault": "fire"}, hooks{}},
		{map[string]string{"backend": "webgpu", "fault": "crash"}, hooks{backend: "webgpu", fault: faultCrash}},
		{map[string]string{"size": "1024", "fault": "lost"}, hooks{size: 1024, fault: faultLost}},
	} {
		got := parseHooks(func(k string) (string, bool) { v, ok := c.query[k]; return v, ok })
		if got != c.want {
			t.Errorf("parseHooks(%v) = %+v, want %+v", c.query, got, c.want)
		}
	}
}

// calls records what a run's hooks did.
type calls struct {
	reserved, reported int
	cause              error
}

func (c *calls) hooks(f fault) runHooks {
	h := runHooks{
		reserve:  func() error { c.reserved++; return nil },
		progress: func(nnst.Progress) { c.reported++ },
	}
	return f.inject(h, func(err error) { c.cause = err })
}

func TestInject(t *testing.T) {
	var c calls
	h := c.hooks("")
	if err := h.reserve(); err != nil {
		t.Fatal(err)
	}
	h.progress(nnst.Progress{})
	if c != (calls{reserved: 1, reported: 1}) {
		t.Errorf("no fault: %+v, want the hooks as they were", c)
	}

	c = calls{}
	h = c.hooks(faultOOM)
	if err := h.reserve(); kindOf(err) != kindMemory || c.reserved != 0 {
		t.Errorf("oom: reserve gave %v (reserved %d), want an injected memory error", err, c.reserved)
	}
	h.progress(nnst.Progress{})
	if c.reported != 1 || c.cause != nil {
		t.Errorf("oom: %+v, want the reports as they were", c)
	}

	// Lost and crash strike at the report after the first checkpoint.
	saved := nnst.Progress{Checkpoint: func() (*nnst.Checkpoint, error) { return nil, nil }}
	c = calls{}
	h = c.hooks(faultLost)
	h.progress(nnst.Progress{})
	h.progress(saved)
	if c.cause != nil || c.reported != 2 {
		t.Errorf("lost: %+v before the report after a checkpoint, want the reports as they were", c)
	}
	h.progress(nnst.Progress{})
	if !errors.Is(c.cause, errFaultLost) || kindOf(c.cause) != kindDevice || c.reported != 3 {
		t.Errorf("lost: %+v, want the run cancelled with a lost device, then the report", c)
	}

	// Lost-soon strikes at the first report; lost-twice as lost, then
	// lost-soon on the resumed run.
	c = calls{}
	h = c.hooks(faultLostSoon)
	h.progress(nnst.Progress{})
	if !errors.Is(c.cause, errFaultLost) || c.reported != 1 {
		t.Errorf("lost-soon: %+v, want the run cancelled at its first report", c)
	}
	c = calls{}
	h = c.hooks(faultLostTwice)
	h.progress(saved)
	if c.cause != nil {
		t.Errorf("lost-twice: %+v at the checkpoint", c)
	}
	h.progress(nnst.Progress{})
	if !errors.Is(c.cause, errFaultLost) {
		t.Errorf("lost-twice: %+v, want the run cancelled after the checkpoint", c)
	}
	if faultLostTwice.again() != faultLostSoon || faultLost.again() != "" {
		t.Error("only lost-twice fails the resumed run again")
	}

	c = calls{}
	h = c.hooks(faultCrash)
	h.progress(nnst.Progress{})
	h.progress(saved)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("crash: the report after a checkpoint did not panic")
			}
		}()
		h.progress(nnst.Progress{})
	}()
	if c.reported != 2 {
		t.Errorf("crash: %+v, want the two reports before it only", c)
	}
}

// A fault travels with the run message; only these are valid in the
// address.
func TestFaultMessage(t *testing.T) {
	for _, f := range []fault{faultCrash, faultLost, faultOOM, faultLostTwice} {
		o, _ := encode(runMsg{Fault: f})
		m, err := decode(o)
		if err != nil || !reflect.DeepEqual(m, runMsg{Fault: f}) || !f.valid() {
			t.Errorf("fault %q: %#v, %v", f, m, err)
		}
	}
	if fault("fire").valid() {
		t.Error(`fault "fire" is valid`)
	}
}
