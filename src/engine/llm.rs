//! The engine as applications use it: load a GGUF, tokenize, render chat
//! prompts, stream generated text, score text.

use crate::gguf::{self, Gguf};
use crate::gpu::{Gpu, GpuInfo};
use crate::model::config::LlamaConfig;
use crate::model::llama_gpu::LlamaGpu;
use crate::model::loader::StreamLoader;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{Error, Result};

use super::backend::{Backend, BackendChoice};
use super::sampler::SamplerParams;
use super::session::{Flow, GenStats, Scores, Session};
use super::stop::StopMatcher;
use super::template::{chatml_fallback, render_chat, ChatMessage};
use crate::cpu::{CpuLlama, CpuLoader, CpuSession};

/// Load-time options.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// KV cache capacity in tokens (capped at the model's context length).
    pub ctx: usize,
    /// Largest prefill batch (tokens a step; capped so a batch's logits
    /// fit one binding). 128 by default: a 128-token prompt in one step
    /// ran its prefill 17-34% faster on lavapipe than in two of 64
    /// (`examples/bench`, 6 alternations), for 14.5 MB more GPU memory
    /// with SmolLM2's 49k vocabulary (the batch's logits, for scoring).
    pub max_batch: usize,
    /// GPU, CPU, or the faster of them here (`BackendChoice::Auto`).
    pub backend: BackendChoice,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            ctx: 2048,
            max_batch: 128,
            backend: BackendChoice::Auto,
        }
    }
}

