package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"nnst/core/imageio"
	"nnst/core/model"
	"nnst/core/nnst"
	"nnst/core/score"
)

// memoryEnv sets the memory budget like --max-memory.
const memoryEnv = "NNST_MAX_MEMORY"

// fallbackMemory is the budget where the memory available is unknown.
const fallbackMemory = 8 << 30

const maxMemoryHelp = "memory a run may use, e.g. 6GB or 16GiB, or off (default: $" + memoryEnv + ", else the memory available: MemAvailable and the cgroup's limit on Linux, 8 GiB elsewhere)"

// budget is the memory a run may use, and where that number came from.
type budget struct {
	bytes int64 // 0: no limit
	from  string
}

// memoryBudget reads the budget from flag (the value of --max-memory), else
// the environment, else the system.
func memoryBudget(flag string) (budget, error) {
	if flag != "" {
		n, err := parseBytes(flag)
		if err != nil {
			return budget{}, usageError{"--max-memory: " + err.Error()}
		}
		return budget{n, "--max-memory"}, nil
	}
	if s := os.Getenv(memoryEnv); s != "" {
		n, err := parseBytes(s)
		if err != nil {
			return budget{}, fmt.Errorf("$%s: %v", memoryEnv, err)
		}
		return budget{n, "$" + memoryEnv}, nil
	}
	n, from := availableMemory()
	return budget{n, from}, nil
}

// parseBytes reads a size such as 512MB, 6GB or 16GiB (K, M, G and T are
// powers of 1000, with i of 1024), or off (0).
func parseBytes(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "off" {
		return 0, nil
	}
	for _, u := range []struct {
		suffix string
		mult   float64
	}{
		{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
		{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
		{"k", 1e3}, {"m", 1e6}, {"g", 1e9}, {"t", 1e12},
	} {
		if num, ok := strings.CutSuffix(t, u.suffix); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
			if err == nil && v > 0 && v*u.mult < 1<<62 {
				return int64(v * u.mult), nil
			}
			break
		}
	}
	return 0, fmt.Errorf("want a size such as 6GB, 512MiB or off, got %q", s)
}

// availableMemory is what this process may still take: MemAvailable from
// /proc/meminfo, less if the cgroup's limit leaves less.
func availableMemory() (int64, string) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return fallbackMemory, "the default for systems without /proc/meminfo"
	}
	avail := int64(-1)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				avail = kb << 10
			}
		}
	}
	if avail < 0 {
		return fallbackMemory, "the default (no MemAvailable in /proc/meminfo)"
	}
	from := "available memory"
	if left, ok := cgroupLeft(); ok && left < avail {
		avail, from = left, "memory left under the cgroup's limit"
	}
	return avail, from
}

