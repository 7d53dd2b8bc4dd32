// edge-llm and wllama (llama.cpp in wasm) in the same headless Chromium on
// the same GGUF, edge-llm as "auto" loads it (the CPU path where the only
// adapter is SwiftShader) and on its WebGPU path: load time (cold and cached), time to the first token
// after a fresh load (kernel compiles included), time to first token and
// greedy decode tokens/s, as one JSON line with edge-llm/wllama ratios.
// A benchmark, not a test: `cargo xtask bench` runs it; by hand:
//
//   node tests/browser/bench.mjs [--max-tokens 64] [--runs 3]
//   node tests/browser/bench.mjs --profile 5   (edge-llm only: ms per
//     decode op kind in Chromium, each op repeated 5 times; a tuning aid)
//
// Needs pkg/ (`cargo xtask pkg`) and the npm packages of tests/browser. The
// page is cross-origin isolated (COOP/COEP) so wllama can use its
// multi-threaded build, as in ../shared/peers/wllama-bench.mjs.

import { createServer } from "node:http";
import { createReadStream, statSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, extname, normalize, sep } from "node:path";
import { launch, checkPrerequisites, ROOT, PKG, MODEL } from "./harness.mjs";

const args = process.argv.slice(2);
const opt = {};
for (let i = 0; i < args.length; i += 2) opt[args[i].replace(/^--/, "")] = args[i + 1];
const MAX_TOKENS = Number(opt["max-tokens"] ?? 64);
const RUNS = Number(opt.runs ?? 3);
const PROMPT =
  opt.prompt ?? "<|im_start|>user\nWrite a long story about a dragon who learns to bake bread.<|im_end|>\n<|im_start|>assistant\n";
const WLLAMA = join(ROOT, "tests/browser/node_modules/@wllama/wllama/esm");

const TYPES = { ".js": "text/javascript", ".wasm": "application/wasm", ".json": "application/json", ".html": "text/html" };

