#!/bin/sh
# Builds what a GPU machine without Go, Chromium or network needs to run the
# WebGPU checks and benchmarks (see ../real-gpu.md), in two parts that each
# fit one device call (64 MiB): .dev/a (Chromium's headless shell) and
# .dev/b (libraries, test binaries, the dist bundle, onnxruntime-web, fonts).
# Run from the repository root after `make dist` and, for onnxruntime-web,
# `cd wasm/simd/bench && npm ci`. Needs Debian's apt (amd64), xz.
set -eu
root=$(pwd); dev=$root/.dev; n=$dev/n
grep -qx '/.dev/' .git/info/exclude || echo /.dev/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude || echo /.gl/ >> .git/info/exclude
rm -rf $dev && mkdir -p $dev/a $dev/b $dev/deb $n/bin $n/chr/lib $n/goroot/lib/wasm $n/images $n/ort .gl
# Chromium's headless shell and the resources it reads, plus its libraries.
(cd $dev/deb && apt-get download chromium-headless-shell >/dev/null && dpkg -x chromium-headless-shell_*.deb x)
H=$dev/deb/x/usr/lib/chromium
xz -T0 -9 -c $H/chromium-headless-shell > $dev/a/chs.xz
cp $H/headless_*.pak $n/chr/
cp /usr/lib/chromium/icudtl.dat /usr/lib/chromium/v8_context_snapshot.bin /usr/lib/chromium/snapshot_blob.bin \
   /usr/lib/chromium/libvulkan.so.1 /usr/lib/chromium/libvk_swiftshader.so /usr/lib/chromium/vk_swiftshader_icd.json \
   /usr/lib/chromium/libEGL.so /usr/lib/chromium/libGLESv2.so $n/chr/
LD_LIBRARY_PATH=$n/chr ldd $H/chromium-headless-shell | awk '$3 ~ /^\// {print $3}' \
  | grep -v -E '/(libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s)\.so' | xargs -I{} cp -L {} $n/chr/lib/
cp $root/docs/real-gpu/chrome.sh $n/chr/ && chmod +x $n/chr/chrome.sh
# The Vulkan loader and GL vendor-neutral libraries the NVIDIA driver needs.
o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64'
(cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
# Programs (no Go on the machine), the site, inputs, onnxruntime-web, a font.
cp $(go env GOROOT)/lib/wasm/wasm_exec.js $n/goroot/lib/wasm/
go build -ldflags='-s -w' -o $n/bin/wasmbrowser ./wasm/webgpu/wasmbrowser
go build -ldflags='-s -w' -o $n/bin/ortbench ./wasm/simd/bench
GOOS=js GOARCH=wasm go build -o $n/bin/webgpu-page.wasm ./wasm/simd/bench/gpupage
GOOS=js GOARCH=wasm go test -c -o $n/bin/webgpu.test.wasm ./wasm/webgpu
go test -c -ldflags='-s -w' -o $n/bin/browsertest.test ./wasm/app/browsertest
# With BASE=<revision>, the same benches built from it, to time a change
# against it in one device call.
if [ -n "${BASE:-}" ]; then
	git worktree prune && git worktree add -f --detach $dev/base "$BASE" >/dev/null
	(cd $dev/base && GOOS=js GOARCH=wasm go build -o $n/bin/base-webgpu-page.wasm ./wasm/simd/bench/gpupage && GOOS=js GOARCH=wasm go test -c -o $n/bin/base-webgpu.test.wasm ./wasm/webgpu)
	git worktree remove --force $dev/base
fi
cp -r dist $n/dist && rm -f $n/dist/*.gz $n/dist/models/*.gz
python3 -c "import json,sys; p=sys.argv[1]; m=json.load(open(p)); [f.pop('gz',None) for f in m['files']]; json.dump(m,open(p,'w'))" $n/dist/_files.json
cp ../shared/images/content-c1.jpg ../shared/images/style-s4.jpg $n/images/
O=wasm/simd/bench/node_modules/onnxruntime-web/dist
cp $O/ort.webgpu.min.js $O/ort-wasm-simd-threaded.asyncify.mjs $O/ort-wasm-simd-threaded.asyncify.wasm $n/ort/
cp $(fc-match -f '%{file}' sans) $n/ && printf '<?xml version="1.0"?>\n<fontconfig><dir>/tmp/n/fonts</dir><cachedir>/tmp/fccache</cachedir></fontconfig>\n' > $n/fonts.conf
cp $root/docs/real-gpu/device-run.sh $root/docs/real-gpu/vk.py $dev/b/
(cd $dev && tar cf - n | xz -T0 -6 > b/n.tar.xz)
du -sh $dev/a $dev/b .gl
