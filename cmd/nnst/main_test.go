package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nnst/core/model"
)

// TestMain lets the test binary act as the nnst command for subprocess tests.
func TestMain(m *testing.M) {
	if os.Getenv("NNST_BE_CLI") == "1" {
		os.Exit(mainExit(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// runCLI runs the command in-process and returns its exit code and stderr.
func runCLI(t *testing.T, args ...string) (int, string) {
	t.Helper()
	r, w, _ := os.Pipe()
	old := os.Stderr
	os.Stderr = w
	code := mainExit(args)
	os.Stderr = old
	w.Close()
	b, _ := io.ReadAll(r)
	return code, string(b)
}

func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.NRGBA{uint8(x * 3), uint8(y * 5), uint8((x + y) * 2), 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture makes a content and style image and a tiny random model file.
func fixture(t *testing.T) (dir, content, style, modelPath string) {
	dir = t.TempDir()
	content = filepath.Join(dir, "content.png")
	style = filepath.Join(dir, "style.png")
	writePNG(t, content, 80, 72)
	writePNG(t, style, 72, 90)
	modelPath = filepath.Join(dir, "tiny.safetensors")
	if err := model.Random(model.VGG19, 16, 3).Save(modelPath); err != nil {
		t.Fatal(err)
	}
	return
}

func TestStylizeTinyModel(t *testing.T) {
	dir, content, style, mp := fixture(t)
	out := filepath.Join(dir, "out.jpg")
	code, msg := runCLI(t, "stylize", "--content", content, "--style", style, "--output", out,
		"--model", mp, "--size", "64", "--steps", "2", "--scales", "2", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, msg)
	}
	cfg, format, err := imageConfig(out)
	if err != nil || format != "jpeg" || cfg.Width != 64 || cfg.Height != 58 {
		t.Fatalf("output: %v %s %dx%d", err, format, cfg.Width, cfg.Height)
	}
}

func TestBadInputs(t *testing.T) {
	dir, content, style, mp := fixture(t)
	text := filepath.Join(dir, "notes.txt")
	os.WriteFile(text, []byte("hello, not an image"), 0o644)
	tiny := filepath.Join(dir, "tiny.png")
	writePNG(t, tiny, 40, 300)
	truncated := filepath.Join(dir, "trunc.safetensors")
	b, _ := os.ReadFile(mp)
	os.WriteFile(truncated, b[:len(b)/2], 0o644)
	out := filepath.Join(dir, "out.png")
	base := func(extra ...string) []string {
		a := []string{"stylize", "--content", content, "--style", style, "--output", out, "--model", mp, "--size", "64", "--steps", "1", "--quiet"}
		return append(a, extra...)
	}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing content", []string{"stylize", "--content", filepath.Join(dir, "nope.jpg"), "--style", style, "--output", out, "--model", mp}, 1, "no such file"},
		{"not an image", []string{"stylize", "--content", text, "--style", style, "--output", out, "--model", mp}, 1, "not an image"},
		{"too small", []string{"stylize", "--content", content, "--style", tiny, "--output", out, "--model", mp}, 1, "at least 64 px"},
		{"alpha", base("--alpha", "1.5"), 2, "alpha must be between 0 and 1"},
		{"unwritable", []string{"stylize", "--content", content, "--style", style, "--output", filepath.Join(dir, "no", "such", "dir", "o.png"), "--model", mp}, 1, "cannot write output"},
		{"bad extension", []string{"stylize", "--content", content, "--style", style, "--output", filepath.Join(dir, "o.bmp"), "--model", mp}, 2, "--output"},
		{"truncated model", base("--model", truncated), 1, "truncated"},
		{"wrong model file", base("--model", text), 1, "model"},
		{"missing flag", []string{"stylize", "--content", content}, 2, "--style is required"},
		{"unknown command", []string{"paint"}, 2, "unknown command"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, msg := runCLI(t, c.args...)
			if code != c.code || !strings.Contains(msg, c.want) {
				t.Errorf("exit %d, stderr %q; want exit %d containing %q", code, msg, c.code, c.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("output written despite the error")
			}
		})
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"help", "stylize"}, {"stylize", "--help"}} {
		if code, _ := runCLI(t, args...); code != 0 {
			t.Errorf("%v: exit %d", args, code)
		}
	}
}

// TestInterrupt sends SIGINT mid-run: exit 130, and no output file.
func TestInterrupt(t *testing.T) {
	dir, content, style, mp := fixture(t)
	out := filepath.Join(dir, "out.png")
	cmd := exec.Command(os.Args[0], "stylize", "--content", content, "--style", style, "--output", out,
		"--model", mp, "--size", "256", "--steps", "100000")
	cmd.Env = append(os.Environ(), "NNST_BE_CLI=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until it is optimising.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(stderr.String(), "step") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit: %v, stderr %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr: %s", stderr.String())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "out") || strings.HasPrefix(e.Name(), ".out") {
			t.Errorf("left %s behind", e.Name())
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// convert --out must name a .safetensors file; errors about a file name it
// once (stylize used to wrap the model package's error in its path again).
func TestConvertOutAndErrorPaths(t *testing.T) {
	dir, content, style, _ := fixture(t)
	src := filepath.Join("..", "..", "core", "model", "testdata", "tiny_vgg16.pth")
	stdout := os.Stdout
	os.Stdout, _ = os.Open(os.DevNull)
	defer func() { os.Stdout.Close(); os.Stdout = stdout }()
	bin := filepath.Join(dir, "m.bin")
	if code, msg := runCLI(t, "convert", "--src", src, "--out", bin); code != 2 || !strings.Contains(msg, "--out "+bin+": the model file must end in .safetensors") {
		t.Errorf("--out m.bin: exit %d, stderr %q", code, msg)
	}
	if _, err := os.Stat(bin); err == nil {
		t.Error("m.bin written")
	}
	good := filepath.Join(dir, "m.SafeTensors")
	if code, msg := runCLI(t, "convert", "--src", src, "--out", good); code != 0 {
		t.Fatalf("--out m.SafeTensors: exit %d, stderr %q", code, msg)
	}
	junk := filepath.Join(dir, "junk")
	for _, ext := range []string{".safetensors", ".pth"} {
		os.WriteFile(junk+ext, []byte("hello, not a model"), 0o644)
	}
	out := filepath.Join(dir, "out.png")
	for _, c := range []struct {
		args []string
		path string
	}{
		{[]string{"convert", "--src", src, "--out", good, "--arch", "vgg19"}, src},
		{[]string{"convert", "--src", junk + ".pth", "--out", good}, junk + ".pth"},
		{[]string{"stylize", "--content", content, "--style", style, "--output", out, "--model", junk + ".safetensors"}, junk + ".safetensors"},
		{[]string{"stylize", "--content", content, "--style", style, "--output", out, "--model", junk + ".pth"}, junk + ".pth"},
		{[]string{"stylize", "--content", content, "--style", style, "--output", out + ".bmp", "--model", good}, out + ".bmp"},
	} {
		code, msg := runCLI(t, c.args...)
		if code == 0 || strings.Count(msg, c.path) != 1 {
			t.Errorf("%v: exit %d, stderr %q; want %s named once", c.args, code, msg, c.path)
		}
	}
}

// imageConfig reads the format and size of the image file at path.
func imageConfig(path string) (image.Config, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return image.Config{}, "", err
	}
	defer f.Close()
	return image.DecodeConfig(f)
}
