// The chat page: wires the DOM to the edge-llm package. The engine runs in a
// Web Worker (WorkerEngine), so this thread only renders. Model output is
// always inserted as text (textContent), never parsed as HTML.
//
// document.body.dataset.state tells tests and CSS where we are:
// starting | loading | ready | generating | error.

import { Store } from "./store.js";
import { explain, formatBytes, knownLabel, modelSpec, progressText, readConfig, SpeedMeter } from "./model.js";

// `?backend=gpu|cpu` overrides the engine's "auto" (which takes the CPU
// where the only WebGPU adapter is a software one). Without WebGPU the
// model runs on the CPU path (wasm SIMD).
const NO_WEBGPU = !("gpu" in navigator);
const BACKEND = ["gpu", "cpu"].find((b) => b === new URLSearchParams(location.search).get("backend")) ?? (NO_WEBGPU ? "cpu" : undefined);

const $ = (id) => document.getElementById(id);
const el = {
  loading: $("loading"),
  progress: $("progress"),
  progressLabel: $("progress-label"),
  progressText: $("progress-text"),
  cancelLoad: $("cancel-load"),
  ready: $("ready"),
  problem: $("problem"),
  problemTitle: $("problem-title"),
  problemText: $("problem-text"),
  problemDetail: $("problem-detail"),
  retry: $("retry"),
  reloadPage: $("reload-page"),
  panel: $("panel"),
  togglePanel: $("toggle-panel"),
  newChat: $("new-chat"),
  modelForm: $("model-form"),
  knownModel: $("known-model"),
  modelUrl: $("model-url"),
  modelSha: $("model-sha"),
  modelFile: $("model-file"),
  systemPrompt: $("system-prompt"),
  temperature: $("temperature"),
  temperatureOut: $("temperature-out"),
  topP: $("top-p"),
  topPOut: $("top-p-out"),
  maxTokens: $("max-tokens"),
  history: $("history"),
  messages: $("messages"),
  empty: $("empty"),
  promptForm: $("prompt-form"),
  prompt: $("prompt"),
  send: $("send"),
  stop: $("stop"),
  stats: $("stats"),
  drop: $("drop"),
};

const store = new Store();
let edge = null; // the package module
let config = {}; // from the demo server's /config.json
let engine = null; // WorkerEngine once loaded
let lastChoice = null; // what the last load asked for (Retry loads it again)
let loadCtl = null; // AbortController of a load in flight
let genCtl = null; // AbortController of a generation in flight

function setState(s) {
  document.body.dataset.state = s;
  const canSend = s === "ready";
  el.send.disabled = !canSend;
  el.send.hidden = s === "generating";
  el.stop.hidden = s !== "generating";
}

// ---- status area ---------------------------------------------------------

function showProblem(err, during, size) {
  const x = explain(err, during, size);
  el.loading.hidden = true;
  el.ready.hidden = true;
  el.problem.hidden = false;
  el.problem.dataset.code = err?.code ?? "unknown";
  el.problemTitle.textContent = x.title;
  el.problemText.textContent = x.text;
  el.problemDetail.textContent = err?.message ? `${err.code ?? "error"}: ${err.message}` : "";
  el.retry.hidden = !x.retry;
  el.retry.textContent = x.retry ?? "";
  el.reloadPage.hidden = !x.reload;
  if (x.retry) el.retry.focus();
}

function hideProblem() {
  el.problem.hidden = true;
  delete el.problem.dataset.code;
}

// ---- loading -------------------------------------------------------------

function currentChoice() {
  const kind = el.modelForm.elements.source.value;
  if (kind === "url") return { kind, url: el.modelUrl.value.trim(), sha256: el.modelSha.value };
  if (kind === "file") return el.modelFile.files[0] ? { kind, file: el.modelFile.files[0] } : null;
  return { kind: "known", name: el.knownModel.value };
}

