// Package shaders holds the WGSL compute kernels of the WebGPU backend, one
// file per kernel family. A file starts with a prelude shared by its
// kernels; each kernel follows a line "//! name" and has entry point main.
// Kernel returns common.wgsl (helpers of every family), the prelude and
// one kernel's section: a complete module.
package shaders

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

//go:embed *.wgsl
var files embed.FS

// common is the file of helpers that every kernel's module starts with.
const common = "common"

// Families lists the kernel families (file names without .wgsl).
func Families() []string {
	ents, _ := files.ReadDir(".")
	var out []string
	for _, e := range ents {
		if f := strings.TrimSuffix(e.Name(), ".wgsl"); f != common {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// File returns the text of one family's .wgsl file.
func File(family string) (string, error) {
	b, err := files.ReadFile(family + ".wgsl")
	if err != nil {
		return "", fmt.Errorf("shaders: no family %q", family)
	}
	return string(b), nil
}

// split returns the prelude and the sections of a family, by kernel name.
func split(src string) (string, map[string]string, []string) {
	parts := strings.Split(src, "\n//! ")
	secs := map[string]string{}
	var names []string
	for _, p := range parts[1:] {
		name, body, _ := strings.Cut(p, "\n")
		name = strings.TrimSpace(name)
		secs[name] = body
		names = append(names, name)
	}
	return parts[0], secs, names
}

// Kernels lists the kernel names of a family, in file order.
func Kernels(family string) ([]string, error) {
	src, err := File(family)
	if err != nil {
		return nil, err
	}
	_, _, names := split(src)
	return names, nil
}

// Kernel returns the WGSL module of one kernel: the common helpers, its
// family's prelude and its section. The entry point is main.
func Kernel(family, name string) (string, error) {
	src, err := File(family)
	if err != nil || family == common {
		return "", fmt.Errorf("shaders: no family %q", family)
	}
	helpers, err := File(common)
	if err != nil {
		return "", err
	}
	pre, secs, _ := split(src)
	body, ok := secs[name]
	if !ok {
		return "", fmt.Errorf("shaders: no kernel %q in %s.wgsl", name, family)
	}
	return helpers + "\n" + pre + "\n" + body, nil
}

// Version names the kernels' sources: the first 12 hex digits of the
// SHA-256 of the common helpers' file and every family's, in name order.
func Version() string {
	h := sha256.New()
	for _, f := range append([]string{common}, Families()...) {
		src, _ := File(f)
		fmt.Fprintf(h, "%s %d\n%s", f, len(src), src)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// uniformRE matches a module's uniform binding and its type.
var uniformRE = regexp.MustCompile(`var<uniform>\s*\w+\s*:\s*(\w+)\s*;`)

// lineComment matches a // comment to the end of its line.
var lineComment = regexp.MustCompile(`//[^\n]*`)

// Params returns the field names of the struct that a kernel module binds
// as its uniforms: the words a dispatch writes, in order. Each field must
// be one 32-bit word (u32, i32 or f32).
func Params(src string) ([]string, error) {
	src = lineComment.ReplaceAllString(src, "")
	m := uniformRE.FindAllStringSubmatch(src, -1)
	if len(m) != 1 {
		return nil, fmt.Errorf("%d uniform bindings, want 1", len(m))
	}
	typ := m[0][1]
	def := regexp.MustCompile(`struct\s+`+typ+`\s*\{([^}]*)\}`).FindAllStringSubmatch(src, -1)
	if len(def) != 1 {
		return nil, fmt.Errorf("%d definitions of struct %s, want 1", len(def), typ)
	}
	var names []string
	for _, f := range strings.Split(def[0][1], ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		name, ft, ok := strings.Cut(f, ":")
		name, ft = strings.TrimSpace(name), strings.TrimSpace(ft)
		if !ok || (ft != "u32" && ft != "i32" && ft != "f32") {
			return nil, fmt.Errorf("struct %s: field %q is not one u32, i32 or f32", typ, strings.TrimSpace(f))
		}
		names = append(names, name)
	}
	return names, nil
}
