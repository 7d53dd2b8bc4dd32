//! The engine as applications use it: load a GGUF, tokenize, render chat
//! prompts, stream generated text, score text.

use crate::gguf::{self, Gguf};
use crate::gpu::{Gpu, GpuInfo};
use crate::model::llama_gpu::LlamaGpu;
use crate::tokenizer::{StreamDecoder, Tokenizer};
use crate::{Error, Result};

use super::sampler::SamplerParams;
use super::session::{Flow, GenStats, Scores, Session};
use super::stop::StopMatcher;
use super::template::{chatml_fallback, render_chat, ChatMessage};

/// Load-time options.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// KV cache capacity in tokens (capped at the model's context length).
    pub ctx: usize,
    /// Largest prefill batch.
    pub max_batch: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            ctx: 2048,
            max_batch: 64,
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
    pub adapter: GpuInfo,
}

/// A loaded model ready to generate.
pub struct Engine {
    pub session: Session,
    pub tokenizer: Tokenizer,
    chat_template: Option<String>,
    info: ModelInfo,
}

impl Engine {
    /// Parses `file` (a whole GGUF), opens the GPU and uploads the model.
    pub async fn load(file: &[u8], opts: &LoadOptions) -> Result<Engine> {
        let g = gguf::parse(file)?;
        // Reject what we cannot run before touching the GPU.
        crate::model::config::LlamaConfig::from_gguf(&g)?;
        Tokenizer::from_gguf(&g)?;
        let gpu = Gpu::new().await?;
        Self::load_on(gpu, &g, file, opts)
    }

    /// As `load`, on an opened GPU with a parsed header.
    pub fn load_on(gpu: Gpu, g: &Gguf, file: &[u8], opts: &LoadOptions) -> Result<Engine> {
        if opts.ctx == 0 {
            return Err(Error::option("ctx", "must be > 0"));
        }
        let config = crate::model::config::LlamaConfig::from_gguf(g)?;
        let tokenizer = Tokenizer::from_gguf(g)?;
        let arch = g.get_str("general.architecture")?.unwrap_or("").to_string();
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
        let model = LlamaGpu::load(&gpu, g, file, ctx, opts.max_batch)?;
        let info = ModelInfo {
            architecture: arch,
            name: g.get_str("general.name")?.unwrap_or("").to_string(),
            n_layers: config.n_layers,
            dim: config.dim,
            vocab_size: config.vocab_size,
            context_length: config.context_length,
            ctx,
            file_bytes: file.len() as u64,
            gpu_bytes: model.gpu_bytes,
            adapter: gpu.info.clone(),
        };
        let chat_template = g.get_str("tokenizer.chat_template")?.map(str::to_string);
        Ok(Engine {
            session: Session::new(gpu, model),
            tokenizer,
            chat_template,
            info,
        })
    }

    /// Model and adapter facts.
    pub fn info(&self) -> &ModelInfo {
        &self.info
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
    /// which may stop generation by returning `Flow::Stop`.
    pub async fn generate(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        mut on_text: impl FnMut(&str) -> Flow,
    ) -> Result<Generation> {
        let mut decoder = StreamDecoder::new();
        let mut stops = StopMatcher::new(&opts.stop);
        let mut text = String::new();
        let mut reason = FinishReason::Length;
        let tokenizer = &self.tokenizer;
        let (tokens, stats) = self
            .session
            .generate(prompt, &opts.sampler, opts.max_tokens, |id| {
                if tokenizer.is_eog(id) {
                    reason = FinishReason::Stop;
                    return Ok(Flow::Stop);
                }
                let piece = decoder.push(tokenizer, id)?;
                let (shown, hit) = stops.push(&piece);
                text.push_str(&shown);
                if !shown.is_empty() && on_text(&shown) == Flow::Stop {
                    reason = FinishReason::Aborted;
                    return Ok(Flow::Stop);
                }
                if hit {
                    reason = FinishReason::Stop;
                    return Ok(Flow::Stop);
                }
                Ok(Flow::Continue)
            })
            .await?;
        if reason == FinishReason::Length {
            let (tail, _) = stops.push(&decoder.finish());
            let tail = tail + &stops.finish();
            if !tail.is_empty() {
                on_text(&tail);
                text.push_str(&tail);
            }
        }
        Ok(Generation {
            prompt_tokens: prompt.to_vec(),
            tokens,
            text,
            finish_reason: reason,
            stats,
        })
    }

    /// Teacher-forced log-probabilities of `tokens`.
    pub async fn score(&mut self, tokens: &[u32]) -> Result<Scores> {
        self.session.score(tokens).await
    }
}