async function loadModel(choice) {
  if (!edge || !choice) return;
  lastChoice = choice;
  genCtl?.abort();
  loadCtl?.abort();
  const ctl = new AbortController();
  loadCtl = ctl;
  let spec;
  try {
    spec = modelSpec(choice, edge.knownModels ?? {}, config);
  } catch (e) {
    setState(engine ? "ready" : "error");
    showProblem({ code: "invalid_option", message: String(e?.message ?? e) }, "load");
    return;
  }
  setState("loading");
  hideProblem();
  el.ready.hidden = true;
  el.loading.hidden = false;
  el.progress.removeAttribute("value"); // indeterminate until the first event
  el.progressLabel.textContent = `Loading ${spec.label}`;
  el.progressText.textContent = "Starting…";
  if (engine) {
    const old = engine;
    engine = null;
    await old.dispose().catch(() => {}); // frees the GPU before the next model
  }
  const meter = new SpeedMeter();
  const t0 = performance.now();
  performance.mark("edge-llm:load-start");
  try {
    const loaded = await edge.WorkerEngine.load(spec.source, {
      ...spec.options,
      ...(BACKEND ? { backend: BACKEND } : {}),
      signal: ctl.signal,
      onProgress(p) {
        if (ctl !== loadCtl) return;
        meter.add(p.loaded);
        if (p.total > 0) {
          el.progress.max = p.total;
          el.progress.value = p.loaded;
        }
        el.progressText.textContent = progressText(p, p.phase === "ready" ? null : meter.rate());
      },
    });
    if (ctl !== loadCtl) {
      loaded.dispose().catch(() => {}); // a newer load replaced this one
      return;
    }
    engine = loaded;
    performance.mark("edge-llm:loaded");
    // Remembered only once it worked, so a typo is not retried on every visit.
    if (choice.kind === "known") store.updateSettings({ source: "known", knownModel: choice.name });
    if (choice.kind === "url") store.updateSettings({ source: "url", url: choice.url, sha256: choice.sha256?.trim() ?? "" });
    await showReady(spec, performance.now() - t0);
  } catch (e) {
    if (ctl !== loadCtl) return;
    setState("error");
    showProblem(e, "load", spec.size);
  } finally {
    if (ctl === loadCtl) loadCtl = null;
  }
}

async function showReady(spec, ms) {
  let info = null;
  try {
    info = await engine.info();
  } catch {
    /* info() is a nicety: the engine works without it */
  }
  let text = `Ready: ${spec.label}`;
  if (info) {
    const from = { network: "downloaded", cache: "from the local cache", memory: "from the file" }[info.load?.source] ?? "";
    // A known model has a better name than its GGUF metadata tends to give.
    const name = spec.known ? spec.label : info.model?.name || spec.label;
    // No requestAdapter() here for a nicer GPU name: on this thread it can
    // block the page for seconds while WebGPU starts up.
    const gpu = info.adapter?.name || "WebGPU";
    // "auto" runs on the CPU where the only adapter is a software one.
    const where =
      info.backend === "cpu"
        ? `CPU (wasm SIMD${NO_WEBGPU ? "; this browser has no WebGPU" : ""})`
        : `GPU: ${gpu}${info.adapter?.shaderF16 ? " (f16)" : ""}`;
    text =
      `Ready: ${name} · ${formatBytes(info.model?.fileBytes)}` +
      ` · ${where}` +
      ` · loaded in ${(ms / 1000).toFixed(1)} s${from ? ` (${from})` : ""}`;
  }
  el.loading.hidden = true;
  el.ready.textContent = text;
  el.ready.hidden = false;
  setState("ready");
  performance.mark("edge-llm:ready");
  if (!el.panel.contains(document.activeElement)) el.prompt.focus();
}

// ---- chat ----------------------------------------------------------------

/** A message bubble; the text goes in with textContent only. */
function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  div.dataset.testid = role === "assistant" ? "assistant-message" : `${role}-message`;
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = role === "assistant" ? "Model" : "You";
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  div.append(who, body);
  return div;
}

function renderConversation() {
  const c = store.current();
  el.messages.replaceChildren(el.empty);
  el.empty.hidden = c.messages.length > 0;
  for (const m of c.messages) {
    const b = bubble(m.role, m.content);
    if (m.stopped) b.classList.add("stopped");
    el.messages.append(b);
  }
  el.messages.scrollTop = el.messages.scrollHeight;
  renderHistory();
}

function renderHistory() {
  const cur = store.current().id;
  el.history.replaceChildren(
    ...store.conversations.map((c) => {
      const li = document.createElement("li");
      const open = document.createElement("button");
      open.type = "button";
      open.className = "open";
      open.textContent = c.title || "New conversation";
      if (c.id === cur) open.setAttribute("aria-current", "true");
      open.addEventListener("click", () => {
        if (document.body.dataset.state === "generating") genCtl?.abort();
        store.open(c.id);
        renderConversation();
      });
      const del = document.createElement("button");
      del.type = "button";
      del.className = "delete";
      del.textContent = "×";
      del.setAttribute("aria-label", `Delete “${c.title || "New conversation"}”`);
      del.addEventListener("click", () => {
        if (c.id === cur) genCtl?.abort();
        store.remove(c.id);
        renderConversation();
      });
      li.append(open, del);
      return li;
    }),
  );
}

