# nnst build. Every output goes under build/ (gitignored).
GO ?= go
SHARED ?= ../shared
MODEL_SRC ?= $(SHARED)/models/vgg19-keras-uint8
MODEL := build/models/vgg19.safetensors
NNST := build/nnst
GOSRC := $(shell find core cmd -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build model test test-go test-browser run bench bench-conv bench-webgpu clean

all: build model

build: $(NNST)

$(NNST): $(GOSRC)
	$(GO) build -o $@ ./cmd/nnst

# The default model: VGG19 converted from the TensorFlow.js uint8 copy in
# ../shared when present, else from the same public files downloaded.
model: $(MODEL)

$(MODEL): $(NNST)
	@if [ -f "$(MODEL_SRC)/model.json" ]; then \
		src="$(MODEL_SRC)"; \
	else \
		echo "$(MODEL_SRC) not found: downloading the public VGG19 files"; \
		sh models/fetch.sh build/models/src && src=build/models/src; \
	fi; \
	$(NNST) convert --src "$$src" --out $@

# Everything: native tests (unit, fixtures, fuzz seeds, end to end with the
# real model).
test: model
	$(GO) vet ./...
	NNST_MODEL=$(abspath $(MODEL)) $(GO) test -timeout 20m ./...

# WebGPU kernel and pipeline parity against the CPU backend, in headless
# Chromium (SwiftShader): the test binary is GOOS=js wasm, run through
# wasm/webgpu/wasmbrowser as `go test -exec`.
WASMBROWSER := build/wasmbrowser

$(WASMBROWSER): $(wildcard wasm/webgpu/wasmbrowser/*.go) go.mod go.sum
	$(GO) build -o $@ ./wasm/webgpu/wasmbrowser

test-browser: $(WASMBROWSER)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	$(GO) test ./shaders ./wasm/webgpu
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/webgpu ./shaders
	GOOS=js GOARCH=wasm $(GO) test -timeout 15m -exec $(abspath $(WASMBROWSER)) -v ./wasm/webgpu

# WebGPU timings in headless Chromium (not a test): conv GFLOP/s and one
# step at NNST_TEST_SIZE px (256), printed as a Markdown table.
bench-webgpu: $(WASMBROWSER)
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)
	NNST_BENCH=1 NNST_TEST_SIZE=$${NNST_TEST_SIZE:-256} GOOS=js GOARCH=wasm $(GO) test -timeout 60m -exec $(abspath $(WASMBROWSER)) -run TestBench -v ./wasm/webgpu

# Until the web app lands, `make run` stylizes the example pair on the CPU.
run: build model
	$(NNST) stylize --content $(SHARED)/images/content-c1.jpg --style $(SHARED)/images/style-s4.jpg \
		--output build/example.png --size 256 --steps 30
	@echo "Output: $(abspath build/example.png)"

bench: build model
	$(NNST) bench

clean:
	rm -rf build dist
