// One worker of the nnst SIMD pool (see simd.js): it instantiates the
// kernel module over the shared memory, then serves kernel calls.
"use strict";
onmessage = function (e) {
  var m = e.data;
  WebAssembly.instantiate(m.module, { env: { mem: m.memory } }).then(function (inst) {
    // The call count is read before "ready": no call can come before it.
    var ctl = new Int32Array(m.memory.buffer, 0, 8);
    var seen = Atomics.load(ctl, 0);
    postMessage({ type: "ready" });
    serve(inst.exports, ctl, seen, m.names, m.wid, m.memory);
  }, function (err) {
    postMessage({ type: "error", message: String(err) });
  });
};

// serve never returns: it waits (Atomics.wait) for word 0 of ctl, the call
// count, to pass seen, runs the list at word 3 (see run in simd.js), and
// the last worker to finish (word 1 counts down) posts "done". Between
// the list's calls the workers meet at a barrier (words 4 and 5); after a
// failure (word 6) the rest are skipped.
// Spinning before the wait was tried: slower on 2 shared cores.
function serve(kernels, ctl, seen, names, wid, memory) {
  for (;;) {
    Atomics.wait(ctl, 0, seen);
    seen = Atomics.load(ctl, 0);
    var workers = Atomics.load(ctl, 1);
    var mem = new Int32Array(memory.buffer), i = Atomics.load(ctl, 3) >> 2;
    for (var j = 0, n = mem[i]; j < n; j++) {
      if (Atomics.load(ctl, 6) === 0) {
        try {
          kernels[names[mem[i + 1 + 2 * j]]](mem[i + 2 + 2 * j], wid);
        } catch (err) {
          if (Atomics.exchange(ctl, 6, 1) === 0) postMessage({ type: "error", message: String(err) });
        }
      }
      var g = Atomics.load(ctl, 5);
      if (Atomics.sub(ctl, 4, 1) === 1) {
        Atomics.store(ctl, 4, workers);
        Atomics.add(ctl, 5, 1);
        Atomics.notify(ctl, 5);
      } else {
        while (Atomics.load(ctl, 5) === g) Atomics.wait(ctl, 5, g);
      }
    }
    if (Atomics.sub(ctl, 1, 1) === 1) postMessage({ type: "done" });
  }
}
