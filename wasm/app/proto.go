package main

import (
	"fmt"
	"time"

	"nnst/core/nnst"
)

// The messages between the page and the compute worker. Each is posted as
// a plain object with a "type" (encode) and read back into its type
// (decode); the js side only converts objects (js.go).
//
//	page -> worker: init, run, decode, cancel
//	worker -> page: started, ready, init-error, decoded, progress, tune,
//	                error, done; exit and crash come from worker.js

// A message is one of the types below.
type message interface{ msgType() string }

// A buffer is binary data that crosses without a copy: an ArrayBuffer or a
// typed array in the browser (a js.Value), anything in tests. The protocol
// passes it through and lists it to transfer.
type buffer any

// planes is an RGB image as float32 planes in an ArrayBuffer.
type planes struct {
	W, H int
	Data buffer
}

// rgba is an 8-bit RGBA image in a Uint8ClampedArray.
type rgba struct {
	W, H int
	RGBA buffer
}

// volume is a float32 tensor, C x H x W, in an ArrayBuffer.
type volume struct {
	C, H, W int
	Data    buffer
}

// checkpoint is a run's state after a stage it can resume from
// (nnst.Checkpoint). The worker sends it with the progress at that stage's
// end; the page keeps the last one and sends it back to resume a run that
// failed.
type checkpoint struct {
	Mode          nnst.Mode
	Key           string
	Scale, Scales int
	Images        []volume
	Target        *volume // nil: none
}

// initMsg hands the worker the model file and the backend preference.
type initMsg struct {
	Model   buffer // the model file's bytes
	Backend string // "auto", "cpu" or "webgpu"
	Tune    string // conv kernel choices kept from an earlier load, or ""
}

// runMsg starts a run, or resumes one from a checkpoint. Fault is a test
// hook (testhooks.go).
type runMsg struct {
	ID             int
	Opts           runOptions
	Content, Style planes
	Resume         *checkpoint
	Fault          fault
}

// runOptions are the settings of a run the page chooses. HalfSteps is a
// test hook (Fast's steps at half the size; 0: the default).
type runOptions struct {
	Mode                           nnst.Mode
	Alpha                          float64
	Size, Scales, Steps, HalfSteps int
	Flip, Color, ContentLoss       bool
}

// decodeMsg asks the worker to decode an image file.
type decodeMsg struct {
	ID    int
	Name  string
	Bytes buffer
}

// cancelMsg asks the worker to stop run ID.
type cancelMsg struct{ ID int }

// startedMsg says the worker's Go program listens.
type startedMsg struct{}

// readyMsg says the model is loaded, and describes the backend.
type readyMsg struct {
	Backend      string // "cpu" or "webgpu"
	Label        string
	Note         string
	GPU          bool // a WebGPU adapter exists
	GPUReason    string
	Adapter      string
	WebGPUReason string // why WebGPU cannot be chosen, or ""
	Arch, SHA256 string // the model's
	Load         time.Duration
	TuneRestored int    // conv kernel choices restored
	TuneNote     string // why saved choices were not used
	// Work is the operations of a run of each mode and size (workKey),
	// counted by dry runs; Rate this device's operations per second on a
	// forward pass (0: unknown); Host the time of a run's host work at
	// 256 px (hostSeconds). Limits says why a mode is not offered at a
	// size (by workKey; absent: it is).
	Work   map[string]float64
	Rate   float64
	Host   time.Duration
	Limits map[string]limit
}

// initErrorMsg says the model could not be loaded.
type initErrorMsg struct{ Message string }

// decodedMsg answers a decodeMsg: an error in words, or the image capped
// at keepSize with its size before and a thumbnail.
type decodedMsg struct {
	ID           int
	Error        string
	Image        planes
	OrigW, OrigH int
	Thumb        rgba
}

// progressMsg reports where run ID is, with a preview now and then.
type progressMsg struct {
	ID                         int
	Stage                      string
	Scale, Scales, Step, Steps int
	Fraction                   float64
	Elapsed, ETA               time.Duration
	Preview                    *rgba
	Checkpoint                 *checkpoint
}

// tuneMsg carries the WebGPU backend's conv kernel choices, to keep.
type tuneMsg struct{ Data string }

// errorMsg says run ID failed. Before is set when the memory check before
// the run refused it: Size was asked, Smaller (0: none) needs SmallerBytes.
type errorMsg struct {
	ID           int
	Kind         errorKind
	Message      string
	Before       bool
	Size         int
	Smaller      int
	SmallerBytes int64
}

