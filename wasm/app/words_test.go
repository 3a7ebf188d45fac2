package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"nnst/core/imageio"
	"nnst/core/nnst"
)

func TestDurations(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", 1400 * time.Millisecond: "1 s", 59 * time.Second: "59 s",
		65 * time.Second: "1 min 05 s", 3599 * time.Second: "59 min 59 s",
		3600 * time.Second: "1 h 00 min", 7530 * time.Second: "2 h 05 min",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
	for d, want := range map[time.Duration]string{
		3 * time.Second: "a few seconds", 12 * time.Second: "10 s", 13 * time.Second: "15 s",
		89 * time.Second: "90 s", 95 * time.Second: "2 min", 89 * time.Minute: "89 min",
		2 * time.Hour: "2 h",
	} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%v) = %q, want %q", d, got, want)
		}
	}
	if plural(1, "step") != "1 step" || plural(0, "step") != "0 steps" || plural(4, "scale") != "4 scales" {
		t.Error("plural")
	}
}

func TestStageText(t *testing.T) {
	for _, c := range []struct {
		m    progressMsg
		want string
	}{
		{progressMsg{Stage: stageTune}, "Choosing the fastest GPU kernels for this size"},
		{progressMsg{Stage: nnst.StagePrepare}, "Preparing the images"},
		{progressMsg{Stage: nnst.StageMatch, Scale: 2, Scales: 4}, "Scale 2 of 4: matching style features"},
		{progressMsg{Stage: nnst.StageScale, Scale: 2, Scales: 4, Step: 7, Steps: 200}, "Scale 2 of 4: step 7 of 200"},
		{progressMsg{Stage: nnst.StageFinal, Steps: 200}, "Final pass: preparing"},
		{progressMsg{Stage: nnst.StageFinal, Step: 3, Steps: 200}, "Final pass: step 3 of 200"},
		{progressMsg{Stage: nnst.StageColor}, "Colour matching"},
		{progressMsg{Stage: nnst.StageDone}, "Finishing"},
		{progressMsg{Stage: "something new"}, "something new"},
	} {
		if got := stageText(c.m); got != c.want {
			t.Errorf("stageText(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestAlphaHint(t *testing.T) {
	for _, c := range []struct {
		a    float64
		mode nnst.Mode
		want string
	}{
		{0, nnst.ModeBest, "Mostly style"},
		{0.3, nnst.ModeBest, "Balanced"},
		{0.65, nnst.ModeBest, "More content"},
		{0.9, nnst.ModeBest, "Almost all content"},
		{0.75, nnst.ModeBest, "In Best, the balance steers the matching"},
		{0.75, nnst.ModeFast, "In Fast, the balance steers the whole run"},
	} {
		if got := alphaHint(c.a, c.mode); !strings.Contains(got, c.want) {
			t.Errorf("alphaHint(%g, %s) = %q, want %q in it", c.a, c.mode, got, c.want)
		}
	}
}

func TestRunTexts(t *testing.T) {
	best := runOptions{Mode: nnst.ModeBest, Alpha: 0.65, Scales: 2, Steps: 1, Color: true}
	if got, want := best.workText(0), "Best: 2 scales × 1 step, then a final pass of 1 step"; got != want {
		t.Errorf("work %q, want %q", got, want)
	}
	fast := runOptions{Mode: nnst.ModeFast, Steps: 28}
	if got, want := fast.workText(7.2e12), "Fast: one match, then a final pass of 28 steps · 7.20 TFLOP"; got != want {
		t.Errorf("work %q, want %q", got, want)
	}
	if got, want := best.settingsText(), "alpha 0.65 · style rotations off · colour matching on · content loss off"; got != want {
		t.Errorf("settings %q, want %q", got, want)
	}
}

func TestSizeNote(t *testing.T) {
	for _, c := range []struct {
		w, h, size int
		want       string
	}{
		{512, 512, 512, ""},
		{1024, 768, 512, "scaled down to 512×384 px"},
		{200, 100, 512, "enlarged to 512×256 px"},
		{2000, 100, 256, "Too narrow for 256 px: it would be 256×13 px"},
	} {
		got := sizeNote(c.w, c.h, c.size)
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("sizeNote(%d, %d, %d) = %q, want %q", c.w, c.h, c.size, got, c.want)
		}
		if tooNarrow(got) != strings.HasPrefix(c.want, "Too narrow") {
			t.Errorf("tooNarrow(%q) = %v", got, tooNarrow(got))
		}
	}
}

func TestDecodeMessage(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: the data is empty", imageio.ErrNotImage), "“a.png” is not an image this app can read."},
		{fmt.Errorf("%w: image is 10x10 px; the shortest side must be at least 64 px", imageio.ErrTooSmall),
			"“a.png” is too small: it is 10x10 px; the shortest side must be at least 64 px. Use a larger image."},
		{fmt.Errorf("%w: the file is larger than 64 MiB", imageio.ErrTooLarge), "“a.png” is too large: the file is larger than 64 MiB."},
		{fmt.Errorf("%w: png data ends too early", imageio.ErrCorrupt), "“a.png” is damaged or truncated and cannot be decoded (png data ends too early)."},
		{errors.New("boom"), "“a.png” could not be decoded: boom."},
	} {
		if got := decodeMessage("a.png", c.err); !strings.HasPrefix(got, c.want) {
			t.Errorf("decodeMessage(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}

func TestFileNames(t *testing.T) {
	for _, c := range []struct{ name, want string }{
		{"Beach Photo (2).JPG", "beach-photo-2"},
		{"dir/The Starry Night.png", "the-starry-night"},
		{"--.png", "content"},
		{"pasted image", "pasted-image"},
		{"été.webp", "t"},
		{strings.Repeat("abc ", 12) + ".png", strings.Repeat("abc-", 9) + "abc"}, // 40 at most, no dash at the end
	} {
		if got := fileStem(c.name, "content"); got != c.want {
			t.Errorf("fileStem(%q) = %q, want %q", c.name, got, c.want)
		}
	}
	if got := resultStem("beach", "starry-night"); got != "beach-in-style-of-starry-night" {
		t.Errorf("resultStem = %q", got)
	}
}

func TestLimitText(t *testing.T) {
	for _, c := range []struct {
		what string
		l    limit
		eta  time.Duration
		want string
	}{
		{"Best at 2048 px", limit{limitMemory, 10_100_000_000, gpuBudget}, 0,
			"Best at 2048 px needs 10 GB of GPU memory, more than the 8.6 GB this page asks a device for."},
		{"Best at 4096 px", limit{Kind: limitMemory}, 0, "Best at 4096 px needs more GPU memory than this device grants."},
		{"Best at 2048 px", limit{limitBuffer, 2_820_000_000, 1 << 30}, 0,
			"Best at 2048 px needs more GPU memory in one buffer (2.8 GB) than this device grants (1.1 GB)."},
		{"Poster (4096 px)", limit{Kind: limitBuffer}, 0, "Poster (4096 px) needs more GPU memory than this device grants."},
		{"Best at 1024 px", limit{limitCPU, 5_930_000_000, 0}, 11 * time.Hour,
			"Best at 1024 px needs WebGPU: on the CPU it would need 5.9 GB of memory and take about 11 h."},
		{"Best at 1024 px", limit{limitCPU, 5_930_000_000, 0}, 0, "Best at 1024 px needs WebGPU: on the CPU it would need 5.9 GB of memory."},
		{"Poster (4096 px)", limit{Kind: limitCPU}, 0,
			"Poster (4096 px) needs WebGPU: on the CPU, a run this large does not fit the tab's WebAssembly memory."},
		{"Fast at 2048 px", limit{Kind: limitFailed}, 0, "Fast at 2048 px cannot be planned on this device (its dry run failed)."},
		{"Fast at 2048 px", limit{}, 0, ""},
	} {
		if got := limitText(c.what, c.l, c.eta); got != c.want {
			t.Errorf("limitText(%q, %+v, %v) =\n %q, want\n %q", c.what, c.l, c.eta, got, c.want)
		}
	}
}

func TestModeNote(t *testing.T) {
	why := "Best at 2048 px needs 10 GB of GPU memory, more than the 8.6 GB this page asks a device for."
	for _, c := range []struct {
		size             int
		fast, best       time.Duration
		fastWhy, bestWhy string
		want             string
	}{
		{512, 20 * time.Second, 3 * time.Minute, "", "", "At 512 px on this device: Fast about 20 s, Best about 3 min."},
		{2048, 40 * time.Second, 5 * time.Hour, "", why, "At 2048 px on this device: Fast about 40 s. " + why + " Use Fast."},
		{2048, 0, 0, "", why, why + " Use Fast."},
		{512, 0, 3 * time.Minute, "", "", "At 512 px on this device: Best about 3 min."},
		{4096, 0, 0, "Fast at 4096 px needs more GPU memory than this device grants.", "Best at 4096 px needs more GPU memory than this device grants.",
			"Fast at 4096 px needs more GPU memory than this device grants. Best at 4096 px needs more GPU memory than this device grants."},
		{256, 0, 0, "", "", ""},
	} {
		if got := modeNote(c.size, c.fast, c.best, c.fastWhy, c.bestWhy); got != c.want {
			t.Errorf("modeNote(%d, %v, %v, ...) =\n %q, want\n %q", c.size, c.fast, c.best, got, c.want)
		}
	}
}

func TestMemoryTexts(t *testing.T) {
	for b, want := range map[int64]string{0: "0.0 GB", 412_000_000: "0.4 GB", 1_130_000_000: "1.1 GB", 9_949_000_000: "9.9 GB", 10_100_000_000: "10 GB", 94_800_000_000: "95 GB"} {
		if got := gigabytes(b); got != want {
			t.Errorf("gigabytes(%d) = %q, want %q", b, got, want)
		}
	}
	if got, want := memoryText(1_200_000_000, 210_000_000), "1.4 GB (Go 1.2 GB, SIMD kernels 0.2 GB)"; got != want {
		t.Errorf("memoryText = %q, want %q", got, want)
	}
	if got, want := memoryText(900_000_000, 0), "0.9 GB"; got != want {
		t.Errorf("memoryText without kernels = %q, want %q", got, want)
	}
	for _, size := range sizes {
		if sizeNames[size] == "" {
			t.Errorf("size %d has no name", size)
		}
	}
}

func TestResumeText(t *testing.T) {
	for _, c := range []struct {
		ck   checkpoint
		want string
	}{
		{checkpoint{Mode: nnst.ModeBest, Scale: 2, Scales: 4},
			"The GPU device was lost during scale 3 of 4. The run resumed from the end of scale 2 of 4 on CPU (x), keeping the work done before."},
		{checkpoint{Mode: nnst.ModeBest, Scale: 4, Scales: 4},
			"The GPU device was lost during the final pass. The run resumed from the end of scale 4 of 4 on CPU (x), keeping the work done before."},
		{checkpoint{Mode: nnst.ModeFast, Scale: 1, Scales: 1},
			"The GPU device was lost during the final pass. The run resumed from the end of the match on CPU (x), keeping the work done before."},
	} {
		during, after := c.ck.stages()
		if got := resumeText("The GPU device was lost.", during, after, "CPU (x)"); got != c.want {
			t.Errorf("%+v:\n got %q\nwant %q", c.ck, got, c.want)
		}
	}
}
