// Engine: the model on this thread. Wraps the wasm RawLoader/RawEngine
// with what JS callers expect: one call at a time in call order, abort
// signals, typed errors, OpenAI-shaped chat.
import { wasm } from "./wasm.js";
import { openSource } from "./source.js";
import { edgeError, asEdgeError, throwIfAborted } from "./errors.js";
import { chatCompletions } from "./chat.js";

const VERSION = "__CARGO_VERSION__";
const SHA256 = /^[0-9a-f]{64}$/;
const now = () => globalThis.performance?.now() ?? Date.now();
// Lets Engine.load, and only it, construct engines.
const TOKEN = Symbol("edge-llm engine");

function checkLoadOptions(opts) {
  if (opts === null || typeof opts !== "object") throw edgeError("invalid_option", "options must be an object");
  const { onProgress, sha256, contextLength, signal, backend } = opts;
  if (onProgress !== undefined && typeof onProgress !== "function") throw edgeError("invalid_option", "onProgress must be a function");
  if (sha256 !== undefined && !(typeof sha256 === "string" && SHA256.test(sha256.toLowerCase()))) {
    throw edgeError("invalid_option", "sha256 must be 64 hex digits");
  }
  if (contextLength !== undefined && !(Number.isInteger(contextLength) && contextLength > 0)) {
    throw edgeError("invalid_option", "contextLength must be a positive integer");
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw edgeError("invalid_option", "signal must be an AbortSignal");
  if (backend !== undefined && !["auto", "gpu", "cpu"].includes(backend)) {
    throw edgeError("invalid_option", 'backend must be "auto", "gpu" or "cpu"');
  }
}

/** Generation options as wasm takes them (unknown keys are rejected there). */
export function rawGenerateOptions(opts) {
  if (opts === null || typeof opts !== "object") throw edgeError("invalid_option", "options must be an object");
  const { signal, stop, ...rest } = opts;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw edgeError("invalid_option", "signal must be an AbortSignal");
  const out = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) out[k] = v;
  if (stop !== undefined && stop !== null) {
    const list = Array.isArray(stop) ? stop : [stop];
    if (!list.every((s) => typeof s === "string")) throw edgeError("invalid_option", "stop must be a string or an array of strings");
    out.stop = list.filter((s) => s.length > 0);
  }
  return out;
}

/**
 * One turn of the event loop (a MessageChannel round trip, ~0.1 ms; no
 * timer clamping). The CPU path computes a token inside `next_chunk`
 * without awaiting anything real, so without this a generation would run
 * to its end in microtasks: no abort, no worker message, no page paint.
 */
function nextTurn() {
  return new Promise((resolve) => {
    const ch = new MessageChannel();
    ch.port1.onmessage = () => {
      ch.port1.close();
      resolve();
    };
    ch.port2.postMessage(null);
  });
}

export class Engine {
  #raw;
  #tail = Promise.resolve();
  #meta;
  #disposed = false;

