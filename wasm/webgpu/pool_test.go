package webgpu

import (
	"strings"
	"testing"
)

// countingDevice stands in for the GPU under a bufferPool: it counts
// buffers and flushes and checks that no buffer is destroyed twice or
// handed out after it was destroyed.
type countingDevice struct {
	t         *testing.T
	p         *bufferPool
	flushes   int
	destroyed map[*buffer]bool
	errs      []error
}

func newCountingPool(t *testing.T) (*bufferPool, *countingDevice) {
	d := &countingDevice{t: t, destroyed: map[*buffer]bool{}}
	p := newBufferPool(d, 1<<30)
	d.p = &p
	return &p, d
}

func (d *countingDevice) createBuffer(int64) handle { return handle{} }

func (d *countingDevice) destroyBuffer(buf *buffer) {
	if d.destroyed[buf] {
		d.t.Errorf("buffer %d (%d bytes) destroyed twice", buf.id, buf.size)
	}
	d.destroyed[buf] = true
}

// Flush is Backend.Flush with commands recorded.
func (d *countingDevice) Flush() {
	d.flushes++
	d.p.flushed()
}

func (d *countingDevice) fail(err error) { d.errs = append(d.errs, err) }

// get takes a buffer of n bytes, checking that it is not a destroyed one.
func (d *countingDevice) get(n int64) *buffer {
	buf := d.p.newBuf(n)
	if d.destroyed[buf] {
		d.t.Fatalf("a destroyed buffer (%d) was handed out", buf.id)
	}
	return buf
}

const mib = 1 << 20

// Sizes round up to 256 bytes; a freed buffer of the same size is reused
// (the oldest first); small ones unused for two flushes go, big ones at
// the next flush; the counts of live, allocated and peak bytes follow.
func TestPoolReuse(t *testing.T) {
	p, d := newCountingPool(t)
	p.big, p.retain = mib, 0
	x := d.get(1000)
	if x.size != 1024 || p.live != 1024 || p.alloc != 1024 || p.created != 1 {
		t.Fatalf("size %d, live %d, alloc %d, created %d; want 1024, 1024, 1024, 1", x.size, p.live, p.alloc, p.created)
	}
	y := d.get(1024)
	p.freeBuf(y)
	p.freeBuf(x)
	if z := d.get(1024); z != x || p.created != 2 {
		t.Errorf("got buffer %d (%d created), want the oldest pooled one, %d", z.id, p.created, x.id)
	}
	big := d.get(mib)
	p.freeBuf(big)
	if p.live != 1024 || p.alloc != 2048+mib || p.peak != 2048+mib {
		t.Errorf("live %d, alloc %d, peak %d; want 1024, %d, %d", p.live, p.alloc, p.peak, 2048+mib, 2048+mib)
	}
	d.Flush()
	if !d.destroyed[big] || d.destroyed[y] || p.alloc != 2048 {
		t.Errorf("after a flush: big destroyed %v, small destroyed %v, alloc %d; want true, false, 2048", d.destroyed[big], d.destroyed[y], p.alloc)
	}
	d.Flush()
	if !d.destroyed[y] || p.alloc != 1024 || len(p.pool[1024]) != 0 {
		t.Errorf("after two flushes: small destroyed %v, alloc %d, pooled %d; want true, 1024, 0", d.destroyed[y], p.alloc, len(p.pool[1024]))
	}
	p.ResetPeak()
	if p.peak != 1024 || p.livePeak != 1024 || p.largest != mib {
		t.Errorf("peak %d, live peak %d, largest %d; want 1024, 1024, %d", p.peak, p.livePeak, p.largest, mib)
	}
}

// TestRetain's case natively: at a flush the pool keeps the most recently
// freed buffers up to retain bytes, a new buffer of a kept size reuses
// one, and trim(true) destroys them all.
func TestPoolRetain(t *testing.T) {
	p, d := newCountingPool(t)
	p.big, p.retain = mib, 3*mib
	p.freeBuf(d.get(mib))
	d.Flush()
	y, z := d.get(2*mib), d.get(2*mib)
	p.freeBuf(y)
	p.freeBuf(z)
	d.Flush()
	// y or z (the most recent) fits, the other does not, x still does.
	if p.kept != 3*mib || p.alloc != 3*mib {
		t.Fatalf("kept %d bytes, %d allocated; want 3 MiB of each", p.kept, p.alloc)
	}
	if d.destroyed[y] || !d.destroyed[z] {
		t.Errorf("y destroyed %v, z destroyed %v; want y kept (freed after the same flush, created first)", d.destroyed[y], d.destroyed[z])
	}
	c0 := p.created
	w := d.get(2 * mib)
	if p.created != c0 || p.kept != mib || w != y {
		t.Errorf("a kept size was created anew (%d buffers), or kept is %d bytes, want 1 MiB", p.created-c0, p.kept)
	}
	p.freeBuf(w)
	p.trim(true)
	if p.kept != 0 || p.alloc != 0 || int64(len(d.destroyed)) != p.created {
		t.Errorf("after trim(true): kept %d bytes, %d allocated, %d of %d buffers destroyed", p.kept, p.alloc, len(d.destroyed), p.created)
	}
}

