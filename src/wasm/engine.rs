//! The engine as the package's JS drives it: `RawLoader` (a streaming load)
//! and `RawEngine` (tokenize, chat rendering, stepped generation).
//!
//! These are the package's internals; pkg-config/index.js wraps them in the
//! documented API (queueing, abort signals, downloads, caching). JS is
//! single-threaded but async: while `next_chunk` awaits the GPU, another call
//! could arrive. The engine is therefore moved out of its cell for the
//! duration of an async call (no borrow is held across an await) and any
//! call that finds the cell empty gets a `busy` error instead of
//! wasm-bindgen's re-entrancy panic.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasm_bindgen::prelude::*;

use super::to_js_error;
use crate::engine::{BackendChoice, GenStats, Generation, SamplerParams};
use crate::engine::{ChatMessage, Chunk, Engine, EngineLoader, GenerateOptions, LoadOptions};
use crate::Error;

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Converts a Rust value to JS (plain objects, not Maps).
fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| to_js_error(Error::Gpu(format!("result to JS: {e}"))))
}

/// Reads a JS options object; a wrong type or unknown key is `invalid_option`.
fn from_js<T: for<'de> Deserialize<'de>>(what: &str, v: JsValue) -> Result<T, JsValue> {
    serde_wasm_bindgen::from_value(v).map_err(|e| to_js_error(Error::option(what, e.to_string())))
}

/// A streaming load: `open`, `push` the file's bytes in order, `finish`.
#[wasm_bindgen]
pub struct RawLoader {
    inner: Option<EngineLoader>,
    /// Hash of everything pushed, when asked for.
    hash: Option<Sha256>,
}

#[wasm_bindgen]
impl RawLoader {
    /// Opens WebGPU (`backend` "auto" | "gpu" | "cpu", see
    /// `LoadOptions::backend`) for a GGUF of `total` bytes. `hash`: keep a
    /// sha256 of the pushed bytes (for `sha256()`).
    pub async fn open(
        total: f64,
        ctx: u32,
        hash: bool,
        backend: &str,
    ) -> Result<RawLoader, JsValue> {
        if !(total.is_finite() && total >= 0.0 && total <= 2f64.powi(53)) {
            return Err(to_js_error(Error::option("total", "not a byte count")));
        }
        let backend = match backend {
            "auto" => BackendChoice::Auto,
            "gpu" => BackendChoice::Gpu,
            "cpu" => BackendChoice::Cpu,
            other => {
                return Err(to_js_error(Error::option(
                    "backend",
                    format!("{other:?} is not \"auto\", \"gpu\" or \"cpu\""),
                )))
            }
        };
        let opts = LoadOptions {
            ctx: ctx as usize,
            backend,
            ..LoadOptions::default()
        };
        if opts.ctx == 0 {
            return Err(to_js_error(Error::option("contextLength", "must be > 0")));
        }
        let loader = Engine::load_streaming(total as u64, &opts)
            .await
            .map_err(to_js_error)?;
        Ok(RawLoader {
            inner: Some(loader),
            hash: hash.then(Sha256::new),
        })
    }

    /// Takes the next bytes of the file; fails as soon as they show a file
    /// that cannot load (the loader is then spent).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        let l = self.inner.as_mut().ok_or_else(spent)?;
        if let Err(e) = l.push(chunk) {
            self.inner = None;
            return Err(to_js_error(e));
        }
        if let Some(h) = self.hash.as_mut() {
            h.update(chunk);
        }
        Ok(())
    }

    /// Bytes pushed so far.
    pub fn received(&self) -> f64 {
        self.inner
            .as_ref()
            .map_or(0.0, |l| l.received_bytes() as f64)
    }

    /// Most file bytes the loader held in wasm memory at once.
    pub fn peak_buffered(&self) -> f64 {
        self.inner
            .as_ref()
            .map_or(0.0, |l| l.peak_buffered_bytes() as f64)
    }

    /// Lower-case hex sha256 of the bytes pushed so far (empty without `hash`).
    pub fn sha256(&self) -> String {
        self.hash
            .as_ref()
            .map(|h| hex(&h.clone().finalize()))
            .unwrap_or_default()
    }

    /// The engine, once every byte has arrived.
    pub fn finish(&mut self) -> Result<RawEngine, JsValue> {
        let l = self.inner.take().ok_or_else(spent)?;
        let engine = l.finish().map_err(to_js_error)?;
        Ok(RawEngine {
            cell: Rc::new(RefCell::new(Slot::Ready(Box::new(engine)))),
        })
    }
}