function nearBottom() {
  const m = el.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

async function send() {
  const text = el.prompt.value.trim();
  if (!text || !engine || document.body.dataset.state !== "ready") return;
  // A problem from the last reply (e.g. context overflow) is over once the user goes on.
  if (!el.problem.hidden) {
    hideProblem();
    el.ready.hidden = false;
  }
  const s = store.settings;
  const c = store.current();
  store.append(c, "user", text);
  el.prompt.value = "";
  renderConversation();

  const messages = [...(s.system.trim() ? [{ role: "system", content: s.system.trim() }] : []), ...c.messages.map(({ role, content }) => ({ role, content }))];
  const out = bubble("assistant", "");
  out.classList.add("streaming");
  el.messages.append(out);
  el.messages.setAttribute("aria-busy", "true");
  const body = out.querySelector(".text");

  const ctl = new AbortController();
  genCtl = ctl;
  setState("generating");
  el.stats.textContent = "Thinking…";
  let reply = "";
  let chunks = 0;
  let tFirst = 0;
  let stats = null;
  const t0 = performance.now();
  let stopped = false;
  let failure = null;
  try {
    const stream = await engine.chat.completions.create(
      { messages, stream: true, max_tokens: s.maxTokens, temperature: s.temperature, top_p: s.topP },
      { signal: ctl.signal },
    );
    for await (const chunk of stream) {
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        const follow = nearBottom();
        reply += delta;
        body.textContent = reply;
        if (follow) el.messages.scrollTop = el.messages.scrollHeight;
        chunks += 1;
        const now = performance.now();
        if (chunks === 1) tFirst = now;
        el.stats.textContent = liveStats(tFirst - t0, chunks, now - tFirst);
      }
      if (chunk.stats) stats = chunk.stats;
    }
  } catch (e) {
    if (e?.code === "aborted" || ctl.signal.aborted) stopped = true;
    else failure = e;
  }
  if (genCtl === ctl) genCtl = null;
  out.classList.remove("streaming");
  el.messages.removeAttribute("aria-busy");
  if (reply || stopped) {
    const m = store.append(c, "assistant", reply);
    if (stopped) {
      m.stopped = true;
      out.classList.add("stopped");
      store.save();
    }
  } else if (failure) {
    out.remove();
  }
  el.stats.textContent = stats ? finalStats(stats) : chunks ? liveStats(tFirst - t0, chunks, performance.now() - tFirst) + (stopped ? " · stopped" : "") : stopped ? "Stopped" : "";
  // A model load started meanwhile (it aborted us) owns the state now.
  if (document.body.dataset.state !== "generating") return;
  if (failure) return chatFailed(failure, c);
  setState("ready");
  if (!el.panel.contains(document.activeElement)) el.prompt.focus();
}

function liveStats(ttftMs, tokens, decodeMs) {
  const rate = tokens > 1 && decodeMs > 0 ? ` · ${(((tokens - 1) * 1000) / decodeMs).toFixed(1)} tok/s` : "";
  return `TTFT ${(ttftMs / 1000).toFixed(2)} s${rate} · ${tokens} tokens`;
}

function finalStats(s) {
  return (
    `TTFT ${(s.ttft_ms / 1000).toFixed(2)} s · ${s.decode_tok_s.toFixed(1)} tok/s · ` +
    `${s.generated_tokens} tokens · prompt ${s.prompt_tokens} (${s.cached_tokens} reused, ${s.prefill_tok_s.toFixed(0)} tok/s)`
  );
}

function chatFailed(e, c) {
  // The unanswered message goes back into the box, to resend once fixed.
  if (c.messages.at(-1)?.role === "user") {
    el.prompt.value = c.messages.pop().content;
    store.save();
    if (store.current() === c) renderConversation();
  }
  if (e?.code === "device_lost" || e?.code === "out_of_memory" || e?.code === "disposed") {
    // Unusable now: end it (and its worker); Retry loads a fresh one.
    engine?.dispose().catch(() => {});
    engine = null;
    setState("error");
    showProblem(e, "chat");
  } else {
    setState("ready");
    showProblem(e, "chat");
  }
}

// ---- settings, model form, panel ------------------------------------------

function initSettings() {
  const s = store.settings;
  el.systemPrompt.value = s.system;
  el.temperature.value = s.temperature;
  el.topP.value = s.topP;
  el.maxTokens.value = s.maxTokens;
  el.modelUrl.value = s.url;
  el.modelSha.value = s.sha256;
  el.modelForm.elements.source.value = s.source === "url" ? "url" : "known";
  const outputs = () => {
    el.temperatureOut.textContent = Number(el.temperature.value).toFixed(2);
    el.topPOut.textContent = Number(el.topP.value).toFixed(2);
  };
  outputs();
  el.systemPrompt.addEventListener("change", () => store.updateSettings({ system: el.systemPrompt.value }));
  for (const input of [el.temperature, el.topP, el.maxTokens]) {
    input.addEventListener("input", () => {
      outputs();
      const maxTokens = Math.round(Number(el.maxTokens.value));
      store.updateSettings({
        temperature: Number(el.temperature.value),
        topP: Number(el.topP.value),
        maxTokens: maxTokens >= 1 ? Math.min(maxTokens, 4096) : store.settings.maxTokens,
      });
    });
  }
}