// cgroupLeft is the cgroup's memory limit less its usage (v2, else v1).
func cgroupLeft() (int64, bool) {
	num := func(path string) (int64, bool) {
		b, err := os.ReadFile(path)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil // "max" (no limit) fails here
	}
	for _, d := range [][2]string{
		{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
		{"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"},
	} {
		limit, ok := num(d[0])
		used, ok2 := num(d[1])
		if ok && ok2 && limit < 1<<60 {
			return max(limit-used, 0), true
		}
	}
	return 0, false
}

// gb formats bytes in GB (MB under 1 GB).
func gb(n int64) string {
	if n < 1e9 {
		return fmt.Sprintf("%.0f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.1f GB", float64(n)/1e9)
}

// estimate is the process's peak memory for a run of o on h x w images:
// the dry run's peak (the tensors the CPU backend holds) with room for what
// it does not count (the layers' scratch, the Go heap's slack under the
// limit limitHeap sets), the model with its packed copy, the decoders and
// the runtime. Measured (GOGC=10), the heap peaked 60 to 190 MB above the
// dry run's peak at 256 and 384 px, best and fast; this allows 260 to 400,
// and the full-size host images (nnst.HostBytes) on top.
func estimate(m *model.Model, o nnst.Options, h, w int) (int64, error) {
	u, err := nnst.DryRun(m, o, nil, h, w)
	if err != nil {
		return 0, err
	}
	return u.Peak*5/4 + nnst.HostBytes(h, w) + 2*weightBytes(m) + 100<<20, nil
}

// weightBytes is the model's weights as float32.
func weightBytes(m *model.Model) int64 {
	var n int64
	for _, l := range m.Layers {
		if l.Conv != nil {
			n += int64(len(l.Conv.Weight)+len(l.Conv.Bias)) * 4
		}
	}
	return n
}

// checkMemory refuses a run of o whose estimate exceeds the budget, naming
// the largest size that fits. shapes are the sizes (h, w) of the content
// and the style as decoded; the estimate takes the larger of each side at
// the run's size.
func checkMemory(m *model.Model, o nnst.Options, b budget, shapes ...[2]int) error {
	if b.bytes == 0 {
		return nil
	}
	need := func(size int) (int64, error) {
		h, w := 0, 0
		for _, s := range shapes {
			fh, fw := imageio.FitDims(s[0], s[1], size)
			h, w = max(h, fh), max(w, fw)
		}
		at := o
		at.Size = size
		return estimate(m, at, h, w)
	}
	est, err := need(o.Size)
	if err != nil || est <= b.bytes {
		return err
	}
	// The largest size, a multiple of 16, that fits: first where memory
	// growing as the pixels puts it, then 1/16 beyond to bracket it, then
	// a binary search (each probe is a dry run, cheaper the smaller).
	lo, hi := nnst.MinSize/16-1, (o.Size-1)/16+1 // 16*lo fits (or is too small to run), 16*hi does not
	k := int(float64(o.Size) * math.Sqrt(float64(b.bytes)/float64(est)) / 16)
	for probes := 0; hi-lo > 1; probes++ {
		k = min(max(k, lo+1), hi-1)
		if n, err := need(16 * k); err == nil && n <= b.bytes {
			lo = k
			k += max(k/16, 1)
		} else {
			hi = k // an error: too narrow at this size, and so below
			k -= max(k/16, 1)
		}
		if probes > 0 {
			k = (lo + hi) / 2
		}
	}
	msg := fmt.Sprintf("a %d px run needs about %s, more than the %s (%s)", o.Size, gb(est), b.from, gb(b.bytes))
	if 16*lo >= nnst.MinSize {
		msg += fmt.Sprintf(": --size %d fits", 16*lo)
	} else {
		msg += ": no size fits"
	}
	return fmt.Errorf("%s (--max-memory or $%s sets the limit)", msg, memoryEnv)
}

// limitHeap asks the Go runtime to keep its memory under the budget, so
// that it collects more often rather than grow to twice the live heap
// (unless GOMEMLIMIT sets a limit already).
func limitHeap(b budget) {
	if b.bytes > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(b.bytes)
	}
}

// scoreEstimate is the peak memory of scoring an output of out (h, w)
// against a style of style: the scorer runs the network a tap at a time
// and keeps the output's hypercolumns at a quarter size, and its neighbour
// searches compare up to score.Grid x score.Grid samples of each side.
// Measured (GOGC=10, c1 at 4:3 against s1), the peak was 0.48, 1.55, 2.18
// and 6.84 GB at 256, 512, 1024 and 2048 px; this gives 1.44, 1.84, 3.36
// and 9.46 GB (the output's and the style's taps and a quarter more, two
// search matrices, the weights twice).
func scoreEstimate(m *model.Model, out, style [2]int) (int64, error) {
	taps := func(s [2]int) (int64, error) {
		d := nnst.NewDry(nil)
		if err := d.LoadModel(m); err != nil {
			return 0, err
		}
		d.Forward(d.Zeros(3, s[0], s[1]), false)
		return d.Usage().Peak - int64(12*s[0]*s[1]), nil
	}
	o, err := taps(out)
	if err != nil {
		return 0, err
	}
	st, err := taps(style)
	if err != nil {
		return 0, err
	}
	samples := func(s [2]int) int64 { // of the first tap, at the image's size
		k := (max(s[0], s[1]) + score.Grid - 1) / score.Grid
		return int64((s[0] + k - 1) / k * ((s[1] + k - 1) / k))
	}
	return (o+st)*5/4 + 2*4*samples(out)*samples(style) + 2*weightBytes(m) + 100<<20, nil
}

// checkScoreMemory refuses scoring at size whose estimate exceeds the
// budget.
func checkScoreMemory(m *model.Model, b budget, size int, out, style [2]int) error {
	est, err := scoreEstimate(m, out, style)
	if err != nil || b.bytes == 0 || est <= b.bytes {
		return err
	}
	return fmt.Errorf("scoring at %d px needs about %s, more than the %s (%s): pass a smaller --size (--max-memory or $%s sets the limit)", size, gb(est), b.from, gb(b.bytes), memoryEnv)
}