fn spent() -> JsValue {
    to_js_error(Error::option("loader", "already finished or failed"))
}

/// Where the engine is.
enum Slot {
    Ready(Box<Engine>),
    /// Moved out by a running async call.
    Busy,
    Disposed,
}

/// A loaded model.
#[wasm_bindgen]
pub struct RawEngine {
    cell: Rc<RefCell<Slot>>,
}

/// Generation options as the JS API spells them.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct JsGenerateOptions {
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_k: Option<u32>,
    top_p: Option<f32>,
    min_p: Option<f32>,
    repetition_penalty: Option<f32>,
    seed: Option<u32>,
    stop: Vec<String>,
}

impl JsGenerateOptions {
    fn into_options(self) -> GenerateOptions {
        let d = SamplerParams::default();
        GenerateOptions {
            max_tokens: self.max_tokens.map_or(256, |n| n as usize),
            sampler: SamplerParams {
                temperature: self.temperature.unwrap_or(d.temperature),
                top_k: self.top_k.unwrap_or(d.top_k),
                top_p: self.top_p.unwrap_or(d.top_p),
                min_p: self.min_p.unwrap_or(d.min_p),
                repetition_penalty: self.repetition_penalty.unwrap_or(d.repetition_penalty),
                seed: self.seed.unwrap_or(d.seed),
                ..d
            },
            stop: self.stop,
        }
    }
}

/// Timings as the JS API reports them.
#[derive(Serialize)]
struct JsStats {
    prompt_tokens: usize,
    cached_tokens: usize,
    generated_tokens: usize,
    ttft_ms: f64,
    prefill_ms: f64,
    decode_ms: f64,
    prefill_tok_s: f64,
    decode_tok_s: f64,
}

impl From<&GenStats> for JsStats {
    fn from(s: &GenStats) -> Self {
        let decode_ms = if s.decode_tok_s > 0.0 {
            s.generated_tokens.saturating_sub(1) as f64 / s.decode_tok_s * 1000.0
        } else {
            0.0
        };
        JsStats {
            prompt_tokens: s.prompt_tokens,
            cached_tokens: s.prompt_tokens - s.prefilled_tokens.min(s.prompt_tokens),
            generated_tokens: s.generated_tokens,
            ttft_ms: s.ttft_ms,
            prefill_ms: s.ttft_ms,
            decode_ms,
            prefill_tok_s: s.prefill_tok_s,
            decode_tok_s: s.decode_tok_s,
        }
    }
}

/// The end of a generation, as the last chunk carries it.
#[derive(Serialize)]
struct JsFinish {
    text: String,
    tokens: Vec<u32>,
    #[serde(rename = "finishReason")]
    finish_reason: crate::engine::FinishReason,
    stats: JsStats,
}

impl From<Generation> for JsFinish {
    fn from(g: Generation) -> Self {
        JsFinish {
            text: g.text,
            tokens: g.tokens,
            finish_reason: g.finish_reason,
            stats: JsStats::from(&g.stats),
        }
    }
}

impl RawEngine {
    /// Runs `f` on the engine when it is idle.
    fn with<T>(&self, f: impl FnOnce(&mut Engine) -> Result<T, JsValue>) -> Result<T, JsValue> {
        let mut slot = self.cell.try_borrow_mut().map_err(|_| busy())?;
        match &mut *slot {
            Slot::Ready(e) => f(e),
            Slot::Busy => Err(busy()),
            Slot::Disposed => Err(disposed()),
        }
    }
}

fn busy() -> JsValue {
    let e =
        js_sys::Error::new("engine busy: a call is still running (calls must be awaited in turn)");
    let _ = js_sys::Reflect::set(&e, &"code".into(), &"busy".into());
    e.into()
}

fn disposed() -> JsValue {
    let e = js_sys::Error::new("engine disposed");
    let _ = js_sys::Reflect::set(&e, &"code".into(), &"disposed".into());
    e.into()
}

