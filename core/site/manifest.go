// Package site serves the static web app: one http.Handler over an fs.FS,
// used by `nnst serve` and by the Cloudflare Worker. It decides every status
// and header itself (MIME type, precompressed variant, ETag, ranges, caching,
// security headers); only the bytes come from the fs.FS.
package site

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
)

// ManifestName is the bundle's file list, written by the bundler. It is never
// served.
const ManifestName = "_files.json"

// Manifest lists the files of a bundle.
type Manifest struct {
	Files []File `json:"files"`
}

// File is one servable file. Its precompressed copies sit beside it as
// Path+".br" and Path+".gz".
type File struct {
	Path      string   `json:"path"` // slash-separated, relative to the root
	Size      int64    `json:"size"`
	SHA256    string   `json:"sha256"`
	Immutable bool     `json:"immutable,omitempty"` // content-hashed name
	Brotli    *Variant `json:"br,omitempty"`
	Gzip      *Variant `json:"gz,omitempty"`
}

// Variant is a precompressed copy of a File.
type Variant struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// hashedName matches names the bundler gives content-hashed files:
// stem.<8 hex>.ext, e.g. app.3f2a9c1b.wasm.
var hashedName = regexp.MustCompile(`\.[0-9a-f]{8}\.[A-Za-z0-9]+$`)

// IsHashedName reports whether a file name carries a content hash.
func IsHashedName(name string) bool { return hashedName.MatchString(path.Base(name)) }

// hidden reports whether a path is outside the site: any segment starting
// with "." or "_" (the manifest, _headers, .git).
func hidden(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "_") {
			return true
		}
	}
	return false
}

// LoadManifest reads the manifest from fsys, or, when there is none, builds
// one by reading every file (plain folders served with `nnst serve --dir`).
func LoadManifest(fsys fs.FS) (*Manifest, error) {
	b, err := fs.ReadFile(fsys, ManifestName)
	if err == nil {
		return ParseManifest(b)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return ScanManifest(fsys)
}

// ParseManifest reads and checks the JSON of a manifest.
func ParseManifest(b []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestName, err)
	}
	ok := func(v *Variant) bool { return v == nil || v.Size >= 0 && len(v.SHA256) >= 16 }
	for _, f := range m.Files {
		if !fs.ValidPath(f.Path) || hidden(f.Path) || f.Size < 0 || len(f.SHA256) < 16 || !ok(f.Brotli) || !ok(f.Gzip) {
			return nil, fmt.Errorf("%s: bad entry %q", ManifestName, f.Path)
		}
	}
	return &m, nil
}

// ScanManifest builds a manifest by reading every file of fsys. x.br and x.gz
// next to a file x are its precompressed copies.
func ScanManifest(fsys fs.FS) (*Manifest, error) {
	sums := map[string]Variant{}
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && hidden(p) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		v, err := hashFile(fsys, p)
		if err != nil {
			return err
		}
		sums[p] = v
		names = append(names, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	m := &Manifest{}
	for _, p := range names {
		if base, ok := strings.CutSuffix(p, ".br"); ok {
			if _, ok := sums[base]; ok {
				continue
			}
		}
		if base, ok := strings.CutSuffix(p, ".gz"); ok {
			if _, ok := sums[base]; ok {
				continue
			}
		}
		v := sums[p]
		f := File{Path: p, Size: v.Size, SHA256: v.SHA256, Immutable: IsHashedName(p)}
		if b, ok := sums[p+".br"]; ok {
			f.Brotli = &b
		}
		if g, ok := sums[p+".gz"]; ok {
			f.Gzip = &g
		}
		m.Files = append(m.Files, f)
	}
	return m, nil
}

func hashFile(fsys fs.FS, p string) (Variant, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return Variant{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Variant{}, fmt.Errorf("%s: %w", p, err)
	}
	return Variant{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}
