//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"

	"nnst/core/nnst"
	"nnst/core/tensor"
)

// maxCheckpoint is the largest checkpoint the page keeps: Best's last at
// 2048 px is 67 MB, Fast's vote at 4096 px 200 MB (that run goes without).
const maxCheckpoint = 96 << 20

// checkpointBytes is the size of c's tensors.
func checkpointBytes(c *nnst.Checkpoint) int {
	if c == nil {
		return 0
	}
	n := 0
	for _, t := range c.Images {
		n += 4 * len(t.Data)
	}
	if c.Target != nil {
		n += 4 * len(c.Target.Data)
	}
	return n
}

// checkpointOf copies a run's checkpoint into buffers to send.
func checkpointOf(c *nnst.Checkpoint) *checkpoint {
	w := &checkpoint{Mode: c.Mode, Key: c.Key, Scale: c.Scale, Scales: c.Scales}
	for _, t := range c.Images {
		w.Images = append(w.Images, volumeOf(t))
	}
	if c.Target != nil {
		v := volumeOf(c.Target)
		w.Target = &v
	}
	return w
}

func volumeOf(t *tensor.T) volume {
	return volume{C: t.C, H: t.H, W: t.W, Data: uint8Array(floatBytes(t.Data)).Get("buffer")}
}

// core reads a checkpoint sent back for a run to resume from.
func (c *checkpoint) core() (*nnst.Checkpoint, error) {
	ck := &nnst.Checkpoint{Mode: c.Mode, Key: c.Key, Scale: c.Scale, Scales: c.Scales}
	for _, v := range c.Images {
		t, err := v.tensor()
		if err != nil {
			return nil, err
		}
		ck.Images = append(ck.Images, t)
	}
	if c.Target != nil {
		t, err := c.Target.tensor()
		if err != nil {
			return nil, err
		}
		ck.Target = t
	}
	return ck, nil
}

func (v volume) tensor() (*tensor.T, error) {
	b, ok := v.Data.(js.Value)
	if !ok || !b.Truthy() {
		return nil, fmt.Errorf("a checkpoint's %dx%dx%d tensor has no data", v.C, v.H, v.W)
	}
	t := &tensor.T{C: v.C, H: v.H, W: v.W, Data: floatsOf(b)}
	if v.C < 1 || v.H < 1 || v.W < 1 || len(t.Data) != v.C*v.H*v.W {
		return nil, fmt.Errorf("a checkpoint's %dx%dx%d tensor holds %d values", v.C, v.H, v.W, len(t.Data))
	}
	return t, nil
}

// clone copies a checkpoint's buffers: the page keeps its own while a copy
// travels to the worker (posting transfers the buffers away).
func (c *checkpoint) clone() *checkpoint {
	d := *c
	d.Images = nil
	for _, v := range c.Images {
		v.Data = v.Data.(js.Value).Call("slice", 0)
		d.Images = append(d.Images, v)
	}
	if c.Target != nil {
		t := *c.Target
		t.Data = t.Data.(js.Value).Call("slice", 0)
		d.Target = &t
	}
	return &d
}
