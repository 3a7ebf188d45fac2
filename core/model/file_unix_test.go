//go:build unix

package model

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Every reader of model files refuses a named pipe (opening one blocks
// until a writer comes) and /dev/zero (reading it never ends), also when
// a symlink or a TF.js shard leads there.
func TestNonRegularFiles(t *testing.T) {
	dir := t.TempDir()
	pipe := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(pipe, 0o644); err != nil {
		t.Skip(err)
	}
	targets := []string{pipe}
	if _, err := os.Stat("/dev/zero"); err == nil {
		targets = append(targets, "/dev/zero")
	}
	for i, target := range targets {
		tfjs := filepath.Join(dir, "tfjs"+string(rune('0'+i)))
		os.Mkdir(tfjs, 0o755)
		writeTFJS(t, tfjs, tfjsOpts{spec: VGG16, shrink: 16, quant: "uint8", shard: 1024})
		shard := filepath.Join(tfjs, "group1-shard2of41.bin")
		os.Remove(shard)
		paths := []string{shard}
		for _, ext := range []string{".safetensors", ".pth", ".json"} {
			paths = append(paths, filepath.Join(dir, "link"+string(rune('0'+i))+ext))
		}
		for _, p := range paths {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
		}
		paths[0] = tfjs
		for _, p := range paths {
			for _, load := range []func(string) error{
				func(p string) error { _, err := Convert(p, ""); return err },
				func(p string) error { _, err := Load(p); return err },
			} {
				done := make(chan error, 1)
				go func() { done <- load(p) }()
				select {
				case err := <-done:
					if err == nil || !strings.Contains(err.Error(), "not a regular file") {
						t.Errorf("%s -> %s: got error %v", p, target, err)
					}
				case <-time.After(10 * time.Second):
					if w, err := os.OpenFile(pipe, os.O_WRONLY, 0); err == nil { // unblock it
						w.Close()
					}
					t.Fatalf("%s -> %s: still reading after 10 s", p, target)
				}
			}
		}
	}
}
