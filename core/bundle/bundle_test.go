package bundle

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"nnst/core/site"
)

func TestRewrite(t *testing.T) {
	cases := []struct {
		in, want string
		n        int
	}{
		{`fetch("app.wasm")`, `fetch("app.1234abcd.wasm")`, 1},
		{`fetch('./app.wasm')`, `fetch('./app.1234abcd.wasm')`, 1},
		{"[`app.wasm`, \"app.wasm\"]", "[`app.1234abcd.wasm`, \"app.1234abcd.wasm\"]", 2},
		{`<link href=app.wasm>`, `<link href=app.1234abcd.wasm>`, 0}, // ">" is no delimiter
		{`href=app.wasm `, `href=app.1234abcd.wasm `, 1},
		{`"app.wasm?v=1" "app.wasm#x"`, `"app.1234abcd.wasm?v=1" "app.1234abcd.wasm#x"`, 2},
		{`app.wasm app.wasm`, `app.1234abcd.wasm app.1234abcd.wasm`, 2},
		{`"myapp.wasm" "app.wasm.map" "x/app.wasm" "../app.wasm" "app.wasmx"`, `"myapp.wasm" "app.wasm.map" "x/app.wasm" "../app.wasm" "app.wasmx"`, 0},
		{`"/app.wasm"`, `"/app.wasm"`, 0},
	}
	for _, c := range cases {
		got, n := Rewrite(c.in, "app.wasm", "app.1234abcd.wasm")
		want := c.want
		if c.n == 0 {
			want = c.in
		}
		if got != want || n != c.n {
			t.Errorf("Rewrite(%s) = %s, %d; want %s, %d", c.in, got, n, want, c.n)
		}
	}
	if !absoluteRef(`x = "/app.wasm"`, "app.wasm") || absoluteRef(`"./app.wasm"`, "app.wasm") || absoluteRef(`"a/app.wasm"`, "app.wasm") {
		t.Error("absoluteRef")
	}
}

func TestInlineScript(t *testing.T) {
	for html, want := range map[string]bool{
		`<script src="a.js"></script>`:                   false,
		`<script defer src='a.js'></script>`:             false,
		`<script>alert(1)</script>`:                      true,
		"<SCRIPT type=module>\nimport x</SCRIPT>":        true,
		`<script></script>`:                              false,
		`<script data-src="x">go()</script>`:             true,
		`<script src="a.js"></script><script>x</script>`: true,
	} {
		if got := hasInlineScript(html); got != want {
			t.Errorf("%s: %v, want %v", html, got, want)
		}
	}
}

func build(t *testing.T) (src, out string, m *site.Manifest) {
	t.Helper()
	dir := t.TempDir()
	src, out = filepath.Join(dir, "site"), filepath.Join(dir, "dist")
	if err := WriteTestSite(src); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(src, ".DS_Store"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "_redirects"), []byte("x"), 0o644)
	m, err := Build(Options{Src: src, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	return src, out, m
}

func hash8(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:4])
}

