// nnst SIMD kernels: a pool of Web Workers (simd-worker.js) that run
// simd-kernels.wasm over one shared WebAssembly memory. The Go package
// nnst/wasm/simd drives it through globalThis.nnstSimd. Works on a page and
// in a worker (nested workers).
"use strict";
(function () {
  var base = (typeof document !== "undefined" && document.currentScript && document.currentScript.src) || self.location.href;
  // (func (result v128) i32.const 0 i8x16.splat)
  var probe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);
  var pool = null;
  // The kernels run() can call, by index in the control block.
  var names = ["conv", "nearest", "pack", "maxpool"];

  function available() {
    try {
      return typeof SharedArrayBuffer === "function" && self.crossOriginIsolated === true &&
        typeof Worker === "function" && WebAssembly.validate(probe) &&
        new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch (e) {
      return false;
    }
  }

  function stop() {
    if (pool) {
      pool.workers.forEach(function (w) { w.terminate(); });
      if (pool.reject) pool.reject(new Error("simd pool stopped"));
      pool = null;
    }
  }

  // start makes a pool of n workers; it resolves to the shared memory.
  function start(n) {
    if (pool && pool.workers.length === n && !pool.failed) return pool.ready;
    stop();
    var p = { workers: [], memory: new WebAssembly.Memory({ initial: 256, maximum: 65536, shared: true }) };
    pool = p;
    var url = new URL("simd-kernels.wasm", base);
    var compile = WebAssembly.compileStreaming
      ? WebAssembly.compileStreaming(fetch(url)).catch(function () {
          return fetch(url).then(function (r) { return r.arrayBuffer(); }).then(WebAssembly.compile);
        })
      : fetch(url).then(function (r) { return r.arrayBuffer(); }).then(WebAssembly.compile);
    p.ready = compile.then(function (module) {
      return Promise.all(Array.from({ length: n }, function (_, i) {
        return new Promise(function (resolve, reject) {
          var w = new Worker(new URL("simd-worker.js", base));
          p.workers.push(w);
          w.onmessage = function (e) {
            if (e.data.type === "ready") {
              w.onmessage = function (e) { done(p, e.data); };
              resolve();
            } else {
              reject(new Error("simd worker: " + e.data.message));
            }
          };
          w.onerror = function (e) {
            p.failed = true;
            var err = new Error("simd worker: " + (e.message || "failed to load"));
            reject(err);
            if (p.reject) p.reject(err);
          };
          w.postMessage({ module: module, memory: p.memory, names: names, wid: i });
        });
      }));
    }).then(function () {
      p.ctl = new Int32Array(p.memory.buffer, 0, 8);
      return p.memory;
    }, function (err) { p.failed = true; throw err; });
    return p.ready;
  }

  function done(p, m) {
    if (!p.resolve) return;
    if (m.type === "error") {
      var reject = p.reject;
      p.resolve = p.reject = null;
      p.failed = true;
      reject(new Error("simd kernel: " + m.message));
    } else {
      var resolve = p.resolve;
      p.resolve = p.reject = null;
      resolve();
    }
  }

  // run runs a list of kernel calls on every worker, each call after the
  // one before has finished on all of them; it resolves when the last has.
  // list is the byte address of [n, kernel, params, ...] in the memory,
  // kernel an index in names, params as kernels.wat says. The call goes
  // through the control block (see simd-worker.js): words 0 (call count),
  // 1 (workers still running), 3 (list), 4 and 5 (barrier), 6 (failed).
  function run(list) {
    var p = pool;
    if (!p || p.failed || !p.ctl) return Promise.reject(new Error("simd pool not started"));
    if (p.resolve) return Promise.reject(new Error("simd pool busy"));
    return new Promise(function (resolve, reject) {
      p.resolve = resolve;
      p.reject = reject;
      p.ctl[3] = list;
      p.ctl[4] = p.workers.length;
      p.ctl[6] = 0;
      Atomics.store(p.ctl, 1, p.workers.length);
      Atomics.add(p.ctl, 0, 1);
      Atomics.notify(p.ctl, 0);
    });
  }

  self.nnstSimd = {
    available: available,
    start: start,
    run: run,
    names: names,
    stop: stop,
    threads: function () { return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, 4)); }
  };
})();
