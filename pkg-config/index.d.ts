/** Error codes carried by the `code` property of every rejected Error. */
export type ErrorCode =
  | "bad_gguf" | "unsupported" | "invalid_option" | "shape" | "tokenizer"
  | "template" | "context_overflow" | "no_webgpu" | "out_of_memory"
  | "device_lost" | "gpu" | "integrity" | "io" | "aborted";

/** An Error thrown by edge-llm. */
export interface EdgeLlmError extends Error {
  code: ErrorCode;
}

/** The adapter and device that WebGPU gave. */
export interface GpuInfo {
  name: string;
  backend: string;
  driver: string;
  /** `subgroups` requested and granted. */
  subgroups: boolean;
  /** `shader-f16` requested and granted. */
  shader_f16: boolean;
  max_storage_binding: number;
  max_buffer_size: number;
}

/** Loads the wasm module (optional: every function calls it). */
export function init(
  moduleOrPath?: string | URL | Request | Response | BufferSource | WebAssembly.Module,
): Promise<void>;

/** The package version. */
export function version(): Promise<string>;

/** Opens WebGPU and describes the adapter; rejects with code "no_webgpu". */
export function probe(): Promise<GpuInfo>;

/** Token ids of `text` under the tokenizer of a whole GGUF file (BOS added as the model asks, special tokens parsed). */
export function tokenizeGguf(bytes: Uint8Array, text: string): Promise<Uint32Array>;
