// The compute worker: the same app.181d1822.wasm, run without a document.
"use strict";
// simd.js: the SIMD CPU kernels' worker pool (wasm/simd), used when WebGPU
// is missing or a software adapter.
importScripts("wasm_exec.js", "simd.js");
(function () {
  var go = new Go();
  var load = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch("app.181d1822.wasm"), go.importObject).catch(function () {
        return fetch("app.181d1822.wasm").then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch("app.181d1822.wasm").then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
  load.then(function (r) { return go.run(r.instance); })
    .then(function () { postMessage({ type: "exit" }); })
    .catch(function (e) { postMessage({ type: "crash", message: String(e) }); });
})();
