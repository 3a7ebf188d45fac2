// Worker entry: syumai/workers' generated loader runs the Go handler
// (build/worker.mjs, made by `make worker`). The Go handler picks the
// encoding and sends precompressed bytes, so the runtime must pass them
// through as they are (encodeBody: "manual") rather than compress again.
import worker from "./build/worker.mjs";

export default {
  async fetch(req, env, ctx) {
    const res = await worker.fetch(req, env, ctx);
    if (!res.headers.has("Content-Encoding") && req.method !== "HEAD") {
      return res;
    }
    const body = req.method === "HEAD" ? null : res.body;
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers, encodeBody: "manual" });
  },
};
