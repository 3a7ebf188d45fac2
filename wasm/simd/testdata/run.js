// Runs the Go wasm program named by ?wasm= with the JSON argument list
// ?args=; window.goResult resolves to {code, output}.
"use strict";
window.goResult = (async function () {
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
    out += "\nrun.js: " + e;
  }
  return { code: code, output: out };
})();
