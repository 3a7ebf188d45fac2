// Loads the Go app (app.181d1822.wasm) into the page; the page logic is Go.
"use strict";
(function () {
  function fatal(msg) {
    var el = document.getElementById("fatal");
    el.textContent = msg;
    el.hidden = false;
  }
  if (typeof WebAssembly !== "object" || typeof Go !== "function") {
    fatal("This browser cannot run the app: it needs WebAssembly.");
    return;
  }
  var go = new Go();
  var load = WebAssembly.instantiateStreaming
    ? WebAssembly.instantiateStreaming(fetch("app.181d1822.wasm"), go.importObject).catch(function () {
        // Served without the application/wasm type: compile from bytes.
        return fetch("app.181d1822.wasm").then(function (r) { return r.arrayBuffer(); })
          .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
      })
    : fetch("app.181d1822.wasm").then(function (r) { return r.arrayBuffer(); })
        .then(function (b) { return WebAssembly.instantiate(b, go.importObject); });
  load.then(function (r) { return go.run(r.instance); })
    .then(function () { fatal("The app stopped unexpectedly. Reload the page to start again."); })
    .catch(function (e) { fatal("The app could not start: " + e); });
})();
