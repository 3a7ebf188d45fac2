//go:build js && wasm

package webgpu

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"
	"testing"
	"time"

	"nnst/core/nnst"
)

func TestChooseConv(t *testing.T) {
	ms := func(v ...float64) []time.Duration {
		d := make([]time.Duration, len(v))
		for i, x := range v {
			d[i] = time.Duration(x * float64(time.Millisecond))
		}
		return d
	}
	s1, s2, s1n := convRun{step: 1}, convRun{step: 2}, convRun{step: 1, nosplit: true}
	all := []tuneCand{
		{false, false, s1}, {false, false, s2}, {false, true, s1}, {false, true, s2},
		{true, false, s1}, {true, false, s2}, {true, true, s1}, {true, true, s2},
	}
	ch := func(wino bool, fwd, bwd convRun) convChoice { return convChoice{wino, fwd, bwd} }
	for _, c := range []struct {
		formats []bool
		cands   []tuneCand
		times   []time.Duration
		want    convChoice
	}{
		// Direct 4 + 3 beats Winograd 2 + 7, although Winograd's forward
		// pass is the fastest of all.
		{[]bool{false, true}, all, ms(5, 4, 3, 6, 2, 3, 7, 8), ch(false, s2, s1)},
		{[]bool{false, true}, all, ms(5, 4, 3, 6, 2, 3, 2.5, 1), ch(true, s1, s2)},
		// The current format (first) on a tie.
		{[]bool{true, false}, all, ms(1, 1, 1, 1, 1, 1, 1, 1), ch(true, s1, s1)},
		// Forward only (no backward candidates).
		{[]bool{true, false}, []tuneCand{{true, false, s1}, {true, false, s2}, {false, false, s1}, {false, false, s2}}, ms(3, 2.5, 2.6, 2.4), ch(false, s2, s1)},
		// Without split K where that is faster.
		{[]bool{false}, []tuneCand{{false, false, s1}, {false, false, s1n}, {false, true, s1}, {false, true, s1n}}, ms(3, 2, 1, 4), ch(false, s1n, s1)},
		// One format, one step.
		{[]bool{false}, []tuneCand{{false, false, s1}}, ms(9), ch(false, s1, s1)},
	} {
		if got := chooseConv(c.formats, c.cands, c.times); got != c.want {
			t.Errorf("chooseConv(%v, %v) = %+v, want %+v", c.formats, c.times, got, c.want)
		}
	}
}

// tinyParity checks the tiny model's last tap and the backward pass of a
// gradient on it against the CPU backend (loaded with the same model).
func tinyParity(t *testing.T, what string, h, w int) {
	t.Helper()
	img := randT(3, h, w, 9)
	for i := range img.Data {
		img.Data[i] = 0.5 + 0.2*img.Data[i]
	}
	gi := gpu.Upload(img)
	gtr := gpu.Forward(gi, true)
	ctr := ref.Forward(ref.Upload(img), true)
	last := len(ctr.Taps) - 1
	want := cpuT(ctr.Taps[last])
	check(t, what+": last tap", gtr.Taps[last], want, 1e-4)
	g := randT(want.C, want.H, want.W, 21)
	gg := gpu.Upload(g)
	pick := func(x nnst.Tensor) func(int) nnst.Tensor {
		return func(l int) nnst.Tensor {
			if l == last {
				return x
			}
			return nil
		}
	}
	check(t, what+": backward", gpu.Backward(gtr, pick(gg)), cpuT(ref.Backward(ctr, pick(ref.Upload(g)))), 1e-4)
	gpu.Free(gi)
}

