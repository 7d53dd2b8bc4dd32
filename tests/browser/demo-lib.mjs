// Shared by the demo's browser tests (demo.test.mjs) and the headless driver
// behind `cargo xtask demo --headless` (demo-headless.mjs): start Debian's
// Chromium with WebGPU, and drive the chat page through its data-testid hooks.

import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS } from "./harness.mjs";

// Chromium and its flags (WebGPU on SwiftShader, off the network) are the
// package tests' own.
export { CHROMIUM, CHROMIUM_ARGS };

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/**
 * A fresh, disk-backed profile (like a first-time visitor; disk-backed so the
 * 98 MB model fits the storage quota, which an in-memory context may not
 * give). Returns { context, page, close() }; `errors` collects page errors.
 */
export async function launchChromium({ viewport = DESKTOP } = {}) {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium missing at ${CHROMIUM}: install Debian's chromium (apt-get install chromium) or set CHROMIUM`);
  }
  const userDataDir = mkdtempSync(join(tmpdir(), "edge-llm-demo-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

/** The page's state: starting | loading | ready | generating | error. */
export function pageState(page) {
  return page.evaluate(() => document.body.dataset.state);
}

/** The problem panel's code and text, or null when none is shown. */
export async function problem(page) {
  return page.evaluate(() => {
    const p = document.querySelector('[data-testid="error"]');
    if (!p || p.hidden) return null;
    return { code: p.dataset.code, text: p.innerText.replace(/\s+/g, " ").trim() };
  });
}

/**
 * Waits until the model is ready (resolves with the ready line) or the page
 * shows an error (rejects with its text). `onProgress(text)` sees the
 * progress line as it changes.
 */
export async function waitForModel(page, { timeoutMs = 120_000, onProgress } = {}) {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    const s = await page.evaluate(() => ({
      state: document.body.dataset.state,
      progress: document.getElementById("progress-text")?.textContent ?? "",
      ready: document.querySelector('[data-testid="model-ready"]')?.textContent ?? "",
    }));
    if (s.state === "ready") return s.ready;
    if (s.state === "error") {
      const p = await problem(page);
      throw new Error(`the page shows an error instead of a model: ${p?.code}: ${p?.text}`);
    }
    if (onProgress && s.progress && s.progress !== last) onProgress(s.progress);
    last = s.progress;
    if (Date.now() - t0 > timeoutMs) throw new Error(`model not ready after ${timeoutMs} ms (state ${s.state}, ${s.progress})`);
    await page.waitForTimeout(200);
  }
}

/** Sets "Max tokens per reply" in the settings form. */
export async function setMaxTokens(page, n) {
  await page.evaluate((n) => {
    const input = document.getElementById("max-tokens");
    input.value = String(n);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }, n);
}

/**
 * Sends `prompt` (typed into the prompt box, Enter) and follows the reply as
 * it streams. `onText(delta)` gets each new piece; `stopAfter(text)` returning
 * true clicks Stop. Resolves with { text, ttftMs, totalMs, stats, stopped }.
 */
export async function chatTurn(page, prompt, { onText, stopAfter, timeoutMs = 120_000 } = {}) {
  const before = await page.locator('[data-testid="assistant-message"]').count();
  await page.getByTestId("prompt").fill(prompt);
  const t0 = Date.now();
  await page.getByTestId("prompt").press("Enter");
  // send() switches to "generating" before its first await, so the state is
  // settled here; a reply that fails at once may never show its bubble.
  let text = "";
  let ttftMs = null;
  let stopped = false;
  for (;;) {
    const s = await page.evaluate((i) => {
      const m = document.querySelectorAll('[data-testid="assistant-message"]')[i];
      return { text: m?.querySelector(".text")?.textContent ?? "", state: document.body.dataset.state };
    }, before);
    if (s.text.length > text.length) {
      if (ttftMs === null) ttftMs = Date.now() - t0;
      onText?.(s.text.slice(text.length));
      text = s.text;
    }
    if (s.state !== "generating") break;
    if (!stopped && stopAfter?.(text)) {
      await page.getByTestId("stop").click();
      stopped = true;
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`no end of reply after ${timeoutMs} ms`);
    await page.waitForTimeout(100);
  }
  const totalMs = Date.now() - t0;
  const stats = await page.getByTestId("stats").textContent();
  return { text, ttftMs, totalMs, stats, stopped, state: await pageState(page) };
}

export async function screenshot(page, path, viewport) {
  if (viewport) await page.setViewportSize(viewport);
  await page.screenshot({ path, fullPage: false });
}