function fillKnownModels() {
  const known = edge?.knownModels ?? {};
  el.knownModel.replaceChildren(
    ...Object.keys(known).map((name) => {
      const o = document.createElement("option");
      o.value = name;
      o.textContent = knownLabel(name, known[name]);
      return o;
    }),
  );
  if (known[store.settings.knownModel]) el.knownModel.value = store.settings.knownModel;
}

function initModelForm() {
  el.modelForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const choice = currentChoice();
    if (!choice || (choice.kind === "url" && !choice.url)) {
      (choice?.kind === "url" ? el.modelUrl : el.modelFile).focus();
      return;
    }
    loadModel(choice);
  });
  // Picking a URL or file selects its radio, so the form says what Load does.
  const pick = (v) => () => (el.modelForm.elements.source.value = v);
  el.knownModel.addEventListener("change", pick("known"));
  el.modelUrl.addEventListener("input", pick("url"));
  el.modelFile.addEventListener("change", pick("file"));
}

function initDrop() {
  let depth = 0;
  const isFileDrag = (ev) => [...(ev.dataTransfer?.types ?? [])].includes("Files");
  document.addEventListener("dragenter", (ev) => {
    if (!isFileDrag(ev)) return;
    depth += 1;
    el.drop.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) el.drop.hidden = true;
  });
  document.addEventListener("dragover", (ev) => {
    if (isFileDrag(ev)) ev.preventDefault(); // allows the drop
  });
  document.addEventListener("drop", (ev) => {
    if (!isFileDrag(ev)) return;
    ev.preventDefault();
    depth = 0;
    el.drop.hidden = true;
    const file = [...ev.dataTransfer.files].find((f) => /\.gguf$/i.test(f.name)) ?? ev.dataTransfer.files[0];
    if (file) {
      el.modelForm.elements.source.value = "file";
      loadModel({ kind: "file", file });
    }
  });
}

function initPanel() {
  const set = (open) => {
    el.panel.hidden = !open;
    el.togglePanel.setAttribute("aria-expanded", String(open));
  };
  // Open beside the chat on wide screens, closed (a tap away) on phones; a
  // rotation or resize across the breakpoint follows suit.
  const wide = matchMedia("(min-width: 900px)");
  set(wide.matches);
  wide.addEventListener("change", () => set(wide.matches));
  el.togglePanel.addEventListener("click", () => set(el.panel.hidden));
}

function initChat() {
  el.promptForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    send();
  });
  el.prompt.addEventListener("keydown", (ev) => {
    // Enter sends; Shift+Enter is a new line; an IME composition is left alone.
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      send();
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && genCtl) genCtl.abort();
  });
  el.stop.addEventListener("click", () => genCtl?.abort());
  el.newChat.addEventListener("click", () => {
    genCtl?.abort();
    if (engine && !el.problem.hidden && document.body.dataset.state !== "error") {
      hideProblem(); // e.g. "too long": a New chat is the cure
      el.ready.hidden = false;
    }
    if (store.current().messages.length > 0) store.newConversation();
    el.stats.textContent = "";
    renderConversation();
    el.prompt.focus();
  });
  el.cancelLoad.addEventListener("click", () => loadCtl?.abort());
  el.retry.addEventListener("click", () => {
    hideProblem();
    if (engine && document.body.dataset.state === "ready") return; // a chat error: nothing to reload
    loadModel(lastChoice ?? currentChoice());
  });
  el.reloadPage.addEventListener("click", () => location.reload());
}

async function registerServiceWorker() {
  if (!("serviceWorker" in navigator)) return;
  try {
    await navigator.serviceWorker.register("sw.js");
  } catch (e) {
    console.warn("service worker not registered; the page will not work offline:", e);
  }
}

async function main() {
  initSettings();
  initModelForm();
  initPanel();
  initDrop();
  initChat();
  renderConversation();
  registerServiceWorker();
  try {
    edge = await import("./pkg/index.js");
    performance.mark("edge-llm:package");
    if (typeof edge.WorkerEngine?.load !== "function") throw new Error("pkg/index.js has no WorkerEngine (an older build?)");
  } catch (e) {
    setState("error");
    showProblem({ code: "package_missing", message: String(e?.message ?? e) }, "load");
    return;
  }
  fillKnownModels();
  config = await readConfig();
  // A first visit loads the default model at once: the page is for chatting.
  // A remembered URL is loaded again; a local file needs a new pick.
  const s = store.settings;
  const choice = s.source === "url" && s.url ? { kind: "url", url: s.url, sha256: s.sha256 } : { kind: "known", name: el.knownModel.value || s.knownModel };
  await loadModel(choice);
}

main();