func TestTune(t *testing.T) {
	loadBoth(t, tinyModel())
	gpu.tuneAny = true
	defer func() { gpu.tuneAny = false; clear(gpu.tuned) }()
	if !gpu.Info.Timestamps {
		t.Skip("no timestamp queries on this device: Tune keeps the defaults")
	}
	clear(gpu.tuned)
	const h, w = 29, 21
	gpu.tuneAny = false
	if gpu.NeedsTune(h, w, true) == gpu.Info.Fallback {
		t.Errorf("NeedsTune %v on an adapter with fallback %v", !gpu.Info.Fallback, gpu.Info.Fallback)
	}
	gpu.tuneAny = true
	if !gpu.NeedsTune(h, w, true) {
		t.Error("NeedsTune false before tuning")
	}
	if err := gpu.Tune(h, w, true); err != nil {
		t.Fatal(err)
	}
	// Every conv to the last tap has a choice for its size (the pools
	// floor) and runs by it.
	ch, cw, keys := h, w, map[tuneKey]bool{}
	for i := 0; i <= gpu.last; i++ {
		c := gpu.convs[i]
		if c == nil {
			ch, cw = ch/2, cw/2
			continue
		}
		k := tuneKey{c.in, c.out, ch, cw, true}
		keys[k] = true
		choice, ok := gpu.tuned[k]
		if !ok {
			t.Fatalf("layer %d: no choice for %+v", i, k)
		}
		if c.fwd.wino != (choice.wino && winoConv(c.in, c.out)) || c.bwd.wino != (choice.wino && winoConv(c.out, c.in)) || c.fwd.convRun != choice.fwd || c.bwd.convRun != choice.bwd {
			t.Errorf("layer %d runs %+v / %+v, chosen %+v", i, c.fwd, c.bwd, choice)
		}
	}
	if len(gpu.tuned) != len(keys) || len(keys) != 8 { // conv3_2..4 and conv4_2..3 repeat shapes
		t.Errorf("%d shapes tuned, %d met; want 8", len(gpu.tuned), len(keys))
	}
	t.Logf("chosen on %s: %s", gpu.Name(), gpu.ConvKernels())
	tinyParity(t, "tuned", h, w)

	// The same size again only applies the choices.
	if gpu.NeedsTune(h, w, true) {
		t.Error("NeedsTune true after tuning")
	}
	d0 := gpu.Dispatches()
	if err := gpu.Tune(h, w, true); err != nil {
		t.Fatal(err)
	}
	if d := gpu.Dispatches() - d0; d != 0 {
		t.Errorf("tuning a size tuned before ran %d dispatches", d)
	}

	// Forced choices, each format and step in turn: the weights are
	// uploaded again where the format changes, and the results hold.
	i := 0
	for k := range gpu.tuned {
		gpu.tuned[k] = convChoice{wino: i%2 == 0, fwd: convRun{1 + i%len(gpu.convSteps()), i%3 == 0}, bwd: convRun{1 + (i/2)%len(gpu.convSteps()), i%3 == 1}}
		i++
	}
	before := gpu.ConvKernels()
	if err := gpu.Tune(h, w, true); err != nil {
		t.Fatal(err)
	}
	after := gpu.ConvKernels()
	if before == after || !strings.Contains(after, "W") || !strings.Contains(after, "D") || !regexp.MustCompile(`[0-9]n`).MatchString(after) {
		t.Errorf("forced choices: kernels %s, before %s", after, before)
	}
	tinyParity(t, "forced "+after, h, w)

	// Forward-only choices are kept apart.
	if err := gpu.Tune(h, w, false); err != nil {
		t.Fatal(err)
	}
	if len(gpu.tuned) != 16 {
		t.Errorf("%d shapes tuned after a forward-only Tune, want 16", len(gpu.tuned))
	}
	if err := gpu.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestSavedTune checks that choices saved on one page load come back on
// the next for the same adapter and kernels, and only then.
func TestSavedTune(t *testing.T) {
	if err := gpu.LoadModel(tinyModel()); err != nil {
		t.Fatal(err)
	}
	defer clear(gpu.tuned)
	clear(gpu.tuned)
	if s := gpu.SavedTune(); s != "" {
		t.Errorf("nothing tuned, saved %q", s)
	}
	steps := gpu.convSteps()
	i := 0
	for _, k := range gpu.tuneKeys(29, 21, true) {
		if k != nil {
			gpu.tuned[*k] = convChoice{wino: i%2 == 0, fwd: convRun{steps[i%len(steps)], i%3 == 0}, bwd: convRun{1, i%3 == 1}}
			i++
		}
	}
	want := maps.Clone(gpu.tuned)
	saved := gpu.SavedTune()
	clear(gpu.tuned)
	if n, err := gpu.RestoreTune(saved); err != nil || n != len(want) {
		t.Fatalf("RestoreTune: %d, %v; want %d", n, err, len(want))
	}
	if !maps.Equal(gpu.tuned, want) {
		t.Errorf("restored %v, want %v", gpu.tuned, want)
	}
	gpu.tuneAny = true
	if gpu.NeedsTune(29, 21, true) {
		t.Error("NeedsTune after restoring the choices for that size")
	}
	gpu.tuneAny = false
	// Another adapter's, other kernels', damaged or impossible choices
	// change nothing.
	other := strings.Replace(saved, `"kernels":"`, `"kernels":"x`, 1)
	impossible := strings.Replace(saved, `"Fwd":[1,`, `"Fwd":[3,`, 1)
	for _, bad := range []string{other, impossible, saved[:len(saved)/2], "null x"} {
		clear(gpu.tuned)
		if _, err := gpu.RestoreTune(bad); err == nil || len(gpu.tuned) != 0 {
			t.Errorf("RestoreTune(%.60q...) = %v, %d choices kept", bad, err, len(gpu.tuned))
		}
	}
	if _, err := gpu.RestoreTune(other); !errors.Is(err, ErrTuneMismatch) {
		t.Errorf("other kernels: %v, want ErrTuneMismatch", err)
	}
	// Choices made on this load win over saved ones.
	k := *gpu.tuneKeys(29, 21, true)[0]
	gpu.tuned[k] = convChoice{fwd: convRun{step: 1}, bwd: convRun{step: 1}}
	if n, err := gpu.RestoreTune(saved); err != nil || n != len(want)-1 {
		t.Fatalf("RestoreTune beside a choice of this load: %d, %v; want %d", n, err, len(want)-1)
	}
	if gpu.tuned[k] != (convChoice{fwd: convRun{step: 1}, bwd: convRun{step: 1}}) {
		t.Errorf("a saved choice replaced this load's: %+v", gpu.tuned[k])
	}
}

// TestTuneKeys checks that images of about the same shape share choices.
func TestTuneKeys(t *testing.T) {
	if err := gpu.LoadModel(tinyModel()); err != nil {
		t.Fatal(err)
	}
	keys := func(h, w int) string {
		var s []string
		for _, k := range gpu.tuneKeys(h, w, true) {
			if k != nil {
				s = append(s, fmt.Sprint(*k))
			}
		}
		return strings.Join(s, " ")
	}
	if a, b := keys(512, 409), keys(512, 400); a != b {
		t.Errorf("512x409 and 512x400 differ: %s / %s", a, b)
	}
	if a, b := keys(512, 409), keys(512, 320); a == b {
		t.Errorf("512x409 and 512x320 share keys %s", a)
	}
	if a := keys(29, 21); !strings.HasPrefix(a, "{3 4 29 21 true}") {
		t.Errorf("29x21 (below the rounding): %s", a)
	}
}

// TestTimeBatches times one and 40 runs of a kernel, each batch in a pass
// of its own (Chrome quantises timestamps to 100 us, so only the long
// batch must show a time).
func TestTimeBatches(t *testing.T) {
	if !gpu.Info.Timestamps {
		t.Skip("no timestamp queries on this device")
	}
	x := gpu.Zeros(1, 1, 1<<20).(*Tensor)
	defer gpu.Free(x)
	run := func() { gpu.Free(gpu.Axpby(2, x, 1, x)) }
	times, err := gpu.timeBatches([]func(){run, run}, []int{1, 40})
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 2 || times[0] < 0 || times[1] <= 0 {
		t.Fatalf("times %v for batches of 1 and 40 runs", times)
	}
	fmt.Println("timed batches of 1 and 40 axpby:", times)
}
