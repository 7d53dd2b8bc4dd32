// WorkerEngine: the Engine API with the engine in a module Web Worker, so
// the page's thread never blocks on loading or generation.
//
// Protocol (structured-clone messages, each with a request `id`):
//   page -> worker: {type: "load", source, opts, progress} | {type: "call",
//     method, args} | {type: "stream", kind: "generate"|"chat", input, opts}
//     | {type: "abort"} (a load or a stream)
//   worker -> page: {progress} | {chunk} | {result} | {error: {code, message}}
// Callbacks and AbortSignals cannot cross; they stay here and become
// messages. The worker runs calls in order, like Engine.
import { edgeError, throwIfAborted } from "./errors.js";
import { rawGenerateOptions } from "./engine.js";
import { chatCompletions } from "./chat.js";

const TOKEN = Symbol("edge-llm worker engine");

/** A source the worker can resolve the same way the page would. */
function portable(source) {
  if (typeof source === "string" && /^[.\/]|^[a-z][a-z0-9+.-]*:/i.test(source)) {
    return new URL(source, globalThis.location?.href).href;
  }
  if (source instanceof URL) return source.href;
  return source; // a known name, bytes or a Blob (structured-cloned)
}

export class WorkerEngine {
  #worker;
  #next = 1;
  // id -> { onProgress?, onChunk?, resolve, reject }
  #pending = new Map();
  #modelId;

  constructor(token, worker) {
    if (token !== TOKEN) throw edgeError("invalid_option", "use WorkerEngine.load()");
    this.#worker = worker;
    // Module workers may not take messages until their imports ran: wait
    // for the worker's hello before the first request.
    this.ready = new Promise((resolve, reject) => {
      worker.onmessage = (ev) => (ev.data?.ready ? resolve() : this.#receive(ev.data));
      worker.onerror = (ev) => {
        const err = edgeError("gpu", `worker: ${ev.message ?? "failed to start"}`);
        reject(err);
        this.#failAll(err);
      };
    });
    this.chat = Object.freeze({ completions: chatCompletions(this, () => this.#modelId) });
  }

  static async load(source, opts = {}) {
    if (opts === null || typeof opts !== "object") throw edgeError("invalid_option", "options must be an object");
    const { onProgress, signal, worker, ...rest } = opts;
    throwIfAborted(signal);
    // Relative URLs mean relative to the page, not to the worker script.
    for (const k of ["wasmUrl", "mirrorUrl"]) {
      if (rest[k] !== undefined) rest[k] = String(new URL(rest[k], globalThis.location?.href));
    }
    const w = worker ?? new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
    const engine = new WorkerEngine(TOKEN, w);
    const name = typeof source === "string" && !source.includes("/") ? source : null;
    try {
      await engine.ready;
      await engine.#call({ type: "load", source: portable(source), opts: rest, progress: !!onProgress }, { onProgress, signal });
    } catch (e) {
      if (!worker) w.terminate();
      throw e;
    }
    engine.#modelId = name ?? (await engine.info()).model.name ?? "gguf";
    return engine;
  }

  #receive(msg) {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    if (msg.progress) {
      try {
        p.onProgress?.(msg.progress);
      } catch {
        // a throwing callback must not break the load
      }
    } else if (msg.chunk) {
      p.onChunk(msg.chunk);
    } else {
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(edgeError(msg.error.code, msg.error.message));
      else p.resolve(msg.result);
    }
  }

  #failAll(err) {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #call(msg, { onProgress, onChunk, signal } = {}) {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (!this.#worker) return reject(edgeError("disposed", "engine disposed"));
      const onAbort = () => this.#worker?.postMessage({ type: "abort", id });
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.#pending.set(id, {
        onProgress,
        onChunk,
        resolve: (v) => (done(), resolve(v)),
        reject: (e) => (done(), reject(e)),
      });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  /** Engine chunks of a generation running in the worker. */
  #stream(kind, input, opts) {
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const { signal, ...rest } = opts ?? {};
        rawGenerateOptions(opts ?? {}); // same checks as Engine, here
        throwIfAborted(signal);
        const queue = [];
        let wake = null;
        let end = null; // { error } once the worker is done
        const ctrl = new AbortController();
        const onAbort = () => ctrl.abort(signal.reason);
        signal?.addEventListener("abort", onAbort, { once: true });
        const finished = self
          .#call({ type: "stream", kind, input, opts: rest }, { signal: ctrl.signal, onChunk: (c) => (queue.push(c), wake?.()) })
          .then(
            () => (end = {}),
            (error) => (end = { error }),
          )
          .finally(() => wake?.());
        try {
          for (;;) {
            if (queue.length > 0) {
              yield queue.shift();
              continue;
            }
            if (end) {
              if (end.error) throw end.error;
              return;
            }
            await new Promise((r) => (wake = r));
            wake = null;
          }
        } finally {
          signal?.removeEventListener("abort", onAbort);
          if (!end) {
            ctrl.abort(); // the consumer stopped early: end it in the worker
            await finished;
          }
        }
      },
    };
  }

  generate(prompt, opts = {}) {
    return this.#stream("generate", prompt, opts);
  }

  /** Chat turn used by chat.completions (rendered in the worker). */
  _chatStream(messages, opts) {
    return this.#stream("chat", messages, opts);
  }

  tokenize(text) {
    return this.#call({ type: "call", method: "tokenize", args: [text] });
  }

  detokenize(ids) {
    return this.#call({ type: "call", method: "detokenize", args: [Array.from(ids ?? [], Number)] });
  }

  info() {
    return this.#call({ type: "call", method: "info", args: [] });
  }

  async dispose() {
    if (!this.#worker) return;
    try {
      await this.#call({ type: "call", method: "dispose", args: [] });
    } finally {
      this.#worker.terminate();
      this.#worker = null;
      this.#failAll(edgeError("disposed", "engine disposed"));
    }
  }
}
