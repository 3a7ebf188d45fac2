// Service worker: keeps the app shell for offline use and serves it, and the
// model the page stored, from the cache. The build fills in the @...@ values.
"use strict";
const VERSION = "@VERSION@";
const SHELL = "nnst-shell-" + VERSION;
const MODEL = "nnst-model-@MODEL_VERSION@";
const FILES = @FILES@;

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
