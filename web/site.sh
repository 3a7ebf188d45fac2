#!/bin/sh
# Assembles the static site: site.sh OUT_DIR MODEL_FILE SIMD_KERNELS (run by
# `make site`).
set -eu
out=$1
model=$2
kernels=$3
go=${GO:-go}
web=$(dirname "$0")
tmp=$out.tmp
rm -rf "$tmp"
mkdir -p "$tmp/icons" "$tmp/models"
modelver=$(sha256sum "$model" | cut -c1-16)
GOOS=js GOARCH=wasm $go build -trimpath -ldflags "-s -w -X main.modelVersion=$modelver" -o "$tmp/app.wasm" ./wasm/app
sed "s|@MODEL_BYTES@|$(wc -c < "$model" | tr -d ' ')|" "$web/index.html" > "$tmp/index.html"
cp "$web/style.css" "$web/app.js" "$web/worker.js" "$web/manifest.webmanifest" "$tmp/"
cp "$web/simd.js" "$web/simd-worker.js" "$kernels" "$tmp/"
cp "$web"/icons/*.png "$web"/icons/*.svg "$tmp/icons/"
cp "$($go env GOROOT)/lib/wasm/wasm_exec.js" "$tmp/"
cp "$model" "$tmp/models/vgg19.safetensors"
# The shell version is the hash of every shell file, so any change makes a
# new service worker and a new cache.
files=$(cd "$tmp" && find . -type f ! -path './models/*' | sed 's|^\./||' | LC_ALL=C sort)
ver=$(cd "$tmp" && cat $files | sha256sum | cut -c1-16)
list=$(printf '"./"'; for f in $files; do printf ', "%s"' "$f"; done)
sed -e "s|@VERSION@|$ver|" -e "s|@MODEL_VERSION@|$modelver|" -e "s|@FILES@|[$list]|" "$web/sw.js" > "$tmp/sw.js"
rm -rf "$out"
mv "$tmp" "$out"
echo "site: $out (shell $ver, model $modelver)"
