// Package backendtest is the conformance suite of the nnst backends: one
// table of ops, shapes and stated tolerances (cases.go), each op run on the
// backend under test and on the plain Go reference (reference), and the
// results compared. The CPU backend's tests run it natively, the SIMD and
// WebGPU backends' tests in headless Chromium; it does not use syscall/js.
package backendtest

import (
	"slices"
	"testing"

	"nnst/core/cpu"
	"nnst/core/nnst"
)

// Config says what to test.
type Config struct {
	// New returns the backend under test, or fails t. It is called once,
	// after the kernel cases (conv, nearest), which may not leave a
	// backend made before them usable.
	New func(t *testing.T) nnst.Backend
	// Convs and Nearest are the backend's kernels, in every variant it
	// has, for the conv and nearest cases.
	Convs   []Conv
	Nearest []Nearest
	// Half says that the backend keeps banks and Compact copies in fp16:
	// cases with a Half tolerance use it.
	Half bool
	// Skip excludes cases by name; the value is the reason, written out.
	Skip map[string]string
	// Only, if not empty, runs just the cases of these names.
	Only []string
}

// opCase is one op of the suite with its tolerances; its shapes sit next
// to the table in cases.go.
type opCase struct {
	name string
	// kernel cases test Config.Convs or Config.Nearest, not the backend.
	kernel bool
	// tol bounds the error of each output: max |got - want| over
	// max |want| unless the case says otherwise (0: exact).
	tol tols
	// half replaces tol for backends with Config.Half (nil: tol).
	half tols
	run  func(t *testing.T, s *state)
}

// tols are a case's tolerances, by output.
type tols map[string]float64

// state is what a case runs with.
type state struct {
	cfg Config
	tol tols
	be  nnst.Backend
	ref *cpu.Backend
}

// of returns the tolerance of an output; a name the case does not state
// fails the test.
func (s *state) of(t *testing.T, name string) float64 {
	t.Helper()
	v, ok := s.tol[name]
	if !ok {
		t.Fatalf("no tolerance %q stated for this case", name)
	}
	return v
}

// Run runs the suite's cases on the backend that c describes.
func Run(t *testing.T, c Config) {
	for name, why := range c.Skip {
		if why == "" {
			t.Errorf("case %q is skipped without a reason", name)
		}
		if !slices.ContainsFunc(cases, func(k opCase) bool { return k.name == name }) {
			t.Errorf("Skip names %q, which is not a case", name)
		}
	}
	s := &state{cfg: c, ref: reference()}
	for _, k := range cases {
		if len(c.Only) > 0 && !slices.Contains(c.Only, k.name) {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			if why, ok := c.Skip[k.name]; ok {
				t.Skip(why)
			}
			s.tol = k.tol
			if c.Half && k.half != nil {
				s.tol = k.half
			}
			if k.kernel {
				k.run(t, s)
				return
			}
			if s.be == nil {
				s.be = c.New(t)
			}
			runChecked(t, s, k)
		})
	}
}

// unfused returns the backend's unfused ops, or skips a case that tests
// them when it has none: they are optional.
func (s *state) unfused(t *testing.T) nnst.Unfused {
	u, ok := nnst.As[nnst.Unfused](s.be)
	if !ok {
		t.Skip("the backend has no unfused ops (nnst.Unfused)")
	}
	return u
}

// runChecked runs a backend case and checks that it reported no error
// and left the live bytes as it found them. A first run may leave what a
// backend caches (resize tables, a model's weights): then a second run
// must leave the bytes unchanged.
func runChecked(t *testing.T, s *state, k opCase) {
	for try := 0; try < 2; try++ {
		live := s.be.LiveBytes()
		k.run(t, s)
		if err := s.be.Err(); err != nil {
			t.Fatal(err)
		}
		if t.Failed() {
			return
		}
		if got := s.be.LiveBytes(); got == live {
			return
		} else if try == 1 {
			t.Errorf("live bytes %d after the case, %d before: it leaks", got, live)
		}
	}
}

// reference returns the plain Go backend the suite compares with: the CPU
// backend with plain-loop kernels (conv.ForwardRef and BackwardDataRef, a
// float64 nearest-neighbour search).
func reference() *cpu.Backend {
	return cpu.NewWith(cpu.Kernels{Name: "reference", NewConv: newRefConv, Nearest: refNearest})
}
