// engine.chat.completions: the OpenAI chat completions shape over the
// engine's streaming loop. The conversation is rendered with the GGUF's chat
// template (in the wasm sandbox) and tokenized; the engine reuses the KV
// cache of the longest prefix it already computed, so a follow-up turn only
// computes the new messages.
import { edgeError } from "./errors.js";

const KNOWN = new Set([
  "messages", "stream", "max_tokens", "max_completion_tokens", "temperature", "top_p", "seed", "stop",
  "top_k", "min_p", "repetition_penalty", "model", "n", "stream_options",
]);
// Up to the end of the context unless the request caps it (as OpenAI does).
const UNCAPPED = 2 ** 31;

let counter = 0;
const newId = () => `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;

/** Checks a request and returns [messages, engine generate options]. */
function chatRequest(req) {
  if (req === null || typeof req !== "object") throw edgeError("invalid_option", "request must be an object");
  for (const k of Object.keys(req)) {
    if (!KNOWN.has(k)) throw edgeError("invalid_option", `unknown request field ${k}`);
  }
  if (req.n !== undefined && req.n !== 1) throw edgeError("invalid_option", "n must be 1");
  const { messages } = req;
  if (!Array.isArray(messages) || messages.length === 0) throw edgeError("invalid_option", "messages must be a non-empty array");
  const msgs = messages.map((m, i) => {
    if (m === null || typeof m !== "object" || typeof m.role !== "string" || typeof m.content !== "string") {
      throw edgeError("invalid_option", `messages[${i}] must be {role: string, content: string}`);
    }
    return { role: m.role, content: m.content };
  });
  const opts = {
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? UNCAPPED,
    temperature: req.temperature ?? undefined,
    topP: req.top_p ?? undefined,
    topK: req.top_k ?? undefined,
    minP: req.min_p ?? undefined,
    repetitionPenalty: req.repetition_penalty ?? undefined,
    seed: req.seed ?? undefined,
    stop: req.stop ?? undefined,
  };
  return [msgs, opts];
}

const usageOf = (s) => ({
  prompt_tokens: s.prompt_tokens,
  completion_tokens: s.generated_tokens,
  total_tokens: s.prompt_tokens + s.generated_tokens,
  prompt_tokens_details: { cached_tokens: s.cached_tokens },
});

/**
 * OpenAI chunks from engine chunks (`chunks`: async iterable of
 * {text, tokens, finishReason?, stats?}).
 */
async function* toChatChunks(chunks, model) {
  const base = { id: newId(), object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model };
  yield { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] };
  for await (const c of chunks) {
    if (c.finishReason !== undefined) {
      yield {
        ...base,
        choices: [{ index: 0, delta: {}, finish_reason: c.finishReason }],
        usage: usageOf(c.stats),
        stats: c.stats,
      };
      return;
    }
    if (c.text) yield { ...base, choices: [{ index: 0, delta: { content: c.text }, finish_reason: null }] };
  }
}

/** One completion from OpenAI chunks. */
async function collectCompletion(chunks) {
  let content = "";
  let last;
  for await (const c of chunks) {
    content += c.choices[0].delta.content ?? "";
    last = c;
  }
  return {
    id: last.id,
    object: "chat.completion",
    created: last.created,
    model: last.model,
    choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: last.choices[0].finish_reason }],
    usage: last.usage,
    stats: last.stats,
  };
}

/** `engine.chat.completions` for an Engine or WorkerEngine (anything with `_chatStream`). */
export function chatCompletions(engine, modelId) {
  return Object.freeze({
    async create(req, opts = {}) {
      const [messages, genOpts] = chatRequest(req);
      const chunks = toChatChunks(engine._chatStream(messages, { ...genOpts, signal: opts?.signal }), modelId());
      return req.stream ? chunks : collectCompletion(chunks);
    },
  });
}
