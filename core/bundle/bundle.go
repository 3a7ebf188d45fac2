// Package bundle turns the web app's site folder into a deployable static
// bundle (`nnst dist`).
//
// Rules, kept simple on purpose:
//   - Files whose slash path matches one of the Hash patterns (by default the
//     wasm binary and the model) are renamed stem.<8 hex of SHA-256>.ext and
//     written as they are.
//   - Every text file (.html .js .mjs .css .json .webmanifest .svg .txt .xml)
//     has its references to hashed files rewritten. A reference is the file's
//     path relative to the site root, optionally after "./", standing between
//     delimiters (quotes, backquote, parentheses, brackets, "=", ",",
//     whitespace; after it also "?" or "#"): "app.wasm", './app.wasm',
//     url(models/vgg19.safetensors). So text files that reference hashed files
//     must sit at the site root, or name them by their root-relative path.
//   - Root-absolute references ("/app.wasm") are refused, so the bundle works
//     at a domain root and under any sub-path. So are hashed files that no
//     text file references (the rename would break them), and HTML with an
//     inline <script> (the Content-Security-Policy forbids it).
//   - Compressible files get .br and .gz copies beside them, kept when they
//     save at least 5%.
//   - _headers (Netlify / Cloudflare Pages syntax) carries the same headers
//     as `nnst serve`; _files.json lists every file with its size and SHA-256
//     (site.Manifest) for the server and the Worker. Names starting with "."
//     or "_" are never served; the source's own such files are skipped.
//   - Symbolic links (and other files that are not regular) are refused: a
//     link could publish a file from outside the source.
package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"

	"nnst/core/site"
)

// DefaultHash lists the files that get content-hashed names.
var DefaultHash = []string{"*.wasm", "models/*.safetensors"}

// Options configure Build.
type Options struct {
	Src, Out string
	Hash     []string // path.Match patterns on slash paths; nil means DefaultHash
}

var textExt = map[string]bool{".html": true, ".htm": true, ".js": true, ".mjs": true, ".css": true,
	".json": true, ".webmanifest": true, ".svg": true, ".txt": true, ".xml": true}

// compressExt lists what gets .br/.gz copies: text, wasm, icons. Fonts and
// PNG/JPEG/WebP are compressed already.
var compressExt = map[string]bool{".wasm": true, ".ico": true, ".wgsl": true, ".map": true, ".safetensors": true}

func compressible(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return textExt[ext] || compressExt[ext]
}

type file struct {
	path string // output slash path
	data []byte
}

