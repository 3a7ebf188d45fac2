package webgpu

// The buffer pool: storage buffers given out, pooled by size when freed
// and reused, trimmed at flushes or, within a run's budget, evicted; and
// the counts of live, allocated and peak bytes. Untagged: its tests run
// natively, against a device that only counts buffers.

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"strings"
)

// buffer is a GPU storage buffer.
type buffer struct {
	v     handle // the GPUBuffer
	size  int64
	idle  int   // flush count when it went back to the pool
	freed int64 // when it went back to the pool (pool.frees then)
	kept  bool  // a pooled buffer kept past trim (pool.retain)
	id    int64
}

// bufferDevice is what the pool asks of the device: storage buffers
// created and destroyed, the recorded commands submitted (they may use
// pooled buffers, so they go before any is destroyed), errors reported.
type bufferDevice interface {
	createBuffer(size int64) handle
	destroyBuffer(*buffer)
	Flush()
	fail(error)
}

// bigBuf is the size from which freed buffers are reused until the next
// flush and then destroyed, but for retainBytes of them: they would hold
// much memory.
const bigBuf = 16 << 20

// bufferPool gives out storage buffers and pools the freed ones by size.
// Without a budget it destroys, at each flush (trim), the big ones and
// those unused for two flushes, but for the most recently freed up to
// retain bytes; it flushes early when it holds more than spare bytes
// beyond those (flushSpare).
//
// With budget set (by Reserve, for a run), the pool keeps every freed
// buffer while all buffers allocated fit in it; a new buffer that would
// pass it takes a pooled one up to twice its size, else first destroys
// the least recently freed (evict). Steps then reuse their buffers. Idle
// clears it.
type bufferPool struct {
	dev     bufferDevice
	maxSize int64 // the largest buffer the device allows

	pool   map[int64][]*buffer
	big    int64 // pooled buffers of this size or more go at the next flush (see trim)
	spare  int64 // flushSpare flushes when the pool holds more big bytes
	pooled int64 // bytes of big pooled buffers freed since the last flush
	retain int64 // pooled buffers kept past trim, at most (bytes)
	kept   int64 // bytes of pooled buffers kept past trim
	budget int64
	frees  int64 // buffers freed so far (buffer.freed)

	flushes int // flushes so far (buffer.idle)

	live, alloc, peak int64
	livePeak          int64 // the peak of live (tests: the dry run's peak)
	largest           int64 // the largest buffer allocated
	// created and createdBytes count the buffers created (not reused).
	created, createdBytes int64
	// With tracePeak set, peakInfo says what made the last new peak.
	tracePeak bool
	peakInfo  string
}

func newBufferPool(dev bufferDevice, maxSize int64) bufferPool {
	return bufferPool{dev: dev, maxSize: maxSize, pool: map[int64][]*buffer{}, big: bigBuf, spare: spareBytes, retain: retainBytes}
}

// LiveBytes is the size of the buffers held by tensors, banks, the model
// and caches; PeakBytes the peak of all GPU buffers allocated, pooled
// ones included.
func (b *bufferPool) LiveBytes() int64 { return b.live }
func (b *bufferPool) PeakBytes() int64 { return b.peak }

// ResetPeak sets the peak to the bytes allocated now.
func (b *bufferPool) ResetPeak() { b.peak, b.livePeak = b.alloc, b.live }

// LargestBytes returns the largest buffer allocated so far.
func (b *bufferPool) LargestBytes() int64 { return b.largest }

func (b *bufferPool) newBuf(bytes int64) *buffer {
	size := roundSize(bytes)
	if size > b.maxSize {
		b.dev.fail(fmt.Errorf("a GPU buffer of %d MiB exceeds the device limit (%d MiB): use a smaller size", size>>20, b.maxSize>>20))
		size = 256
	}
	from := size
	if len(b.pool[size]) == 0 && b.budget > 0 && b.alloc+size > b.budget {
		// Rather than destroy buffers to make room, a pooled one up to
		// twice the size serves (the smallest).
		for s, l := range b.pool {
			if len(l) > 0 && s > size && s <= 2*size && (from == size || s < from) {
				from = s
			}
		}
	}
	if l := b.pool[from]; len(l) > 0 {
		// The oldest buffer: a pass that repeats gets the same buffers in
		// the same places, and so its cached bind groups.
		i := 0
		for j, c := range l {
			if c.id < l[i].id {
				i = j
			}
		}
		buf := l[i]
		b.pool[from] = slices.Delete(l, i, i+1)
		b.unpool(buf)
		b.live += from
		b.livePeak = max(b.livePeak, b.live)
		return buf
	}
	b.live += size
	b.livePeak = max(b.livePeak, b.live)
	if b.budget > 0 && b.alloc+size > b.budget {
		b.evict(b.alloc + size - b.budget)
	}
	b.count(size)
	return &buffer{v: b.dev.createBuffer(size), size: size, id: b.created}
}

