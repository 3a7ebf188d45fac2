package site

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// Verify checks that fsys still holds the files m lists as the bundler wrote
// them: the size and SHA-256 of every file and precompressed copy. The error
// names each file that differs.
func Verify(fsys fs.FS, m *Manifest) error {
	var bad []string
	check := func(name string, want Variant) {
		got, err := hashFile(fsys, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			bad = append(bad, name+": missing")
		case err != nil:
			bad = append(bad, err.Error())
		case got.Size != want.Size:
			bad = append(bad, fmt.Sprintf("%s: %d bytes, the manifest says %d", name, got.Size, want.Size))
		case !strings.HasPrefix(got.SHA256, strings.ToLower(want.SHA256)):
			bad = append(bad, name+": the content differs from the manifest")
		}
	}
	for _, f := range m.Files {
		check(f.Path, Variant{f.Size, f.SHA256})
		if f.Brotli != nil {
			check(f.Path+".br", *f.Brotli)
		}
		if f.Gzip != nil {
			check(f.Path+".gz", *f.Gzip)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("the bundle changed after it was written (run nnst dist again):\n  %s", strings.Join(bad, "\n  "))
}

// SizeChecked is fsys with the files m lists (and their precompressed
// copies) held to the sizes m gives: opening one whose size changed fails,
// so the handler answers 500 rather than cut a file short or send more bytes
// than its Content-Length. It is for folders that can change while served;
// the Worker's assets cannot.
func SizeChecked(fsys fs.FS, m *Manifest) fs.FS {
	sizes := map[string]int64{}
	for _, f := range m.Files {
		sizes[f.Path] = f.Size
		if f.Brotli != nil {
			sizes[f.Path+".br"] = f.Brotli.Size
		}
		if f.Gzip != nil {
			sizes[f.Path+".gz"] = f.Gzip.Size
		}
	}
	return sizeChecked{fsys, sizes}
}

type sizeChecked struct {
	fsys  fs.FS
	sizes map[string]int64
}

func (c sizeChecked) Open(name string) (fs.File, error) {
	f, err := c.fsys.Open(name)
	if err != nil {
		return nil, err
	}
	want, ok := c.sizes[name]
	if !ok {
		return f, nil
	}
	st, err := f.Stat()
	if err == nil && st.Size() != want {
		err = fmt.Errorf("%s is %d bytes, the manifest says %d: the bundle changed after it was written (run nnst dist again)", name, st.Size(), want)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