// Build writes the bundle of o.Src into o.Out and returns its manifest. Out
// is replaced; it must be absent, empty or an earlier bundle.
func Build(o Options) (*site.Manifest, error) {
	if o.Hash == nil {
		o.Hash = DefaultHash
	}
	for _, p := range o.Hash {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad hash pattern %q", p)
		}
	}
	src, err := filepath.Abs(o.Src)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(src); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("source %s is not a folder", o.Src)
	}
	if out == src || strings.HasPrefix(out, src+string(filepath.Separator)) || strings.HasPrefix(src, out+string(filepath.Separator)) {
		return nil, fmt.Errorf("output %s and source %s overlap", o.Out, o.Src)
	}
	if err := checkReplaceable(out); err != nil {
		return nil, err
	}

	files, err := readSite(src)
	if err != nil {
		return nil, err
	}
	if _, ok := findFile(files, "index.html"); !ok {
		return nil, fmt.Errorf("%s has no index.html", o.Src)
	}

	// Hashed names.
	renames := map[string]string{}
	for _, f := range files {
		if matchAny(o.Hash, f.path) {
			sum := sha256.Sum256(f.data)
			ext := path.Ext(f.path)
			renames[f.path] = strings.TrimSuffix(f.path, ext) + "." + hex.EncodeToString(sum[:4]) + ext
		}
	}
	olds := make([]string, 0, len(renames))
	for k := range renames {
		olds = append(olds, k)
	}
	sort.Slice(olds, func(i, j int) bool { return len(olds[i]) > len(olds[j]) })

	// Rewrite references in text files.
	refs := map[string]int{}
	for i := range files {
		f := &files[i]
		if renames[f.path] != "" || !textExt[strings.ToLower(path.Ext(f.path))] {
			continue
		}
		text := string(f.data)
		if strings.HasSuffix(f.path, ".html") || strings.HasSuffix(f.path, ".htm") {
			if hasInlineScript(text) {
				return nil, fmt.Errorf("%s has an inline <script>: the Content-Security-Policy forbids it; move it to a .js file", f.path)
			}
		}
		for _, old := range olds {
			if bad := absoluteRef(text, old); bad {
				return nil, fmt.Errorf("%s references /%s: use a relative URL (%s or ./%s) so the site works under a sub-path", f.path, old, old, old)
			}
			var n int
			text, n = Rewrite(text, old, renames[old])
			refs[old] += n
		}
		f.data = []byte(text)
	}
	for _, old := range olds {
		if refs[old] == 0 {
			return nil, fmt.Errorf("%s gets a hashed name but no text file references it by its relative path", old)
		}
	}
	hashed := map[string]bool{}
	for i := range files {
		if n := renames[files[i].path]; n != "" {
			files[i].path = n
			hashed[n] = true
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })

	// Write into a fresh folder beside out, then swap it in.
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), "."+filepath.Base(out)+"-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m := &site.Manifest{Files: make([]site.File, len(files))}
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, f := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			m.Files[i], errs[i] = writeFile(tmp, f)
			m.Files[i].Immutable = hashed[f.path]
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "_headers"), Headers(m), 0o644); err != nil {
		return nil, err
	}
	mj, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, site.ManifestName), append(mj, '\n'), 0o644); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(out); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return m, nil
}

// checkReplaceable refuses to delete a folder that is not an earlier bundle.
func checkReplaceable(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(out, site.ManifestName)); err != nil {
		return fmt.Errorf("%s exists and is not a bundle (no %s): not replacing it", out, site.ManifestName)
	}
	return nil
}

// readSite reads every regular file of src. Links are refused, not followed:
// a link to a file outside the site would publish it. Reads go through an
// os.Root, so a link swapped in during the walk still cannot leave src.
func readSite(src string) ([]file, error) {
	root, err := os.OpenRoot(src)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	fsys := root.FS()
	var files []file
	err = fs.WalkDir(fsys, ".", func(rel string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel == "." {
			return nil
		}
		if b := path.Base(rel); strings.HasPrefix(b, ".") || strings.HasPrefix(b, "_") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		switch t := d.Type(); {
		case t&fs.ModeSymlink != 0:
			return fmt.Errorf("%s is a symbolic link: nnst dist copies only regular files (replace the link with the file itself)", rel)
		case d.IsDir():
			return nil
		case !t.IsRegular():
			return fmt.Errorf("%s is not a regular file (%s)", rel, t)
		}
		if strings.HasSuffix(rel, ".br") || strings.HasSuffix(rel, ".gz") {
			return fmt.Errorf("%s: the source must not hold .br or .gz files (the bundle makes them)", rel)
		}
		data, err := readRegular(fsys, rel)
		if err != nil {
			return err
		}
		files = append(files, file{rel, data})
		return nil
	})
	return files, err
}

// readRegular reads a file, refusing one that is no longer regular.
func readRegular(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return io.ReadAll(f)
}

func findFile(files []file, p string) (file, bool) {
	for _, f := range files {
		if f.path == p {
			return f, true
		}
	}
	return file{}, false
}

