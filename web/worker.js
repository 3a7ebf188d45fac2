// The compute worker: the same app.wasm, run without a document.
"use strict";
// simd.js: the SIMD CPU kernels' worker pool (wasm/simd), used when WebGPU
// is missing or a software adapter.
importScripts("wasm_exec.js", "simd.js");
(function () {
  var go = new Go();
  var load = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch("app.wasm"), go.importObject).catch(function () {
        return fetch("app.wasm").then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch("app.wasm").then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
  load.then(function (r) {
    self.nnstMemory = r.instance.exports.mem; // its size, for the run details
    return go.run(r.instance);
  })
    .then(function () { postMessage({ type: "exit" }); })
    .catch(function (e) { postMessage({ type: "crash", message: String(e) }); });
})();