func read(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuild(t *testing.T) {
	src, out, m := build(t)
	wasm := read(t, filepath.Join(src, "app.wasm"))
	model := read(t, filepath.Join(src, "models/vgg19.safetensors"))
	wasmName := "app." + hash8(wasm) + ".wasm"
	modelName := "models/vgg19." + hash8(model) + ".safetensors"
	if got := read(t, filepath.Join(out, wasmName)); !bytes.Equal(got, wasm) {
		t.Error("hashed wasm differs from the source")
	}
	if got := read(t, filepath.Join(out, filepath.FromSlash(modelName))); !bytes.Equal(got, model) {
		t.Error("hashed model differs from the source")
	}
	for _, gone := range []string{"app.wasm", "models/vgg19.safetensors", ".DS_Store", "_redirects"} {
		if _, err := os.Stat(filepath.Join(out, gone)); err == nil {
			t.Errorf("%s is in the bundle", gone)
		}
	}

	// References.
	app := string(read(t, filepath.Join(out, "app.js")))
	if !strings.Contains(app, `"./`+wasmName+`"`) || !strings.Contains(app, `'`+modelName+`'`) || !strings.Contains(app, `"myapp.wasm"`) {
		t.Errorf("app.js not rewritten:\n%s", app)
	}
	sw := string(read(t, filepath.Join(out, "sw.js")))
	if !strings.Contains(sw, `"`+wasmName+`", "`+modelName+`"`) || strings.Contains(sw, `"app.wasm"`) {
		t.Errorf("sw.js precache list not rewritten:\n%s", sw)
	}
	index := string(read(t, filepath.Join(out, "index.html")))
	if !strings.Contains(index, `href="./`+wasmName+`"`) {
		t.Errorf("index.html not rewritten:\n%s", index)
	}
	if got := read(t, filepath.Join(out, "style.css")); !bytes.Equal(got, read(t, filepath.Join(src, "style.css"))) {
		t.Error("style.css changed")
	}

	// Manifest: every file, matching the disk; variants decode to the file.
	var disk site.Manifest
	if err := json.Unmarshal(read(t, filepath.Join(out, site.ManifestName)), &disk); err != nil {
		t.Fatal(err)
	}
	if len(disk.Files) != len(m.Files) || len(m.Files) != 11 {
		t.Fatalf("%d files in the manifest, %d returned, want 11", len(disk.Files), len(m.Files))
	}
	scan, err := site.ScanManifest(os.DirFS(out))
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range disk.Files {
		s := scan.Files[i]
		if f.Path != s.Path || f.Size != s.Size || f.SHA256 != s.SHA256 || f.Immutable != s.Immutable ||
			(f.Brotli == nil) != (s.Brotli == nil) || (f.Gzip == nil) != (s.Gzip == nil) {
			t.Errorf("manifest %+v, disk %+v", f, s)
		}
		if f.Immutable != (f.Path == wasmName || f.Path == modelName) {
			t.Errorf("%s immutable %v", f.Path, f.Immutable)
		}
		data := read(t, filepath.Join(out, filepath.FromSlash(f.Path)))
		// Small files keep a copy only when it saves 5%; PNG gets none.
		png := f.Path == "icons/icon-192.png"
		if png && (f.Brotli != nil || f.Gzip != nil) || !png && len(data) > 300 && (f.Brotli == nil || f.Gzip == nil) {
			t.Errorf("%s: br %v gz %v", f.Path, f.Brotli != nil, f.Gzip != nil)
		}
		if f.Brotli != nil {
			br := read(t, filepath.Join(out, filepath.FromSlash(f.Path)+".br"))
			dec, err := io.ReadAll(brotli.NewReader(bytes.NewReader(br)))
			if err != nil || !bytes.Equal(dec, data) || len(br) >= len(data) {
				t.Errorf("%s.br: %v, %d bytes for %d", f.Path, err, len(br), len(data))
			}
		}
		if f.Gzip != nil {
			zr, err := gzip.NewReader(bytes.NewReader(read(t, filepath.Join(out, filepath.FromSlash(f.Path)+".gz"))))
			if err != nil {
				t.Fatal(err)
			}
			dec, err := io.ReadAll(zr)
			if err != nil || !bytes.Equal(dec, data) || f.Gzip.Size > int64(len(data))*95/100 {
				t.Errorf("%s.gz does not decode to the file: %v", f.Path, err)
			}
		}
	}

	// _headers.
	h := string(read(t, filepath.Join(out, "_headers")))
	for _, kv := range site.SecurityHeaders {
		if !strings.Contains(h, "/*\n") || !strings.Contains(h, "  "+kv[0]+": "+kv[1]+"\n") {
			t.Errorf("_headers lacks %s", kv[0])
		}
	}
	for _, want := range []string{
		"\n/\n  Cache-Control: no-cache\n",
		"\n/index.html\n  Cache-Control: no-cache\n",
		"\n/sw.js\n  Cache-Control: no-cache\n",
		"\n/manifest.webmanifest\n  Cache-Control: no-cache\n",
		"\n/" + wasmName + "\n  Cache-Control: public, max-age=31536000, immutable\n",
		"\n/" + modelName + "\n  Cache-Control: public, max-age=31536000, immutable\n",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("_headers lacks %q:\n%s", want, h)
		}
	}
	if strings.Count(h, "Cache-Control") != len(m.Files)+1 {
		t.Errorf("%d Cache-Control lines", strings.Count(h, "Cache-Control"))
	}

	// Deterministic, and an earlier bundle is replaced.
	before := snapshot(t, out)
	os.WriteFile(filepath.Join(out, "stale.txt"), []byte("x"), 0o644)
	if _, err := Build(Options{Src: src, Out: out}); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, out)
	if len(before) != len(after) {
		t.Errorf("rebuild: %d files, then %d", len(before), len(after))
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("rebuild changed %s", k)
		}
	}
}

