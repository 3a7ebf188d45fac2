package site

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// testFS is a small bundle: precompressed copies are stand-in bytes (the
// handler never decodes them), which shows which file was served.
func testFS() fstest.MapFS {
	files := map[string]string{
		"index.html":                      "<!doctype html><title>t</title><script src=\"app.js\"></script>",
		"index.html.br":                   "BR-index",
		"index.html.gz":                   "GZ-index",
		"app.js":                          "console.log('app')",
		"app.js.gz":                       "GZ-app",
		"sw.js":                           "self.addEventListener('fetch', () => {})",
		"style.css":                       "body{}",
		"manifest.webmanifest":            `{"name":"nnst"}`,
		"app.0123abcd.wasm":               "\x00asm0123456789",
		"app.0123abcd.wasm.br":            "BR-wasm",
		"models/vgg.89abcdef.safetensors": "0123456789abcdefghij",
		"icons/icon.png":                  "\x89PNG",
		"icons/icon.svg":                  "<svg/>",
		"_headers":                        "/*\n",
		".secret":                         "no",
	}
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v), Mode: 0o644}
	}
	return m
}

func newTestHandler(t *testing.T) (*Handler, fstest.MapFS) {
	t.Helper()
	fsys := testFS()
	h, err := New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	return h, fsys
}

