// Conversations and settings, kept in localStorage so they survive a reload
// (and work offline). Everything is plain JSON; nothing leaves the device.

const KEY = "edge-llm-demo/v1";
/** Keep the newest conversations only: localStorage holds ~5 MB. */
const MAX_CONVERSATIONS = 50;

export const DEFAULT_SETTINGS = Object.freeze({
  system: "",
  // Greedy: a 135M-parameter model wanders off at once when sampled (even at
  // 0.3 it answers "What is the capital of France?" in French half the time).
  temperature: 0,
  topP: 0.9,
  maxTokens: 256,
  /** "known" | "url" (a local file is never remembered: it needs a new pick). */
  source: "known",
  knownModel: "smollm2-135m",
  url: "",
  sha256: "",
});

function blank() {
  return { settings: { ...DEFAULT_SETTINGS }, conversations: [], current: null };
}

function newId() {
  return `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

export class Store {
  constructor(storage = globalThis.localStorage) {
    this.storage = storage;
    this.data = this.read();
  }

  read() {
    try {
      const d = JSON.parse(this.storage.getItem(KEY) ?? "null");
      if (!d || !Array.isArray(d.conversations)) return blank();
      return { ...blank(), ...d, settings: { ...DEFAULT_SETTINGS, ...d.settings } };
    } catch {
      // Corrupt or unreadable (private mode): start afresh rather than break.
      return blank();
    }
  }

  save() {
    this.data.conversations = this.data.conversations.slice(0, MAX_CONVERSATIONS);
    try {
      this.storage.setItem(KEY, JSON.stringify(this.data));
    } catch {
      // Quota full: drop the oldest half and try once more.
      this.data.conversations = this.data.conversations.slice(0, Math.ceil(this.data.conversations.length / 2));
      try {
        this.storage.setItem(KEY, JSON.stringify(this.data));
      } catch {
        /* storage unavailable: the chat still works, it just is not kept */
      }
    }
  }

  get settings() {
    return this.data.settings;
  }

  updateSettings(patch) {
    Object.assign(this.data.settings, patch);
    this.save();
  }

  get conversations() {
    return this.data.conversations;
  }

  /** The open conversation (created on demand). */
  current() {
    let c = this.data.conversations.find((c) => c.id === this.data.current);
    if (!c) c = this.newConversation();
    return c;
  }

  newConversation() {
    const c = { id: newId(), title: "", created: Date.now(), messages: [] };
    this.data.conversations.unshift(c);
    this.data.current = c.id;
    this.save();
    return c;
  }

  open(id) {
    if (this.data.conversations.some((c) => c.id === id)) {
      this.data.current = id;
      this.save();
    }
    return this.current();
  }

  remove(id) {
    this.data.conversations = this.data.conversations.filter((c) => c.id !== id);
    if (this.data.current === id) this.data.current = this.data.conversations[0]?.id ?? null;
    this.save();
  }

  /** Appends a message to conversation `c` and returns it (mutable, call save()). */
  append(c, role, content) {
    const m = { role, content };
    c.messages.push(m);
    if (!c.title && role === "user") c.title = content.slice(0, 60);
    // The conversation just used moves to the top of the list.
    this.data.conversations = [c, ...this.data.conversations.filter((x) => x !== c)];
    this.save();
    return m;
  }
}
