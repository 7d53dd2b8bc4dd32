// Service worker: keeps the app shell (this page, its modules and the
// edge-llm package) so the page opens with the network off. The model itself
// is not handled here: the package caches it by sha256 (OPFS or the Cache
// API) and resumes downloads with HTTP Range, so model requests pass through.
//
// Network first, cache as fallback: a rebuilt package or edited page is used
// as soon as it is reachable (no stale app after `cargo xtask demo`), and the
// cached copy only when the network fails.

const CACHE = "edge-llm-demo-shell-v1";

// Relative to this file, so the demo also works under a sub-path.
const SHELL = ["./", "index.html", "style.css", "app.js", "store.js", "model.js", "pkg/package.json"];
// Only the demo server has it (it names local model copies).
const OPTIONAL = ["config.json"];

/** The package's own JS and wasm files, from the "files" list of its package.json. */
async function packageFiles(cache) {
  const res = await cache.match("pkg/package.json");
  const files = res ? (await res.json()).files : null;
  if (!Array.isArray(files)) throw new Error("pkg/package.json has no files list");
  // Directories (snippets/) cannot be listed; what is in them is cached when first fetched.
  return files.filter((f) => /\.(js|wasm)$/.test(f)).map((f) => `pkg/${f}`);
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // cache: "reload" skips the HTTP cache so the shell is current.
      const fresh = (u) => new Request(u, { cache: "reload" });
      await cache.addAll(SHELL.map(fresh));
      await cache.addAll((await packageFiles(cache)).map(fresh));
      await Promise.all(OPTIONAL.map((u) => cache.add(fresh(u)).catch(() => {})));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("edge-llm-demo-shell-") && key !== CACHE) await caches.delete(key);
      }
      // Control the already open page, so its engine worker and later
      // requests are served from here too.
      await self.clients.claim();
    })(),
  );
});

/** True for what belongs to the app shell: same origin, GET, not a model. */
function isShell(request) {
  if (request.method !== "GET" || request.headers.has("range")) return false;
  const url = new URL(request.url);
  const scope = new URL(self.registration.scope);
  if (url.origin !== scope.origin || !url.pathname.startsWith(scope.pathname)) return false;
  const path = url.pathname.slice(scope.pathname.length);
  if (path.startsWith("models/") || path.endsWith(".gguf")) return false;
  return true;
}

self.addEventListener("fetch", (event) => {
  if (!isShell(event.request)) return; // the browser handles it as usual
  event.respondWith(networkFirst(event.request));
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok && response.type === "basic") {
      // Keep a copy for offline use (the page's URL without its query).
      cache.put(stripSearch(request), response.clone()).catch(() => {});
    }
    return response;
  } catch (err) {
    const hit = (await cache.match(stripSearch(request))) ?? (request.mode === "navigate" ? await cache.match("./") : undefined);
    if (hit) return hit;
    throw err;
  }
}

function stripSearch(request) {
  const url = new URL(request.url);
  url.search = "";
  url.hash = "";
  return url.href;
}
