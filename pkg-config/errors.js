// Errors: every failure the package reports is an Error with a stable `code`
// (see ErrorCode in index.d.ts). Errors made in Rust already carry one; this
// gives the same shape to the ones made here.

/** An Error with `code`. */
export function edgeError(code, message, cause) {
  const e = new Error(message, cause === undefined ? undefined : { cause });
  e.code = code;
  if (code === "aborted") e.name = "AbortError";
  return e;
}

/** True when `e` is an error of this package (optionally with `code`). */
export function isEdgeLlmError(e, code) {
  return e instanceof Error && typeof e.code === "string" && (code === undefined || e.code === code);
}

/** `e` as an error with a code: kept when it has one, else wrapped as `fallback`. */
export function asEdgeError(e, fallback = "gpu") {
  if (isEdgeLlmError(e)) return e;
  if (e instanceof DOMException && e.name === "AbortError") return edgeError("aborted", "aborted", e);
  if (e instanceof DOMException && e.name === "QuotaExceededError") return edgeError("io", `storage quota: ${e.message}`, e);
  const msg = e instanceof Error ? e.message : String(e);
  // A wasm trap (a bug, or memory exhaustion) is not a typed engine error,
  // but the caller still gets a code.
  if (e instanceof WebAssembly.RuntimeError) return edgeError(/memory/i.test(msg) ? "out_of_memory" : "gpu", `wasm: ${msg}`, e);
  return edgeError(fallback, msg, e);
}

/** Throws code "aborted" when `signal` has fired. */
export function throwIfAborted(signal) {
  if (signal?.aborted) throw edgeError("aborted", "aborted", signal.reason);
}
