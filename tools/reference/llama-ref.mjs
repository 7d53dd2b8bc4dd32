// llama.cpp (through node-llama-cpp) as the ground truth for edge-llm's tests.
// `cargo xtask reference` drives this script to regenerate tests/data/reference/*.json.
//
//   node llama-ref.mjs score    --model M.gguf --text-file F [--max-tokens 512]
//       teacher-forced: log-prob of every next token, argmax and top-2 per position, perplexity
//   node llama-ref.mjs generate --model M.gguf (--prompt T | --prompt-file F | --prompts-json F) [--max-tokens 32]
//       greedy decode (temperature 0) of a raw prompt (special tokens parsed; BOS only when the
//       GGUF asks for it), with the top-2 log-probs of every step. --prompts-json takes a JSON
//       array of strings or of objects with a `rendered` field and runs them all on one loaded model.
//   node llama-ref.mjs bench    --model M.gguf [--prompt T] [--max-tokens 128]
//       time to first token and decode tokens/s
//   node llama-ref.mjs bench-suite --model M.gguf --text-files a.txt,b.txt [--runs 3] [--warmup 1]
//       [--prefill 128,512] [--decode-tokens 128] [--long-context 1000] [--skip-long 1]
//       what `cargo xtask bench` compares with edge-llm (examples/bench, same definitions):
//       load time; prefill tok/s = N / time to first token for the first N tokens of the texts
//       (joined with "\n"); decode tok/s = (n - 1) / (last token - first token) for n greedy
//       tokens after a short prompt and after the first `long-context` tokens; medians of runs.
// Common: --gpu vulkan (llama.cpp's Vulkan backend; Mesa lavapipe where there is no GPU),
//         --threads N (default 2), --context N (default 2048).
// Every command prints one JSON object on stdout. Log-probs are natural logs, rounded to 1e-6.
import { getLlama } from 'node-llama-cpp';
import fs from 'node:fs';

const [cmd, ...rest] = process.argv.slice(2);
const opt = {};
for (let i = 0; i < rest.length; i += 2) opt[rest[i].replace(/^--/, '')] = rest[i + 1];
if (!['score', 'generate', 'bench', 'bench-suite'].includes(cmd) || !opt.model) {
  console.error('usage: llama-ref.mjs score|generate|bench|bench-suite --model FILE.gguf [...]');
  process.exit(2);
}
// llama.cpp's Vulkan backend skips CPU-type devices such as lavapipe unless they are named.
if (opt.gpu === 'vulkan' && process.env.GGML_VK_VISIBLE_DEVICES === undefined) {
  process.env.GGML_VK_VISIBLE_DEVICES = '0';
}
const threads = +(opt.threads || 2);
const contextSize = +(opt.context || 2048);
const llama = await getLlama({ gpu: opt.gpu || false, build: 'never', logLevel: 'error' });
const devices = opt.gpu ? await llama.getGpuDeviceNames() : [];
if (opt.gpu && devices.length === 0) {
  console.error(`no ${opt.gpu} device found`);
  process.exit(1);
}
const tLoad = performance.now();
const model = await llama.loadModel({ modelPath: opt.model });
const loadMs = performance.now() - tLoad;
const withBos = (toks) => (model.tokens.shouldPrependBosToken ? [model.tokens.bos, ...toks] : toks);
// `true`: parse special tokens such as <|im_start|> in the text, as a chat prompt needs.
const tokenize = (text) => withBos(Array.from(model.tokenize(text, true)));
const r6 = (x) => Math.round(x * 1e6) / 1e6;

// What to ask llama.cpp for after a token: logits of `want` (may be empty), the top 2, and the
// softmax normaliser sum(exp(logit - max)), so log p(t) = logit(t) - max - ln(total).
const nextRequest = (want) => ({
  generateNext: { logits: { filter: { tokens: want, includeTop: 2 } }, totalLogitWeight: true },
});

