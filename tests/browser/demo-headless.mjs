// `cargo xtask demo --headless "PROMPT"`: serves the demo, opens it in
// headless Chromium as a first-time visitor (fresh profile), waits for the
// model, sends PROMPT, and prints the reply as it streams, with the timings
// that visitor sees. Exit status 0 only when a non-empty reply came back.
//
//   node tests/browser/demo-headless.mjs "PROMPT" [--max-tokens N] [--screenshot FILE]

import { startDemoServer } from "../../tools/demo/serve.mjs";
import { chatTurn, launchChromium, problem, setMaxTokens, waitForModel } from "./demo-lib.mjs";

function parseArgs(argv) {
  const out = { prompt: null, maxTokens: 64, screenshot: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--max-tokens") out.maxTokens = Number(argv[++i]);
    else if (a === "--screenshot") out.screenshot = argv[++i];
    else if (out.prompt === null) out.prompt = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!out.prompt) throw new Error('usage: demo-headless.mjs "PROMPT" [--max-tokens N] [--screenshot FILE]');
  if (!(out.maxTokens >= 1)) throw new Error("--max-tokens needs a positive number");
  return out;
}

const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const server = await startDemoServer({ port: 0 });
  console.log(`edge-llm demo at ${server.url} (headless Chromium, fresh profile)`);
  const browser = await launchChromium();
  const { page } = browser;
  page.on("pageerror", (e) => console.error(`[page error] ${e}`));
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warning") console.error(`[console.${m.type()}] ${m.text()}`);
  });
  try {
    const t0 = Date.now();
    await page.goto(server.url);
    const tShown = Date.now() - t0;
    let lastPrint = 0;
    const ready = await waitForModel(page, {
      timeoutMs: 300_000,
      onProgress(text) {
        if (Date.now() - lastPrint > 2000) {
          lastPrint = Date.now();
          console.log(`  ${text}`);
        }
      },
    }).catch(async (e) => {
      const p = await problem(page);
      throw new Error(p ? `${p.code}: ${p.text}` : e.message);
    });
    const tReady = Date.now() - t0;
    console.log(ready);
    await setMaxTokens(page, args.maxTokens);
    console.log(`\n> ${args.prompt}\n`);
    const turn = await chatTurn(page, args.prompt, {
      timeoutMs: 600_000,
      onText: (d) => process.stdout.write(d),
    });
    process.stdout.write("\n\n");
    const p = await problem(page);
    if (p) throw new Error(`${p.code}: ${p.text}`);
    if (args.screenshot) await page.screenshot({ path: args.screenshot });
    console.log(`page stats: ${turn.stats}`);
    console.log(
      `timings (first visit): page shown ${secs(tShown)}, model ready ${secs(tReady)}, ` +
        `first reply text ${secs(turn.ttftMs ?? NaN)} after sending (${secs(tReady + (turn.ttftMs ?? NaN))} after opening), ` +
        `reply complete ${secs(turn.totalMs)} after sending`,
    );
    if (!turn.text.trim()) throw new Error("the reply is empty");
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(`demo --headless failed: ${e.message ?? e}`);
  process.exit(1);
});
