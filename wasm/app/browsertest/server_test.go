package browsertest

import (
	"bytes"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
)

// CSP is the strict policy the app must work under.
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'"

// site serves the built site with the headers of the real hosting, and can
// go down to prove that an offline reload does not touch the network.
type site struct {
	*httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	hits map[string]int // requests per path while up
	lost []string       // requests while down
	// newVersion, when set, makes sw.js name a new version of the app.
	newVersion atomic.Bool
	// corruptModel flips the last byte of the model file.
	corruptModel atomic.Bool
}

func serveSite(t *testing.T, dir string) *site {
	mime.AddExtensionType(".wasm", "application/wasm")
	mime.AddExtensionType(".webmanifest", "application/manifest+json")
	s := &site{hits: map[string]int{}}
	files := http.FileServer(http.Dir(dir))
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		if s.down.Load() {
			s.lost = append(s.lost, r.URL.Path)
			s.mu.Unlock()
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
					return
				}
			}
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		s.hits[path.Clean(r.URL.Path)]++
		s.mu.Unlock()
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Embedder-Policy", "require-corp")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		if s.newVersion.Load() && r.URL.Path == "/sw.js" {
			b, err := os.ReadFile(filepath.Join(dir, "sw.js"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			h.Set("Content-Type", "text/javascript")
			w.Write(bytes.Replace(b, []byte(`const VERSION = "`), []byte(`const VERSION = "v2-`), 1))
			return
		}
		if s.corruptModel.Load() && r.URL.Path == "/models/vgg19.safetensors" {
			b, err := os.ReadFile(filepath.Join(dir, "models/vgg19.safetensors"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			b[len(b)-1] ^= 0x55
			h.Set("Content-Type", "application/octet-stream")
			w.Write(b)
			return
		}
		files.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *site) hitCount(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

func (s *site) lostRequests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lost...)
}