/// Generation options.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_tokens: usize,
    pub sampler: SamplerParams,
    /// Generation ends before any of these strings.
    pub stop: Vec<String>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampler: SamplerParams::default(),
            stop: Vec::new(),
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` or the context was reached.
    Length,
    /// The caller stopped it.
    Aborted,
}

/// The result of one generation.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    pub prompt_tokens: Vec<u32>,
    /// Generated ids (an end-of-generation id included).
    pub tokens: Vec<u32>,
    pub text: String,
    pub finish_reason: FinishReason,
    pub stats: GenStats,
}

/// What the engine tells about the loaded model.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ModelInfo {
    pub architecture: String,
    pub name: String,
    pub n_layers: usize,
    pub dim: usize,
    pub vocab_size: usize,
    pub context_length: usize,
    pub ctx: usize,
    pub file_bytes: u64,
    pub gpu_bytes: u64,
    /// Bytes the CPU path holds at load (its weights; its KV cache grows
    /// as positions are written; 0 on the GPU).
    pub cpu_bytes: u64,
    /// "gpu" or "cpu" (`Backend::name`).
    pub backend: String,
    /// The WebGPU adapter, when one was opened.
    pub adapter: Option<GpuInfo>,
}

/// A loaded model ready to generate.
pub struct Engine {
    pub session: Backend,
    pub tokenizer: Tokenizer,
    chat_template: Option<String>,
    info: ModelInfo,
    /// The generation started by `start_generate`, until `finish_generate`.
    gen: Option<TextGen>,
}

/// Text-side state of a stepped generation.
struct TextGen {
    prompt: Vec<u32>,
    decoder: StreamDecoder,
    stops: StopMatcher,
    /// Everything shown so far.
    text: String,
    /// Set when the generation has ended.
    reason: Option<FinishReason>,
    /// The session's ids and timings, once ended.
    result: Option<(Vec<u32>, GenStats)>,
}

/// A piece of generated text and the ids that produced it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Chunk {
    pub text: String,
    pub tokens: Vec<u32>,
}

/// A final chunk, if it carries anything.
fn chunk(text: String, tokens: Vec<u32>) -> Option<Chunk> {
    (!text.is_empty() || !tokens.is_empty()).then_some(Chunk { text, tokens })
}

/// What the header allows to check and build before any weight is used.
struct Prepared {
    config: LlamaConfig,
    tokenizer: Tokenizer,
    ctx: usize,
}

impl Prepared {
    /// Checks that the model and tokenizer can run with `opts`.
    fn new(g: &Gguf, opts: &LoadOptions) -> Result<Prepared> {
        if opts.ctx == 0 {
            return Err(Error::option("ctx", "must be > 0"));
        }
        let config = LlamaConfig::from_gguf(g)?;
        let tokenizer = Tokenizer::from_gguf(g)?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(Error::bad_gguf(
                "tokenizer.ggml.tokens",
                format!(
                    "{} tokens for a model with vocab {}",
                    tokenizer.vocab_size(),
                    config.vocab_size
                ),
            ));
        }
        let ctx = opts.ctx.min(config.context_length);
        Ok(Prepared {
            config,
            tokenizer,
            ctx,
        })
    }

    /// The engine around a loaded model: `adapter` is the GPU opened (if
    /// any), whether or not the model runs there.
    fn engine(
        self,
        session: Backend,
        adapter: Option<GpuInfo>,
        g: &Gguf,
        file_bytes: u64,
    ) -> Result<Engine> {
        let c = &self.config;
        let (gpu_bytes, cpu_bytes) = match &session {
            Backend::Gpu(s) => (s.model.gpu_bytes, 0),
            Backend::Cpu(s) => (0, s.model.bytes() as u64),
        };
        let info = ModelInfo {
            architecture: g.get_str("general.architecture")?.unwrap_or("").to_string(),
            name: g.get_str("general.name")?.unwrap_or("").to_string(),
            n_layers: c.n_layers,
            dim: c.dim,
            vocab_size: c.vocab_size,
            context_length: c.context_length,
            ctx: self.ctx,
            file_bytes,
            gpu_bytes,
            cpu_bytes,
            backend: session.name().to_string(),
            adapter,
        };
        let chat_template = g.get_str("tokenizer.chat_template")?.map(str::to_string);
        Ok(Engine {
            session,
            tokenizer: self.tokenizer,
            chat_template,
            info,
            gen: None,
        })
    }

    /// The engine on the GPU.
    fn gpu_engine(self, gpu: Gpu, g: &Gguf, model: LlamaGpu, file_bytes: u64) -> Result<Engine> {
        let adapter = Some(gpu.info.clone());
        self.engine(
            Backend::Gpu(Session::new(gpu, model)),
            adapter,
            g,
            file_bytes,
        )
    }

    /// The engine on the CPU path, from the whole file.
    fn cpu_engine(self, adapter: Option<GpuInfo>, g: &Gguf, file: &[u8]) -> Result<Engine> {
        let model = CpuLlama::load(g, file, self.ctx)?;
        self.cpu_engine_on(adapter, g, model, file.len() as u64)
    }

    /// The engine on the CPU path, with its model loaded.
    fn cpu_engine_on(
        self,
        adapter: Option<GpuInfo>,
        g: &Gguf,
        model: CpuLlama,
        file_bytes: u64,
    ) -> Result<Engine> {
        self.engine(Backend::Cpu(CpuSession::new(model)), adapter, g, file_bytes)
    }
}

/// A streaming load in progress (`Engine::load_streaming`): the GPU and
/// its loader (tensors uploaded as they arrive), or the CPU path's loader
/// (tensors converted as they arrive); and the tokenizer once the header
/// has arrived.
pub struct EngineLoader {
    sink: Sink,
    opts: LoadOptions,
    prepared: Option<Prepared>,
}

// One per load: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
enum Sink {
    Gpu(Gpu, StreamLoader),
    Cpu {
        adapter: Option<GpuInfo>,
        loader: CpuLoader,
    },
}

impl EngineLoader {
    /// A streaming load of a `total_len`-byte GGUF onto `gpu`.
    pub fn new(gpu: Gpu, total_len: u64, opts: &LoadOptions) -> EngineLoader {
        EngineLoader {
            sink: Sink::Gpu(gpu, StreamLoader::new(total_len)),
            opts: opts.clone(),
            prepared: None,
        }
    }

    /// A streaming load for the CPU path; `adapter`: the GPU that was
    /// opened and not used, if any (reported in `ModelInfo`).
    pub fn cpu(adapter: Option<GpuInfo>, total_len: u64, opts: &LoadOptions) -> EngineLoader {
        EngineLoader {
            sink: Sink::Cpu {
                adapter,
                loader: CpuLoader::new(total_len),
            },
            opts: opts.clone(),
            prepared: None,
        }
    }

    /// Takes the next chunk of the file (any size, in order). Fails as soon
    /// as the header shows a model or tokenizer that cannot run.
    pub fn push(&mut self, chunk: &[u8]) -> Result<()> {
        match &mut self.sink {
            Sink::Gpu(gpu, loader) => {
                loader.push(gpu, chunk)?;
                if self.prepared.is_none() {
                    if let Some(g) = loader.header() {
                        self.prepared = Some(Prepared::new(g, &self.opts)?);
                    }
                }
            }
            Sink::Cpu { loader, .. } => {
                loader.push(chunk)?;
                if self.prepared.is_none() {
                    if let Some(g) = loader.header() {
                        self.prepared = Some(Prepared::new(g, &self.opts)?);
                    }
                }
            }
        }
        Ok(())
    }

    /// Bytes pushed so far.
    pub fn received_bytes(&self) -> u64 {
        match &self.sink {
            Sink::Gpu(_, loader) => loader.received_bytes(),
            Sink::Cpu { loader, .. } => loader.received_bytes(),
        }
    }

    /// Most file bytes the loader held at once (see `StreamLoader`,
    /// `CpuLoader`).
    pub fn peak_buffered_bytes(&self) -> usize {
        match &self.sink {
            Sink::Gpu(_, loader) => loader.peak_buffered_bytes(),
            Sink::Cpu { loader, .. } => loader.peak_buffered_bytes(),
        }
    }

    /// The engine, once every byte has arrived; a truncated file is an
    /// error (`bad_gguf`).
    pub fn finish(self) -> Result<Engine> {
        let received = self.received_bytes();
        let total = match &self.sink {
            Sink::Gpu(_, loader) => loader.total_len(),
            Sink::Cpu { loader, .. } => loader.total_len(),
        };
        let Some(p) = self.prepared else {
            return Err(Error::bad_gguf(
                "file",
                format!("truncated: {received} of {total} bytes, header incomplete"),
            ));
        };
        match self.sink {
            Sink::Gpu(gpu, loader) => {
                let (g, model) = loader.finish(&gpu, p.ctx, self.opts.max_batch)?;
                p.gpu_engine(gpu, &g, model, total)
            }
            Sink::Cpu { adapter, loader } => {
                let (g, model) = loader.finish(p.ctx)?;
                p.cpu_engine_on(adapter, &g, model, total)
            }
        }
    }
}

/// Opens the GPU and tunes kernel layouts to it (`ops::tune`).
async fn open_gpu() -> Result<Gpu> {
    let mut gpu = Gpu::new().await?;
    crate::ops::tune(&mut gpu).await?;
    Ok(gpu)
}

/// The GPU to run on under `choice`, or `None` for the CPU path (with the
/// adapter that was opened and passed over, if any).
async fn pick_gpu(choice: BackendChoice) -> Result<std::result::Result<Gpu, Option<GpuInfo>>> {
    match choice {
        BackendChoice::Cpu => Ok(Err(None)),
        BackendChoice::Gpu => Ok(Ok(open_gpu().await?)),
        BackendChoice::Auto => match Gpu::new().await {
            // A software adapter in a browser: the CPU path is faster.
            Ok(gpu) if gpu.info.cpu && cfg!(target_arch = "wasm32") => Ok(Err(Some(gpu.info))),
            Ok(mut gpu) => {
                crate::ops::tune(&mut gpu).await?;
                Ok(Ok(gpu))
            }
            // No adapter, or one whose device would not open: the CPU
            // path runs anywhere.
            Err(_) => Ok(Err(None)),
        },
    }
}

impl Engine {
    /// Parses `file` (a whole GGUF), opens the GPU and uploads the model
    /// (or loads it for the CPU path, `LoadOptions::backend`).
    pub async fn load(file: &[u8], opts: &LoadOptions) -> Result<Engine> {
        let g = gguf::parse(file)?;
        // Reject what we cannot run before touching the GPU.
        LlamaConfig::from_gguf(&g)?;
        Tokenizer::from_gguf(&g)?;
        match pick_gpu(opts.backend).await? {
            Ok(gpu) => Self::load_on(gpu, &g, file, opts),
            Err(adapter) => Prepared::new(&g, opts)?.cpu_engine(adapter, &g, file),
        }
    }

    /// As `load`, on an opened GPU with a parsed header.
    pub fn load_on(gpu: Gpu, g: &Gguf, file: &[u8], opts: &LoadOptions) -> Result<Engine> {
        let p = Prepared::new(g, opts)?;
        let model = LlamaGpu::load(&gpu, g, file, p.ctx, opts.max_batch)?;
        p.gpu_engine(gpu, g, model, file.len() as u64)
    }

    /// Opens the GPU (or not: `LoadOptions::backend`) for a streaming load
    /// of a GGUF of `total_len` bytes: push the file's chunks in order into
    /// the returned loader, then `finish` it. Tensors go to the GPU as
    /// they arrive.
    pub async fn load_streaming(total_len: u64, opts: &LoadOptions) -> Result<EngineLoader> {
        if opts.ctx == 0 {
            return Err(Error::option("ctx", "must be > 0"));
        }
        Ok(match pick_gpu(opts.backend).await? {
            Ok(gpu) => EngineLoader::new(gpu, total_len, opts),
            Err(adapter) => EngineLoader::cpu(adapter, total_len, opts),
        })
    }

    /// Model and adapter facts.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Whether the GGUF carries a chat template (else ChatML is used).
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// Token ids of `text` as llama.cpp makes them: BOS when the GGUF asks
    /// for it, special tokens written in the text recognised.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        self.tokenizer.encode(text, true, true)
    }

    /// The prompt text for `messages`, rendered with the GGUF's chat
    /// template in the sandbox (ChatML when the GGUF has none).
    pub fn render_chat(&self, messages: &[ChatMessage]) -> Result<String> {
        let text = |id: Option<u32>| {
            id.and_then(|i| self.tokenizer.token_text(i).ok())
                .unwrap_or("")
                .to_string()
        };
        match &self.chat_template {
            Some(t) => render_chat(
                t,
                messages,
                true,
                &text(self.tokenizer.bos()),
                &text(self.tokenizer.eos()),
            ),
            None => Ok(chatml_fallback(messages, true)),
        }
    }

    /// Generates after `prompt` (token ids), streaming text to `on_text`,
    /// which may stop generation by returning `Flow::Stop`. A loop over
    /// `start_generate` / `next_chunk` / `finish_generate`.
    pub async fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        mut on_text: impl FnMut(&str) -> Flow,
    ) -> Result<Generation> {
        self.start_generate(prompt, opts)?;
        while let Some(c) = self.next_chunk().await? {
            if !c.text.is_empty() && on_text(&c.text) == Flow::Stop {
                self.abort()?;
                break;
            }
        }
        self.finish_generate()
    }

    /// Starts generating after `prompt` (token ids); `next_chunk` then
    /// yields the text. A generation still running is aborted first.
    pub fn start_generate(&mut self, prompt: &[u32], opts: &GenerateOptions) -> Result<()> {
        self.gen = None;
        self.session.start(prompt, &opts.sampler, opts.max_tokens)?;
        self.gen = Some(TextGen {
            prompt: prompt.to_vec(),
            decoder: StreamDecoder::new(),
            stops: StopMatcher::new(&opts.stop),
            text: String::new(),
            reason: None,
            result: None,
        });
        Ok(())
    }

    /// The next piece of text with the ids that made it, or `None` when
    /// the generation has ended (see `finish_generate`). Text that may be
    /// the start of a stop string or of a UTF-8 character is held back; the
    /// last chunk may have empty text (an end-of-generation id). On the CPU
    /// path a chunk with no text and no ids says a slice of the prompt ran.
    pub async fn next_chunk(&mut self) -> Result<Option<Chunk>> {
        let r = self.next_chunk_inner().await;
        if r.is_err() {
            // Keep the session usable; the error is what the caller sees.
            let _ = self.session.cancel();
            self.gen = None;
        }
        r
    }

    async fn next_chunk_inner(&mut self) -> Result<Option<Chunk>> {
        let mut tokens = Vec::new();
        loop {
            let Some(g) = self.gen.as_mut().filter(|g| g.reason.is_none()) else {
                return Ok(None);
            };
            if tokens.is_empty() && self.session.prefill_step()? {
                // A slice of the prompt ran (CPU path): an empty chunk
                // lets the caller breathe before the next one.
                return Ok(Some(Chunk::default()));
            }
            let Some(id) = self.session.next_token().await? else {
                // max_tokens or the context reached: release held text.
                let (tail, _) = g.stops.push(&g.decoder.finish());
                let text = tail + &g.stops.finish();
                g.text.push_str(&text);
                g.reason = Some(FinishReason::Length);
                g.result = Some(self.session.finish()?);
                return Ok(chunk(text, tokens));
            };
            tokens.push(id);
            if self.tokenizer.is_eog(id) {
                g.reason = Some(FinishReason::Stop);
                g.result = Some(self.session.finish()?);
                return Ok(chunk(String::new(), tokens));
            }
            let piece = g.decoder.push(&self.tokenizer, id)?;
            let (shown, hit) = g.stops.push(&piece);
            g.text.push_str(&shown);
            if hit {
                g.reason = Some(FinishReason::Stop);
                g.result = Some(self.session.finish()?);
                return Ok(chunk(shown, tokens));
            }
            if !shown.is_empty() {
                return Ok(Some(Chunk {
                    text: shown,
                    tokens,
                }));
            }
        }
    }

    /// Stops the running generation (finish reason `Aborted`); the engine
    /// stays usable. Does nothing when none runs.
    pub fn abort(&mut self) -> Result<()> {
        if let Some(g) = self.gen.as_mut().filter(|g| g.reason.is_none()) {
            g.reason = Some(FinishReason::Aborted);
            g.result = Some(self.session.finish()?);
        }
        Ok(())
    }

    /// The finished generation: ids, text, finish reason and timings
    /// (aborts it first when it still runs).
    pub fn finish_generate(&mut self) -> Result<Generation> {
        self.abort()?;
        let g = self
            .gen
            .take()
            .ok_or_else(|| Error::option("finish_generate", "no generation was started"))?;
        let (tokens, stats) = g.result.unwrap_or_default();
        Ok(Generation {
            prompt_tokens: g.prompt,
            tokens,
            text: g.text,
            finish_reason: g.reason.unwrap_or(FinishReason::Aborted),
            stats,
        })
    }

    /// Teacher-forced log-probabilities of `tokens`.
    pub async fn score(&mut self, tokens: &[u32]) -> Result<Scores> {
        self.session.score(tokens).await
    }
}