// Turns one position's `next` into { argmax, top2: [[id, logprob], [id, logprob]], lp(t) }.
function readNext(next) {
  const { logits, totalLogitWeight } = next;
  const entries = [...logits.entries()];
  // Highest logit first; on an exact tie the lower id wins, as llama.cpp's greedy sampler does.
  entries.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  const max = entries[0][1];
  const lnZ = Math.log(totalLogitWeight);
  const lp = (t) => logits.get(t) - max - lnZ;
  const top2 = entries.slice(0, 2).map(([t, l]) => [t, r6(l - max - lnZ)]);
  return { argmax: entries[0][0], top2, lp };
}

async function score(text, maxTokens) {
  const ctx = await model.createContext({ contextSize: Math.max(contextSize, maxTokens + 8), threads });
  const seq = ctx.getSequence();
  const toks = tokenize(text).slice(0, maxTokens);
  const input = toks.map((t, i) => (i + 1 < toks.length ? [t, nextRequest([toks[i + 1]])] : t));
  const res = await seq.controlledEvaluate(input);
  const logprobs = [], argmax = [], top2 = [];
  for (let i = 0; i + 1 < toks.length; i++) {
    const n = readNext(res[i].next);
    logprobs.push(r6(n.lp(toks[i + 1])));
    argmax.push(n.argmax);
    top2.push(n.top2);
  }
  await ctx.dispose();
  const nll = -logprobs.reduce((a, b) => a + b, 0) / logprobs.length;
  return { tokens: toks, logprobs, argmax, top2, ppl: r6(Math.exp(nll)) };
}

// Greedy decode one token at a time through controlledEvaluate, so every step reports its
// top-2 log-probs (tests use them to recognise near-ties where engines may part).
async function generate(prompt, maxTokens) {
  const ctx = await model.createContext({ contextSize, threads });
  const seq = ctx.getSequence();
  const promptTokens = tokenize(prompt);
  const generated = [], top2 = [];
  let input = promptTokens.map((t, i) => (i + 1 < promptTokens.length ? t : [t, nextRequest([])]));
  while (generated.length < maxTokens) {
    const res = await seq.controlledEvaluate(input);
    const n = readNext(res[res.length - 1].next);
    generated.push(n.argmax);
    top2.push(n.top2);
    if (model.isEogToken(n.argmax)) break;
    input = [[n.argmax, nextRequest([])]];
  }
  await ctx.dispose();
  // No timings here: the file must regenerate byte for byte (see `bench` for speed).
  return { prompt, prompt_tokens: promptTokens, generated, top2, text: model.detokenize(generated) };
}

