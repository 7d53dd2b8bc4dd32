// The Web Worker side of WorkerEngine: runs an Engine here and answers the
// page's messages (see worker-client.js for the protocol).
import { Engine } from "./engine.js";

let engine = null;
// Running loads and streams, by request id, to abort them.
const controllers = new Map();

const send = (msg) => self.postMessage(msg);
const errorOf = (e) => ({ code: e?.code ?? "gpu", message: e?.message ?? String(e) });

async function handle(msg) {
  const { id, type } = msg;
  if (type === "abort") {
    controllers.get(id)?.abort();
    return;
  }
  const ctrl = new AbortController();
  controllers.set(id, ctrl);
  try {
    if (type === "load") {
      if (engine) throw Object.assign(new Error("this worker already holds an engine"), { code: "busy" });
      const opts = { ...msg.opts, signal: ctrl.signal };
      if (msg.progress) opts.onProgress = (p) => send({ id, progress: p });
      engine = await Engine.load(msg.source, opts);
      send({ id, result: null });
    } else if (type === "call") {
      if (!engine) throw Object.assign(new Error("no engine loaded"), { code: "disposed" });
      const result = await engine[msg.method](...msg.args);
      if (msg.method === "dispose") engine = null;
      send({ id, result });
    } else if (type === "stream") {
      if (!engine) throw Object.assign(new Error("no engine loaded"), { code: "disposed" });
      const opts = { ...msg.opts, signal: ctrl.signal };
      const chunks = msg.kind === "chat" ? engine._chatStream(msg.input, opts) : engine.generate(msg.input, opts);
      for await (const chunk of chunks) send({ id, chunk });
      send({ id, result: null });
    }
  } catch (e) {
    send({ id, error: errorOf(e) });
  } finally {
    controllers.delete(id);
  }
}

self.onmessage = (ev) => {
  handle(ev.data);
};
send({ ready: true });
