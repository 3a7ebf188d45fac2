// Command convbench times conv.Layer Forward and BackwardData on the VGG
// conv shapes and, when python3 with torch is available, compares them with
// torch (torch_conv.py, same thread count).
package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
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

// timeit returns the best time in ms over at least minReps runs and minDur
// (the best, not the median: the machine may be shared).
func timeit(f func(), minReps int, minDur time.Duration) float64 {
	f() // warm-up
	best := math.Inf(1)
	end := time.Now().Add(minDur)
	for n := 0; n < minReps || time.Now().Before(end); n++ {
		t0 := time.Now()
		f()
		best = min(best, float64(time.Since(t0).Nanoseconds())/1e6)
	}
	return best
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

// torchProc is torch_conv.py running as a server: one shape per line in,
// one JSON result per line out, so that its runs interleave with ours.
type torchProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startTorch(py string, threads, reps int, minS float64) (*torchProc, error) {
	cmd := exec.Command(py, "-c", string(torchScript), "--threads", strconv.Itoa(threads), "--reps", strconv.Itoa(reps), "--min-s", fmt.Sprint(minS))
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &torchProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

func (t *torchProc) bench(s shape) (torchResult, error) {
	var r torchResult
	if _, err := fmt.Fprintln(t.in, s.key()); err != nil {
		return r, err
	}
	if !t.out.Scan() {
		return r, fmt.Errorf("torch_conv.py exited: %v", t.out.Err())
	}
	err := json.Unmarshal(t.out.Bytes(), &r)
	return r, err
}

func (t *torchProc) close() {
	t.in.Close()
	t.cmd.Wait()
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

	var tp *torchProc
	if !*noTorch {
		if p := findPython(*py); p == "" {
			fmt.Println("torch not available: printing our numbers only")
		} else {
			var err error
			if tp, err = startTorch(p, th, *reps, *minS); err != nil {
				fmt.Println("torch failed:", err)
				tp = nil
			} else {
				defer tp.close()
				fmt.Printf("comparing with torch (%s), same thread count\n", p)
			}
		}
	}

	fmt.Printf("threads %d; best ms per call and GFLOP/s; ratio = ours/torch time\n", th)
	fmt.Printf("%-18s %9s %7s %9s %7s", "shape cin-cout@hxw", "fwd ms", "GF/s", "bwd ms", "GF/s")
	if tp != nil {
		fmt.Printf(" | %9s %7s %9s %7s %6s %6s", "torch fwd", "GF/s", "torch bwd", "GF/s", "r fwd", "r bwd")
	}
	fmt.Println()
	var rf, rb []float64
	r := rand.New(rand.NewSource(1))
	dur := time.Duration(*minS * float64(time.Second))
	for _, s := range shapes {
		l := conv.NewLayer(s.cin, s.cout, randSlice(r, s.cout*s.cin*9, 0.05), randSlice(r, s.cout, 1))
		in := randSlice(r, s.cin*s.h*s.w, 1)
		out := make([]float32, s.cout*s.h*s.w)
		dOut := randSlice(r, s.cout*s.h*s.w, 1)
		fm := timeit(func() { l.Forward(in, s.h, s.w, true, out) }, *reps, dur)
		bm := timeit(func() { l.BackwardData(dOut, s.h, s.w, in) }, *reps, dur)
		name := fmt.Sprintf("%d-%d@%dx%d", s.cin, s.cout, s.h, s.w)
		fmt.Printf("%-18s %9.2f %7.1f %9.2f %7.1f", name, fm, s.flops()/fm/1e6, bm, s.flops()/bm/1e6)
		if tp != nil {
			t, err := tp.bench(s)
			if err != nil {
				fmt.Println()
				fmt.Println("torch failed:", err)
				tp = nil
				continue
			}
			rf = append(rf, fm/t.FwdMs)
			rb = append(rb, bm/t.BwdMs)
			fmt.Printf(" | %9.2f %7.1f %9.2f %7.1f %6.2f %6.2f", t.FwdMs, s.flops()/t.FwdMs/1e6, t.BwdMs, s.flops()/t.BwdMs/1e6, fm/t.FwdMs, bm/t.BwdMs)
		}
		fmt.Println()
	}
	if len(rf) > 0 {
		fmt.Printf("median ratio ours/torch over %d shapes: forward %.2f, backward %.2f\n", len(rf), median(rf), median(rb))
	}
}
