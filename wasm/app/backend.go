//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"nnst/core/cpu"
	"nnst/core/nnst"
	"nnst/wasm/simd"
	"nnst/wasm/webgpu"
)

// backendInfo describes the backend a worker runs, for the page.
type backendInfo struct {
	Name  string // "cpu" or "webgpu"
	Label string // in words, for run details
	Note  string // why this backend, shown under the selector
	GPU   gpuStatus
	// WebGPUReason says why the WebGPU backend cannot be chosen; empty when
	// it can.
	WebGPUReason string
}

// gpuStatus is what the browser offers for WebGPU.
type gpuStatus struct {
	Available bool
	Reason    string // why not, in words
	Adapter   string // vendor / architecture / description
	Fallback  bool   // a software adapter (isFallbackAdapter)
}

// chooseBackend picks the backend for pref ("auto", "cpu" or "webgpu"):
// WebGPU on a real adapter, the CPU when WebGPU is missing or the adapter is
// a software fallback (which is slower than the CPU), or as the user chooses.
func chooseBackend(ctx context.Context, pref string) (nnst.Backend, backendInfo) {
	gpu := probeGPU(ctx)
	reason := ""
	if !gpu.Available {
		reason = "this browser offers no usable WebGPU adapter"
	}
	onCPU := func(before, after string) (nnst.Backend, backendInfo) {
		be, info := cpuBackend()
		info.GPU, info.WebGPUReason = gpu, reason
		info.Note = before + info.Note + after
		return be, info
	}
	switch {
	case pref == "cpu":
		return onCPU("Running on the CPU, as chosen", "")
	case !gpu.Available:
		return onCPU(gpu.Reason+" Running on the CPU instead", "")
	case pref != "webgpu" && gpu.Fallback:
		return onCPU(fmt.Sprintf("The only WebGPU adapter here is a software one (%s), which is slower than the CPU. Running on the CPU", gpu.Adapter), " You can still choose WebGPU.")
	}
	gb, err := webgpu.New(ctx)
	if err != nil {
		reason = err.Error()
		return onCPU("Opening the WebGPU device failed ("+err.Error()+"). Running on the CPU instead", "")
	}
	info := backendInfo{Name: "webgpu", GPU: gpu}
	info.Label = "WebGPU (" + gb.Info.Name() + ")"
	info.Note = "Running on the GPU with WebGPU (" + gb.Info.Name() + ")."
	if gpu.Fallback {
		info.Note += " This is a software adapter: it is much slower than a real GPU."
	}
	return gb, info
}

// cpuBackend returns the SIMD CPU backend (WebAssembly SIMD128 kernels on
// several workers) when the page is cross-origin isolated, else plain Go on
// one thread. info.Note is the sentence's ending: how it runs and the advice.
func cpuBackend() (nnst.Backend, backendInfo) {
	if simd.Available() {
		be, err := simd.NewBackend()
		if err == nil {
			return be, backendInfo{
				Name:  "cpu",
				Label: "CPU (WebAssembly SIMD, several threads)",
				Note:  " (WebAssembly SIMD on several threads). It is slower than a GPU: the fast size is recommended.",
			}
		}
	}
	return cpu.New(), backendInfo{
		Name:  "cpu",
		Label: "CPU (Go in WebAssembly, one thread)",
		Note:  " (plain WebAssembly, one thread: this browser lacks shared memory or SIMD). It is slow: the fast size is recommended.",
	}
}

// probeGPU asks the browser for a WebGPU adapter.
func probeGPU(ctx context.Context) gpuStatus {
	gpu := global.Get("navigator").Get("gpu")
	if gpu.IsUndefined() || gpu.IsNull() {
		return gpuStatus{Reason: "This browser does not offer WebGPU (navigator.gpu is missing; in Chrome it may need to be enabled, and it needs a secure context)."}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	type res struct {
		v   js.Value
		err error
	}
	ch := make(chan res, 1)
	go func() {
		v, err := await(gpu.Call("requestAdapter"))
		ch <- res{v, err}
	}()
	var r res
	select {
	case r = <-ch:
	case <-ctx.Done():
		return gpuStatus{Reason: "The browser did not answer a request for a WebGPU adapter within 5 seconds."}
	}
	if r.err != nil {
		return gpuStatus{Reason: "Asking for a WebGPU adapter failed: " + r.err.Error() + "."}
	}
	if r.v.IsNull() || r.v.IsUndefined() {
		return gpuStatus{Reason: "This browser offers WebGPU but found no usable graphics adapter (blocked, disabled or unsupported hardware)."}
	}
	st := gpuStatus{Available: true, Adapter: "unknown adapter"}
	if in := r.v.Get("info"); in.Type() == js.TypeObject {
		name := ""
		for _, k := range []string{"vendor", "architecture", "description"} {
			if s := in.Get(k); s.Type() == js.TypeString && s.String() != "" {
				if name != "" {
					name += " / "
				}
				name += s.String()
			}
		}
		if name != "" {
			st.Adapter = name
		}
		st.Fallback = in.Get("isFallbackAdapter").Truthy()
	}
	if r.v.Get("isFallbackAdapter").Truthy() {
		st.Fallback = true
	}
	if st.Fallback {
		st.Adapter += ", a software fallback adapter"
	}
	return st
}
