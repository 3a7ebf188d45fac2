package simd

import "sort"

// heap hands out 64-byte aligned blocks of the shared memory's address
// space, first fit, coalescing freed blocks. Offsets below base are kept.
type heap struct {
	top  int         // end of the address space in use
	used map[int]int // offset -> size
	free []span      // sorted by offset, never adjacent
}

type span struct{ off, n int }

func newHeap(base int) *heap { return &heap{top: base, used: map[int]int{}} }

// alloc returns the offset of a block of at least n bytes; the caller
// must make the memory at least top bytes long.
func (h *heap) alloc(n int) int {
	n = max(64, (n+63)&^63)
	for i, s := range h.free {
		if s.n >= n {
			if s.n == n {
				h.free = append(h.free[:i], h.free[i+1:]...)
			} else {
				h.free[i] = span{s.off + n, s.n - n}
			}
			h.used[s.off] = n
			return s.off
		}
	}
	off := h.top
	h.top += n
	h.used[off] = n
	return off
}

// release gives back a block from alloc; unknown offsets are ignored.
func (h *heap) release(off int) {
	n, ok := h.used[off]
	if !ok {
		return
	}
	delete(h.used, off)
	i := sort.Search(len(h.free), func(i int) bool { return h.free[i].off > off })
	h.free = append(h.free, span{})
	copy(h.free[i+1:], h.free[i:])
	h.free[i] = span{off, n}
	if i+1 < len(h.free) && h.free[i].off+h.free[i].n == h.free[i+1].off {
		h.free[i].n += h.free[i+1].n
		h.free = append(h.free[:i+1], h.free[i+2:]...)
	}
	if i > 0 && h.free[i-1].off+h.free[i-1].n == h.free[i].off {
		h.free[i-1].n += h.free[i].n
		h.free = append(h.free[:i], h.free[i+1:]...)
		i--
	}
	if last := h.free[len(h.free)-1]; last.off+last.n == h.top {
		h.top = last.off
		h.free = h.free[:len(h.free)-1]
	}
}

// inUse returns the bytes handed out and not released.
func (h *heap) inUse() int {
	s := 0
	for _, n := range h.used {
		s += n
	}
	return s
}