// doneMsg carries run ID's result, its peak memory and its work, and
// the worker's WebAssembly memory after it: Go's, and the SIMD kernels'
// shared memory (0: none).
type doneMsg struct {
	ID                     int
	Image                  rgba
	PeakBytes              int64
	Flops                  float64
	Run                    time.Duration
	HeapBytes, KernelBytes int64
}

// exitMsg says the worker's Go program returned; crashMsg that it could
// not start.
type (
	exitMsg  struct{}
	crashMsg struct{ Message string }
)

func (initMsg) msgType() string      { return "init" }
func (runMsg) msgType() string       { return "run" }
func (decodeMsg) msgType() string    { return "decode" }
func (cancelMsg) msgType() string    { return "cancel" }
func (startedMsg) msgType() string   { return "started" }
func (readyMsg) msgType() string     { return "ready" }
func (initErrorMsg) msgType() string { return "init-error" }
func (decodedMsg) msgType() string   { return "decoded" }
func (progressMsg) msgType() string  { return "progress" }
func (tuneMsg) msgType() string      { return "tune" }
func (errorMsg) msgType() string     { return "error" }
func (doneMsg) msgType() string      { return "done" }
func (exitMsg) msgType() string      { return "exit" }
func (crashMsg) msgType() string     { return "crash" }

// encode turns a message into the object to post, and lists the buffers
// to transfer with it.
func encode(m message) (map[string]any, []buffer) {
	o := map[string]any{"type": m.msgType()}
	var transfer []buffer
	switch m := m.(type) {
	case initMsg:
		o["model"], o["backend"], o["tune"] = m.Model, m.Backend, m.Tune
		transfer = []buffer{m.Model}
	case runMsg:
		o["id"], o["content"], o["style"] = m.ID, m.Content.object(), m.Style.object()
		o["opts"] = map[string]any{
			"mode": string(m.Opts.Mode), "alpha": m.Opts.Alpha, "size": m.Opts.Size,
			"scales": m.Opts.Scales, "steps": m.Opts.Steps, "halfSteps": m.Opts.HalfSteps, "flip": m.Opts.Flip,
			"color": m.Opts.Color, "contentLoss": m.Opts.ContentLoss,
		}
		if m.Fault != "" {
			o["fault"] = string(m.Fault)
		}
		transfer = []buffer{m.Content.Data, m.Style.Data}
		if m.Resume != nil {
			o["resume"] = m.Resume.object()
			transfer = append(transfer, m.Resume.buffers()...)
		}
	case decodeMsg:
		o["id"], o["name"], o["bytes"] = m.ID, m.Name, m.Bytes
		transfer = []buffer{m.Bytes}
	case cancelMsg:
		o["id"] = m.ID
	case readyMsg:
		work, limits := map[string]any{}, map[string]any{}
		for k, v := range m.Work {
			work[k] = v
		}
		for k, l := range m.Limits {
			limits[k] = map[string]any{"kind": string(l.Kind), "need": l.Need, "allow": l.Allow}
		}
		for k, v := range map[string]any{
			"backend": m.Backend, "label": m.Label, "note": m.Note, "limits": limits,
			"gpu": m.GPU, "gpuReason": m.GPUReason, "adapter": m.Adapter,
			"webgpuReason": m.WebGPUReason, "arch": m.Arch, "sha256": m.SHA256,
			"loadMs": m.Load.Milliseconds(), "tuneRestored": m.TuneRestored,
			"tuneNote": m.TuneNote, "work": work, "rate": m.Rate, "hostMs": float64(m.Host) / 1e6,
		} {
			o[k] = v
		}
	case initErrorMsg:
		o["message"] = m.Message
	case decodedMsg:
		o["id"] = m.ID
		if m.Error != "" {
			o["error"] = m.Error
			break
		}
		o["w"], o["h"], o["data"] = m.Image.W, m.Image.H, m.Image.Data
		o["origW"], o["origH"], o["thumb"] = m.OrigW, m.OrigH, m.Thumb.object()
		transfer = []buffer{m.Image.Data, m.Thumb.RGBA}
	case progressMsg:
		o["id"], o["stage"], o["fraction"] = m.ID, m.Stage, m.Fraction
		o["scale"], o["scales"], o["step"], o["steps"] = m.Scale, m.Scales, m.Step, m.Steps
		o["elapsedMs"], o["etaMs"] = m.Elapsed.Milliseconds(), m.ETA.Milliseconds()
		if m.Preview != nil {
			o["preview"] = m.Preview.object()
			transfer = []buffer{m.Preview.RGBA}
		}
		if m.Checkpoint != nil {
			o["checkpoint"] = m.Checkpoint.object()
			transfer = append(transfer, m.Checkpoint.buffers()...)
		}
	case tuneMsg:
		o["data"] = m.Data
	case errorMsg:
		o["id"], o["kind"], o["message"] = m.ID, string(m.Kind), m.Message
		o["before"], o["size"], o["smaller"], o["smallerBytes"] = m.Before, m.Size, m.Smaller, m.SmallerBytes
	case doneMsg:
		o["id"], o["w"], o["h"], o["rgba"] = m.ID, m.Image.W, m.Image.H, m.Image.RGBA
		o["peakBytes"], o["flops"], o["runMs"] = m.PeakBytes, m.Flops, m.Run.Milliseconds()
		o["heapBytes"], o["kernelBytes"] = m.HeapBytes, m.KernelBytes
		transfer = []buffer{m.Image.RGBA}
	case crashMsg:
		o["message"] = m.Message
	}
	return o, transfer
}

