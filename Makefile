# nnst build. Every output goes under build/ (gitignored).
GO ?= go
SHARED ?= ../shared
MODEL_SRC ?= $(SHARED)/models/vgg19-keras-uint8
MODEL := build/models/vgg19.safetensors
NNST := build/nnst
GOSRC := $(shell find core cmd -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build model fuzz test test-go test-hosting test-browser test-web test-simd run bench bench-conv bench-webgpu bench-simd bench-webgpu-ort real-gpu-pack dist serve worker worker-local wabt chromium simd-kernels clean site serve-site audit

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
		sh models/fetch.sh build/models/src || exit 1; \
		src=build/models/src; \
	fi; \
	$(NNST) convert --src "$$src" --out $@

# Everything: native tests (unit, fixtures, fuzz seeds, end to end with the
# real model), hosting (server, bundle, Worker in workerd), the WebGPU
# backend and the web app in headless Chromium, and the SIMD kernels.
test: test-go test-hosting test-browser test-web test-simd

# Native: go vet and every Go test, end to end with the real model; then
# the race detector over the packages that run goroutines (random models:
# the real one would take too long under it) and the server.
RACE_PKGS := ./core/ops ./core/gemm ./core/conv ./core/imageio ./core/cpu ./core/nnst ./core/bundle ./core/site
test-go: model
	$(GO) vet ./...
	NNST_MODEL=$(abspath $(MODEL)) $(GO) test -timeout 20m ./...
	$(GO) test -race -timeout 20m $(RACE_PKGS)
	$(GO) test -race -timeout 10m -run 'TestServe' ./cmd/nnst

# Every fuzz target for FUZZTIME each (not part of make test): the
# hostile inputs issue 19 found are among their seeds.
FUZZTIME ?= 1m
fuzz:
	@for t in $$(grep -rhoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+' core cmd wasm | sed 's/func //' | sort -u); do \
		pkg=$$(grep -rlE --include='*_test.go' "^func $$t\(" core cmd wasm | head -1 | xargs dirname); \
		echo "== $$t in ./$$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) ./$$pkg || exit 1; \
	done

# WebGPU kernel and pipeline parity against the CPU backend, in headless
# Chromium (SwiftShader): the test binary is GOOS=js wasm, run through
# wasm/webgpu/wasmbrowser as `go test -exec`.
WASMBROWSER := build/wasmbrowser

$(WASMBROWSER): $(wildcard wasm/webgpu/wasmbrowser/*.go) go.mod go.sum
	$(GO) build -o $@ ./wasm/webgpu/wasmbrowser

test-browser: $(WASMBROWSER) chromium
	$(GO) test ./shaders ./wasm/webgpu
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/webgpu ./shaders
	GOOS=js GOARCH=wasm $(GO) test -timeout 15m -exec $(abspath $(WASMBROWSER)) -v ./wasm/webgpu

# WebGPU timings in headless Chromium (not a test): conv GFLOP/s and one
# step at NNST_TEST_SIZE px (256), printed as a Markdown table.
bench-webgpu: $(WASMBROWSER) chromium
	NNST_BENCH=1 NNST_TEST_SIZE=$${NNST_TEST_SIZE:-256} NNST_CHROMIUM_FLAGS=$${NNST_CHROMIUM_FLAGS:-enable-webgpu-developer-features} GOOS=js GOARCH=wasm $(GO) test -timeout 60m -exec $(abspath $(WASMBROWSER)) -run TestBench -v ./wasm/webgpu

# The app: build the wasm app, the model and the site, bundle it and serve
# it on 127.0.0.1:8080 (the URL is printed).
run: dist
	$(NNST) serve --addr $${ADDR:-127.0.0.1:8080} --dir dist

# Benchmarks (never tests): conv against PyTorch, then GFLOP/s and
# stylization times. Results are recorded in BENCHMARKS.md.
bench: build model bench-conv
	$(NNST) bench

# Hosting. dist/ is the static bundle of the site folder $(SITE), which
# `make site` writes; `make serve` serves it like the hosted site.
SITE ?= build/site
WORKER := wasm/worker
WORKERD := $(WORKER)/node_modules/.bin/workerd

dist: $(NNST) site
	$(NNST) dist --src $(SITE) --out dist

serve: dist
	$(NNST) serve --dir dist

# The Cloudflare Worker: wasm/worker/build/ holds syumai/workers' loader and
# the Go handler compiled to wasm.
worker:
	$(GO) run github.com/syumai/workers/cmd/workers-assets-gen -mode=go -o $(WORKER)/build
	GOOS=js GOARCH=wasm $(GO) build -o $(WORKER)/build/app.wasm ./$(WORKER)

$(WORKERD): $(WORKER)/package.json $(WORKER)/package-lock.json
	cd $(WORKER) && npm ci --no-audit --no-fund
	@touch $@

# The Worker in workerd on http://127.0.0.1:8787/, serving dist/ (no network).
worker-local: dist worker $(WORKERD)
	$(WORKERD) serve $(WORKER)/workerd.capnp --socket-addr http=127.0.0.1:8787 --directory-path assets=$(abspath dist)

# Hosting tests (about a minute): the handler, the bundler, `nnst serve` and
# python3 -m http.server under a sub-path, and the Worker in workerd
# answering like `nnst serve`.
test-hosting: $(WORKERD)
	$(GO) vet ./core/site ./core/bundle ./cmd/nnst ./$(WORKER)
	GOOS=js GOARCH=wasm $(GO) vet ./core/site ./$(WORKER)
	NNST_WORKERD=$(abspath $(WORKERD)) $(GO) test -count=1 -timeout 5m ./core/site ./core/bundle ./$(WORKER)
	$(GO) test -timeout 5m -run 'Serve|Python' ./cmd/nnst

# Browser CPU kernels (wasm/simd): kernels.wat assembled with wabt's
# wat2wasm; the site serves it next to web/simd.js and web/simd-worker.js.
SIMD_KERNELS := build/simd/simd-kernels.wasm

# Debian's wabt and chromium, installed with apt-get (as root) when missing.
wabt:
	@command -v wat2wasm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wabt; }

chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

simd-kernels: $(SIMD_KERNELS)

$(SIMD_KERNELS): wasm/simd/kernels.wat | wabt
	@mkdir -p $(dir $@)
	wat2wasm --enable-threads $< -o $@

# Parity of the SIMD kernels with the Go CPU ops, in headless Chromium.
test-simd: wabt chromium
	NNST_SIMD_REQUIRE=1 $(GO) test -count=1 -timeout 5m ./wasm/simd/...

# VGG19 to relu4_3 with our kernels against onnxruntime-web (wasm backend)
# in one headless Chromium run, plus a stylization at 256 px.
bench-simd: wabt model
	cd wasm/simd/bench && { [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund; }
	$(GO) run ./wasm/simd/bench -model $(MODEL)

# VGG19 to relu4_3 with our WebGPU backend against onnxruntime-web's WebGPU
# execution provider in one headless Chromium (--enable-unsafe-webgpu).
# WEBGPU_SIZES=64,128,256 adds 256 px (on SwiftShader, minutes a pass).
WEBGPU_SIZES ?= 64,128

bench-webgpu-ort: model chromium
	cd wasm/simd/bench && { [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund; }
	$(GO) run ./wasm/simd/bench -webgpu -sizes $(WEBGPU_SIZES) -model $(MODEL)

# Packs the WebGPU checks and benchmarks for a lent GPU machine without Go,
# Chromium or network (docs/real-gpu.md): writes .dev/a, .dev/b and .gl.
real-gpu-pack: dist
	cd wasm/simd/bench && { [ -d node_modules/onnxruntime-web ] || npm ci --no-audit --no-fund; }
	sh docs/real-gpu/pack.sh

clean:
	rm -rf build dist $(WORKER)/build

# Our conv forward and backward-data against PyTorch's (Debian python3-torch)
# on every VGG shape, same thread count, side by side.
bench-conv:
	$(GO) run ./cmd/convbench

# The web app: build/site/ is the whole static site (see web/site.sh).
site: $(MODEL) $(SIMD_KERNELS)
	GO=$(GO) sh web/site.sh $(SITE) $(MODEL) $(SIMD_KERNELS)

# A quick look without `nnst serve`: any static server on 127.0.0.1.
serve-site: site
	cd $(SITE) && python3 -m http.server 8080 --bind 127.0.0.1

# axe-core (TestAccessibility) and Lighthouse (TestLighthouse) from npm.
A11Y := wasm/app/browsertest/a11y
$(A11Y)/node_modules/.package-lock.json: $(A11Y)/package.json $(A11Y)/package-lock.json
	cd $(A11Y) && npm ci --no-audit --no-fund
	@touch $@

# End to end in headless Chromium (chromedp): upload, run, cancel, download,
# refusals, no-WebGPU path, offline reload, accessibility (axe-core, and
# Lighthouse on dist).
test-web: dist $(A11Y)/node_modules/.package-lock.json chromium
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/app
	NNST_SITE=$(abspath $(SITE)) NNST_DIST=$(abspath dist) $(GO) test -count=1 -timeout 20m -v ./wasm/app/browsertest/

# Only the accessibility checks (about half a minute): axe-core on the page
# idle and after a run, Lighthouse accessibility and best practices on dist.
audit: dist $(A11Y)/node_modules/.package-lock.json chromium
	NNST_SITE=$(abspath $(SITE)) NNST_DIST=$(abspath dist) $(GO) test -count=1 -timeout 10m -v -run 'TestAccessibility|TestLighthouse' ./wasm/app/browsertest/
