// The worker side of worker-page.js.
"use strict";
importScripts("wasm_exec.js", "simd.js");
(async function () {
  var q = new URLSearchParams(location.search);
  var out = "";
  var dec = new TextDecoder();
  var write = globalThis.fs.writeSync;
  globalThis.fs.writeSync = function (fd, buf) {
    out += dec.decode(buf);
    return write.call(globalThis.fs, fd, buf);
  };
  var go = new Go();
  var code = -1;
  go.argv = ["prog"].concat(JSON.parse(q.get("args") || "[]"));
  go.exit = function (c) { code = c; };
  try {
    var r = await WebAssembly.instantiateStreaming(fetch(q.get("wasm")), go.importObject);
    await go.run(r.instance);
  } catch (e) {
    out += "\nworker-run.js: " + e;
  }
  postMessage({ code: code, output: out });
})();