  constructor(token, raw, meta) {
    if (token !== TOKEN) throw edgeError("invalid_option", "use Engine.load()");
    this.#raw = raw;
    this.#meta = meta;
    this.chat = Object.freeze({ completions: chatCompletions(this, () => this.#meta.modelId) });
  }

  /** Loads a GGUF (see index.d.ts). */
  static async load(source, opts = {}) {
    const t0 = now();
    try {
      checkLoadOptions(opts);
      const { onProgress, signal } = opts;
      throwIfAborted(signal);
      const raw = await wasm(opts.wasmUrl);
      const src = await openSource(source, { ...opts, sha256: opts.sha256?.toLowerCase() });
      const progress = (loaded, phase) => {
        try {
          onProgress?.({ loaded, total: src.total, phase });
        } catch {
          // A throwing callback must not break the load.
        }
      };
      let loader;
      try {
        loader = await raw.RawLoader.open(src.total, opts.contextLength ?? 2048, src.needHash, opts.backend ?? "auto");
        progress(0, src.phase);
        let loaded = 0;
        for await (const chunk of src.chunks) {
          throwIfAborted(signal);
          loader.push(chunk);
          loaded += chunk.byteLength;
          progress(loaded, src.phase);
        }
        throwIfAborted(signal);
        const sha = src.needHash ? loader.sha256() : src.expectedSha ?? null;
        if (src.expectedSha && sha !== src.expectedSha) {
          throw edgeError("integrity", `sha256 of the model is ${sha}, expected ${src.expectedSha}`);
        }
        const peakBufferedBytes = loader.peak_buffered();
        const engine = loader.finish();
        await src.commit(sha);
        progress(src.total, "ready");
        const info = engine.info();
        return new Engine(TOKEN, engine, {
          sha256: sha,
          modelId: typeof source === "string" && !source.includes("/") ? source : info.name || "gguf",
          hasChatTemplate: engine.has_chat_template(),
          load: { source: src.phase === "download" ? "network" : src.phase, ms: now() - t0, peakBufferedBytes },
        });
      } catch (e) {
        const err = asEdgeError(e);
        await src.fail(err);
        throw err;
      } finally {
        loader?.free();
      }
    } catch (e) {
      throw asEdgeError(e);
    }
  }

  /** Waits for the calls made before; resolves to a release function. */
  #lock() {
    let release;
    const mine = new Promise((r) => (release = r));
    const before = this.#tail;
    this.#tail = before.then(() => mine);
    return before.then(() => release);
  }

  async #run(fn) {
    const release = await this.#lock();
    try {
      if (this.#disposed) throw edgeError("disposed", "engine disposed");
      return await fn(this.#raw);
    } catch (e) {
      throw asEdgeError(e);
    } finally {
      release();
    }
  }

  tokenize(text) {
    return this.#run((raw) => {
      if (typeof text !== "string") throw edgeError("invalid_option", "text must be a string");
      return Array.from(raw.tokenize(text));
    });
  }

  detokenize(ids) {
    return this.#run((raw) => {
      const arr = Array.from(ids ?? [], Number);
      if (!arr.every((i) => Number.isInteger(i) && i >= 0 && i < 2 ** 32)) {
        throw edgeError("invalid_option", "ids must be non-negative integers");
      }
      return raw.detokenize(Uint32Array.from(arr));
    });
  }

  info() {
    return this.#run(async (raw) => {
      const i = raw.info();
      const { wasm_memory_bytes } = await wasm();
      return {
        version: VERSION,
        model: {
          architecture: i.architecture,
          name: i.name,
          layers: i.n_layers,
          dim: i.dim,
          vocabSize: i.vocab_size,
          contextLength: i.context_length,
          ctx: i.ctx,
          fileBytes: i.file_bytes,
          gpuBytes: i.gpu_bytes,
          cpuBytes: i.cpu_bytes,
          sha256: this.#meta.sha256,
          hasChatTemplate: this.#meta.hasChatTemplate,
        },
        backend: i.backend,
        adapter: i.adapter ? adapterInfo(i.adapter) : null,
        wasmMemoryBytes: wasm_memory_bytes(),
        load: { ...this.#meta.load },
      };
    });
  }

  dispose() {
    return this.#run((raw) => {
      raw.dispose();
      raw.free();
      this.#disposed = true;
    }).catch((e) => {
      if (e.code !== "disposed") throw e;
    });
  }

  /** Diagnostic (not part of the stable API): ms per token per decode op kind. */
  _profile(reps = 5) {
    return this.#run((raw) => raw.profile(reps));
  }

  /** Streams text after a raw prompt (no chat template). */
  generate(prompt, opts = {}) {
    return this.#stream(async (raw) => {
      if (typeof prompt !== "string") throw edgeError("invalid_option", "prompt must be a string");
      return raw.tokenize(prompt);
    }, opts);
  }

  /**
   * The shared streaming loop (also used by chat): an async iterable whose
   * generation holds the engine from its first pull to its end.
   * `promptIds(raw)` makes the prompt inside that turn.
   */
  #stream(promptIds, opts) {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const rawOpts = rawGenerateOptions(opts ?? {});
        const signal = opts?.signal;
        const release = await self.#lock();
        let running = false;
        try {
          if (self.#disposed) throw edgeError("disposed", "engine disposed");
          throwIfAborted(signal);
          const raw = self.#raw;
          raw.start(await promptIds(raw), rawOpts);
          running = true;
          for (;;) {
            if (signal?.aborted) {
              running = false;
              raw.abort();
              throwIfAborted(signal);
            }
            await nextTurn();
            const c = await raw.next_chunk();
            if (c.finishReason !== undefined) {
              running = false;
              yield { text: "", tokens: [], finishReason: c.finishReason, stats: c.stats };
              return;
            }
            // Empty: the CPU path ran a slice of the prompt.
            if (c.text !== "" || c.tokens.length > 0) yield c;
          }
        } catch (e) {
          throw asEdgeError(e);
        } finally {
          // A consumer that stopped early (break, return) ends the generation.
          if (running) {
            try {
              self.#raw.abort();
            } catch {
              // engine disposed or already ended
            }
          }
          release();
        }
      },
    };
  }

  /** Chat turn used by chat.completions (the prompt rendered in the sandbox). */
  _chatStream(messages, opts) {
    return this.#stream((raw) => raw.tokenize(raw.render_chat(messages)), opts);
  }
}

export function adapterInfo(a) {
  return {
    name: a.name,
    backend: a.backend,
    driver: a.driver,
    subgroups: a.subgroups,
    shaderF16: a.shader_f16,
    maxStorageBufferBindingSize: a.max_storage_binding,
    maxBufferSize: a.max_buffer_size,
    matvecLayout: a.matvec_layout,
    matvecTuneMs: a.matvec_tune_ms,
    gemmLayout: a.gemm_layout,
    gemmTuneMs: a.gemm_tune_ms,
    subgroupLanes: a.subgroup_lanes ?? null,
    matvecSplit: a.matvec_split,
    splitTuneMs: a.split_tune_ms,
    weightTextures: a.weight_textures,
    textureTuneMs: a.texture_tune_ms,
    kvTextures: a.kv_textures,
    kvTuneMs: a.kv_tune_ms,
    tuneTotalMs: a.tune_total_ms,
  };
}

export { VERSION };
