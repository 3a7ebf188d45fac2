// One worker of the nnst SIMD pool (see simd.js): it instantiates the
// kernel module over the shared memory, then serves kernel calls.
"use strict";
onmessage = function (e) {
  var m = e.data;
  WebAssembly.instantiate(m.module, { env: { mem: m.memory } }).then(function (inst) {
    // The call count is read before "ready": no call can come before it.
    var ctl = new Int32Array(m.memory.buffer, 0, 4);
    var seen = Atomics.load(ctl, 0);
    postMessage({ type: "ready" });
    serve(inst.exports, ctl, seen, m.names, m.wid);
  }, function (err) {
    postMessage({ type: "error", message: String(err) });
  });
};

// serve never returns: it waits (Atomics.wait) for word 0 of ctl, the call
// count, to pass seen, runs kernel names[word 2] on the parameters at
// word 3, and the last worker to finish (word 1 counts down) posts "done".
// Spinning before the wait was tried: slower on 2 shared cores.
function serve(kernels, ctl, seen, names, wid) {
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    try {
      kernels[names[Atomics.load(ctl, 2)]](Atomics.load(ctl, 3), wid);
    } catch (err) {
      postMessage({ type: "error", message: String(err) });
    }
    if (Atomics.sub(ctl, 1, 1) === 1) postMessage({ type: "done" });
  }
}
