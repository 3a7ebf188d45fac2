package main

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"nnst/core/model"
	"nnst/core/nnst"
)

// TestFlagRanges refuses every numeric flag out of its range with exit 2
// and a message naming the flag and the range, before any work.
func TestFlagRanges(t *testing.T) {
	dir, content, style, mp := fixture(t)
	out := filepath.Join(dir, "out.png")
	st := func(extra ...string) []string {
		return append([]string{"stylize", "--content", content, "--style", style, "--output", out, "--model", mp, "--quiet"}, extra...)
	}
	sc := func(extra ...string) []string {
		return append([]string{"score", "--content", content, "--style", style, "--output", content, "--model", mp}, extra...)
	}
	threads := fmt.Sprintf("between 1 and %d", 4*runtime.NumCPU())
	for _, c := range []struct {
		args []string
		want string
	}{
		{st("--threads", "-1"), "--threads must be " + threads + ", got -1"},
		{st("--threads", "0"), "--threads must be " + threads},
		{st("--size", "0"), "--size must be between 64 and 4096, got 0"},
		{st("--size", "4097"), "--size must be between 64 and 4096"},
		{st("--size", "-512"), "--size must be between 64 and 4096"},
		{st("--scales", "0"), "--scales must be between 1 and 8, got 0"},
		{st("--scales", "9"), "--scales must be between 1 and 8"},
		{st("--steps", "-1"), "--steps must be between 0 and 100000, got -1"},
		{st("--steps", "100001"), "--steps must be between 0 and 100000"},
		{st("--alpha", "NaN"), "--alpha must be between 0 and 1, got NaN"},
		{st("--alpha", "-0.5"), "--alpha must be between 0 and 1"},
		{st("--max-memory", "lots"), "--max-memory: want a size such as 6GB"},
		{st("--max-memory", "-3GB"), "--max-memory: want a size"},
		{sc("--size", "0"), "--size must be between 64 and 4096, got 0"},
		{sc("--size", "1000000"), "--size must be between 64 and 4096"},
		{sc("--max-memory", "12"), "--max-memory: want a size"},
		{[]string{"bench", "--sizes", "256,0", "--model", mp}, "--sizes must be between 64 and 4096, got 0"},
		{[]string{"bench", "--sizes", "256,big"}, "--sizes: want sizes in px"},
		{[]string{"bench", "--steps", "-2"}, "--steps must be between 0 and 100000, got -2"},
		{[]string{"bench", "--modes", "slow"}, "--modes: mode must be fast or best"},
		{[]string{"bench", "extra"}, `unexpected argument "extra"`},
		{[]string{"convert", "--src", mp, "--out", out, "extra"}, `unexpected argument "extra"`},
		{[]string{"serve", "--addr", "127.0.0.1:99999"}, "--addr: the port must be between 0 and 65535, got 99999"},
		{[]string{"serve", "--addr", "8080"}, "--addr: "},
	} {
		code, msg := runCLI(t, c.args...)
		if code != 2 || !strings.Contains(msg, c.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 and %q", c.args[:1], code, msg, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written")
	}
}

// TestThreadsCap runs --threads 100000 in a subprocess: it used to spawn
// threads until the Go runtime died (exit 2 with "thread exhaustion").
func TestThreadsCap(t *testing.T) {
	dir, content, style, mp := fixture(t)
	cmd := exec.Command(os.Args[0], "stylize", "--content", content, "--style", style, "--output", filepath.Join(dir, "o.png"),
		"--model", mp, "--size", "64", "--steps", "1", "--scales", "1", "--quiet", "--threads", "100000")
	cmd.Env = append(os.Environ(), "NNST_BE_CLI=1")
	msg, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(msg), "--threads must be between 1 and") {
		t.Errorf("exit %d: %.300s", cmd.ProcessState.ExitCode(), msg)
	}
}

// grayPNG writes a flat w x h 8-bit grey PNG, row by row.
func grayPNG(t *testing.T, path string, w, h int) {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		c := append([]byte(typ), data...)
		b.Write(c)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(c)))
	}
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	chunk("IHDR", append(ihdr, 8, 0, 0, 0, 0))
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	row := bytes.Repeat([]byte{90}, 1+w)
	row[0] = 0
	for y := 0; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// allocated runs the command in-process and returns its exit code, stderr
