# nnst build. Every output goes under build/ (gitignored).
GO ?= go
SHARED ?= ../shared
MODEL_SRC ?= $(SHARED)/models/vgg19-keras-uint8
MODEL := build/models/vgg19.safetensors
NNST := build/nnst
GOSRC := $(shell find core cmd -name '*.go' -not -name '*_test.go') go.mod go.sum

.PHONY: all build model test test-go run bench bench-conv clean

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

clean:
	rm -rf build dist

# The web app: build/site/ is the whole static site (see web/site.sh).
SITE := build/site
.PHONY: site serve-site test-web

site: $(MODEL)
	GO=$(GO) sh web/site.sh $(SITE) $(MODEL)

# A quick look without `nnst serve`: any static server on 127.0.0.1.
serve-site: site
	cd $(SITE) && python3 -m http.server 8080 --bind 127.0.0.1

# End to end in headless Chromium (chromedp): upload, run, cancel, download,
# refusals, no-WebGPU path, offline reload. Needs /usr/bin/chromium.
test-web: site
	GOOS=js GOARCH=wasm $(GO) vet ./wasm/app
	NNST_SITE=$(abspath $(SITE)) $(GO) test -count=1 -timeout 20m -v ./wasm/app/browsertest/
