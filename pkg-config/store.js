// The model cache: GGUF files keyed by their sha256, in the Origin Private
// File System (OPFS) where the browser has it, else in the Cache API.
//
// A download is written to a partial entry as it arrives and filed under
// its sha256 only after it verified: a bad download is never cached. In
// OPFS an interrupted download keeps its partial file, so the next load of
// the same URL resumes with an HTTP Range request.
import { edgeError } from "./errors.js";

const DIR = "edge-llm";
const CACHE = "edge-llm-models";
// Cache API keys live under a host that can never resolve.
const KEY_BASE = "https://edge-llm.invalid/";

/** The cache this browser offers, or null (then nothing is cached). */
export async function openStore() {
  try {
    // Writable streams are what we write with; some browsers lack them.
    const writable = typeof FileSystemFileHandle !== "undefined" && "createWritable" in FileSystemFileHandle.prototype;
    if (writable && globalThis.navigator?.storage?.getDirectory) {
      const root = await navigator.storage.getDirectory();
      return new OpfsStore(await root.getDirectoryHandle(DIR, { create: true }));
    }
  } catch {
    // No OPFS here (private mode, old browser): try the Cache API.
  }
  try {
    if (globalThis.caches) return new CacheApiStore(await caches.open(CACHE));
  } catch {
    // No cache at all: loads still work, uncached.
  }
  return null;
}

/** Removes cached models: all of them, or the one with `sha256`. */
export async function clearCache(sha256) {
  try {
    if (globalThis.navigator?.storage?.getDirectory) {
      const root = await navigator.storage.getDirectory();
      if (sha256 === undefined) {
        await root.removeEntry(DIR, { recursive: true }).catch(() => {});
      } else {
        const dir = await root.getDirectoryHandle(DIR, { create: true });
        await dir.removeEntry(`${sha256}.gguf`).catch(() => {});
        const store = new OpfsStore(dir);
        await store.forgetSha(sha256);
      }
    }
  } catch {
    // nothing cached there
  }
  if (globalThis.caches) {
    if (sha256 === undefined) await caches.delete(CACHE);
    else (await caches.open(CACHE)).delete(KEY_BASE + sha256);
  }
}

