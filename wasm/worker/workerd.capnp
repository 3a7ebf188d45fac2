# Runs the Worker locally in workerd, with the bundle in ../../dist standing
# in for Workers static assets (a disk service bound as ASSETS). Nothing
# here reaches the network. `make worker-local`, or:
#   workerd serve workerd.capnp --socket-addr http=127.0.0.1:8787 --directory-path assets=/abs/dist
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "assets", disk = (path = "../../dist", writable = false)),
  ],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "entry.mjs", esModule = embed "entry.mjs"),
    (name = "build/worker.mjs", esModule = embed "build/worker.mjs"),
    (name = "build/runtime.mjs", esModule = embed "build/runtime.mjs"),
    (name = "build/wasm_exec.js", esModule = embed "build/wasm_exec.js"),
    (name = "build/app.wasm", wasm = embed "build/app.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [(name = "ASSETS", service = "assets")],
);
