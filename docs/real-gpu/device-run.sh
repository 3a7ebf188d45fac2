# Device call 2 (carry .dev/b and .gl, right after call 1 while the machine
# is warm): WebGPU on the NVIDIA GPU in Chromium; kernel and step timings,
# the onnxruntime-web comparison, the full app run, the parity suite.
# `device-run.sh bench` runs only the timings (about a minute; alternating
# with the base's, ROUNDS times (2), when pack.sh ran with BASE=<revision>);
# `device-run.sh only REGEX` only the wasm tests and benches matching REGEX.
N=/tmp/n; L=$OUT/all.log; T0=$(date +%s)
say() { echo "=== $(( $(date +%s) - T0 ))s $*" | tee -a $L; }
[ -x $N/chr/chromium-headless-shell ] || { say "no Chromium: run device-setup.sh first"; exit 3; }
tar xJf .dev/b/n.tar.xz -C /tmp || exit 4
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
mkdir -p $N/fonts && cp $N/*.ttf $N/fonts/ && export FONTCONFIG_FILE=$N/fonts.conf
for l in /usr/lib/x86_64-linux-gnu/libvulkan.so.1 $N/chr/libvulkan.so.1; do VK_LOADER_DEBUG=error python3 .dev/b/vk.py $l 2>&1 | sort -u | cut -c1-300 | tee -a $L; done
nvidia-smi --query-gpu=timestamp,memory.used,utilization.gpu --format=csv -lms 250 > $OUT/smi.csv 2>&1 &
export NNST_CHROMIUM=$N/chr/chrome.sh GOROOT=$N/goroot NNST_SHARED=$N NNST_SHOTS=$OUT
export NNST_CHROMIUM_FLAGS=use-angle=vulkan,enable-features=Vulkan,disable-vulkan-surface,mute-audio,hide-scrollbars,disable-dev-shm-usage,enable-webgpu-developer-features
W="$N/bin/wasmbrowser $N/bin/webgpu.test.wasm"
say "adapter"; timeout 30 $W -test.run 'TestAdapter$' -test.v 2>&1 | tee -a $L | grep -q "fallback=false" || { say "no real adapter"; exit 5; }
# timings P: the kernel, step and layer benches and the onnxruntime-web
# comparison with the test and page binaries of prefix P ("" or base-).
timings() {
	say "kernels and steps ${1:-current}"; NNST_BENCH=1 NNST_BENCH_SIZES=256,512 timeout 240 $N/bin/wasmbrowser $N/bin/${1}webgpu.test.wasm -test.run '^TestBench' -test.v 2>&1 | tee -a $L
	say "onnxruntime-web ${1:-current}"; NNST_BENCH_WASM=$N/bin/${1}webgpu-page.wasm timeout 110 $N/bin/ortbench -webgpu -sizes 256,512 -rounds 5 -model $(ls $N/dist/models/*.safetensors) 2>&1 | tee -a $L
}
# `device-run.sh only REGEX`: just the wasm benches and tests matching REGEX.
if [ "$1" = only ]; then say "only $2"; NNST_BENCH=1 NNST_BENCH_SIZES=${BENCH_SIZES:-256,512} timeout 240 $W -test.run "$2" -test.v 2>&1 | tee -a $L; exit 0; fi
mkdir -p wasm/simd/bench/node_modules/onnxruntime-web && rm -rf wasm/simd/bench/node_modules/onnxruntime-web/dist && cp -r $N/ort wasm/simd/bench/node_modules/onnxruntime-web/dist
if [ -f $N/bin/base-webgpu.test.wasm ]; then # packed with BASE: alternate, two rounds
	for r in $(seq ${ROUNDS:-2}); do timings base-; timings; done
else
	timings
fi
[ "$1" = bench ] || { say "stage peaks"; NNST_PEAK_SIZE=1024 timeout 100 $W -test.run 'TestPeakStages$' -test.v 2>&1 | tee -a $L; }
[ "$1" = bench ] && exit 0
say "app run"; NNST_GPU_RUN=$N/dist NNST_GPU_RUN_SIZES=${SIZES:-512,1024} NNST_GPU_RUN_TIMEOUT=240s timeout 500 $N/bin/browsertest.test -test.run 'TestGPURun$' -test.v 2>&1 | tee -a $L
say "parity"; timeout 90 $W -test.v 2>&1 | grep -v "^=== RUN" | tee -a $L
say "peak memory.used (whole GPU, MiB): $(awk -F', ' 'NR>1{gsub(/ MiB/,"",$2); if ($2+0>m) m=$2+0} END{print m}' $OUT/smi.csv)"