func (p planes) object() map[string]any { return map[string]any{"w": p.W, "h": p.H, "data": p.Data} }
func (r rgba) object() map[string]any   { return map[string]any{"w": r.W, "h": r.H, "rgba": r.RGBA} }
func (v volume) object() map[string]any {
	return map[string]any{"c": v.C, "h": v.H, "w": v.W, "data": v.Data}
}

// object is a checkpoint on the wire; its images are an object keyed by
// index (only plain objects cross as maps).
func (c *checkpoint) object() map[string]any {
	images := map[string]any{"count": len(c.Images)}
	for i, v := range c.Images {
		images[fmt.Sprint(i)] = v.object()
	}
	o := map[string]any{"mode": string(c.Mode), "key": c.Key, "scale": c.Scale, "scales": c.Scales, "images": images}
	if c.Target != nil {
		o["target"] = c.Target.object()
	}
	return o
}

// buffers are a checkpoint's buffers, to transfer.
func (c *checkpoint) buffers() []buffer {
	var b []buffer
	for _, v := range c.Images {
		b = append(b, v.Data)
	}
	if c.Target != nil {
		b = append(b, c.Target.Data)
	}
	return b
}

// decode reads a posted object back into its message. Missing fields are
// zero; a field of the wrong kind or an unknown type is an error.
func decode(o map[string]any) (message, error) {
	var err error
	r := &fields{o: o, err: &err}
	typ := r.str("type")
	var m message
	switch typ {
	case "init":
		m = initMsg{Model: r.buf("model"), Backend: r.str("backend"), Tune: r.str("tune")}
	case "run":
		op := r.obj("opts")
		m = runMsg{ID: r.int("id"), Content: r.obj("content").planes(), Style: r.obj("style").planes(), Fault: fault(r.str("fault")),
			Resume: r.checkpoint("resume"),
			Opts: runOptions{
				Mode: nnst.Mode(op.str("mode")), Alpha: op.num("alpha"), Size: op.int("size"),
				Scales: op.int("scales"), Steps: op.int("steps"), HalfSteps: op.int("halfSteps"), Flip: op.bool("flip"),
				Color: op.bool("color"), ContentLoss: op.bool("contentLoss"),
			}}
	case "decode":
		m = decodeMsg{ID: r.int("id"), Name: r.str("name"), Bytes: r.buf("bytes")}
	case "cancel":
		m = cancelMsg{ID: r.int("id")}
	case "started":
		m = startedMsg{}
	case "ready":
		work := map[string]float64{}
		wr := r.obj("work")
		for k := range wr.o {
			work[k] = wr.num(k)
		}
		limits := map[string]limit{}
		lr := r.obj("limits")
		for k := range lr.o {
			l := lr.obj(k)
			limits[k] = limit{Kind: limitKind(l.str("kind")), Need: int64(l.num("need")), Allow: int64(l.num("allow"))}
		}
		m = readyMsg{
			Backend: r.str("backend"), Label: r.str("label"), Note: r.str("note"), Limits: limits,
			GPU: r.bool("gpu"), GPUReason: r.str("gpuReason"), Adapter: r.str("adapter"),
			WebGPUReason: r.str("webgpuReason"), Arch: r.str("arch"), SHA256: r.str("sha256"),
			Load: r.ms("loadMs"), TuneRestored: r.int("tuneRestored"), TuneNote: r.str("tuneNote"),
			Work: work, Rate: r.num("rate"), Host: r.ms("hostMs"),
		}
	case "init-error":
		m = initErrorMsg{Message: r.str("message")}
	case "decoded":
		m = decodedMsg{ID: r.int("id"), Error: r.str("error"), Image: r.planes(),
			OrigW: r.int("origW"), OrigH: r.int("origH"), Thumb: r.obj("thumb").rgba()}
	case "progress":
		p := progressMsg{ID: r.int("id"), Stage: r.str("stage"), Scale: r.int("scale"), Scales: r.int("scales"),
			Step: r.int("step"), Steps: r.int("steps"), Fraction: r.num("fraction"),
			Elapsed: r.ms("elapsedMs"), ETA: r.ms("etaMs")}
		if o["preview"] != nil {
			pv := r.obj("preview").rgba()
			p.Preview = &pv
		}
		p.Checkpoint = r.checkpoint("checkpoint")
		m = p
	case "tune":
		m = tuneMsg{Data: r.str("data")}
	case "error":
		m = errorMsg{ID: r.int("id"), Kind: errorKind(r.str("kind")), Message: r.str("message"),
			Before: r.bool("before"), Size: r.int("size"), Smaller: r.int("smaller"), SmallerBytes: int64(r.num("smallerBytes"))}
	case "done":
		m = doneMsg{ID: r.int("id"), Image: r.rgba(), PeakBytes: int64(r.num("peakBytes")),
			Flops: r.num("flops"), Run: r.ms("runMs"), HeapBytes: int64(r.num("heapBytes")), KernelBytes: int64(r.num("kernelBytes"))}
	case "exit":
		m = exitMsg{}
	case "crash":
		m = crashMsg{Message: r.str("message")}
	default:
		r.fail(fmt.Errorf("unknown message type %q", typ))
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// fields reads an object's fields; err keeps the first error of the
// object and those nested in it.
type fields struct {
	o   map[string]any
	err *error
}

func (r *fields) fail(err error) {
	if *r.err == nil {
		*r.err = err
	}
}

func (r *fields) bad(k string, v any, want string) {
	r.fail(fmt.Errorf("message field %q is %T, want %s", k, v, want))
}

func (r *fields) str(k string) string {
	switch v := r.o[k].(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		r.bad(k, v, "a string")
		return ""
	}
}

func (r *fields) bool(k string) bool {
	switch v := r.o[k].(type) {
	case nil:
		return false
	case bool:
		return v
	default:
		r.bad(k, v, "a boolean")
		return false
	}
}

// num reads a number: a float64 from JavaScript, any Go number in tests.
func (r *fields) num(k string) float64 {
	switch v := r.o[k].(type) {
	case nil:
		return 0
	case float64:
		return v
	case int:
		return float64(v)
	case int64:
		return float64(v)
	default:
		r.bad(k, v, "a number")
		return 0
	}
}

func (r *fields) int(k string) int {
	f := r.num(k)
	if f != float64(int(f)) {
		r.bad(k, f, "a whole number")
	}
	return int(f)
}

// ms reads milliseconds as a duration.
func (r *fields) ms(k string) time.Duration {
	return time.Duration(r.num(k) * float64(time.Millisecond))
}

// buf reads a buffer: anything but a number, string, boolean or object.
func (r *fields) buf(k string) buffer {
	switch v := r.o[k].(type) {
	case string, bool, float64, int, int64, map[string]any:
		r.bad(k, v, "a buffer")
		return nil
	default:
		return v
	}
}

// obj reads a nested object; a missing one reads as empty.
func (r *fields) obj(k string) *fields {
	v := r.o[k]
	o, ok := v.(map[string]any)
	if !ok && v != nil {
		r.bad(k, v, "an object")
	}
	return &fields{o: o, err: r.err}
}

// planes reads {w, h, data}; rgba reads {w, h, rgba}.
func (r *fields) planes() planes { return planes{W: r.int("w"), H: r.int("h"), Data: r.buf("data")} }
func (r *fields) rgba() rgba     { return rgba{W: r.int("w"), H: r.int("h"), RGBA: r.buf("rgba")} }
func (r *fields) volume() volume {
	return volume{C: r.int("c"), H: r.int("h"), W: r.int("w"), Data: r.buf("data")}
}

// checkpoint reads the checkpoint in field k, or nil.
func (r *fields) checkpoint(k string) *checkpoint {
	if r.o[k] == nil {
		return nil
	}
	o := r.obj(k)
	c := &checkpoint{Mode: nnst.Mode(o.str("mode")), Key: o.str("key"), Scale: o.int("scale"), Scales: o.int("scales")}
	im := o.obj("images")
	n := im.int("count")
	if n < 0 || n > 64 {
		r.fail(fmt.Errorf("a checkpoint of %d images", n))
		return nil
	}
	for i := range n {
		c.Images = append(c.Images, im.obj(fmt.Sprint(i)).volume())
	}
	if o.o["target"] != nil {
		t := o.obj("target").volume()
		c.Target = &t
	}
	return c
}