func do(h http.Handler, method, target string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Add(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkSecurity(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	for _, kv := range SecurityHeaders {
		if got := w.Header().Get(kv[0]); got != kv[1] {
			t.Errorf("%s = %q, want %q", kv[0], got, kv[1])
		}
	}
}

func TestScanManifest(t *testing.T) {
	m, err := ScanManifest(testFS())
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]File{}
	for _, f := range m.Files {
		byPath[f.Path] = f
	}
	for _, p := range []string{"index.html.br", "app.js.gz", "_headers", ".secret"} {
		if _, ok := byPath[p]; ok {
			t.Errorf("%s listed as a file", p)
		}
	}
	idx := byPath["index.html"]
	if idx.Brotli == nil || idx.Gzip == nil || idx.Immutable || idx.Size != int64(len(testFS()["index.html"].Data)) {
		t.Errorf("index.html entry %+v", idx)
	}
	if f := byPath["app.0123abcd.wasm"]; !f.Immutable || f.Brotli == nil || f.Gzip != nil {
		t.Errorf("wasm entry %+v", f)
	}
	if !byPath["models/vgg.89abcdef.safetensors"].Immutable || byPath["sw.js"].Immutable {
		t.Error("immutable flags wrong")
	}
	if len(m.Files) != 9 {
		t.Errorf("%d files, want 9", len(m.Files))
	}
}

func TestManifestFileIsUsed(t *testing.T) {
	fsys := testFS()
	fsys[ManifestName] = &fstest.MapFile{Data: []byte(`{"files":[{"path":"app.js","size":18,"sha256":"00112233445566778899aabbccddeeff"}]}`)}
	h, err := New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Has("app.js") || h.Has("index.html") {
		t.Fatal("manifest not used")
	}
	w := do(h, "GET", "/app.js")
	if w.Header().Get("ETag") != `"0011223344556677"` || w.Body.String() != "console.log('app')" {
		t.Errorf("got %v %q", w.Header(), w.Body)
	}
	for _, bad := range []string{`{"files":[{"path":"../x","size":1,"sha256":"00112233445566778899"}]}`, `{"files":[{"path":"a","size":1,"sha256":"00"}]}`, `{`} {
		fsys[ManifestName] = &fstest.MapFile{Data: []byte(bad)}
		if _, err := New(fsys); err == nil {
			t.Errorf("manifest %s accepted", bad)
		}
	}
}

func TestContentTypesAndCaching(t *testing.T) {
	h, fsys := newTestHandler(t)
	cases := []struct{ path, file, ctype, cache string }{
		{"/", "index.html", "text/html; charset=utf-8", CacheNoCache},
		{"/index.html", "index.html", "text/html; charset=utf-8", CacheNoCache},
		{"/app.js", "app.js", "text/javascript; charset=utf-8", CacheNoCache},
		{"/sw.js", "sw.js", "text/javascript; charset=utf-8", CacheNoCache},
		{"/style.css", "style.css", "text/css; charset=utf-8", CacheNoCache},
		{"/manifest.webmanifest", "manifest.webmanifest", "application/manifest+json", CacheNoCache},
		{"/app.0123abcd.wasm", "app.0123abcd.wasm", "application/wasm", CacheImmutable},
		{"/models/vgg.89abcdef.safetensors", "models/vgg.89abcdef.safetensors", "application/octet-stream", CacheImmutable},
		{"/icons/icon.png", "icons/icon.png", "image/png", CacheNoCache},
		{"/icons/icon.svg", "icons/icon.svg", "image/svg+xml", CacheNoCache},
		{"/?v=2", "index.html", "text/html; charset=utf-8", CacheNoCache},
	}
	for _, c := range cases {
		w := do(h, "GET", c.path)
		if w.Code != 200 {
			t.Fatalf("%s: %d", c.path, w.Code)
		}
		checkSecurity(t, w)
		want := fsys[c.file].Data
		if !bytes.Equal(w.Body.Bytes(), want) {
			t.Errorf("%s: body %q, want %q", c.path, w.Body, want)
		}
		hd := w.Header()
		if hd.Get("Content-Type") != c.ctype || hd.Get("Cache-Control") != c.cache {
			t.Errorf("%s: Content-Type %q Cache-Control %q", c.path, hd.Get("Content-Type"), hd.Get("Cache-Control"))
		}
		if hd.Get("Content-Length") != strconv.Itoa(len(want)) || hd.Get("Accept-Ranges") != "bytes" || hd.Get("Content-Encoding") != "" {
			t.Errorf("%s: headers %v", c.path, hd)
		}
		if e := hd.Get("ETag"); len(e) != 18 || e[0] != '"' {
			t.Errorf("%s: ETag %q", c.path, e)
		}
		// HEAD: same headers, no body.
		hw := do(h, "HEAD", c.path)
		if hw.Code != 200 || hw.Body.Len() != 0 || hw.Header().Get("Content-Length") != hd.Get("Content-Length") || hw.Header().Get("ETag") != hd.Get("ETag") {
			t.Errorf("HEAD %s: %d %v", c.path, hw.Code, hw.Header())
		}
	}
}

func TestCompressionNegotiation(t *testing.T) {
	h, _ := newTestHandler(t)
	cases := []struct{ path, accept, enc, body string }{
		{"/", "br, gzip", "br", "BR-index"},
		{"/", "gzip, deflate, br, zstd", "br", "BR-index"},
		{"/", "gzip", "gzip", "GZ-index"},
		{"/", "x-gzip", "gzip", "GZ-index"},
		{"/", "br;q=0, gzip;q=0.5", "gzip", "GZ-index"},
		{"/", "br;q=0,gzip;q=0", "", "<!doctype"},
		{"/", "*", "br", "BR-index"},
		{"/", "*, br;q=0", "gzip", "GZ-index"},
		{"/", "identity", "", "<!doctype"},
		{"/", "", "", "<!doctype"},
		{"/", "deflate", "", "<!doctype"},
		{"/app.js", "br, gzip", "gzip", "GZ-app"},
		{"/app.0123abcd.wasm", "gzip, br", "br", "BR-wasm"},
		{"/app.0123abcd.wasm", "gzip", "", "\x00asm"},
	}
	etags := map[string]string{}
	for _, c := range cases {
		w := do(h, "GET", c.path, "Accept-Encoding", c.accept)
		hd := w.Header()
		if w.Code != 200 || hd.Get("Content-Encoding") != c.enc || !strings.HasPrefix(w.Body.String(), c.body) {
			t.Errorf("%s %q: %d enc %q body %q", c.path, c.accept, w.Code, hd.Get("Content-Encoding"), w.Body)
		}
		if hd.Get("Vary") != "Accept-Encoding" || hd.Get("Content-Length") != strconv.Itoa(w.Body.Len()) {
			t.Errorf("%s %q: headers %v", c.path, c.accept, hd)
		}
		key := c.path + "|" + c.enc
		if e, ok := etags[key]; ok && e != hd.Get("ETag") {
			t.Errorf("%s: ETag changed for the same representation", key)
		}
		etags[key] = hd.Get("ETag")
	}
	if etags["/|br"] == etags["/|gzip"] || etags["/|br"] == etags["/|"] {
		t.Error("representations share an ETag")
	}
	// The Worker's request conversion splits header values at commas.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header["Accept-Encoding"] = []string{"gzip", " br;q=0"}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Errorf("split Accept-Encoding: %q", w.Header().Get("Content-Encoding"))
	}
	// No variants: no Vary.
	if v := do(h, "GET", "/sw.js", "Accept-Encoding", "br").Header().Get("Vary"); v != "" {
		t.Errorf("sw.js Vary %q", v)
	}
}