/** A short, stable name for a URL (FNV-1a, 32 bits, plus the length). */
function urlKey(url) {
  let h = 0x811c9dc5;
  for (let i = 0; i < url.length; i++) {
    h ^= url.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return `${h.toString(16).padStart(8, "0")}-${url.length}`;
}

function storageError(e) {
  return e?.code ? e : edgeError("io", `model cache: ${e?.message ?? e}`, e);
}

class OpfsStore {
  constructor(dir) {
    this.dir = dir;
  }

  async file(name) {
    try {
      return await (await this.dir.getFileHandle(name)).getFile();
    } catch {
      return null;
    }
  }

  async readJson(name) {
    const f = await this.file(name);
    if (!f) return null;
    try {
      return JSON.parse(await f.text());
    } catch {
      return null;
    }
  }

  async writeJson(name, value) {
    const w = await (await this.dir.getFileHandle(name, { create: true })).createWritable();
    await w.write(JSON.stringify(value));
    await w.close();
  }

  /** The cached GGUF with this sha256, as a Blob, or null. */
  async get(sha) {
    return this.file(`${sha}.gguf`);
  }

  /** The sha256 an earlier load of `url` verified, or null. */
  async shaOfUrl(url) {
    const index = (await this.readJson("urls.json")) ?? {};
    const sha = index[url];
    return typeof sha === "string" && /^[0-9a-f]{64}$/.test(sha) ? sha : null;
  }

  async forgetSha(sha) {
    const index = (await this.readJson("urls.json")) ?? {};
    for (const [u, s] of Object.entries(index)) if (s === sha) delete index[u];
    await this.writeJson("urls.json", index);
  }

  /** What an interrupted download of `url` left: { bytes, validator, blob() }, or null. */
  async partial(url) {
    const k = urlKey(url);
    const meta = await this.readJson(`partial-${k}.json`);
    const file = await this.file(`partial-${k}.gguf`);
    if (!meta || meta.url !== url || !meta.resumable || !file || file.size === 0) return null;
    return { bytes: file.size, validator: meta.validator ?? null, blob: async () => file };
  }

  /** A writer for a download of `url`, keeping the first `from` bytes of its partial file. */
  async writer(url, { validator, total, resumable, from }) {
    const k = urlKey(url);
    const name = `partial-${k}.gguf`;
    let handle;
    let w;
    try {
      handle = await this.dir.getFileHandle(name, { create: true });
      w = await handle.createWritable({ keepExistingData: from > 0 });
      if (from > 0) {
        await w.truncate(from);
        await w.seek(from);
      }
      await this.writeJson(`partial-${k}.json`, { url, validator, total, resumable });
    } catch (e) {
      // A cache that cannot be written must not stop the load.
      await w?.abort?.().catch(() => {});
      return null;
    }
    const dir = this.dir;
    const store = this;
    let broken = false;
    return {
      async write(chunk) {
        if (broken) return;
        try {
          await w.write(chunk);
        } catch {
          broken = true; // e.g. quota: keep loading, skip caching
          await w.abort().catch(() => {});
        }
      },
      async commit(sha, srcUrl) {
        if (broken) return;
        try {
          await w.close();
          const final = `${sha}.gguf`;
          if (typeof handle.move === "function") {
            await handle.move(dir, final);
          } else {
            const out = await (await dir.getFileHandle(final, { create: true })).createWritable();
            await (await handle.getFile()).stream().pipeTo(out);
            await dir.removeEntry(name);
          }
          await dir.removeEntry(`partial-${k}.json`).catch(() => {});
          const index = (await store.readJson("urls.json")) ?? {};
          index[srcUrl] = sha;
          await store.writeJson("urls.json", index);
        } catch (e) {
          throw storageError(e);
        }
      },
      async abandon(keepForResume) {
        if (broken) return;
        try {
          if (keepForResume && resumable) {
            await w.close(); // commits what arrived, for the next load
          } else {
            await w.abort();
            await dir.removeEntry(name).catch(() => {});
            await dir.removeEntry(`partial-${k}.json`).catch(() => {});
          }
        } catch {
          // best effort
        }
      },
    };
  }
}

class CacheApiStore {
  constructor(cache) {
    this.cache = cache;
  }

  async get(sha) {
    const r = await this.cache.match(KEY_BASE + sha);
    return r ? r.blob() : null;
  }

  async shaOfUrl(url) {
    const r = await this.cache.match(KEY_BASE + "url/" + encodeURIComponent(url));
    const sha = r ? (await r.text()).trim() : null;
    return sha && /^[0-9a-f]{64}$/.test(sha) ? sha : null;
  }

  async partial() {
    return null; // the Cache API cannot append: no resume across loads
  }

  async writer(url) {
    const tmp = KEY_BASE + "partial/" + urlKey(url);
    let ctrl;
    const body = new ReadableStream({ start: (c) => (ctrl = c) });
    const put = this.cache.put(tmp, new Response(body)).then(
      () => true,
      () => false,
    );
    const cache = this.cache;
    return {
      async write(chunk) {
        ctrl.enqueue(chunk.slice());
      },
      async commit(sha, srcUrl) {
        ctrl.close();
        if (!(await put)) return;
        const r = await cache.match(tmp);
        if (r) await cache.put(KEY_BASE + sha, r);
        await cache.delete(tmp);
        await cache.put(KEY_BASE + "url/" + encodeURIComponent(srcUrl), new Response(sha));
      },
      async abandon() {
        ctrl.error(new Error("abandoned"));
        await put;
        await cache.delete(tmp);
      },
    };
  }
}
