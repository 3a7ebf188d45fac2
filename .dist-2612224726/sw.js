// Service worker: keeps the app shell for offline use and serves it, and the
// model the page stored, from the cache. The build fills in the @...@ values.
"use strict";
const VERSION = "9b4e2bb2f083e9a1";
const SHELL = "nnst-shell-" + VERSION;
const MODEL = "nnst-model-d194c09d5e5c7997";
const FILES = ["./", "app.js", "app.181d1822.wasm", "icons/icon-192.png", "icons/icon-512.png", "icons/icon.svg", "icons/maskable-512.png", "index.html", "manifest.webmanifest", "simd-kernels.a4b89b68.wasm", "simd-worker.js", "simd.js", "style.css", "wasm_exec.js", "worker.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(FILES)));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("nnst-") && name !== SHELL && name !== MODEL) {
        await caches.delete(name);
      }
    }
    await self.clients.claim();
  })());
});

// The page asks a waiting worker to take over after the user agrees.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "skipWaiting") {
    self.skipWaiting();
  }
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== "GET" || url.origin !== self.location.origin) {
    return;
  }
  event.respondWith((async () => {
    const shell = await caches.open(SHELL);
    let hit = await shell.match(req, { ignoreSearch: true });
    if (!hit && req.mode === "navigate") {
      hit = await shell.match("./");
    }
    if (!hit) {
      hit = await (await caches.open(MODEL)).match(req, { ignoreSearch: true });
    }
    return hit || fetch(req);
  })());
});
