// Command convbench times conv.Layer Forward and BackwardData on the VGG
// conv shapes and, when python3 with torch is available, compares them with
// torch (torch_conv.py, same thread count).
package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"nnst/core/conv"
	"nnst/core/gemm"
)

//go:embed torch_conv.py
var torchScript []byte

type shape struct{ cin, cout, h, w int }

func (s shape) flops() float64 { return 2 * float64(s.cin*s.cout*9) * float64(s.h*s.w) }

func (s shape) key() string { return fmt.Sprintf("%d,%d,%d,%d", s.cin, s.cout, s.h, s.w) }

// vggShapes lists the distinct conv shapes of VGG16/VGG19 blocks 1-4 for
// input size px.
func vggShapes(px int) []shape {
	return []shape{
		{3, 64, px, px}, {64, 64, px, px},
		{64, 128, px / 2, px / 2}, {128, 128, px / 2, px / 2},
		{128, 256, px / 4, px / 4}, {256, 256, px / 4, px / 4},
		{256, 512, px / 8, px / 8}, {512, 512, px / 8, px / 8},
	}
}

func timeit(f func(), minReps int, minDur time.Duration) float64 {
	f() // warm-up
	var ts []float64
	end := time.Now().Add(minDur)
	for len(ts) < minReps || time.Now().Before(end) {
		t0 := time.Now()
		f()
		ts = append(ts, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	slices.Sort(ts)
	return ts[len(ts)/2]
}

func randSlice(r *rand.Rand, n int, scale float32) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = (r.Float32()*2 - 1) * scale
	}
	return s
}

func findPython(flagPy string) string {
	cands := []string{"/usr/bin/python3", "python3"}
	if flagPy != "" {
		cands = []string{flagPy}
	}
	for _, p := range cands {
		if exec.Command(p, "-c", "import torch").Run() == nil {
			return p
		}
	}
	return ""
}

type torchResult struct {
	Cin, Cout, H, W int
	FwdMs           float64 `json:"fwd_ms"`
	BwdMs           float64 `json:"bwd_ms"`
}

func runTorch(py string, threads, reps int, minS float64, shapes []shape) (map[string]torchResult, error) {
	args := []string{"-", "--threads", strconv.Itoa(threads), "--reps", strconv.Itoa(reps), "--min-s", fmt.Sprint(minS)}
	for _, s := range shapes {
		args = append(args, s.key())
	}
	cmd := exec.Command(py, args...)
	cmd.Stdin = bytes.NewReader(torchScript)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	res := map[string]torchResult{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r torchResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("torch output %q: %v", sc.Text(), err)
		}
		res[shape{r.Cin, r.Cout, r.H, r.W}.key()] = r
	}
	return res, nil
}

func median(x []float64) float64 {
	if len(x) == 0 {
		return 0
	}
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func main() {
	threads := flag.Int("threads", 0, "goroutines (0: GOMAXPROCS)")
	sizes := flag.String("sizes", "256,512", "input sizes in px")
	reps := flag.Int("reps", 3, "minimum timed runs per shape")
	minS := flag.Float64("min-s", 0.3, "minimum timed seconds per shape")
	noTorch := flag.Bool("notorch", false, "skip the torch comparison")
	py := flag.String("python", "", "python with torch (default: /usr/bin/python3, then python3)")
	flag.Parse()
	gemm.SetThreads(*threads)
	th := gemm.Threads()

	var shapes []shape
	seen := map[string]bool{}
	for _, f := range strings.Split(*sizes, ",") {
		px, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || px < 8 {
			fmt.Fprintln(os.Stderr, "convbench: bad -sizes", *sizes)
			os.Exit(2)
		}
		for _, s := range vggShapes(px) {
			if !seen[s.key()] {
				seen[s.key()] = true
				shapes = append(shapes, s)
			}
		}
	}

	var torch map[string]torchResult
	if !*noTorch {
		if p := findPython(*py); p == "" {
			fmt.Println("torch not available: printing our numbers only")
		} else {
			fmt.Printf("running torch (%s, %d threads)...\n", p, th)
			var err error
			if torch, err = runTorch(p, th, *reps, *minS, shapes); err != nil {
				fmt.Println("torch failed:", err)
				torch = nil
			}
		}
	}

	fmt.Printf("threads %d; ms and GFLOP/s per call; ratio = ours/torch time\n", th)
	fmt.Printf("%-18s %9s %7s %9s %7s", "shape cin-cout@hxw", "fwd ms", "GF/s", "bwd ms", "GF/s")
	if torch != nil {
		fmt.Printf(" | %9s %9s %6s %6s", "torch fwd", "torch bwd", "r fwd", "r bwd")
	}
	fmt.Println()
	var rf, rb []float64
	r := rand.New(rand.NewSource(1))
	for _, s := range shapes {
		l := conv.NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9, 0.05), randSlice(r, s.cout, 1))
		in := randSlice(r, s.cin*s.h*s.w, 1)
		out := make([]float32, s.cout*s.h*s.w)
		dOut := randSlice(r, s.cout*s.h*s.w, 1)
		fm := timeit(func() { l.Forward(in, s.h, s.w, true, out) }, *reps, time.Duration(*minS*float64(time.Second)))
		bm := timeit(func() { l.BackwardData(dOut, s.h, s.w, in) }, *reps, time.Duration(*minS*float64(time.Second)))
		name := fmt.Sprintf("%d-%d@%dx%d", s.cin, s.cout, s.h, s.w)
		fmt.Printf("%-18s %9.2f %7.1f %9.2f %7.1f", name, fm, s.flops()/fm/1e6, bm, s.flops()/bm/1e6)
		if t, ok := torch[s.key()]; ok {
			rf = append(rf, fm/t.FwdMs)
			rb = append(rb, bm/t.BwdMs)
			fmt.Printf(" | %9.2f %9.2f %6.2f %6.2f", t.FwdMs, t.BwdMs, fm/t.FwdMs, bm/t.BwdMs)
		}
		fmt.Println()
	}
	if torch != nil {
		fmt.Printf("median ratio ours/torch: forward %.2f, backward %.2f\n", median(rf), median(rb))
	}
}
