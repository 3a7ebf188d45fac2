package browsertest

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestResume makes the first run crash the worker or lose the GPU device
// mid-way, after its first finished stage (a scale of Best, Fast's match),
// through the ?fault= hook: the page must restart the engine, resume from
// that stage without doing it again, say what happened, and finish. On
// WebGPU (SwiftShader here) the checkpoint comes from the GPU; the run
// resumes on a new device, or on the CPU when no adapter answers in time
// (SwiftShader, still busy with the old worker's work, often does not).
func TestResume(t *testing.T) {
	dir := siteDir(t)
	srv := serveSite(t, dir)
	in := makeInputs(t)
	for _, c := range []struct{ fault, mode, backend, why, during, after string }{
		{"crash", "best", "cpu", "The compute engine stopped unexpectedly", "during scale 2 of 2", "resumed from the end of scale 1 of 2 on CPU"},
		{"lost", "best", "cpu", "The graphics device was lost", "during scale 2 of 2", "resumed from the end of scale 1 of 2 on CPU"},
		{"lost", "fast", "cpu", "The graphics device was lost", "during the final pass", "resumed from the end of the match on CPU"},
		{"lost", "best", "webgpu", "The graphics device was lost", "during scale 2 of 2", "resumed from the end of scale 1 of 2 on "},
	} {
		t.Run(c.fault+"-"+c.mode+"-"+c.backend, func(t *testing.T) {
			tb, e := startFaultRun(t, srv, in, c.fault, c.mode, c.backend)
			for _, w := range []string{c.why, c.during, c.after} {
				if !strings.Contains(e.Detail, w) {
					t.Errorf("the resume says %q, want %q in it", e.Detail, w)
				}
			}
			t.Logf("resumed: %s (%s)", e.Detail, tb.text("backend-note"))
			if st := tb.text("status"); st != e.Detail {
				t.Errorf("the status says %q, want %q", st, e.Detail)
			}
			// On to the end, without optimising the finished scale again.
			seq := e.Seq
			for {
				e = tb.wait("progress,done,error,cancelled", seq, 8*time.Minute)
				seq = e.Seq
				if e.Type != "progress" {
					break
				}
				if c.mode == "best" && strings.HasPrefix(e.Detail, "Scale 1 of") {
					t.Errorf("after resuming: %q", e.Detail)
				}
			}
			if e.Type != "done" {
				t.Fatalf("the resumed run: %+v (%s)", e, tb.text("error-text"))
			}
			if st := tb.text("status"); !strings.Contains(st, c.after) || !strings.Contains(st, c.during) {
				t.Errorf("the status after the run says %q, want what happened", st)
			}
			if d := tb.text("details"); !strings.Contains(d, "Recovered") || !strings.Contains(d, c.during) {
				t.Errorf("the run details %q do not say what happened", d)
			}
			tb.checkProblems()
		})
	}
}

// TestResumeFailsAgain loses the device in the first run after the match
// and again in the resumed run before it finishes a stage: the page must
// not loop but say so and offer to try again, and trying again resumes
// from the same checkpoint and finishes.
func TestResumeFailsAgain(t *testing.T) {
	tb, _ := startFaultRun(t, serveSite(t, siteDir(t)), makeInputs(t), "lost-twice", "fast", "cpu")
	e := tb.wait("error,done,cancelled", tb.seq(), 8*time.Minute)
	want := "during the final pass, again. Try again to resume from the end of the match."
	if msg := tb.text("error-text"); e.Type != "error" || !strings.HasPrefix(msg, "The graphics device was lost") || !strings.HasSuffix(msg, want) {
		t.Fatalf("the second loss: %+v (%q), want an error saying %q", e, tb.text("error-text"), want)
	}
	if r := tb.text("retry"); r != "Try again" {
		t.Errorf("the button says %q", r)
	}
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("retry")))
	e = tb.wait("resumed,error,done,cancelled", s, 8*time.Minute)
	if e.Type != "resumed" || !strings.Contains(e.Detail, "resumed from the end of the match") {
		t.Fatalf("trying again: %+v (%s), want the run resumed from the match", e, tb.text("error-text"))
	}
	if e = tb.wait("done,error,cancelled", e.Seq, 8*time.Minute); e.Type != "done" {
		t.Fatalf("the run tried again: %+v (%s)", e, tb.text("error-text"))
	}
	tb.checkProblems()
}

// startFaultRun opens the page with the fault hook on backend, runs the
// pair in mode (on WebGPU without rotations, to keep SwiftShader's run
// short) and waits until the page resumes the run; it returns the tab and
// the resumed event.
func startFaultRun(t *testing.T, srv *site, in inputs, fault, mode, backend string) (*tab, event) {
	t.Helper()
	tb := startBrowser(t, backend == "webgpu")
	tb.do(60*time.Second, chromedp.Navigate(srv.URL+"/"+query+"&fault="+fault+"&backend="+backend))
	if e := tb.wait("ready,error", 0, 3*time.Minute); e.Type != "ready" || e.Detail != backend {
		t.Fatalf("not ready on %s: %+v", backend, e)
	}
	tb.uploadPair(in)
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("mode-"+mode)))
	if backend == "webgpu" {
		tb.do(10*time.Second, chromedp.Click(chromedp.ID("flip")))
	}
	s := tb.seq()
	tb.do(10*time.Second, chromedp.Click(chromedp.ID("run")))
	e := tb.wait("resumed,error,done,cancelled", s, 8*time.Minute)
	if e.Type != "resumed" {
		t.Fatalf("want the run resumed, got %+v (%s)", e, tb.text("error-text"))
	}
	return tb, e
}
