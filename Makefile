# nnst build. Every output goes under build/ (gitignored).
GO ?= go
SHARED ?= ../shared
MODEL_SRC ?= $(SHARED)/models/vgg19-keras-uint8
MODEL := build/models/vgg19.safetensors
NNST := build/nnst
GOSRC := $(shell find core cmd -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build model test test-go run bench bench-conv clean wabt simd-kernels test-simd bench-simd

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

# Until the web app lands, `make run` stylizes the example pair on the CPU.
run: build model
	$(NNST) stylize --content $(SHARED)/images/content-c1.jpg --style $(SHARED)/images/style-s4.jpg \
		--output build/example.png --size 256 --steps 30
	@echo "Output: $(abspath build/example.png)"

bench: build model
	$(NNST) bench

# Browser CPU kernels (wasm/simd): kernels.wat assembled with wabt's
# wat2wasm; the site serves it next to web/simd.js and web/simd-worker.js.
SIMD_KERNELS := build/simd/simd-kernels.wasm

wabt:
	@command -v wat2wasm >/dev/null || { apt-get update -qq && apt-get install -y -qq wabt; }

simd-kernels: $(SIMD_KERNELS)

$(SIMD_KERNELS): wasm/simd/kernels.wat | wabt
	@mkdir -p $(dir $@)
	wat2wasm --enable-threads $< -o $@

# Parity of the SIMD kernels with the Go CPU ops, in headless Chromium.
test-simd: wabt
	NNST_SIMD_REQUIRE=1 $(GO) test -count=1 -timeout 5m ./wasm/simd/...

# VGG19 to relu4_3 with our kernels against onnxruntime-web (wasm backend)
# in one headless Chromium run, plus a stylization at 256 px.
bench-simd: wabt model
	cd wasm/simd/bench && { [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund; }
	$(GO) run ./wasm/simd/bench -model $(MODEL)

clean:
	rm -rf build dist