func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	s := map[string]string{}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			s[p] = hash8(read(t, p))
		}
		return err
	})
	return s
}

// TestContentTypes checks that every kind of file the bundler knows, and
// every kind the web app ships, has a MIME type of its own.
func TestContentTypes(t *testing.T) {
	exts := []string{".png", ".woff2", ".map"}
	for e := range textExt {
		exts = append(exts, e)
	}
	for e := range compressExt {
		exts = append(exts, e)
	}
	for _, e := range exts {
		if e == ".safetensors" {
			continue
		}
		for _, name := range []string{"a" + e, "A" + strings.ToUpper(e)} {
			if got := site.ContentType(name); got == "application/octet-stream" {
				t.Errorf("%s is served as %s", name, got)
			}
		}
	}
	if a, b := site.ContentType("x.htm"), site.ContentType("x.html"); a != b {
		t.Errorf(".htm is %s, .html %s", a, b)
	}
}

func TestBuildRefusals(t *testing.T) {
	write := func(t *testing.T, src, name, text string) {
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		setup func(t *testing.T, src, out string)
		opts  func(src, out string) Options
		want  string
	}{
		{"absolute reference", func(t *testing.T, src, out string) {
			write(t, src, "extra.js", `fetch("/app.wasm")`)
		}, nil, "relative URL"},
		{"inline script", func(t *testing.T, src, out string) {
			write(t, src, "index.html", `<html><script>go()</script><script src="app.js"></script></html>`)
		}, nil, "inline <script>"},
		{"unreferenced hashed file", func(t *testing.T, src, out string) {
			write(t, src, "other.wasm", "\x00asm")
		}, nil, "no text file references"},
		{"no index.html", func(t *testing.T, src, out string) {
			os.Remove(filepath.Join(src, "index.html"))
		}, nil, "no index.html"},
		{"precompressed source", func(t *testing.T, src, out string) {
			write(t, src, "app.js.gz", "x")
		}, nil, ".gz"},
		{"output not a bundle", func(t *testing.T, src, out string) {
			os.MkdirAll(out, 0o755)
			write(t, out, "precious.txt", "keep me")
		}, nil, "not a bundle"},
		{"link to a file outside", func(t *testing.T, src, out string) {
			secret := filepath.Join(t.TempDir(), "secret.txt")
			write(t, filepath.Dir(secret), "secret.txt", "password")
			if err := os.Symlink(secret, filepath.Join(src, "icons", "notes.txt")); err != nil {
				t.Fatal(err)
			}
		}, nil, "icons/notes.txt is a symbolic link"},
		{"link to a folder", func(t *testing.T, src, out string) {
			if err := os.Symlink(t.TempDir(), filepath.Join(src, "more")); err != nil {
				t.Fatal(err)
			}
		}, nil, "more is a symbolic link"},
		{"link inside the site", func(t *testing.T, src, out string) {
			if err := os.Symlink("app.js", filepath.Join(src, "copy.js")); err != nil {
				t.Fatal(err)
			}
		}, nil, "copy.js is a symbolic link"},
		{"output inside source", nil, func(src, out string) Options { return Options{Src: src, Out: filepath.Join(src, "dist")} }, "overlap"},
		{"bad pattern", nil, func(src, out string) Options { return Options{Src: src, Out: out, Hash: []string{"["}} }, "pattern"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			src, out := filepath.Join(dir, "site"), filepath.Join(dir, "dist")
			if err := WriteTestSite(src); err != nil {
				t.Fatal(err)
			}
			if c.setup != nil {
				c.setup(t, src, out)
			}
			o := Options{Src: src, Out: out}
			if c.opts != nil {
				o = c.opts(src, out)
			}
			_, err := Build(o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one with %q", err, c.want)
			}
			if _, err := os.Stat(out); c.name != "output not a bundle" && err == nil {
				t.Error("a refused build wrote the output")
			}
			if c.name == "output not a bundle" {
				if b, _ := os.ReadFile(filepath.Join(out, "precious.txt")); string(b) != "keep me" {
					t.Error("output folder was touched")
				}
			}
		})
	}
}