// freeBuf pools a buffer: commands recorded later may reuse it, since they
// run after the ones recorded before.
func (b *bufferPool) freeBuf(buf *buffer) {
	if buf == nil {
		return
	}
	b.live -= buf.size
	buf.idle, buf.freed = b.flushes, b.frees
	b.frees++
	b.pool[buf.size] = append(b.pool[buf.size], buf)
	if buf.size >= b.big {
		b.pooled += buf.size
	}
}

// flushed counts a flush (the commands that used pooled buffers are
// submitted) and trims the pool.
func (b *bufferPool) flushed() {
	b.flushes++
	b.trim(false)
}

// flushSpare flushes, destroying big pooled buffers, when the pool holds
// more than the spare bytes beyond what trim would keep.
func (b *bufferPool) flushSpare() {
	if b.budget == 0 && b.pooled+b.kept > b.retain+b.spare {
		b.dev.Flush()
		b.trim(false)
	}
}

// destroy destroys a buffer that is not in use.
func (b *bufferPool) destroy(buf *buffer) {
	b.dev.destroyBuffer(buf)
	b.alloc -= buf.size
}

// trim destroys the pooled buffers that are big or unused for two flushes
// (all if all), but for the most recently freed of them, up to b.retain
// bytes, which it keeps for the next step or pass to reuse.
func (b *bufferPool) trim(all bool) {
	if b.budget > 0 && !all {
		return // evict makes room
	}
	var old []*buffer
	for size, l := range b.pool {
		k := 0
		for _, buf := range l {
			switch {
			case all:
				b.destroy(buf)
			case size >= b.big || b.flushes-buf.idle >= 2:
				old = append(old, buf)
			default:
				l[k] = buf
				k++
			}
		}
		b.pool[size] = l[:k]
	}
	// In a fixed order (the pool's map is not): passes that repeat get the
	// same buffers in the same places, and so their cached bind groups.
	slices.SortFunc(old, func(x, y *buffer) int {
		return cmp.Or(y.idle-x.idle, cmp.Compare(y.size, x.size), cmp.Compare(x.id, y.id))
	})
	b.kept = 0
	for _, buf := range old {
		if b.kept+buf.size <= b.retain {
			buf.kept = true
			b.kept += buf.size
			b.pool[buf.size] = append(b.pool[buf.size], buf)
		} else {
			b.destroy(buf)
		}
	}
	b.pooled = 0
}

// unpool takes a buffer leaving the pool out of the kept or pooled bytes.
func (b *bufferPool) unpool(buf *buffer) {
	if buf.kept {
		b.kept -= buf.size
		buf.kept = false
	} else if buf.size >= b.big {
		b.pooled -= buf.size
	}
}

// evict destroys pooled buffers, the least recently freed first, until
// need bytes are gone or the pool is empty; it flushes first, since
// recorded commands may use them.
func (b *bufferPool) evict(need int64) {
	var all []*buffer
	for _, l := range b.pool {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return
	}
	b.dev.Flush()
	slices.SortFunc(all, func(x, y *buffer) int { return cmp.Compare(x.freed, y.freed) })
	gone := map[*buffer]bool{}
	for _, buf := range all {
		if need <= 0 {
			break
		}
		b.destroy(buf)
		need -= buf.size
		gone[buf] = true
		b.unpool(buf)
	}
	for size, l := range b.pool {
		b.pool[size] = slices.DeleteFunc(l, func(buf *buffer) bool { return gone[buf] })
	}
}

// count adds a newly created buffer of size bytes to the allocation, the
// peak and the largest buffer.
func (b *bufferPool) count(size int64) {
	b.created++
	b.createdBytes += size
	b.alloc += size
	b.largest = max(b.largest, size)
	if b.alloc > b.peak && b.tracePeak {
		b.peakInfo = b.describePeak(size)
	}
	b.peak = max(b.peak, b.alloc)
}

// describePeak says what is allocated at a new peak: live and pooled bytes
// and the calls that asked for the new buffer.
func (b *bufferPool) describePeak(size int64) string {
	pc := make([]uintptr, 12)
	n := runtime.Callers(3, pc)
	fr := runtime.CallersFrames(pc[:n])
	var calls []string
	for {
		f, more := fr.Next()
		if i := strings.LastIndex(f.Function, "."); i >= 0 && !strings.HasPrefix(f.Function, "runtime.") && !strings.HasPrefix(f.Function, "testing.") {
			calls = append(calls, fmt.Sprintf("%s:%d", f.Function[i+1:], f.Line))
		}
		if !more {
			break
		}
	}
	return fmt.Sprintf("%.1f MiB allocated: %.1f live, %.1f pooled (big), %.1f kept, new buffer %.1f MiB from %s",
		float64(b.alloc)/(1<<20), float64(b.live)/(1<<20), float64(b.pooled)/(1<<20), float64(b.kept)/(1<<20), float64(size)/(1<<20), strings.Join(calls, " < "))
}