// TestBudget's case natively: a repeated step reuses its buffers, flushes
// destroy nothing, a buffer that would pass the budget takes a pooled one
// up to twice its size or else destroys the least recently freed first.
func TestPoolBudget(t *testing.T) {
	p, d := newCountingPool(t)
	p.budget = 7 * mib
	// Buffers of 2, 1 and 3 MiB, at most 4 MiB live, 6 MiB allocated.
	step := func() {
		x, y := d.get(2*mib), d.get(mib)
		p.freeBuf(x)
		z := d.get(3 * mib)
		p.freeBuf(y)
		p.freeBuf(z)
		d.Flush()
	}
	step()
	c0 := p.created
	step()
	d.Flush()
	if p.created != c0 || p.alloc != 6*mib || len(d.destroyed) != 0 {
		t.Errorf("the second step created %d buffers, %d bytes allocated, %d destroyed; want none, 6 MiB, none", p.created-c0, p.alloc, len(d.destroyed))
	}
	// 3.5 MiB more (no pooled buffer that big): the 2 and 1 MiB buffers
	// go (freed first), 3 MiB stays; the recorded commands go first.
	f0 := d.flushes
	w := d.get(7 * mib / 2)
	if p.alloc != 13*mib/2 || len(p.pool[3*mib]) != 1 || len(p.pool[2*mib]) != 0 || len(p.pool[mib]) != 0 {
		t.Errorf("after evicting: %d bytes allocated (want 6.5 MiB), pooled 3 MiB %d, 2 MiB %d, 1 MiB %d (want 1, 0, 0)",
			p.alloc, len(p.pool[3*mib]), len(p.pool[2*mib]), len(p.pool[mib]))
	}
	if d.flushes != f0+1 {
		t.Errorf("evicting flushed %d times, want once", d.flushes-f0)
	}
	if p.peak > p.budget {
		t.Errorf("peak %d passed the budget %d", p.peak, p.budget)
	}
	p.freeBuf(w)
	// Under pressure a pooled buffer up to twice the size serves: with
	// 3 MiB pooled and a 4 MiB budget, 2 MiB come from the 3 MiB buffer.
	p.budget = 0
	p.trim(true)
	p.budget = 4 * mib
	p.freeBuf(d.get(3 * mib))
	c0 = p.created
	if x := d.get(2 * mib); p.created != c0 || p.alloc != 3*mib || x.size != 3*mib || p.live != 3*mib {
		t.Errorf("under pressure: %d buffers created, %d bytes allocated, %d live; want the 3 MiB buffer reused", p.created-c0, p.alloc, p.live)
	}
	// Without pressure sizes stay exact.
	p.freeBuf(d.get(mib))
	if p.created != c0+1 {
		t.Errorf("without pressure: %d buffers created, want 1", p.created-c0)
	}
}

// Without a budget, freed big buffers beyond spare and retain bytes flush
// early and go; with one they stay.
func TestPoolFlushSpare(t *testing.T) {
	for _, budget := range []int64{0, 1 << 30} {
		p, d := newCountingPool(t)
		p.big, p.spare, p.retain, p.budget = mib, 2*mib, 2*mib, budget
		var bufs []*buffer
		for range 5 {
			bufs = append(bufs, d.get(mib))
		}
		for i, buf := range bufs {
			p.freeBuf(buf)
			p.flushSpare()
			if want := budget == 0 && i == 4; (d.flushes == 1) != want || (len(d.destroyed) > 0) != want {
				t.Errorf("budget %d, %d MiB freed: %d flushes, %d destroyed; want a flush: %v", budget, i+1, d.flushes, len(d.destroyed), want)
			}
		}
		if budget == 0 && (p.kept != 2*mib || p.alloc != 2*mib || p.pooled != 0) {
			t.Errorf("after the flush: kept %d, alloc %d, pooled %d; want 2 MiB, 2 MiB, 0", p.kept, p.alloc, p.pooled)
		}
	}
}

// A buffer over the device's limit is an error (and a small buffer, so
// that recording goes on until Err reports it).
func TestPoolLimit(t *testing.T) {
	p, d := newCountingPool(t)
	p.maxSize = 4 * mib
	if buf := d.get(4 * mib); buf.size != 4*mib || len(d.errs) != 0 {
		t.Errorf("a buffer at the limit: %d bytes, errors %v", buf.size, d.errs)
	}
	if buf := d.get(4*mib + 1); buf.size != 256 || len(d.errs) != 1 || !strings.Contains(d.errs[0].Error(), "exceeds the device limit") {
		t.Errorf("a buffer over the limit: %d bytes, errors %v", buf.size, d.errs)
	}
}

// With tracePeak set, a new peak says what was allocated and who asked.
func TestPoolPeakInfo(t *testing.T) {
	p, d := newCountingPool(t)
	p.tracePeak = true
	p.freeBuf(d.get(mib))
	d.get(2 * mib)
	if !strings.Contains(p.peakInfo, "3.0 MiB allocated: 2.0 live") || !strings.Contains(p.peakInfo, "TestPoolPeakInfo") {
		t.Errorf("peakInfo %q", p.peakInfo)
	}
}
