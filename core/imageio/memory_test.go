package imageio

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"nnst/core/tensor"
)

// flatPNG returns a w x h PNG whose bytes are all 100: a flat image
// compresses about a thousandfold, so a 50 MP one takes a few hundred KB.
func flatPNG(t testing.TB, w, h, ct, depth int) []byte {
	var extra [][2]string
	if ct == 3 { // grey levels: entry i is i, i, i
		pal := make([]byte, 3*256)
		for i := range pal {
			pal[i] = byte(i / 3)
		}
		extra = [][2]string{{"PLTE", string(pal)}}
	}
	return rawPNG(t, w, h, ct, depth, false, extra, func(r []byte) {
		r[0] = 0
		for i := 1; i < len(r); i++ {
			r[i] = 100
		}
	})
}

// peakHeap runs f and returns how far the heap grew over its start, the
// high water of HeapAlloc sampled every 200 µs, and the bytes f allocated.
func peakHeap(f func()) (peak, total uint64) {
	runtime.GC()
	var start runtime.MemStats
	runtime.ReadMemStats(&start)
	var hi atomic.Uint64
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			hi.Store(max(hi.Load(), m.HeapAlloc))
			select {
			case <-done:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	f()
	close(done)
	<-stopped
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	return max(hi.Load(), end.HeapAlloc) - start.HeapAlloc, end.TotalAlloc - start.TotalAlloc
}

func fit512(h, w int) (int, int, error) {
	h, w = FitDims(h, w, 512)
	return h, w, nil
}

// TestDecodeFitMemory decodes 50 MP PNGs straight to 512 px. Decoding them
// whole and then resizing took 700 MB (8-bit grey or paletted) to 1050 MB
// (16-bit RGBA); row by row they take a few MB.
func TestDecodeFitMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MP decodes")
	}
	for _, c := range []struct {
		name      string
		ct, depth int
	}{{"16-bit RGBA", 6, 16}, {"16-bit RGB", 2, 16}, {"8-bit paletted", 3, 8}} {
		b := flatPNG(t, 7071, 7071, c.ct, c.depth)
		start := time.Now()
		var out *tensor.T
		peak, total := peakHeap(func() {
			var err error
			if out, err = DecodeBytesFit(b, fit512); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("%s, %d KB: peak %.1f MB, allocated %.1f MB, %.1f s", c.name, len(b)>>10, float64(peak)/1e6, float64(total)/1e6, time.Since(start).Seconds())
		if out.H != 512 || out.W != 512 || out.At(0, 511, 511) != 100.0/255 {
			t.Errorf("%s: got %v", c.name, out)
		}
		if peak > 32<<20 || total > 32<<20 {
			t.Errorf("%s: peak %d MB, allocated %d MB; want under 32 MB", c.name, peak>>20, total>>20)
		}
	}
}

// TestFitRefusesFromHeader refuses a 64 x 781250 PNG (50 MP, too narrow)
// before decoding a pixel.
func TestFitRefusesFromHeader(t *testing.T) {
	b := flatPNG(t, 64, 781250, 2, 8)
	narrow := errors.New("too narrow")
	called := false
	peak, total := peakHeap(func() {
		_, err := DecodeBytesFit(b, func(h, w int) (int, int, error) {
			called = true
			if h != 781250 || w != 64 {
				t.Errorf("fit got %dx%d", w, h)
			}
			return 0, 0, narrow
		})
		if !errors.Is(err, narrow) {
			t.Errorf("got %v, want the fit's error", err)
		}
	})
	if !called || peak > 1<<20 || total > 1<<20 {
		t.Errorf("fit called %v; peak %d, allocated %d bytes", called, peak, total)
	}
}
