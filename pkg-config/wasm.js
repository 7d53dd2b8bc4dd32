// Loads the wasm module once, on first use: importing the package and
// calling Engine.load is enough.
import initWasm, * as raw from "./edge_llm.js";

let ready = null;

/** The wasm-bindgen exports, after the module is instantiated. */
export async function wasm(wasmUrl) {
  if (ready === null) {
    const arg = wasmUrl === undefined ? undefined : { module_or_path: wasmUrl };
    ready = initWasm(arg).then(
      () => raw,
      (e) => {
        ready = null; // let a later call retry (e.g. after a network failure)
        const err = new Error(`loading edge_llm_bg.wasm: ${e?.message ?? e}`, { cause: e });
        err.code = "network";
        throw err;
      },
    );
  }
  return ready;
}