// and the bytes it allocated.
func allocated(t *testing.T, args ...string) (int, string, uint64) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	code, msg := runCLI(t, args...)
	runtime.ReadMemStats(&after)
	return code, msg, after.TotalAlloc - before.TotalAlloc
}

// TestNarrowRefusedFromHeader refuses a 64 x 781250 content (50 MP, too
// narrow for any size) from its header; it used to be decoded whole (800
// MB) first.
func TestNarrowRefusedFromHeader(t *testing.T) {
	dir, _, style, mp := fixture(t)
	narrow := filepath.Join(dir, "narrow.png")
	grayPNG(t, narrow, 64, 781250)
	code, msg, n := allocated(t, "stylize", "--content", narrow, "--style", style, "--output", filepath.Join(dir, "o.png"), "--model", mp, "--quiet")
	if code != 1 || !strings.Contains(msg, "content image is 64x781250 px") || !strings.Contains(msg, "too narrow") {
		t.Errorf("exit %d, %q", code, msg)
	}
	if n > 16<<20 {
		t.Errorf("refusing it allocated %d MB", n>>20)
	}
}

// TestMemoryRefusal sets a budget that a 96 px run fits and a 256 px one
// does not: stylize refuses before decoding or running, naming --size 96,
// and score refuses too.
func TestMemoryRefusal(t *testing.T) {
	dir, content, style, mp := fixture(t)
	m, err := model.Load(mp)
	if err != nil {
		t.Fatal(err)
	}
	o := nnst.Defaults(false)
	o.Size = 96
	need, err := estimate(m, o, 96, 96) // the content is 80x72, the style 72x90: 96x96 at 96 px
	if err != nil {
		t.Fatal(err)
	}
	limit := fmt.Sprintf("%dKB", (need+999)/1000)
	out := filepath.Join(dir, "out.png")
	args := []string{"stylize", "--content", content, "--style", style, "--output", out, "--model", mp, "--size", "256", "--quiet"}
	code, msg, n := allocated(t, append(args, "--max-memory", limit)...)
	if code != 1 || !strings.Contains(msg, "a 256 px run needs about") || !strings.Contains(msg, "--size 96 fits") {
		t.Errorf("exit %d, %q; want a refusal naming --size 96", code, msg)
	}
	// The dry runs allocate about 64 MB (their zero images); the run, even
	// with 2 steps, 780 MB.
	t.Logf("%s; allocated %.1f MB", strings.TrimSpace(msg), float64(n)/1e6)
	if n > 256<<20 {
		t.Errorf("refusing allocated %d MB", n>>20)
	}
	t.Setenv(memoryEnv, limit)
	if code, msg := runCLI(t, args...); code != 1 || !strings.Contains(msg, "more than the $NNST_MAX_MEMORY") {
		t.Errorf("from the environment: exit %d, %q", code, msg)
	}
	if code, msg := runCLI(t, "score", "--content", content, "--style", style, "--output", content, "--model", mp, "--max-memory", "1MB"); code != 1 || !strings.Contains(msg, "scoring at 80 px needs about") {
		t.Errorf("score: exit %d, %q", code, msg)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("output written")
	}
}

func TestScoreSizeLimit(t *testing.T) {
	dir, content, style, mp := fixture(t)
	wide := filepath.Join(dir, "wide.png")
	grayPNG(t, wide, 4100, 64)
	code, msg := runCLI(t, "score", "--content", content, "--style", style, "--output", wide, "--model", mp)
	if code != 1 || !strings.Contains(msg, "at most 4096 px on the long side (pass --size)") {
		t.Errorf("exit %d, %q", code, msg)
	}
}

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"6GB": 6e9, "16GiB": 16 << 30, "512mb": 512e6, "1.5G": 1.5e9, "100 KiB": 100 << 10, "off": 0, "OFF": 0} {
		if got, err := parseBytes(s); err != nil || got != want {
			t.Errorf("%q: %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "12", "GB", "-1GB", "0GB", "1e30TB", "six GB", "NaNGB"} {
		if _, err := parseBytes(s); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
}