func TestETagAndNotModified(t *testing.T) {
	h, _ := newTestHandler(t)
	w := do(h, "GET", "/app.0123abcd.wasm")
	etag := w.Header().Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"x", ` + etag, "*"} {
		w := do(h, "GET", "/app.0123abcd.wasm", "If-None-Match", inm)
		if w.Code != 304 || w.Body.Len() != 0 || w.Header().Get("ETag") != etag || w.Header().Get("Cache-Control") != CacheImmutable {
			t.Errorf("If-None-Match %s: %d %v", inm, w.Code, w.Header())
		}
		if w.Header().Get("Content-Type") != "" || w.Header().Get("Content-Length") != "" {
			t.Errorf("304 has entity headers: %v", w.Header())
		}
		checkSecurity(t, w)
	}
	if w := do(h, "GET", "/app.0123abcd.wasm", "If-None-Match", `"0000000000000000"`); w.Code != 200 {
		t.Errorf("stale ETag: %d", w.Code)
	}
	// The brotli copy has its own ETag: the identity one does not match it.
	if w := do(h, "GET", "/app.0123abcd.wasm", "If-None-Match", etag, "Accept-Encoding", "br"); w.Code != 200 || w.Header().Get("Content-Encoding") != "br" {
		t.Errorf("br with identity ETag: %d", w.Code)
	}
	if w := do(h, "HEAD", "/", "If-None-Match", do(h, "GET", "/").Header().Get("ETag")); w.Code != 304 {
		t.Errorf("HEAD If-None-Match: %d", w.Code)
	}
}

func TestRanges(t *testing.T) {
	h, fsys := newTestHandler(t)
	const p = "/models/vgg.89abcdef.safetensors"
	data := string(fsys[p[1:]].Data) // 20 bytes
	etag := do(h, "GET", p).Header().Get("ETag")
	cases := []struct {
		rng, ifRange string
		code         int
		body, cr     string
	}{
		{"bytes=0-3", "", 206, data[0:4], "bytes 0-3/20"},
		{"bytes=5-", "", 206, data[5:], "bytes 5-19/20"},
		{"bytes=-4", "", 206, data[16:], "bytes 16-19/20"},
		{"bytes=10-100", "", 206, data[10:], "bytes 10-19/20"},
		{"bytes=-100", "", 206, data, "bytes 0-19/20"},
		{"bytes=19-19", "", 206, data[19:], "bytes 19-19/20"},
		{"bytes=20-", "", 416, "", "bytes */20"},
		{"bytes=-0", "", 416, "", "bytes */20"},
		{"bytes=0-1,4-5", "", 200, data, ""},
		{"bytes=5-2", "", 200, data, ""},
		{"bytes=x-2", "", 200, data, ""},
		{"items=0-1", "", 200, data, ""},
		{"bytes=0-3", etag, 206, data[0:4], "bytes 0-3/20"},
		{"bytes=0-3", `"0000000000000000"`, 200, data, ""},
		{"bytes=0-3", "W/" + etag, 200, data, ""},
	}
	for _, c := range cases {
		hdr := []string{"Range", c.rng}
		if c.ifRange != "" {
			hdr = append(hdr, "If-Range", c.ifRange)
		}
		w := do(h, "GET", p, hdr...)
		if w.Code != c.code || w.Header().Get("Content-Range") != c.cr {
			t.Errorf("%s (If-Range %s): %d %q, want %d %q", c.rng, c.ifRange, w.Code, w.Header().Get("Content-Range"), c.code, c.cr)
			continue
		}
		if c.code == 416 {
			checkSecurity(t, w)
			continue
		}
		if w.Body.String() != c.body || w.Header().Get("Content-Length") != strconv.Itoa(len(c.body)) {
			t.Errorf("%s: body %q length %s", c.rng, w.Body, w.Header().Get("Content-Length"))
		}
		if w.Header().Get("Content-Type") != "application/octet-stream" || w.Header().Get("Cache-Control") != CacheImmutable {
			t.Errorf("%s: %v", c.rng, w.Header())
		}
	}
	// A range of a precompressed representation counts its bytes.
	w := do(h, "GET", "/app.0123abcd.wasm", "Range", "bytes=3-", "Accept-Encoding", "br")
	if w.Code != 206 || w.Body.String() != "wasm" || w.Header().Get("Content-Range") != "bytes 3-6/7" || w.Header().Get("Content-Encoding") != "br" {
		t.Errorf("br range: %d %q %v", w.Code, w.Body, w.Header())
	}
	// HEAD ignores Range.
	if w := do(h, "HEAD", p, "Range", "bytes=0-3"); w.Code != 200 || w.Header().Get("Content-Length") != "20" {
		t.Errorf("HEAD range: %d %v", w.Code, w.Header())
	}
}

func TestRefusals(t *testing.T) {
	h, _ := newTestHandler(t)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"} {
		w := do(h, m, "/index.html")
		if w.Code != 405 || w.Header().Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: %d Allow %q", m, w.Code, w.Header().Get("Allow"))
		}
		checkSecurity(t, w)
	}
	bad := []string{"/../index.html", "/icons/../index.html", "/%2e%2e/index.html", "/icons/%2E%2E/index.html",
		"/icons%2ficon.png", "/icons%2Ficon.png", "/icons%5cicon.png", "/icons\\icon.png", "//index.html",
		"/icons//icon.png", "/./index.html", "/index.html%00", "/%2e/index.html"}
	for _, p := range bad {
		r := httptest.NewRequest("GET", "/", nil)
		u, err := url.Parse(p)
		if err != nil {
			t.Fatalf("%q: %v", p, err)
		}
		r.URL = u
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 400 {
			t.Errorf("%s: %d, want 400", p, w.Code)
		}
		checkSecurity(t, w)
	}
	for _, p := range []string{"/nope", "/_headers", "/.secret", "/index.html.br", "/app.0123abcd.wasm.br", "/icons/", "/" + ManifestName, "/models"} {
		w := do(h, "GET", p)
		if w.Code != 404 || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Body.String() != "404 Not Found\n" {
			t.Errorf("%s: %d %q", p, w.Code, w.Body)
		}
		checkSecurity(t, w)
	}
	w := do(h, "GET", "/", "X-Big", strings.Repeat("a", MaxHeaderBytes))
	if w.Code != 431 {
		t.Errorf("huge header: %d", w.Code)
	}
	if w := do(h, "GET", "/", "X-Big", strings.Repeat("a", MaxHeaderBytes/2)); w.Code != 200 {
		t.Errorf("8 KiB header: %d", w.Code)
	}
}

// bodyFS wraps files so that they implement BodyWriter.
type bodyFS struct {
	fs.FS
	used *int
}

type bodyFile struct {
	fs.File
	used *int
}

func (b bodyFS) Open(name string) (fs.File, error) {
	f, err := b.FS.Open(name)
	if err != nil {
		return nil, err
	}
	return bodyFile{f, b.used}, nil
}

func (b bodyFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(b.FS, name) }

func (f bodyFile) WriteBody(w http.ResponseWriter) error {
	*f.used++
	_, err := io.Copy(w, f.File)
	return err
}

func TestBodyWriter(t *testing.T) {
	used := 0
	h, err := New(bodyFS{testFS(), &used})
	if err != nil {
		t.Fatal(err)
	}
	if w := do(h, "GET", "/app.js"); w.Body.String() != "console.log('app')" || used != 1 {
		t.Errorf("full body: %q used %d", w.Body, used)
	}
	if w := do(h, "GET", "/app.js", "Range", "bytes=2-4"); w.Body.String() != "nso" || used != 1 {
		t.Errorf("range: %q used %d", w.Body, used)
	}
	do(h, "HEAD", "/app.js")
	if used != 1 {
		t.Error("HEAD opened the body")
	}
}

// rangeFS opens ranges itself and records them.
type rangeFS struct {
	fstest.MapFS
	got []string
}

func (r *rangeFS) OpenRange(name string, off, n int64) (io.ReadCloser, error) {
	r.got = append(r.got, fmt.Sprintf("%s %d %d", name, off, n))
	b := r.MapFS[name].Data
	return io.NopCloser(bytes.NewReader(b[off : off+n])), nil
}

func TestRangeOpener(t *testing.T) {
	r := &rangeFS{MapFS: testFS()}
	h, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	w := do(h, "GET", "/models/vgg.89abcdef.safetensors", "Range", "bytes=-5")
	if w.Code != 206 || w.Body.String() != "fghij" || len(r.got) != 1 || r.got[0] != "models/vgg.89abcdef.safetensors 15 5" {
		t.Errorf("%d %q %q", w.Code, w.Body, r.got)
	}
	if w := do(h, "GET", "/app.0123abcd.wasm", "Range", "bytes=1-2", "Accept-Encoding", "br"); w.Body.String() != "R-" || r.got[1] != "app.0123abcd.wasm.br 1 2" {
		t.Errorf("%q %q", w.Body, r.got)
	}
	if do(h, "GET", "/app.js"); len(r.got) != 2 {
		t.Error("a whole file was opened as a range")
	}
}

func TestOpenFailure(t *testing.T) {
	fsys := testFS()
	h, err := New(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	h.ErrorLog = log.New(&logged, "", 0)
	delete(fsys, "sw.js")
	w := do(h, "GET", "/sw.js")
	if w.Code != 500 || w.Header().Get("ETag") != "" {
		t.Errorf("missing file: %d %v", w.Code, w.Header())
	}
	if !strings.HasPrefix(logged.String(), "GET /sw.js: ") {
		t.Errorf("logged %q", &logged)
	}
}

func TestVerify(t *testing.T) {
	fsys := testFS()
	m, err := ScanManifest(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(fsys, m); err != nil {
		t.Fatalf("unchanged bundle: %v", err)
	}
	fsys["app.js"] = &fstest.MapFile{Data: []byte("console.log('changed')")}
	fsys["style.css"] = &fstest.MapFile{Data: []byte("body[]")} // same size
	delete(fsys, "index.html.br")
	err = Verify(fsys, m)
	if err == nil {
		t.Fatal("changed bundle verified")
	}
	for _, want := range []string{"the bundle changed after it was written", "app.js: 22 bytes, the manifest says 18", "style.css: the content differs", "index.html.br: missing"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %q", err, want)
		}
	}
	if n := strings.Count(err.Error(), "\n  "); n != 3 {
		t.Errorf("%d files listed, want 3: %v", n, err)
	}
}

// TestSizeChecked edits files after the handler started: they get a 500
// and a log line, never a body that disagrees with Content-Length.
func TestSizeChecked(t *testing.T) {
	fsys := testFS()
	m, err := ScanManifest(fsys)
	if err != nil {
		t.Fatal(err)
	}
	h := NewWithManifest(SizeChecked(fsys, m), m)
	var logged bytes.Buffer
	h.ErrorLog = log.New(&logged, "", 0)
	if w := do(h, "GET", "/app.js"); w.Code != 200 || logged.Len() != 0 {
		t.Fatalf("unchanged file: %d %s", w.Code, &logged)
	}
	fsys["app.js"] = &fstest.MapFile{Data: []byte("console.log('app'); more()")}
	fsys["models/vgg.89abcdef.safetensors"] = &fstest.MapFile{Data: []byte("0123")}
	fsys["app.0123abcd.wasm.br"] = &fstest.MapFile{Data: []byte("BR-wasm, longer")}
	for _, c := range []struct{ method, target, header, value string }{
		{"GET", "/app.js", "", ""},
		{"HEAD", "/app.js", "", ""},
		{"GET", "/models/vgg.89abcdef.safetensors", "Range", "bytes=2-5"},
		{"GET", "/app.0123abcd.wasm", "Accept-Encoding", "br"},
		{"HEAD", "/app.0123abcd.wasm", "Accept-Encoding", "br"},
	} {
		logged.Reset()
		w := do(h, c.method, c.target, c.header, c.value)
		if w.Code != 500 || w.Header().Get("ETag") != "" || w.Header().Get("Content-Length") != "26" {
			t.Errorf("%s %s: %d %v", c.method, c.target, w.Code, w.Header())
		}
		checkSecurity(t, w)
		if !strings.Contains(logged.String(), c.method+" "+c.target+": ") || !strings.Contains(logged.String(), "the manifest says") {
			t.Errorf("%s %s: logged %q", c.method, c.target, &logged)
		}
	}
	if w := do(h, "HEAD", "/index.html"); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD of an unchanged file: %d %q", w.Code, w.Body)
	}
	if w := do(h, "GET", "/app.0123abcd.wasm"); w.Code != 200 || w.Body.String() != "\x00asm0123456789" {
		t.Errorf("unchanged identity copy: %d %q", w.Code, w.Body)
	}
}
