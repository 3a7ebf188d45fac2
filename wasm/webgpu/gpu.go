//go:build js && wasm

package webgpu

import (
	"errors"
	"fmt"
	"nnst/wasm/jsutil"
	"syscall/js"
)

// Buffer usage and map mode flags of the WebGPU API.
const (
	usageMapRead       = 0x0001
	usageMapWrite      = 0x0002
	usageCopySrc       = 0x0004
	usageCopyDst       = 0x0008
	usageUniform       = 0x0040
	usageStorage       = 0x0080
	usageQuery         = 0x0200 // QUERY_RESOLVE
	shaderStageCompute = 0x4
	mapModeRead        = 0x0001
	storageUsages      = usageStorage | usageCopySrc | usageCopyDst
)

// Limits are the device limits the backend relies on, as granted.
type Limits struct {
	MaxStorageBufferBindingSize     int64
	MaxBufferSize                   int64
	MaxComputeWorkgroupStorageSize  int
	MaxStorageBuffersPerShaderStage int
	MaxComputeInvocationsPerGroup   int
	MaxComputeWorkgroupsPerDim      int
	MinUniformBufferOffsetAlignment int
}

// AdapterInfo describes the adapter for the page to show.
type AdapterInfo struct {
	Vendor, Architecture, Device, Description string
	Fallback                                  bool
	Timestamps                                bool // the device has timestamp queries
}

// Name is a one-line description of the adapter.
func (a AdapterInfo) Name() string {
	s := a.Description
	if s == "" {
		s = a.Vendor + " " + a.Architecture + " " + a.Device
	}
	if a.Fallback {
		s += " (fallback adapter)"
	}
	return s
}

// try runs f, turning a thrown JS exception into an error.
func try(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if je, ok := r.(js.Error); ok {
				err = errors.New(jsString(je.Value))
				return
			}
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}

func jsObject(kv map[string]any) js.Value {
	o := js.Global().Get("Object").New()
	for k, v := range kv {
		o.Set(k, v)
	}
	return o
}

func jsArray(vs ...any) js.Value {
	a := js.Global().Get("Array").New(len(vs))
	for i, v := range vs {
		a.SetIndex(i, v)
	}
	return a
}

// limitNames are the adapter limits requested as they are.
var limitNames = []string{
	"maxStorageBufferBindingSize", "maxBufferSize", "maxComputeWorkgroupStorageSize",
	"maxStorageBuffersPerShaderStage", "maxComputeInvocationsPerWorkgroup",
	"maxComputeWorkgroupSizeX", "maxComputeWorkgroupSizeY", "maxComputeWorkgroupsPerDimension",
	"maxBindGroups", "maxUniformBufferBindingSize",
}

// openDevice requests an adapter and a device with the adapter's limits.
func openDevice() (dev js.Value, info AdapterInfo, lim Limits, err error) {
	gpu := js.Global().Get("navigator").Get("gpu")
	if gpu.IsUndefined() || gpu.IsNull() {
		return dev, info, lim, errors.New("WebGPU is not available in this browser (navigator.gpu is missing)")
	}
	ad, err := await(gpu.Call("requestAdapter", jsObject(map[string]any{"powerPreference": "high-performance"})))
	if err != nil {
		return dev, info, lim, fmt.Errorf("requesting a WebGPU adapter: %w", err)
	}
	if ad.IsNull() || ad.IsUndefined() {
		return dev, info, lim, errors.New("no WebGPU adapter is available (the GPU may be blocklisted or disabled)")
	}
	if ai := ad.Get("info"); !ai.IsUndefined() {
		info.Vendor = ai.Get("vendor").String()
		info.Architecture = ai.Get("architecture").String()
		info.Device = ai.Get("device").String()
		info.Description = ai.Get("description").String()
		if f := ai.Get("isFallbackAdapter"); f.Type() == js.TypeBoolean {
			info.Fallback = f.Bool()
		}
	}
	if f := ad.Get("isFallbackAdapter"); f.Type() == js.TypeBoolean {
		info.Fallback = info.Fallback || f.Bool()
	}
	al := ad.Get("limits")
	req := js.Global().Get("Object").New()
	for _, n := range limitNames {
		if v := al.Get(n); v.Type() == js.TypeNumber {
			req.Set(n, v)
		}
	}
	desc := map[string]any{"requiredLimits": req}
	if ad.Get("features").Call("has", "timestamp-query").Bool() {
		// For the benches' per-dispatch GPU times; unused otherwise.
		desc["requiredFeatures"] = jsArray("timestamp-query")
		info.Timestamps = true
	}
	dev, err = await(ad.Call("requestDevice", jsObject(desc)))
	if err != nil {
		return dev, info, lim, fmt.Errorf("requesting a WebGPU device: %w", err)
	}
	dl := dev.Get("limits")
	num := func(n string) int64 { return int64(dl.Get(n).Float()) }
	lim = Limits{
		MaxStorageBufferBindingSize:     num("maxStorageBufferBindingSize"),
		MaxBufferSize:                   num("maxBufferSize"),
		MaxComputeWorkgroupStorageSize:  int(num("maxComputeWorkgroupStorageSize")),
		MaxStorageBuffersPerShaderStage: int(num("maxStorageBuffersPerShaderStage")),
		MaxComputeInvocationsPerGroup:   int(num("maxComputeInvocationsPerWorkgroup")),
		MaxComputeWorkgroupsPerDim:      int(num("maxComputeWorkgroupsPerDimension")),
		MinUniformBufferOffsetAlignment: int(num("minUniformBufferOffsetAlignment")),
	}
	switch {
	case lim.MaxComputeInvocationsPerGroup < 256:
		err = fmt.Errorf("the GPU allows %d invocations per workgroup; 256 are needed", lim.MaxComputeInvocationsPerGroup)
	case lim.MaxComputeWorkgroupStorageSize < 16384:
		err = fmt.Errorf("the GPU has %d bytes of workgroup memory; 16 KiB are needed", lim.MaxComputeWorkgroupStorageSize)
	case lim.MaxStorageBuffersPerShaderStage < 6:
		err = fmt.Errorf("the GPU allows %d storage buffers per stage; 6 are needed", lim.MaxStorageBuffersPerShaderStage)
	}
	return dev, info, lim, err
}

// handle is a GPU object (a GPUBuffer).
type handle = js.Value

func bytesToJS(b []byte) js.Value {
	a := js.Global().Get("Uint8Array").New(len(b))
	js.CopyBytesToJS(a, b)
	return a
}

// await and jsString are the shared promise helpers (wasm/jsutil).
var (
	await    = jsutil.Await
	jsString = jsutil.String
)
