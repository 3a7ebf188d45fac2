package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"nnst/core/nnst"
)

// fakeBuf stands for an ArrayBuffer or typed array.
type fakeBuf struct{ name string }

// jsLike turns Go numbers into float64, as a message that crossed to
// JavaScript and back reads; buffers and other values stay.
func jsLike(v any) any {
	switch v := v.(type) {
	case int:
		return float64(v)
	case int64:
		return float64(v)
	case map[string]any:
		o := map[string]any{}
		for k, x := range v {
			o[k] = jsLike(x)
		}
		return o
	}
	return v
}

// examples holds one message of each type, with every field set; the
// buffers each transfers follow it.
func examples() []struct {
	m        message
	transfer []buffer
} {
	model, content, style, file := &fakeBuf{"model"}, &fakeBuf{"content"}, &fakeBuf{"style"}, &fakeBuf{"file"}
	data, thumb, preview, out := &fakeBuf{"data"}, &fakeBuf{"thumb"}, &fakeBuf{"preview"}, &fakeBuf{"out"}
	l0, l1, l2, vote, hc := &fakeBuf{"l0"}, &fakeBuf{"l1"}, &fakeBuf{"l2"}, &fakeBuf{"vote"}, &fakeBuf{"hc"}
	best := &checkpoint{Mode: nnst.ModeBest, Key: "ab12", Scale: 2, Scales: 3,
		Images: []volume{{3, 16, 20, l0}, {3, 8, 10, l1}, {3, 4, 5, l2}}}
	fast := &checkpoint{Mode: nnst.ModeFast, Key: "cd34", Scale: 1, Scales: 1,
		Images: []volume{{3, 64, 48, vote}}, Target: &volume{960, 16, 12, hc}}
	return []struct {
		m        message
		transfer []buffer
	}{
		{initMsg{Model: model, Backend: "webgpu", Tune: `{"adapter":"x"}`}, []buffer{model}},
		{runMsg{ID: 3, Fault: faultLost, Content: planes{64, 48, content}, Style: planes{40, 64, style},
			Opts: runOptions{Mode: nnst.ModeFast, Alpha: 0.65, Size: 64, Scales: 2, Steps: 3, HalfSteps: 1, Flip: true, Color: true, ContentLoss: true}},
			[]buffer{content, style}},
		{runMsg{ID: 4, Content: planes{64, 48, content}, Style: planes{40, 64, style}, Resume: fast,
			Opts: runOptions{Mode: nnst.ModeFast, Alpha: 0.5, Size: 64, Scales: 2, Steps: 3}},
			[]buffer{content, style, vote, hc}},
		{decodeMsg{ID: 2, Name: "photo.jpg", Bytes: file}, []buffer{file}},
		{cancelMsg{ID: 3}, nil},
		{startedMsg{}, nil},
		{readyMsg{Backend: "webgpu", Label: "WebGPU (x)", Note: "Running on the GPU.",
			GPU: true, GPUReason: "r", Adapter: "a / b", WebGPUReason: "w", Arch: "vgg19", SHA256: "abc",
			Load: 1200 * time.Millisecond, TuneRestored: 2, TuneNote: "n",
			Work: map[string]float64{"fast-256": 1e11, "best-512": 2.5e13}, Rate: 3e9, Host: 250 * time.Millisecond,
			Limits: map[string]limit{"best-2048": {limitMemory, 10 << 30, gpuBudget}, "best-4096": {Kind: limitMemory}}}, nil},
		{initErrorMsg{Message: "damaged"}, nil},
		{decodedMsg{ID: 2, Image: planes{300, 200, data}, OrigW: 3000, OrigH: 2000, Thumb: rgba{320, 213, thumb}},
			[]buffer{data, thumb}},
		{decodedMsg{ID: 4, Error: "“x” is not an image"}, nil},
		{progressMsg{ID: 3, Stage: nnst.StageScale, Scale: 1, Scales: 2, Step: 5, Steps: 9, Fraction: 0.25,
			Elapsed: 1500 * time.Millisecond, ETA: 4 * time.Second, Preview: &rgba{64, 48, preview}},
			[]buffer{preview}},
		{progressMsg{ID: 3, Stage: stageTune}, nil},
		{progressMsg{ID: 3, Stage: nnst.StageScale, Scale: 2, Scales: 3, Step: 9, Steps: 9, Preview: &rgba{64, 48, preview}, Checkpoint: best},
			[]buffer{preview, l0, l1, l2}},
		{tuneMsg{Data: "{}"}, nil},
		{errorMsg{ID: 3, Kind: kindMemory, Message: "out of GPU memory", Before: true, Size: 512, Smaller: 256, SmallerBytes: 3 << 30}, nil},
		{errorMsg{ID: 3, Kind: kindDevice, Message: "GPU device lost"}, nil},
		{doneMsg{ID: 3, Image: rgba{64, 48, out}, PeakBytes: 5 << 30, Flops: 1.5e12, Run: 2500 * time.Millisecond,
			HeapBytes: 900 << 20, KernelBytes: 200 << 20},
			[]buffer{out}},
		{exitMsg{}, nil},
		{crashMsg{Message: "CompileError"}, nil},
	}
}

