//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"

	"honnef.co/go/js/dom/v2"

	"nnst/core/imageio"
	"nnst/core/nnst"
	"nnst/core/tensor"
)

// keepSize is the longest side kept of a decoded input: the largest output.
const keepSize = nnst.MaxSize

// slot is one input image: the content photo or the style painting.
type slot struct {
	key   string // "content" or "style"
	what  string // in words
	name  string // file name without extension
	origW int    // after EXIF orientation
	origH int
	img   *tensor.T         // decoded, capped at keepSize
	fits  map[int]*tensor.T // resized for each output size, kept for re-runs
	id    int               // changes with each new image
	busy  bool

	zone  *dom.HTMLDivElement
	input *dom.HTMLInputElement
	thumb *dom.HTMLCanvasElement
	msg   dom.HTMLElement
	note  dom.HTMLElement
}

// fit returns the image resized so its long side is size, cached.
func (s *slot) fit(size int) *tensor.T {
	if t, ok := s.fits[size]; ok {
		return t
	}
	t := imageio.FitLongSide(s.img, size)
	s.fits[size] = t
	return t
}

var nextImageID int

// load decodes a file (a JS File) into the slot. It runs in a goroutine.
func (p *page) load(s *slot, file js.Value) {
	if s.busy || p.running() {
		return
	}
	name := file.Get("name").String()
	if name == "" {
		name = "pasted image"
	}
	if file.Get("size").Float() > imageio.MaxFileBytes {
		p.refuse(s, fmt.Sprintf("“%s” is too large: files up to %d MiB are accepted.", name, imageio.MaxFileBytes>>20))
		return
	}
	s.busy = true
	defer func() { s.busy = false; p.update() }()
	setText(s.msg, "Reading “"+name+"”…")
	s.msg.Class().Remove("error")
	p.update()
	buf, err := await(file.Call("arrayBuffer"))
	if err != nil {
		p.refuse(s, fmt.Sprintf("“%s” could not be read: %v.", name, err))
		return
	}
	setText(s.msg, "Decoding “"+name+"”…")
	res := p.decode(name, buf)
	if res.Error != "" {
		p.refuse(s, res.Error)
		return
	}
	t := &tensor.T{C: 3, H: res.Image.H, W: res.Image.W, Data: floatsOf(res.Image.Data.(js.Value))}
	s.origW, s.origH = res.OrigW, res.OrigH
	nextImageID++
	s.img, s.fits, s.id = t, map[int]*tensor.T{}, nextImageID
	s.name = fileStem(name, s.key)
	drawRGBA(s.thumb, res.Thumb)
	s.thumb.SetAttribute("aria-label", fmt.Sprintf("%s: %s, %d×%d px", s.what, name, s.origW, s.origH))
	show(s.thumb, true)
	s.zone.Class().Add("filled")
	setText(s.msg, fmt.Sprintf("“%s”, %d×%d px.", name, s.origW, s.origH))
	p.updateNotes()
	p.emit("input", s.key)
}

func (p *page) refuse(s *slot, msg string) {
	setText(s.msg, msg)
	s.msg.Class().Add("error")
	p.emit("refused", s.key+": "+msg)
}

// decode has the worker decode an image file, so the page never blocks.
func (p *page) decode(name string, buf js.Value) decodedMsg {
	p.decodeID++
	id := p.decodeID
	ch := make(chan decodedMsg, 1)
	p.decodes[id] = ch
	p.eng.post(decodeMsg{ID: id, Name: name, Bytes: buf})
	return <-ch
}

// failDecodes answers the decodes a stopped worker will never answer.
func (p *page) failDecodes() {
	for id, ch := range p.decodes {
		delete(p.decodes, id)
		ch <- decodedMsg{ID: id, Error: "The image could not be decoded: the compute engine stopped. Try again."}
	}
}

// decodeImage decodes a file in the worker straight to at most keepSize
// (a 50 MP photo never becomes a full-size float copy).
func decodeImage(name string, b []byte) decodedMsg {
	var ow, oh int
	t, err := imageio.DecodeBytesFit(b, func(h, w int) (int, int, error) {
		oh, ow = h, w
		if max(h, w) > keepSize {
			h, w = imageio.FitDims(h, w, keepSize)
		}
		return h, w, nil
	})
	if err != nil {
		return decodedMsg{Error: decodeMessage(name, err)}
	}
	return decodedMsg{
		Image: planes{W: t.W, H: t.H, Data: uint8Array(floatBytes(t.Data)).Get("buffer")},
		OrigW: ow, OrigH: oh,
		Thumb: rgbaOf(imageio.FitLongSide(t, min(320, max(t.W, t.H)))),
	}
}

// sizeNote tells what happens to the slot's image at the output size.
func (s *slot) sizeNote(size int) string {
	if s.img == nil {
		return ""
	}
	return sizeNote(s.origW, s.origH, size)
}

// imageFile returns the first image file of a FileList or DataTransfer.
func imageFile(files js.Value) js.Value {
	if !files.Truthy() {
		return js.Undefined()
	}
	n := files.Get("length").Int()
	for i := 0; i < n; i++ {
		f := files.Index(i)
		if strings.HasPrefix(f.Get("type").String(), "image/") {
			return f
		}
	}
	if n > 0 {
		return files.Index(0) // let the decoder say why it is refused
	}
	return js.Undefined()
}

// bindSlot wires the file picker, drag and drop, and focus tracking.
func (p *page) bindSlot(s *slot) {
	s.input.AddEventListener("change", false, func(dom.Event) {
		f := imageFile(s.input.Underlying().Get("files"))
		if f.Truthy() {
			go p.load(s, f)
		}
		s.input.Underlying().Set("value", "")
	})
	s.zone.AddEventListener("dragover", false, func(e dom.Event) {
		e.PreventDefault()
		s.zone.Class().Add("dragging")
	})
	s.zone.AddEventListener("dragleave", false, func(dom.Event) { s.zone.Class().Remove("dragging") })
	s.zone.AddEventListener("drop", false, func(e dom.Event) {
		e.PreventDefault()
		s.zone.Class().Remove("dragging")
		f := imageFile(e.Underlying().Get("dataTransfer").Get("files"))
		if f.Truthy() {
			go p.load(s, f)
		}
	})
	s.zone.AddEventListener("focusin", false, func(dom.Event) { p.pasteTarget = s })
	s.zone.AddEventListener("pointerenter", false, func(dom.Event) { p.pasteTarget = s })
	for _, t := range []string{"pointerleave", "focusout"} {
		s.zone.AddEventListener(t, false, func(dom.Event) {
			if p.pasteTarget == s {
				p.pasteTarget = nil
			}
		})
	}
}

// onPaste puts a pasted image into the focused or hovered slot, else the
// first empty one.
func (p *page) onPaste(e dom.Event) {
	cd := e.Underlying().Get("clipboardData")
	if !cd.Truthy() {
		return
	}
	f := imageFile(cd.Get("files"))
	if !f.Truthy() {
		return
	}
	e.PreventDefault()
	s := p.pasteTarget
	if s == nil {
		s = p.content
		if p.content.img != nil && p.style.img == nil {
			s = p.style
		}
	}
	go p.load(s, f)
}
