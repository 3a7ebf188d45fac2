//go:build js && wasm

package webgpu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall/js"
	"time"
)

// profile times dispatches on the GPU with timestamp queries: each timed
// dispatch runs in a compute pass of its own whose start and end are
// written to the query set. For benches: the extra passes cost time.
type profile struct {
	set    js.Value // GPUQuerySet of 2 * profileDispatches timestamps
	labels []string
	timed  bool // the open pass is the last timed dispatch's
}

// profileDispatches is how many dispatches one profile times.
const profileDispatches = 2048 // WebGPU allows 4096 queries per set

// pass gives the dispatch about to be recorded a timed pass of its own.
func (p *profile) pass(b *Backend, name string, ps params) {
	i := len(p.labels)
	if i >= profileDispatches {
		if p.timed { // untimed dispatches must not add to the last time
			b.newPass(js.Undefined(), 0)
			p.timed = false
		}
		return
	}
	b.newPass(p.set, i)
	p.timed = true
	p.labels = append(p.labels, fmt.Sprintf("%s %v", name, ps[:min(4, len(ps))]))
}

// newPass ends the open compute pass and begins another; with a query set
// (not undefined) the new pass writes timestamps 2i at its start and 2i+1
// at its end.
func (b *Backend) newPass(set js.Value, i int) {
	b.pass.Call("end")
	if set.IsUndefined() {
		b.pass = b.enc.Call("beginComputePass")
	} else {
		b.pass = b.enc.Call("beginComputePass", jsObject(map[string]any{"timestampWrites": jsObject(map[string]any{
			"querySet": set, "beginningOfPassWriteIndex": 2 * i, "endOfPassWriteIndex": 2*i + 1})}))
	}
	b.passPipe = nil
}

// startProfile starts timing each dispatch.
func (b *Backend) startProfile() error {
	if !b.Info.Timestamps {
		return errors.New("this device has no timestamp queries")
	}
	b.Flush()
	b.prof = &profile{set: b.dev.Call("createQuerySet", jsObject(map[string]any{"type": "timestamp", "count": 2 * profileDispatches}))}
	return nil
}

// stopProfile stops timing and returns each timed dispatch's label (kernel
// and first parameters) and GPU time.
func (b *Backend) stopProfile() ([]string, []time.Duration, error) {
	b.Flush()
	p := b.prof
	b.prof = nil
	defer p.set.Call("destroy")
	if len(p.labels) == 0 {
		return nil, nil, b.Err()
	}
	times, err := b.passTimes(p.set, len(p.labels))
	if err != nil {
		return nil, nil, err
	}
	return p.labels, times, b.Err()
}

// passTimes reads back the first n pairs of timestamps of a query set,
// written at the start and end of n timed passes, as durations (0 where
// the end is not after the start).
func (b *Backend) passTimes(set js.Value, n int) ([]time.Duration, error) {
	res := &buffer{v: b.dev.Call("createBuffer", jsObject(map[string]any{"size": 16 * n, "usage": usageQuery | usageCopySrc})), size: int64(16 * n)}
	defer res.v.Call("destroy")
	enc := b.dev.Call("createCommandEncoder")
	enc.Call("resolveQuerySet", set, 0, 2*n, res.v, 0)
	b.queue.Call("submit", jsArray(enc.Call("finish")))
	raw, err := b.readBytes(res, 16*n)
	if err != nil {
		return nil, err
	}
	times := make([]time.Duration, n)
	for i := range times {
		t0 := binary.LittleEndian.Uint64(raw[16*i:])
		t1 := binary.LittleEndian.Uint64(raw[16*i+8:])
		if t1 > t0 {
			times[i] = time.Duration(t1 - t0)
		}
	}
	return times, nil
}
