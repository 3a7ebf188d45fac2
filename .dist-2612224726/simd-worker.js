// One worker of the nnst SIMD pool (see simd.js): it instantiates the
// kernel module over the shared memory and runs kernels on request.
"use strict";
var kernels = null;
var wid = 0;
onmessage = function (e) {
  var m = e.data;
  if (m.type === "init") {
    wid = m.wid;
    WebAssembly.instantiate(m.module, { env: { mem: m.memory } }).then(function (inst) {
      kernels = inst.exports;
      postMessage({ type: "ready" });
    }, function (err) {
      postMessage({ type: "error", message: String(err) });
    });
    return;
  }
  try {
    kernels[m.fn](m.p, wid);
    postMessage({ type: "done" });
  } catch (err) {
    postMessage({ type: "error", message: String(err) });
  }
};
