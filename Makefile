# nnst build. Outputs go to build/ (gitignored).
GO ?= go
SHARED ?= ../shared
MODEL_SRC ?= $(SHARED)/models/vgg19-keras-uint8
MODEL := build/models/vgg19.safetensors

.PHONY: all build model test run bench clean

all: build model

build:
	$(GO) build -o build/nnst ./cmd/nnst

test:
	$(GO) vet ./...
	$(GO) test ./...

clean:
	rm -rf build dist

bench-conv:
	$(GO) run ./cmd/convbench
.PHONY: bench-conv
