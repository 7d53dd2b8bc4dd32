// Which model to load and how to talk about loading it: sources, the
// demo server's local mirrors, progress speed, and what each error code
// means for the person in front of the page.

/** Display names of the package's known models (unknown ones show their key). */
const KNOWN_LABELS = {
  "smollm2-135m": "SmolLM2-135M-Instruct (Q4_1)",
  "gemma3-270m": "Gemma 3 270M (Q4_K_M)",
};

export function knownLabel(name, known) {
  const size = known?.size ? `, ${formatBytes(known.size)}` : "";
  return `${KNOWN_LABELS[name] ?? name}${size}`;
}

function knownName(name) {
  return KNOWN_LABELS[name] ?? name;
}

/**
 * The demo server (`cargo xtask demo`) publishes /config.json naming local
 * copies of the known models, so the page works without internet; any other
 * static host has none and the package downloads from the model's own URL.
 */
export async function readConfig() {
  try {
    const r = await fetch("config.json", { cache: "no-cache" });
    if (!r.ok) return {};
    const c = await r.json();
    return c && typeof c === "object" ? c : {};
  } catch {
    return {};
  }
}

/**
 * What to pass to `WorkerEngine.load`: { source, options, label }.
 * `choice` is { kind: "known", name } | { kind: "url", url, sha256 } | { kind: "file", file }.
 */
export function modelSpec(choice, knownModels, config) {
  if (choice.kind === "file") {
    return { source: choice.file, options: {}, label: choice.file.name, size: choice.file.size };
  }
  if (choice.kind === "url") {
    const sha256 = choice.sha256?.trim().toLowerCase();
    const url = new URL(choice.url, location.href).href;
    return { source: url, options: sha256 ? { sha256 } : {}, label: url.split("/").pop() || url };
  }
  const known = knownModels[choice.name];
  const mirror = config.mirrors?.[choice.name];
  const label = knownName(choice.name);
  if (mirror && known?.sha256) {
    // Same bytes, same sha256: the package caches by hash, so this copy and
    // the one from the model's own URL share one cache entry.
    return { source: new URL(mirror, location.href).href, options: { sha256: known.sha256 }, label, size: known.size, known: true };
  }
  return { source: choice.name, options: {}, label, size: known?.size, known: true };
}

/** Decimal units, as download sizes are usually quoted ("98.4 MB"). */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n < 1e3) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(0)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

/** Bytes per second over the last few seconds of progress events. */
export class SpeedMeter {
  constructor(windowMs = 3000) {
    this.windowMs = windowMs;
    this.samples = [];
  }

  add(loaded, now = performance.now()) {
    // A phase change (e.g. "cache" after "download") can restart the count.
    const last = this.samples.at(-1);
    if (last && loaded < last.loaded) this.samples = [];
    this.samples.push({ loaded, t: now });
    while (this.samples.length > 2 && now - this.samples[0].t > this.windowMs) this.samples.shift();
  }

  /** Bytes per second, or null before there is a second sample. */
  rate() {
    const a = this.samples[0];
    const b = this.samples.at(-1);
    if (!a || b.t - a.t < 200) return null;
    return ((b.loaded - a.loaded) * 1000) / (b.t - a.t);
  }
}

const PHASES = {
  download: "Downloading",
  cache: "Reading from the local cache",
  memory: "Reading the file",
  ready: "Ready",
};

/** "Downloading: 12.3 MB of 98.4 MB (13%) · 5.1 MB/s" */
export function progressText({ loaded, total, phase }, rate) {
  const head = PHASES[phase] ?? "Loading";
  const pct = total > 0 ? ` (${Math.floor((100 * loaded) / total)}%)` : "";
  const speed = rate != null ? ` · ${formatBytes(Math.round(rate))}/s` : "";
  const of = total > 0 ? ` of ${formatBytes(total)}` : "";
  return `${head}: ${formatBytes(loaded)}${of}${pct}${speed}`;
}

