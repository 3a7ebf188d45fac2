// Runs run.js's Go program inside a dedicated worker (as the web app runs
// its engine); window.goResult resolves to {code, output}.
"use strict";
window.goResult = new Promise(function (resolve) {
  var w = new Worker("worker-run.js" + location.search);
  w.onmessage = function (e) { resolve(e.data); };
  w.onerror = function (e) { resolve({ code: -1, output: "worker error: " + e.message }); };
});
