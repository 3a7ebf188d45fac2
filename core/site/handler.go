package site

import (
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// MaxHeaderBytes bounds the request header (names plus values); larger
// requests get 431. `nnst serve`'s http.Server has a higher hard cap, so
// this handler gives the answer (with its usual headers) in every host.
const MaxHeaderBytes = 16 << 10

// SecurityHeaders go on every response, in this order.
var SecurityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Embedder-Policy", "require-corp"},
	{"X-Content-Type-Options", "nosniff"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
}

// Cache-Control values.
const (
	CacheImmutable = "public, max-age=31536000, immutable"
	CacheNoCache   = "no-cache"
)

// CacheControl is the Cache-Control of a file: a year for content-hashed
// names, revalidation for everything else (index.html, sw.js, the manifest).
func CacheControl(f *File) string {
	if f.Immutable {
		return CacheImmutable
	}
	return CacheNoCache
}

var mimeTypes = map[string]string{
	".html":        "text/html; charset=utf-8",
	".htm":         "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".js":          "text/javascript; charset=utf-8",
	".mjs":         "text/javascript; charset=utf-8",
	".json":        "application/json",
	".map":         "application/json",
	".webmanifest": "application/manifest+json",
	".wasm":        "application/wasm",
	".wgsl":        "text/plain; charset=utf-8",
	".txt":         "text/plain; charset=utf-8",
	".xml":         "application/xml",
	".svg":         "image/svg+xml",
	".png":         "image/png",
	".jpg":         "image/jpeg",
	".jpeg":        "image/jpeg",
	".gif":         "image/gif",
	".webp":        "image/webp",
	".avif":        "image/avif",
	".ico":         "image/x-icon",
	".woff2":       "font/woff2",
	".safetensors": "application/octet-stream",
}

// ContentType is the MIME type for a file name, from a fixed table so that
// every host gives the same answer.
func ContentType(name string) string {
	if t, ok := mimeTypes[strings.ToLower(path.Ext(name))]; ok {
		return t
	}
	return "application/octet-stream"
}

// ETag is the strong entity tag of a representation, from its SHA-256.
func ETag(sha256 string) string { return `"` + sha256[:16] + `"` }

// BodyWriter is implemented by files that can hand their whole content to a
// ResponseWriter themselves, after the handler has set the headers (the
// Worker passes an asset's stream through without copying it into Go).
type BodyWriter interface {
	WriteBody(w http.ResponseWriter) error
}

// RangeOpener is implemented by file systems that can open a byte range of
// a file, n bytes from off, without reading what comes before (the Worker
// forwards the range to its assets). The handler uses it for 206 answers.
type RangeOpener interface {
	OpenRange(name string, off, n int64) (io.ReadCloser, error)
}

// Handler serves a bundle.
type Handler struct {
	// ErrorLog gets a line for each file that fails to open (a 500); nil
	// means the log package's standard logger.
	ErrorLog *log.Logger

	fsys  fs.FS
	files map[string]*File
}

// New serves fsys, described by its manifest (see LoadManifest).
func New(fsys fs.FS) (*Handler, error) {
	m, err := LoadManifest(fsys)
	if err != nil {
		return nil, err
	}
	return NewWithManifest(fsys, m), nil
}

// NewWithManifest serves the files m lists from fsys.
func NewWithManifest(fsys fs.FS, m *Manifest) *Handler {
	h := &Handler{fsys: fsys, files: map[string]*File{}}
	for i := range m.Files {
		f := &m.Files[i]
		if !hidden(f.Path) {
			h.files[f.Path] = f
		}
	}
	return h
}

// Has reports whether the bundle has a file at this slash path.
func (h *Handler) Has(name string) bool { return h.files[name] != nil }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	for _, kv := range SecurityHeaders {
		hd.Set(kv[0], kv[1])
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed)
		return
	}
	if headerBytes(r.Header) > MaxHeaderBytes {
		h.fail(w, r, http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	name, ok := cleanPath(r)
	if !ok {
		h.fail(w, r, http.StatusBadRequest)
		return
	}
	f := h.files[name]
	if f == nil || hidden(name) {
		h.fail(w, r, http.StatusNotFound)
		return
	}

	file, sum, size, enc := f.Path, f.SHA256, f.Size, ""
	if f.Brotli != nil || f.Gzip != nil {
		hd.Set("Vary", "Accept-Encoding")
		switch enc = negotiate(r.Header.Values("Accept-Encoding"), f.Brotli != nil, f.Gzip != nil); enc {
		case "br":
			file, sum, size = f.Path+".br", f.Brotli.SHA256, f.Brotli.Size
		case "gzip":
			file, sum, size = f.Path+".gz", f.Gzip.SHA256, f.Gzip.Size
		}
	}
	etag := ETag(sum)
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", CacheControl(f))
	if noneMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Type", ContentType(f.Path))
	if enc != "" {
		hd.Set("Content-Encoding", enc)
	}
	hd.Set("Accept-Ranges", "bytes")

	status, off, n := http.StatusOK, int64(0), size
	if r.Method == http.MethodGet && rangeApplies(r, etag) {
		start, length, ok := parseRange(r.Header.Get("Range"), size)
		switch {
		case ok && length < 0:
			hd.Del("Content-Type")
			hd.Del("Content-Encoding")
			hd.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
			h.fail(w, r, http.StatusRequestedRangeNotSatisfiable)
			return
		case ok:
			status, off, n = http.StatusPartialContent, start, length
			hd.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, size))
		}
	}
	hd.Set("Content-Length", strconv.FormatInt(n, 10))
	// HEAD opens the file too: a file changed since start-up gets the
	// same 500 as a GET.
	var src io.ReadCloser
	var err error
	ro, ranged := h.fsys.(RangeOpener)
	if ranged = ranged && status == http.StatusPartialContent; ranged {
		src, err = ro.OpenRange(file, off, n)
	} else {
		src, err = h.fsys.Open(file)
	}
	if err != nil {
		h.logf("%s %s: %v", r.Method, r.URL.Path, err)
		for _, k := range []string{"ETag", "Cache-Control", "Content-Type", "Content-Encoding", "Accept-Ranges", "Content-Range", "Vary"} {
			hd.Del(k)
		}
		h.fail(w, r, http.StatusInternalServerError)
		return
	}
	defer src.Close()
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if bw, ok := src.(BodyWriter); ok && (status == http.StatusOK || ranged) {
		bw.WriteBody(w)
		return
	}
	if ranged {
		off = 0
	}
	copyRange(w, src, off, n)
}