#[wasm_bindgen]
impl RawEngine {
    /// Token ids of `text` (BOS as the model asks, special tokens parsed).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsValue> {
        self.with(|e| e.tokenize(text).map_err(to_js_error))
    }

    /// The text of `ids`.
    pub fn detokenize(&self, ids: &[u32]) -> Result<String, JsValue> {
        self.with(|e| e.tokenizer.decode(ids).map_err(to_js_error))
    }

    /// Model and adapter facts (snake_case; index.js reshapes them).
    pub fn info(&self) -> Result<JsValue, JsValue> {
        self.with(|e| to_js(e.info()))
    }

    /// Whether the GGUF has its own chat template (else ChatML is used).
    pub fn has_chat_template(&self) -> Result<bool, JsValue> {
        self.with(|e| Ok(e.has_chat_template()))
    }

    /// The prompt for `messages` (`[{role, content}]`), rendered with the
    /// GGUF's chat template in the sandbox.
    pub fn render_chat(&self, messages: JsValue) -> Result<String, JsValue> {
        let messages: Vec<ChatMessage> = from_js("messages", messages)?;
        self.with(|e| e.render_chat(&messages).map_err(to_js_error))
    }

    /// Starts generating after `prompt` (token ids) with `opts`
    /// (`{maxTokens, temperature, topK, topP, minP, repetitionPenalty,
    /// seed, stop}`); the prompt's longest prefix already in the KV cache is
    /// reused.
    pub fn start(&self, prompt: &[u32], opts: JsValue) -> Result<(), JsValue> {
        let opts: JsGenerateOptions = if opts.is_undefined() || opts.is_null() {
            JsGenerateOptions::default()
        } else {
            from_js("options", opts)?
        };
        let opts = opts.into_options();
        self.with(|e| e.start_generate(prompt, &opts).map_err(to_js_error))
    }

    /// Resolves to the next `{text, tokens}` chunk, or to the end
    /// `{text, tokens, finishReason, stats}` (whole generation) once it is
    /// over; `text` never splits a UTF-8 character or shows a stop string.
    pub fn next_chunk(&self) -> js_sys::Promise {
        let cell = self.cell.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = take(&cell)?;
            let r = engine.next_chunk().await;
            // Put the engine back before anything else can fail.
            put_back(&cell, engine);
            match r.map_err(to_js_error)? {
                Some(Chunk { text, tokens }) => to_js(&Chunk { text, tokens }),
                None => {
                    let mut slot = cell.try_borrow_mut().map_err(|_| busy())?;
                    let Slot::Ready(e) = &mut *slot else {
                        return Err(disposed());
                    };
                    let g = e.finish_generate().map_err(to_js_error)?;
                    to_js(&JsFinish::from(g))
                }
            }
        })
    }

    /// Ends the running generation (the KV cache keeps what was computed)
    /// and returns its end `{text, tokens, finishReason: "aborted", stats}`.
    pub fn abort(&self) -> Result<JsValue, JsValue> {
        self.with(|e| {
            let g = e.finish_generate().map_err(to_js_error)?;
            to_js(&JsFinish::from(g))
        })
    }

    /// Diagnostic: ms per decoded token per op kind (see
    /// `Session::profile_decode`); resolves to `[{kind, count, ms}]`.
    pub fn profile(&self, reps: u32) -> js_sys::Promise {
        let cell = self.cell.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = take(&cell)?;
            let r = match engine.session.gpu() {
                Some(s) => s.profile_decode(reps).await,
                None => Err(Error::option("profile", "the model runs on the CPU path")),
            };
            put_back(&cell, engine);
            to_js(&r.map_err(to_js_error)?)
        })
    }

    /// Frees the model's GPU memory; later calls fail with `disposed`.
    pub fn dispose(&self) {
        if let Ok(mut slot) = self.cell.try_borrow_mut() {
            *slot = Slot::Disposed;
        }
    }
}

/// Moves the engine out of its cell for an async call.
fn take(cell: &Rc<RefCell<Slot>>) -> Result<Box<Engine>, JsValue> {
    let mut slot = cell.try_borrow_mut().map_err(|_| busy())?;
    match std::mem::replace(&mut *slot, Slot::Busy) {
        Slot::Ready(e) => Ok(e),
        other => {
            let err = if matches!(other, Slot::Disposed) {
                disposed()
            } else {
                busy()
            };
            *slot = other;
            Err(err)
        }
    }
}

/// Returns the engine after an async call, unless it was disposed meanwhile
/// (then it is dropped here, freeing its GPU memory).
fn put_back(cell: &Rc<RefCell<Slot>>, engine: Box<Engine>) {
    if let Ok(mut slot) = cell.try_borrow_mut() {
        if matches!(*slot, Slot::Busy) {
            *slot = Slot::Ready(engine);
        }
    }
}
