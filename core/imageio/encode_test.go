package imageio

import (
	"bytes"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"nnst/core/tensor"
)

func TestEncodePNGRoundTrip(t *testing.T) {
	src := filled(3, 64, 70, func(c, y, x int) float32 { return float32((c*31+y*7+x)%256) / 255 })
	var b bytes.Buffer
	if err := Encode(&b, src, "png"); err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b.Bytes()))
	if err != nil || cfg.Width != 70 || cfg.Height != 64 {
		t.Fatalf("config %+v, %v", cfg, err)
	}
	out := mustDecode(t, b.Bytes())
	for i := range src.Data {
		if math.Abs(float64(out.Data[i]-src.Data[i])) > 1e-6 {
			t.Fatalf("value %d: %v, want %v", i, out.Data[i], src.Data[i])
		}
	}
}

func TestEncodeClampRound(t *testing.T) {
	vals := []float32{-0.5, 1.7, float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 10.4 / 255, 10.6 / 255, 0.5}
	want := []uint8{0, 255, 0, 255, 0, 10, 11, 128}
	src := tensor.New(3, 1, len(vals))
	for c := 0; c < 3; c++ {
		copy(src.Plane(c), vals)
	}
	img := ToImage(src)
	for i, w := range want {
		p := img.Pix[4*i : 4*i+4]
		if p[0] != w || p[1] != w || p[2] != w || p[3] != 255 {
			t.Errorf("value %v encoded as %v, want %d", vals[i], p, w)
		}
	}
}

func TestToImageGrey(t *testing.T) {
	src := filled(1, 2, 2, func(c, y, x int) float32 { return 0.2 })
	img := ToImage(src)
	if p := img.Pix[:4]; p[0] != 51 || p[1] != 51 || p[2] != 51 || p[3] != 255 {
		t.Errorf("grey pixel %v", p)
	}
}

func TestEncodeJPEG(t *testing.T) {
	q := toTensor(quadrants(96, 64))
	var b bytes.Buffer
	if err := Encode(&b, q, "jpeg"); err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.DecodeConfig(bytes.NewReader(b.Bytes())); err != nil {
		t.Fatal(err)
	}
	checkQuadrants(t, mustDecode(t, b.Bytes()), upright, 0.05)
}

func TestEncodeErrors(t *testing.T) {
	var b bytes.Buffer
	if err := Encode(&b, tensor.New(3, 8, 8), "bmp"); err == nil || !strings.Contains(err.Error(), "bmp") {
		t.Errorf("unknown format: got %v", err)
	}
	if err := Encode(&b, tensor.New(3, 0, 8), "png"); err == nil {
		t.Error("empty tensor: no error")
	}
	if err := Encode(&b, &tensor.T{C: 3, H: 8, W: 8, Data: make([]float32, 10)}, "png"); err == nil {
		t.Error("short data: no error")
	}
	if b.Len() != 0 {
		t.Error("failed Encode wrote data")
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestSaveFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	src := toTensor(quadrants(80, 64))
	for _, name := range []string{"out.png", "out.jpg", "OUT.JPEG"} {
		p := filepath.Join(dir, name)
		if err := SaveFile(p, src); err != nil {
			t.Fatal(err)
		}
		// Saving again replaces the file.
		if err := SaveFile(p, src); err != nil {
			t.Fatal(err)
		}
		out, err := DecodeFile(p)
		if err != nil {
			t.Fatal(err)
		}
		tol := 0.05
		if strings.HasSuffix(name, ".png") {
			tol = 0
		}
		checkQuadrants(t, out, upright, tol)
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o044 == 0 {
			t.Errorf("%s is private: %v", name, st.Mode())
		}
	}
	// No temporary files left behind.
	if got := dirNames(t, dir); len(got) != 3 {
		t.Errorf("folder holds %v, want just the three outputs", got)
	}
}

func TestSaveFileErrors(t *testing.T) {
	dir := t.TempDir()
	src := toTensor(quadrants(64, 64))
	// Unknown or missing extension.
	for _, name := range []string{"out.bmp", "out.webp", "out"} {
		err := SaveFile(filepath.Join(dir, name), src)
		if err == nil || !strings.Contains(err.Error(), ".png, .jpg or .jpeg") {
			t.Errorf("%s: got %v, want an error listing the extensions", name, err)
		}
	}
	// Folder that does not exist.
	missing := filepath.Join(dir, "no", "such", "out.png")
	if err := SaveFile(missing, src); err == nil || !strings.Contains(err.Error(), "out.png") {
		t.Errorf("missing folder: got %v", err)
	}
	// A "folder" that is a file: not writable even by root.
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(filepath.Join(dir, "file", "out.png"), src); err == nil {
		t.Error("folder that is a file: no error")
	}
	// The target is a folder: the rename fails after the data was written;
	// the temporary file must be gone.
	if err := os.Mkdir(filepath.Join(dir, "taken.png"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := SaveFile(filepath.Join(dir, "taken.png"), src); err == nil {
		t.Error("saving over a folder: no error")
	}
	// Unwritable folder (permissions do not bind root, so only when not root).
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if err := SaveFile(filepath.Join(ro, "out.png"), src); err == nil {
			t.Error("unwritable folder: no error")
		}
		if got := dirNames(t, ro); len(got) != 0 {
			t.Errorf("unwritable folder holds %v", got)
		}
	}
	// An invalid tensor fails before anything is written.
	if err := SaveFile(filepath.Join(dir, "bad.png"), tensor.New(3, 0, 0)); err == nil {
		t.Error("empty tensor: no error")
	}
	got := dirNames(t, dir)
	if strings.Join(got, " ") != "file ro taken.png" {
		t.Errorf("folder holds %v, want only file, ro and taken.png", got)
	}
}