func (h *Handler) logf(format string, args ...any) {
	if h.ErrorLog != nil {
		h.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// fail writes a short plain-text error.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, code int) {
	body := fmt.Sprintf("%d %s\n", code, http.StatusText(code))
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("Cache-Control", CacheNoCache)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		io.WriteString(w, body)
	}
}

func copyRange(w io.Writer, src io.Reader, off, n int64) {
	if off > 0 {
		if s, ok := src.(io.Seeker); ok {
			if _, err := s.Seek(off, io.SeekStart); err != nil {
				return
			}
		} else if _, err := io.CopyN(io.Discard, src, off); err != nil {
			return
		}
	}
	io.CopyN(w, src, n)
}

func headerBytes(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// cleanPath maps the URL path to a slash path in the bundle: "/" and any
// path ending in "/" get index.html. It refuses traversal, encoded slashes
// and backslashes, NUL and empty segments.
func cleanPath(r *http.Request) (string, bool) {
	raw := strings.ToLower(r.URL.EscapedPath())
	if strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "%00") {
		return "", false
	}
	p := r.URL.Path
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\\\x00") {
		return "", false
	}
	name := p[1:]
	if name == "" || strings.HasSuffix(name, "/") {
		name += "index.html"
	}
	if !fs.ValidPath(name) {
		return "", false
	}
	return name, true
}

// negotiate picks br, then gzip, then identity ("") from Accept-Encoding.
func negotiate(values []string, haveBr, haveGzip bool) string {
	q := map[string]float64{}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(part, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			if coding == "" {
				continue
			}
			w := 1.0
			if k, val, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(strings.ToLower(k)) == "q" {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil {
					f = 0
				}
				w = f
			}
			if coding == "x-gzip" {
				coding = "gzip"
			}
			q[coding] = w
		}
	}
	accepts := func(c string) bool {
		if w, ok := q[c]; ok {
			return w > 0
		}
		w, ok := q["*"]
		return ok && w > 0
	}
	switch {
	case haveBr && accepts("br"):
		return "br"
	case haveGzip && accepts("gzip"):
		return "gzip"
	}
	return ""
}

// noneMatch reports whether If-None-Match matches etag (weak comparison).
func noneMatch(values []string, etag string) bool {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == etag {
				return true
			}
		}
	}
	return false
}

// rangeApplies checks Range and If-Range: a range is served only while
// If-Range, when present, is this representation's strong ETag.
func rangeApplies(r *http.Request, etag string) bool {
	if r.Header.Get("Range") == "" {
		return false
	}
	ir := r.Header.Values("If-Range")
	return len(ir) == 0 || (len(ir) == 1 && strings.TrimSpace(ir[0]) == etag)
}

// parseRange reads a single "bytes=" range. ok false: ignore the header
// (bad syntax or several ranges: the whole file is served). length < 0:
// not satisfiable.
func parseRange(s string, size int64) (start, length int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(s), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	num := func(x string) (int64, bool) {
		if x == "" || strings.TrimLeft(x, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	if a == "" { // suffix: the last b bytes
		n, good := num(b)
		if !good {
			return 0, 0, false
		}
		if n == 0 || size == 0 {
			return 0, -1, true
		}
		n = min(n, size)
		return size - n, n, true
	}
	first, good := num(a)
	if !good {
		return 0, 0, false
	}
	last := size - 1
	if b != "" {
		if last, good = num(b); !good || last < first {
			return 0, 0, false
		}
	}
	if first >= size {
		return 0, -1, true
	}
	last = min(last, size-1)
	return first, last - first + 1, true
}
