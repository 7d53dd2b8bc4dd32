// edge-llm: quantized LLM inference on WebGPU, in the browser.
// The API is described in index.d.ts and README.md.
import { wasm } from "./wasm.js";
import { adapterInfo, VERSION } from "./engine.js";
import { asEdgeError } from "./errors.js";

export { Engine } from "./engine.js";
export { WorkerEngine } from "./worker-client.js";
export { knownModels } from "./source.js";
export { clearCache } from "./store.js";
export { isEdgeLlmError } from "./errors.js";

/** The package version. */
export const version = VERSION;

/** Opens WebGPU and describes the adapter; rejects with code "no_webgpu". */
export async function probe() {
  try {
    return adapterInfo(await (await wasm()).probe());
  } catch (e) {
    throw asEdgeError(e);
  }
}
