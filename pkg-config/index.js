// The edge-llm JS API: a thin wrapper over the wasm-bindgen output
// (edge_llm.js) that loads the wasm module once, on first use.
import initWasm, * as raw from "./edge_llm.js";

let ready = null;

/**
 * Loads the wasm module. Optional: every function calls it. Pass a URL,
 * Response, BufferSource or WebAssembly.Module to load the .wasm from
 * elsewhere than next to this file.
 */
export function init(moduleOrPath) {
  if (ready === null) {
    const arg = moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath };
    ready = initWasm(arg).then(
      () => undefined,
      (e) => {
        ready = null; // let a later call retry (e.g. a network failure)
        throw e;
      },
    );
  }
  return ready;
}

/** The package version. */
export async function version() {
  await init();
  return raw.version();
}

/** Opens WebGPU and describes the adapter; rejects with code "no_webgpu". */
export async function probe() {
  await init();
  return raw.probe();
}

/** Token ids of `text` under the tokenizer of a whole GGUF file. */
export async function tokenizeGguf(bytes, text) {
  await init();
  return raw.tokenize_gguf(bytes, text);
}