// Speed anchor: llama.cpp's own sampling loop, no per-step logits requested.
async function bench(prompt, maxTokens) {
  const ctx = await model.createContext({ contextSize, threads });
  const seq = ctx.getSequence();
  const promptTokens = tokenize(prompt);
  const generated = [];
  const t0 = performance.now();
  let tFirst = 0;
  for await (const t of seq.evaluate(promptTokens, { temperature: 0 })) {
    if (!tFirst) tFirst = performance.now();
    generated.push(t);
    if (generated.length >= maxTokens || model.isEogToken(t)) break;
  }
  const t1 = performance.now();
  await ctx.dispose();
  return {
    prompt_tokens: promptTokens.length,
    generated: generated.length,
    ttft_ms: +(tFirst - t0).toFixed(2),
    decode_tok_s: generated.length > 1 ? +((generated.length - 1) / ((t1 - tFirst) / 1000)).toFixed(2) : null,
  };
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? 0 : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const r2 = (x) => Math.round(x * 100) / 100;

// One timed greedy run from an empty sequence: ttft and decode rate over `maxTokens` tokens
// (no stop at end-of-generation tokens: every engine decodes the same count).
async function timedRun(seq, tokens, maxTokens) {
  await seq.clearHistory();
  let n = 0, tFirst = 0, tLast = 0;
  const t0 = performance.now();
  for await (const t of seq.evaluate(tokens, { temperature: 0 })) {
    tLast = performance.now();
    if (!n) tFirst = tLast;
    if (++n >= maxTokens) break;
  }
  return { ttft_ms: tFirst - t0, tok_s: n > 1 ? (n - 1) / ((tLast - tFirst) / 1000) : 0 };
}

async function benchSuite() {
  const runs = +(opt.runs || 3), warmup = +(opt.warmup ?? 1);
  const decodeTokens = +(opt['decode-tokens'] || 128), longCtx = +(opt['long-context'] || 1000);
  const text = (opt['text-files'] || '').split(',').filter(Boolean).map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const all = tokenize(text);
  const ctx = await model.createContext({ contextSize: Math.max(contextSize, longCtx + decodeTokens + 8), threads });
  const seq = ctx.getSequence();
  const repeat = async (what, f) => {
    for (let i = 0; i < warmup; i++) await f();
    const out = [];
    for (let i = 0; i < runs; i++) {
      console.error(`llama-ref: ${what} run ${i + 1}/${runs}`);
      out.push(await f());
    }
    return out;
  };
  const take = (n) => {
    if (all.length < n) throw new Error(`the texts give ${all.length} tokens, ${n} needed`);
    return all.slice(0, n);
  };
  const prefill = {};
  for (const n of (opt.prefill || '128,512').split(',').map(Number)) {
    const p = take(n);
    const rs = await repeat(`prefill ${n}`, () => timedRun(seq, p, 1));
    const tokS = rs.map((r) => n / (r.ttft_ms / 1000));
    prefill[n] = { tok_s: r2(median(tokS)), ttft_ms: r2(median(rs.map((r) => r.ttft_ms))), runs_tok_s: tokS.map(r2) };
  }
  const decode = {};
  const cases = [['short', tokenize('Once upon a time, in a quiet village by the sea,')]];
  if (!+(opt['skip-long'] || 0)) cases.push(['long', take(longCtx)]);
  for (const [name, p] of cases) {
    const rs = await repeat(`decode ${name}`, () => timedRun(seq, p, decodeTokens));
    decode[name] = {
      context_tokens: p.length, tokens: decodeTokens,
      tok_s: r2(median(rs.map((r) => r.tok_s))), ttft_ms: r2(median(rs.map((r) => r.ttft_ms))),
      runs_tok_s: rs.map((r) => r2(r.tok_s)),
    };
  }
  await ctx.dispose();
  return { runs, warmup, threads, load_ms: { cold: r2(loadMs) }, ttft_ms: decode.short.ttft_ms, prefill, decode };
}

let out;
if (cmd === 'bench-suite') {
  out = await benchSuite();
} else if (cmd === 'score') {
  out = await score(fs.readFileSync(opt['text-file'], 'utf8'), +(opt['max-tokens'] || 512));
} else if (cmd === 'generate') {
  const maxTokens = +(opt['max-tokens'] || 32);
  if (opt['prompts-json']) {
    const prompts = JSON.parse(fs.readFileSync(opt['prompts-json'], 'utf8'));
    const list = Array.isArray(prompts) ? prompts : prompts.prompts;
    const results = [];
    for (const p of list) results.push(await generate(typeof p === 'string' ? p : p.rendered, maxTokens));
    out = { max_tokens: maxTokens, results };
  } else {
    const prompt = opt.prompt ?? fs.readFileSync(opt['prompt-file'], 'utf8');
    out = await generate(prompt, maxTokens);
  }
} else {
  out = await bench(opt.prompt ?? 'Once upon a time, in a quiet village by the sea,', +(opt['max-tokens'] || 128));
}
out.engine = `llama.cpp (node-llama-cpp 3.22.1, ${llama.gpu ? `${llama.gpu}: ${devices.join(', ')}` : 'cpu'})`;
console.log(JSON.stringify(out));
