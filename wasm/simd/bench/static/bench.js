// make bench-simd: times VGG to relu4_3 with onnxruntime-web (wasm) and
// with nnst's SIMD kernels (page/main.go), alternating, at the same thread
// count; then one stylization. window.benchResult resolves to the numbers.
"use strict";
window.benchResult = (async function () {
  var cfg = await (await fetch("config.json")).json();
  var log = function (s) { console.log(s); };
  var sess;
  if (!cfg.stylizeOnly) {
    ort.env.wasm.numThreads = cfg.threads;
    ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
    sess = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"], graphOptimizationLevel: "all" });
  }
  var exited;
  var goExit = new Promise(function (_, reject) { exited = reject; });
  var api = await new Promise(function (resolve, reject) {
    window.nnstBenchReady = resolve;
    var go = new Go();
    WebAssembly.instantiateStreaming(fetch("bench.wasm"), go.importObject).then(function (r) {
      return go.run(r.instance);
    }).then(function () { throw new Error("the Go program exited"); }).catch(function (e) { reject(e); exited(e); });
  });
  // Every call also fails if the Go program dies.
  var call = function (p) { return Promise.race([p, goExit]); };
  await call(api.setup(cfg.threads, "vgg19.safetensors"));
  var res = { ort: {}, ours: {}, threads: cfg.threads, cores: navigator.hardwareConcurrency, ua: navigator.userAgent };
  if (cfg.stylizeOnly) {
    var only = await call(api.stylize(cfg.styleSize, cfg.steps, cfg.mode, "content.jpg", "style.jpg"));
    res.stylize = { size: cfg.styleSize, steps: only.steps, mode: cfg.mode, seconds: only.seconds, stages: only.stages, flops: only.flops };
    return JSON.stringify(res);
  }
  // The same normalised-range input for both (values do not change the work).
  for (var s of cfg.sizes) {
    var data = new Float32Array(3 * s * s);
    for (var i = 0; i < data.length; i++) data[i] = Math.sin(i) * 100;
    var x = new ort.Tensor("float32", data, [1, 3, s, s]);
    await sess.run({ x: x }); // warm-up
    await call(api.forward(s, 1));
    res.ort[s] = [];
    res.ours[s] = [];
    for (var round = 0; round < cfg.rounds; round++) {
      for (var r = 0; r < cfg.reps; r++) {
        var t0 = performance.now();
        await sess.run({ x: x });
        res.ort[s].push((performance.now() - t0) / 1000);
      }
      res.ours[s] = res.ours[s].concat(await call(api.forward(s, cfg.reps)));
    }
    log("size " + s + " done");
  }
  await sess.release();
  res.kernels = await call(api.kernels(cfg.sizes[cfg.sizes.length - 1], 2));
  var st = await call(api.stylize(cfg.styleSize, cfg.steps, cfg.mode, "content.jpg", "style.jpg"));
  res.stylize = { size: cfg.styleSize, steps: st.steps, mode: cfg.mode, seconds: st.seconds, stages: st.stages, flops: st.flops };
  return JSON.stringify(res);
})();
