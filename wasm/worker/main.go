//go:build js && wasm

// Command worker is the Cloudflare Worker that serves the bundle: the same
// core/site handler as `nnst serve` decides every status and header; the
// bytes come from Workers static assets (the ASSETS binding), streamed
// through without a copy into Go for whole-file responses.
package main

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"nnst/wasm/jsutil"
	"strings"
	"syscall/js"
	"time"

	"github.com/syumai/workers"
	"github.com/syumai/workers/cloudflare"

	"nnst/core/site"
)

func main() {
	workers.Serve(newHandler())
}

func newHandler() http.Handler {
	assets := cloudflare.GetBinding("ASSETS")
	if assets.IsUndefined() {
		return failing("the ASSETS binding is missing")
	}
	fsys := assetsFS{assets}
	b, err := fs.ReadFile(fsys, site.ManifestName)
	if err != nil {
		return failing(fmt.Sprintf("reading %s from ASSETS: %v", site.ManifestName, err))
	}
	m, err := site.ParseManifest(b)
	if err != nil {
		return failing(err.Error())
	}
	return joinHeaders(site.NewWithManifest(fsys, m))
}

func failing(msg string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "nnst worker: "+msg, http.StatusInternalServerError)
	})
}

// joinHeaders undoes the request conversion's split of header values at
// commas, so the handler sees the header as sent ("bytes=0-1,4-5" stays a
// multi-range, not a range).
func joinHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, vs := range r.Header {
			if len(vs) > 1 {
				for i := range vs {
					vs[i] = strings.TrimSpace(vs[i])
				}
				r.Header[k] = []string{strings.Join(vs, ", ")}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// assetsFS opens files by fetching them from the ASSETS binding.
type assetsFS struct{ binding js.Value }

func (a assetsFS) Open(name string) (fs.File, error) {
	return a.open(name, 0, -1)
}

// OpenRange asks ASSETS for the range; an answer with the whole file is
// skipped through instead.
func (a assetsFS) OpenRange(name string, off, n int64) (io.ReadCloser, error) {
	return a.open(name, off, n)
}

func (a assetsFS) open(name string, off, n int64) (*assetFile, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	init := js.Global().Get("Object").New()
	if n >= 0 {
		hd := js.Global().Get("Object").New()
		hd.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+n-1))
		init.Set("headers", hd)
	}
	res, err := await(a.binding.Call("fetch", "https://assets.invalid/"+name, init))
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	f := &assetFile{name: name, res: res, size: -1, limit: -1}
	if cl := res.Get("headers").Call("get", "Content-Length"); cl.Type() == js.TypeString {
		fmt.Sscan(cl.String(), &f.size)
	}
	switch st := res.Get("status").Int(); {
	case st == 404:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case st == 206 && n >= 0:
		cr := res.Get("headers").Call("get", "Content-Range")
		if cr.Type() != js.TypeString || !strings.HasPrefix(cr.String(), fmt.Sprintf("bytes %d-%d/", off, off+n-1)) {
			f.Close()
			return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ASSETS answered the range %v", cr)}
		}
	case st == 200 && n >= 0:
		f.skip, f.limit = off, n
	case st != 200:
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("ASSETS answered %d", st)}
	}
	return f, nil
}

// assetFile is the body of an ASSETS response. skip and limit cut a range
// out of a whole-file answer.
type assetFile struct {
	name     string
	res      js.Value
	size     int64
	skip     int64
	limit    int64    // -1: all
	reader   js.Value // the body's reader, once Read starts
	buf      []byte
	eof      bool
	handedOn bool
}

// WriteBody hands the response body stream to the Worker's ResponseWriter.
func (f *assetFile) WriteBody(w http.ResponseWriter) error {
	if rw, ok := w.(interface{ WriteRawJSBody(js.Value) }); ok && f.reader.IsUndefined() && f.skip == 0 && f.limit < 0 {
		f.handedOn = true
		rw.WriteRawJSBody(f.res.Get("body"))
		return nil
	}
	if f.skip > 0 {
		if _, err := io.CopyN(io.Discard, f, f.skip); err != nil {
			return err
		}
	}
	if f.limit >= 0 {
		_, err := io.CopyN(w, f, f.limit)
		return err
	}
	_, err := io.Copy(w, f)
	return err
}

func (f *assetFile) Read(p []byte) (int, error) {
	for len(f.buf) == 0 {
		if f.eof {
			return 0, io.EOF
		}
		if f.reader.IsUndefined() {
			body := f.res.Get("body")
			if body.IsNull() {
				f.eof = true
				continue
			}
			f.reader = body.Call("getReader")
		}
		chunk, err := await(f.reader.Call("read"))
		if err != nil {
			return 0, err
		}
		if chunk.Get("done").Bool() {
			f.eof = true
			continue
		}
		v := chunk.Get("value")
		f.buf = make([]byte, v.Get("byteLength").Int())
		js.CopyBytesToGo(f.buf, v)
	}
	n := copy(p, f.buf)
	f.buf = f.buf[n:]
	return n, nil
}

func (f *assetFile) Close() error {
	if f.handedOn || f.eof {
		return nil
	}
	if !f.reader.IsUndefined() {
		f.reader.Call("cancel")
	} else if body := f.res.Get("body"); !body.IsNull() {
		body.Call("cancel")
	}
	return nil
}

func (f *assetFile) Stat() (fs.FileInfo, error) { return assetInfo{f}, nil }

type assetInfo struct{ f *assetFile }

func (i assetInfo) Name() string       { return i.f.name[strings.LastIndex(i.f.name, "/")+1:] }
func (i assetInfo) Size() int64        { return i.f.size }
func (i assetInfo) Mode() fs.FileMode  { return 0o444 }
func (i assetInfo) ModTime() time.Time { return time.Time{} }
func (i assetInfo) IsDir() bool        { return false }
func (i assetInfo) Sys() any           { return nil }

// await is the shared promise helper (wasm/jsutil).
var await = jsutil.Await
