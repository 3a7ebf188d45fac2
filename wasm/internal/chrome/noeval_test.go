//go:build !js

package chrome

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoEval: the site's CSP (script-src 'self' 'wasm-unsafe-eval') forbids
// evaluating strings, so no Go code under wasm/ may build JS functions from
// source (a path used only at large sizes once crashed the app this way).
func TestNoEval(t *testing.T) {
	bad := []string{`Get("Function")`, `Call("eval"`, `Get("eval")`}
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && d.Name() == "node_modules" {
			return fs.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "noeval_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for _, s := range bad {
			if strings.Contains(string(b), s) {
				t.Errorf("%s uses %s: the page's CSP forbids it", p, s)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