func TestProtocolRoundTrip(t *testing.T) {
	types := map[string]bool{}
	for _, ex := range examples() {
		o, transfer := encode(ex.m)
		if o["type"] != ex.m.msgType() {
			t.Errorf("%T: type %v, want %q", ex.m, o["type"], ex.m.msgType())
		}
		types[ex.m.msgType()] = true
		if !reflect.DeepEqual(transfer, ex.transfer) {
			t.Errorf("%T transfers %v, want %v", ex.m, transfer, ex.transfer)
		}
		for _, in := range []map[string]any{o, jsLike(o).(map[string]any)} {
			got, err := decode(in)
			if err != nil {
				t.Errorf("%T: %v", ex.m, err)
			} else if !reflect.DeepEqual(got, ex.m) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, ex.m)
			}
		}
	}
	if len(types) != 14 {
		t.Errorf("the examples cover %d message types, want 14", len(types))
	}
}

// The messages worker.js writes itself, and the field names on the wire.
func TestProtocolWire(t *testing.T) {
	for _, c := range []struct {
		in   map[string]any
		want message
	}{
		{map[string]any{"type": "exit"}, exitMsg{}},
		{map[string]any{"type": "crash", "message": "no wasm"}, crashMsg{"no wasm"}},
		{map[string]any{"type": "cancel"}, cancelMsg{}}, // missing fields are zero
		{map[string]any{"type": "progress", "id": 1.0, "stage": "final pass", "etaMs": 2000.0, "preview": nil},
			progressMsg{ID: 1, Stage: "final pass", ETA: 2 * time.Second}},
	} {
		got, err := decode(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("decode(%v) = %#v, %v; want %#v", c.in, got, err, c.want)
		}
	}
	o, _ := encode(runMsg{ID: 1, Opts: runOptions{Mode: nnst.ModeBest, Alpha: 0.5, Size: 256}})
	var keys []string
	for k := range o["opts"].(map[string]any) {
		keys = append(keys, k)
	}
	if len(keys) != 9 || o["fault"] != nil {
		t.Errorf("run options on the wire: %v (fault %v), want 9 and no fault", keys, o["fault"])
	}
}

func TestDecodeErrors(t *testing.T) {
	for _, c := range []struct {
		in   map[string]any
		want string
	}{
		{map[string]any{"type": "hello"}, `unknown message type "hello"`},
		{map[string]any{}, `unknown message type ""`},
		{map[string]any{"type": 3.0}, `"type" is float64, want a string`},
		{map[string]any{"type": "cancel", "id": "3"}, `"id" is string, want a number`},
		{map[string]any{"type": "cancel", "id": 1.5}, `"id" is float64, want a whole number`},
		{map[string]any{"type": "decode", "bytes": "abc"}, `"bytes" is string, want a buffer`},
		{map[string]any{"type": "run", "opts": map[string]any{"alpha": "high"}}, `"alpha" is string, want a number`},
		{map[string]any{"type": "run", "opts": 1.0}, `"opts" is float64, want an object`},
		{map[string]any{"type": "ready", "work": map[string]any{"fast-256": true}}, `"fast-256" is bool, want a number`},
		{map[string]any{"type": "error", "before": "yes"}, `"before" is string, want a boolean`},
		{map[string]any{"type": "progress", "checkpoint": map[string]any{"images": map[string]any{"count": 1e6}}}, "a checkpoint of 1000000 images"},
		{map[string]any{"type": "run", "resume": map[string]any{"images": map[string]any{"count": 1.0, "0": map[string]any{"c": 3.0, "data": "x"}}}}, `"data" is string, want a buffer`},
	} {
		m, err := decode(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("decode(%v) = %#v, %v; want an error with %q", c.in, m, err, c.want)
		}
	}
}