function serve(req, res) {
  res.setHeader("cross-origin-opener-policy", "same-origin");
  res.setHeader("cross-origin-embedder-policy", "require-corp");
  const p = decodeURIComponent(new URL(req.url, "http://x").pathname);
  if (p === "/") {
    res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><title>bench</title><link rel=icon href=data:,>");
    return;
  }
  let file = null;
  if (p === "/model.gguf") file = MODEL;
  for (const [prefix, dir] of [["/pkg/", PKG], ["/wllama/", WLLAMA]]) {
    if (p.startsWith(prefix)) {
      const f = normalize(join(dir, p.slice(prefix.length)));
      if (f.startsWith(dir + sep)) file = f;
    }
  }
  let st;
  try {
    st = file && statSync(file);
  } catch {
    st = null;
  }
  if (!st?.isFile()) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": st.size });
  createReadStream(file).pipe(res);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function edgeLlm(page, backend) {
  return page.evaluate(
    async ({ prompt, maxTokens, runs, backend }) => {
      const m = await import("/pkg/index.js");
      await m.clearCache();
      let t = performance.now();
      let e = await m.Engine.load("/model.gguf", { backend });
      const coldMs = performance.now() - t;
      // The first token after a fresh load: the browser may compile the
      // kernels on first use, which neither load time shows.
      t = performance.now();
      for await (const _ of e.generate(prompt, { maxTokens: 1 }));
      const firstTtftMs = performance.now() - t;
      await e.dispose();
      t = performance.now();
      e = await m.Engine.load("/model.gguf", { backend });
      const warmMs = performance.now() - t;
      const info = await e.info();
      const out = [];
      // Warm-up, then the measured runs (each from an empty KV cache: the
      // prompt differs by a leading space so no prefix is reused).
      for (let i = 0; i <= runs; i++) {
        let last;
        const p = " ".repeat(i) + prompt;
        for await (const c of e.generate(p, { maxTokens })) last = c;
        if (i > 0) out.push(last.stats);
      }
      await e.dispose();
      return { coldMs, warmMs, firstTtftMs, info, runs: out };
    },
    { prompt: PROMPT, maxTokens: MAX_TOKENS, runs: RUNS, backend },
  );
}

/// What the JSON line says of one edge-llm run.
function summary(e) {
  return {
    backend: e.info.backend,
    load_cold_ms: e.coldMs,
    load_cached_ms: e.warmMs,
    peak_wasm_bytes: e.info.wasmMemoryBytes,
    matvec_layout: e.info.adapter?.matvecLayout,
    subgroup_lanes: e.info.adapter?.subgroupLanes,
    matvec_split: e.info.adapter?.matvecSplit,
    weight_textures: e.info.adapter?.weightTextures,
    kv_textures: e.info.adapter?.kvTextures,
    tune_ms: e.info.adapter?.tuneTotalMs,
    first_ttft_ms: e.firstTtftMs,
    ttft_ms: median(e.runs.map((r) => r.ttft_ms)),
    decode_tok_s: median(e.runs.map((r) => r.decode_tok_s)),
    prefill_tok_s: median(e.runs.map((r) => r.prefill_tok_s)),
  };
}

async function wllama(page) {
  return page.evaluate(
    async ({ prompt, maxTokens, runs }) => {
      const { Wllama } = await import("/wllama/index.js");
      const w = new Wllama({ default: "/wllama/wasm/wllama.wasm" }, { suppressNativeLog: true });
      const t = performance.now();
      await w.loadModelFromUrl("/model.gguf", { n_ctx: 2048 });
      const loadMs = performance.now() - t;
      const out = [];
      for (let i = 0; i <= runs; i++) {
        let n = 0;
        let tFirst = 0;
        const t0 = performance.now();
        const stream = await w.createCompletion({ prompt: " ".repeat(i) + prompt, max_tokens: maxTokens, temperature: 0, stream: true });
        for await (const _ of stream) {
          if (!tFirst) tFirst = performance.now();
          n++;
        }
        const t1 = performance.now();
        out.push({ ttft_ms: tFirst - t0, decode_tok_s: (n - 1) / ((t1 - tFirst) / 1000), generated_tokens: n });
      }
      await w.exit();
      // The first run (after the load) is the warm-up: its ttft is the
      // first token after a fresh load.
      return { loadMs, firstTtftMs: out[0].ttft_ms, runs: out.slice(1) };
    },
    { prompt: PROMPT, maxTokens: MAX_TOKENS, runs: RUNS },
  );
}

checkPrerequisites();
const server = createServer(serve);
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await launch();
try {
  if (opt.profile) {
    const tab = await browser.context.newPage();
    await tab.goto(base);
    const ops = await tab.evaluate(async ({ reps, prompt }) => {
      const m = await import("/pkg/index.js");
      const e = await m.Engine.load("/model.gguf", { backend: "gpu" });
      for await (const _ of e.generate(prompt, { maxTokens: 4 }));
      const ops = await e._profile(reps);
      const info = await e.info();
      await e.dispose();
      return { ops, adapter: info.adapter };
    }, { reps: Number(opt.profile), prompt: PROMPT });
    console.log(JSON.stringify(ops.adapter));
    let total = 0;
    for (const o of ops.ops.sort((a, b) => b.ms - a.ms)) {
      total += o.ms;
      console.log(`${o.ms.toFixed(2).padStart(9)} ms ${String(o.count).padStart(4)}x  ${o.kind}`);
    }
    console.log(`${total.toFixed(2).padStart(9)} ms per token`);
    process.exit(0);
  }
  // "auto" (the CPU path on SwiftShader), then the WebGPU path.
  const runs = {};
  for (const backend of ["auto", "gpu"]) {
    const tab = await browser.context.newPage();
    await tab.goto(base);
    runs[backend] = await edgeLlm(tab, backend);
    await tab.close();
  }
  const tab2 = await browser.context.newPage();
  await tab2.goto(base);
  const w = await wllama(tab2);
  const wasm = readFileSync(join(PKG, "edge_llm_bg.wasm"));
  const ours = {
    wasm_bytes: { raw: wasm.length, gzip: gzipSync(wasm, { level: 9 }).length },
    ...summary(runs.auto),
  };
  const gpu = summary(runs.gpu);
  const theirs = {
    load_ms: w.loadMs,
    first_ttft_ms: w.firstTtftMs,
    ttft_ms: median(w.runs.map((r) => r.ttft_ms)),
    decode_tok_s: median(w.runs.map((r) => r.decode_tok_s)),
  };
  console.log(
    JSON.stringify({
      browser: "chromium (WebGPU: SwiftShader)",
      max_tokens: MAX_TOKENS,
      runs: RUNS,
      edge_llm: ours,
      edge_llm_gpu: gpu,
      wllama: theirs,
      ratio_decode_edge_over_wllama: ours.decode_tok_s / theirs.decode_tok_s,
      ratio_ttft_edge_over_wllama: ours.ttft_ms / theirs.ttft_ms,
      ratio_decode_gpu_over_wllama: gpu.decode_tok_s / theirs.decode_tok_s,
    }),
  );
} finally {
  await browser.close();
  server.close();
}