func matchAny(patterns []string, p string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

var scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script`)
var srcAttr = regexp.MustCompile(`(?i)(^|\s)src\s*=`)

// hasInlineScript reports a <script> element with content and no src.
func hasInlineScript(html string) bool {
	for _, m := range scriptTag.FindAllStringSubmatch(html, -1) {
		if !srcAttr.MatchString(m[1]) && strings.TrimSpace(m[2]) != "" {
			return true
		}
	}
	return false
}

func before(c byte) bool { return strings.IndexByte(" \t\r\n\"'`(=,[", c) >= 0 }
func after(c byte) bool  { return strings.IndexByte(" \t\r\n\"'`),]?#", c) >= 0 }

// Rewrite replaces the references to old in text (see the package comment)
// with repl and returns how many it replaced.
func Rewrite(text, old, repl string) (string, int) {
	var b strings.Builder
	n, i := 0, 0
	for {
		j := strings.Index(text[i:], old)
		if j < 0 {
			break
		}
		j += i
		end := j + len(old)
		okBefore := j == 0 || before(text[j-1]) ||
			(j >= 2 && text[j-2:j] == "./" && (j == 2 || before(text[j-3])))
		okAfter := end == len(text) || after(text[end])
		if okBefore && okAfter {
			b.WriteString(text[i:j])
			b.WriteString(repl)
			n++
		} else {
			b.WriteString(text[i:end])
		}
		i = end
	}
	b.WriteString(text[i:])
	return b.String(), n
}

// absoluteRef reports a root-absolute reference "/old".
func absoluteRef(text, old string) bool {
	for i := 0; ; {
		j := strings.Index(text[i:], "/"+old)
		if j < 0 {
			return false
		}
		j += i
		end := j + 1 + len(old)
		if (j == 0 || before(text[j-1])) && (end == len(text) || after(text[end])) {
			return true
		}
		i = end
	}
}

func writeFile(dir string, f file) (site.File, error) {
	full := filepath.Join(dir, filepath.FromSlash(f.path))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return site.File{}, err
	}
	if err := os.WriteFile(full, f.data, 0o644); err != nil {
		return site.File{}, err
	}
	sf := site.File{Path: f.path, Size: int64(len(f.data)), SHA256: sum(f.data)}
	if !compressible(f.path) || len(f.data) < 64 {
		return sf, nil
	}
	keep := func(c []byte) bool { return len(c) <= len(f.data)*95/100 }
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(f.data)
	if err := zw.Close(); err != nil {
		return sf, err
	}
	if keep(gz.Bytes()) {
		if err := os.WriteFile(full+".gz", gz.Bytes(), 0o644); err != nil {
			return sf, err
		}
		sf.Gzip = &site.Variant{Size: int64(gz.Len()), SHA256: sum(gz.Bytes())}
	}
	var br bytes.Buffer
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: brotliQuality(len(f.data)), LGWin: 22})
	bw.Write(f.data)
	if err := bw.Close(); err != nil {
		return sf, err
	}
	if keep(br.Bytes()) {
		if err := os.WriteFile(full+".br", br.Bytes(), 0o644); err != nil {
			return sf, err
		}
		sf.Brotli = &site.Variant{Size: int64(br.Len()), SHA256: sum(br.Bytes())}
	}
	return sf, nil
}

// brotliQuality is the best quality for small files and a faster one for
// big ones, where quality 11 takes minutes in pure Go.
func brotliQuality(n int) int {
	if n <= 1<<20 {
		return brotli.BestCompression
	}
	return 9
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Headers is the _headers file for Netlify and Cloudflare Pages: the
// security headers on every path and each file's Cache-Control on its own
// path (so no two rules set the same header).
func Headers(m *site.Manifest) []byte {
	var b bytes.Buffer
	b.WriteString("# Written by nnst dist: the headers `nnst serve` sends (Netlify / Cloudflare Pages syntax).\n/*\n")
	for _, kv := range site.SecurityHeaders {
		fmt.Fprintf(&b, "  %s: %s\n", kv[0], kv[1])
	}
	for _, f := range m.Files {
		if f.Path == "index.html" {
			fmt.Fprintf(&b, "/\n  Cache-Control: %s\n", site.CacheControl(&f))
		}
		fmt.Fprintf(&b, "/%s\n  Cache-Control: %s\n", f.Path, site.CacheControl(&f))
	}
	return b.Bytes()
}
