package webgpu

import "strings"

// overrides is the bit-set of a kernel's pipeline-overridable constants
// that a dispatch asks for; each kernel compiled with a set is a pipeline
// of its own. noOverrides sets none: the WGSL defaults hold.
type overrides int

const (
	noOverrides overrides = -1
	bankF16     overrides = 1 << 0 // F16: the bank's rows are fp16 pairs (match.wgsl)
	srcF16      overrides = 1 << 1 // SRC16: the input is a compact, fp16 tensor
	step2       overrides = 1 << 2 // the conv's K step doubled: TK 32 instead of 16, WC 8 instead of 4
)

// constants returns the values of the overridable constants that the
// kernel src declares, as o sets them; nil for noOverrides.
func (o overrides) constants(src string) map[string]any {
	if o == noOverrides {
		return nil
	}
	step := 1
	if o&step2 != 0 {
		step = 2
	}
	bit := func(f overrides) int {
		if o&f != 0 {
			return 1
		}
		return 0
	}
	cs := map[string]any{}
	if strings.Contains(src, "override TK") {
		cs["TK"] = 16 * step
	}
	if strings.Contains(src, "override WC") {
		cs["WC"] = winoWC * step
	}
	if strings.Contains(src, "override F16") {
		cs["F16"] = bit(bankF16)
	}
	if strings.Contains(src, "override SRC16") {
		cs["SRC16"] = bit(srcF16)
	}
	return cs
}
