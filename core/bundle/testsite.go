package bundle

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// WriteTestSite writes a small synthetic site folder with the shape of the
// web app (index.html, CSS, JS, wasm_exec.js, a service worker with a
// precache list, the web app manifest, icons, a wasm binary, a model and an
// .htm page) for tests of the bundle and its servers.
func WriteTestSite(dir string) error {
	var wasm bytes.Buffer
	wasm.WriteString("\x00asm\x01\x00\x00\x00")
	for i := 0; wasm.Len() < 200_000; i++ {
		fmt.Fprintf(&wasm, "func%d:local.get %d;i32.add;", i, i%7)
	}
	model := make([]byte, 300_000)
	x := uint32(1)
	for i := range model {
		x = x*1664525 + 1013904223
		model[i] = byte(x>>24) & 0x0f // compressible, like quantised weights
	}
	png := []byte("\x89PNG\r\n\x1a\n")
	for i := 0; i < 500; i++ {
		x = x*1664525 + 1013904223
		png = append(png, byte(x>>24))
	}
	files := map[string][]byte{
		"index.html": []byte(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nnst test site</title>
<link rel="stylesheet" href="style.css">
<link rel="manifest" href="manifest.webmanifest">
<link rel="icon" href="icons/icon-192.png">
<link rel="preload" href="./app.wasm" as="fetch" crossorigin>
<script src="wasm_exec.js" defer></script>
<script src="app.js" defer></script>
</head>
<body><h1>nnst</h1><canvas id="out"></canvas></body>
</html>
`),
		"help.htm":  []byte("<!doctype html>\n<title>nnst help</title>\n<p>An .htm page, served as HTML.</p>\n"),
		"style.css": []byte("body { font-family: sans-serif; background: url(icons/icon-192.png) no-repeat; }\n"),
		"app.js": []byte(`// Loads the wasm app and the model by relative URLs.
const WASM_URL = "./app.wasm";
const MODEL_URL = 'models/vgg19.safetensors';
const NOT_OURS = "myapp.wasm";
async function start() {
  const go = new Go();
  const { instance } = await WebAssembly.instantiateStreaming(fetch(WASM_URL), go.importObject);
  const model = await fetch(MODEL_URL);
  return [instance, model];
}
if ("serviceWorker" in navigator) navigator.serviceWorker.register("sw.js");
`),
		"wasm_exec.js": []byte("// stand-in for Go's wasm_exec.js\n(() => { globalThis.Go = class { constructor() { this.importObject = {}; } run() {} }; })();\n"),
		"sw.js": []byte(`const CACHE = "nnst-v1";
const PRECACHE = ["./", "index.html", "style.css", "app.js", "wasm_exec.js", "app.wasm", "models/vgg19.safetensors", "manifest.webmanifest", "icons/icon-192.png"];
self.addEventListener("install", (e) => e.waitUntil(caches.open(CACHE).then((c) => c.addAll(PRECACHE))));
self.addEventListener("fetch", (e) => e.respondWith(caches.match(e.request).then((r) => r || fetch(e.request))));
`),
		"manifest.webmanifest": []byte(`{"name": "nnst", "start_url": "./", "display": "standalone",
 "icons": [{"src": "icons/icon-192.png", "sizes": "192x192", "type": "image/png"}, {"src": "icons/icon.svg", "sizes": "any", "type": "image/svg+xml"}]}
`),
		"icons/icon-192.png":       png,
		"icons/icon.svg":           []byte(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#345"/><circle cx="5" cy="5" r="3" fill="#fc3"/></svg>` + "\n"),
		"app.wasm":                 wasm.Bytes(),
		"models/vgg19.safetensors": model,
	}
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