export const WEBGPU_HELP =
  "This page runs the model on your GPU through WebGPU. It works in Chrome and Edge 113 or newer " +
  "on Windows, macOS and ChromeOS, Chrome 121+ on Android, Safari 26+ on macOS and iOS, and " +
  "Firefox 141+ on Windows. On Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu (and " +
  "#enable-vulkan); Firefox elsewhere needs Nightly with dom.webgpu.enabled.";

/**
 * What to tell the user about a failed load or generation: { title, text,
 * retry: label of the retry button or null, reload: offer a page reload }.
 * `during` is "load" or "chat"; `sizeBytes` the model size when known.
 */
export function explain(err, during, sizeBytes) {
  const code = err?.code ?? "unknown";
  const size = sizeBytes ? ` (${formatBytes(sizeBytes)})` : "";
  switch (code) {
    case "no_webgpu":
      return { title: "WebGPU is not available", text: WEBGPU_HELP, retry: null, reload: false };
    case "out_of_memory":
      return during === "load"
        ? {
            title: "Model too large for this GPU",
            text: `The GPU could not hold this model${size}. Pick a smaller model, or close other tabs and apps using the GPU and retry.`,
            retry: "Retry",
            reload: false,
          }
        : {
            title: "Out of GPU memory",
            text: "The GPU ran out of memory while generating. Reload the model (a shorter conversation or a New chat needs less).",
            retry: "Reload model",
            reload: true,
          };
    case "unsupported":
      return /limit|too large|exceed|binding|buffer/i.test(err?.message ?? "")
        ? {
            title: "Model too large for this GPU",
            text: `This model${size} needs more than this GPU adapter allows. Pick a smaller model.`,
            retry: null,
            reload: false,
          }
        : { title: "Model not supported", text: "This GGUF uses something edge-llm does not implement yet.", retry: null, reload: false };
    case "device_lost":
      return {
        title: "The GPU was reset",
        text: "The browser lost the GPU device (a driver reset, sleep, or memory pressure). Reload the model to go on; the conversation is kept.",
        retry: "Reload model",
        reload: true,
      };
    case "network":
      // An HTTP 4xx will not go away by retrying; a dropped connection will.
      return /HTTP 4\d\d/.test(err?.message ?? "")
        ? {
            title: "Download failed",
            text: "The server refused the model (see below): check the URL. Retry once it is fixed.",
            retry: "Retry download",
            reload: false,
          }
        : {
            title: "Download failed",
            text: "The model could not be downloaded. Check the connection, then retry: the download resumes where it stopped.",
            retry: "Retry download",
            reload: false,
          };
    case "integrity":
      return {
        title: "The download is corrupt",
        text: "The file's sha256 differs from the expected one, so it was neither used nor cached. Retry, or check the URL and hash.",
        retry: "Retry",
        reload: false,
      };
    case "bad_gguf":
      return { title: "Not a usable GGUF file", text: "This file is not a GGUF model edge-llm can read.", retry: null, reload: false };
    case "aborted":
      return { title: "Loading cancelled", text: "Load the model again when you are ready.", retry: "Load again", reload: false };
    case "invalid_option":
      return { title: "That does not look right", text: "Check the model URL (and the sha256: 64 hex digits).", retry: null, reload: false };
    case "context_overflow":
      return { title: "The conversation is too long", text: "It no longer fits the model's context. Start a New chat.", retry: null, reload: false };
    case "package_missing":
      return {
        title: "The edge-llm package is missing",
        text: "This page needs the edge-llm package (with WorkerEngine) in pkg/ next to it: build it with `cargo xtask pkg`, or run `cargo xtask demo`.",
        retry: null,
        reload: true,
      };
    default:
      return { title: "Something went wrong", text: "Retry, or reload the page.", retry: during === "load" ? "Retry" : null, reload: true };
  }
}
