package simd

import (
	"math/rand/v2"
	"testing"
)

func TestHeap(t *testing.T) {
	h := newHeap(1024)
	r := rand.New(rand.NewPCG(3, 4))
	live := map[int]int{}
	for step := 0; step < 20000; step++ {
		if len(live) > 0 && r.IntN(2) == 0 {
			for off := range live {
				h.release(off)
				delete(live, off)
				break
			}
		} else {
			n := 1 + r.IntN(5000)
			off := h.alloc(n)
			if off < 1024 || off%64 != 0 || off+n > h.top {
				t.Fatalf("alloc(%d) = %d (top %d)", n, off, h.top)
			}
			for o, m := range live {
				if off < o+m && o < off+n {
					t.Fatalf("alloc(%d) = %d overlaps [%d, %d)", n, off, o, o+m)
				}
			}
			live[off] = n
		}
		for i := 1; i < len(h.free); i++ {
			if h.free[i-1].off+h.free[i-1].n >= h.free[i].off {
				t.Fatalf("free list not sorted and coalesced: %v", h.free)
			}
		}
	}
	for off := range live {
		h.release(off)
	}
	if h.top != 1024 || len(h.free) != 0 || h.inUse() != 0 {
		t.Fatalf("after freeing all: top %d, free %v, in use %d", h.top, h.free, h.inUse())
	}
	h.release(12345) // unknown: ignored
}
