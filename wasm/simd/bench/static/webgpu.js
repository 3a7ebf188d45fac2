// make bench-webgpu-ort: times VGG to relu4_3 with onnxruntime-web's
// WebGPU execution provider and with nnst's WebGPU backend (gpupage/main.go),
// alternating, in the same page. window.benchResult resolves to the numbers;
// an onnxruntime-web failure is reported as ortError and ours still runs.
"use strict";
window.benchResult = (async function () {
  var cfg = await (await fetch("config.json")).json();
  var log = function (s) { console.log(s); };
  var res = { ort: {}, ours: {}, ua: navigator.userAgent, cores: navigator.hardwareConcurrency, threads: cfg.threads };
  if (!navigator.gpu) throw new Error("navigator.gpu missing (needs --enable-unsafe-webgpu)");
  var ad = await navigator.gpu.requestAdapter();
  if (!ad) throw new Error("no WebGPU adapter");
  var info = ad.info || {};
  res.adapter = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" / ") + ((info.isFallbackAdapter || ad.isFallbackAdapter) ? " (fallback adapter)" : "");
  ort.env.wasm.numThreads = cfg.threads;
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  ort.env.logLevel = "warning";
  var sess = null;
  var ortFail = function (where, e) {
    res.ortError = where + ": " + (e && e.stack ? e.stack : String(e));
    log("onnxruntime-web " + res.ortError);
    sess = null;
  };
  try {
    sess = await ort.InferenceSession.create("model.onnx", { executionProviders: ["webgpu"], graphOptimizationLevel: "all" });
  } catch (e) {
    ortFail("session", e);
  }
  var exited;
  var goExit = new Promise(function (_, reject) { exited = reject; });
  var api = await new Promise(function (resolve, reject) {
    window.nnstBenchReady = resolve;
    var go = new Go();
    WebAssembly.instantiateStreaming(fetch("webgpu.wasm"), go.importObject).then(function (r) {
      return go.run(r.instance);
    }).then(function () { throw new Error("the Go program exited"); }).catch(function (e) { reject(e); exited(e); });
  });
  var call = function (p) { return Promise.race([p, goExit]); };
  res.oursAdapter = await call(api.setup("vgg19.safetensors"));
  var ortRun = async function (x) {
    var t0 = performance.now();
    var out = await sess.run({ x: x }); // outputs land on the CPU: the download is included
    var t = (performance.now() - t0) / 1000;
    for (var k in out) out[k].dispose();
    return t;
  };
  for (var s of cfg.sizes) {
    var data = new Float32Array(3 * s * s);
    for (var i = 0; i < data.length; i++) data[i] = Math.sin(i) * 100;
    var x = new ort.Tensor("float32", data, [1, 3, s, s]);
    res.ort[s] = [];
    res.ours[s] = [];
    if (sess) {
      try { log("size " + s + ": onnxruntime-web warm-up " + (await ortRun(x)).toFixed(1) + " s"); } catch (e) { ortFail("run at " + s + " px", e); }
    }
    if (api.tune) log("size " + s + ": ours chose its conv kernels in " + (await call(api.tune(s))));
    log("size " + s + ": ours warm-up " + (await call(api.forward(s, 1)))[0].toFixed(1) + " s");
    for (var round = 0; round < cfg.rounds; round++) {
      if (sess) {
        try { res.ort[s].push(await ortRun(x)); } catch (e) { ortFail("run at " + s + " px", e); }
      }
      res.ours[s] = res.ours[s].concat(await call(api.forward(s, 1)));
      log("size " + s + " round " + round + ": ort " + res.ort[s].join(",") + " ours " + res.ours[s].join(","));
    }
  }
  if (sess) await sess.release();
  return JSON.stringify(res);
})();
