//! A session on the CPU path: `engine::Session`'s generation loop (the
//! same prefix reuse, stats and sampling) over `CpuLlama`. Each step runs
//! when its id is asked for; nothing runs ahead.

use crate::engine::session::Gen;
use crate::engine::{GenStats, SamplerParams, Scores};
use crate::{Error, Result};

use super::sample::{penalize, sample};
use super::CpuLlama;

/// The GPUs' sampler workgroup, so a seed draws the same ids on both paths.
const SAMPLE_WG: usize = 256;

/// Prompt tokens a `score` pass runs at once (its logits: 64 x vocab f32).
const SCORE_CHUNK: usize = 64;

/// Prompt tokens one `prefill_step` runs (~0.5 s in wasm): between steps
/// the page's event loop turns (`Engine::next_chunk` returns an empty
/// chunk), so a long prompt neither freezes a page nor delays an abort.
const PREFILL_STEP: usize = 32;

/// The CPU model plus what its KV cache holds.
pub struct CpuSession {
    pub model: CpuLlama,
    /// Tokens whose keys and values are in the cache, positions 0..len.
    history: Vec<u32>,
    gen: Option<Gen>,
    /// The logits that pick the generation's next id.
    logits: Vec<f32>,
    /// Prompt tokens still to run, from position `history.len()`.
    pending: Vec<u32>,
}

impl CpuSession {
    pub fn new(model: CpuLlama) -> CpuSession {
        CpuSession {
            model,
            history: Vec::new(),
            gen: None,
            logits: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Tokens currently cached.
    pub fn history(&self) -> &[u32] {
        &self.history
    }

    /// Forgets the cache contents.
    pub fn reset(&mut self) {
        self.gen = None;
        self.history.clear();
        self.pending.clear();
    }

    /// As `engine::Session::start`. The prompt runs in `prefill_step`s
    /// (`next_token` runs what is left), or here when no id is asked for.
    pub fn start(&mut self, prompt: &[u32], sp: &SamplerParams, max_new: usize) -> Result<()> {
        self.cancel()?;
        self.gen = None;
        let c = &self.model.config;
        let (mut gen, keep) = Gen::plan(
            &self.history,
            prompt,
            sp,
            max_new,
            self.model.ctx,
            c.vocab_size,
        )?;
        self.history.truncate(keep);
        self.pending = prompt[keep..].to_vec();
        if max_new == 0 {
            while self.prefill_step()? {}
            gen.done = true;
        }
        self.gen = Some(gen);
        Ok(())
    }

    /// Runs up to `PREFILL_STEP` of the prompt tokens still pending; true
    /// while some remain. The last step leaves the logits of the prompt's
    /// last token.
    pub fn prefill_step(&mut self) -> Result<bool> {
        if self.pending.is_empty() {
            return Ok(false);
        }
        let n = self.pending.len().min(PREFILL_STEP);
        let chunk: Vec<u32> = self.pending.drain(..n).collect();
        match self.model.forward(&chunk, self.history.len(), false) {
            Ok(logits) => self.logits = logits,
            Err(e) => {
                // Only what ran before is in the cache.
                self.pending.clear();
                self.gen = None;
                return Err(e);
            }
        }
        self.history.extend_from_slice(&chunk);
        Ok(!self.pending.is_empty())
    }

    /// True between `start` and the end of the generation.
    pub fn is_generating(&self) -> bool {
        self.gen.as_ref().is_some_and(|g| !g.done)
    }

    /// The next generated id, or `None` once `max_new` ids (or the end of
    /// the context) are reached or no generation runs.
    pub async fn next_token(&mut self) -> Result<Option<u32>> {
        if !self.is_generating() {
            return Ok(None);
        }
        while self.prefill_step()? {}
        let Some(gen) = self.gen.as_mut().filter(|g| !g.done) else {
            return Ok(None);
        };
        let k = gen.out.len();
        if k >= gen.max_new {
            self.end();
            return Ok(None);
        }
        // `history` holds the prompt and ids 0..k-1; id k-1 (or the last
        // prompt token) is at position len + k - 1 and gave `logits`.
        if k > 0 {
            let last = gen.out[k - 1];
            let pos = gen.prompt.len() + k - 1;
            self.logits = self.model.forward(&[last], pos, false)?;
            self.history.push(last);
        }
        let p = gen.sp.step(1, self.history.len() as u32 - 1, k as u32);
        penalize(&mut self.logits, &self.history, &p);
        let id = sample(SAMPLE_WG, &self.logits, &p);
        gen.arrived(id);
        Ok(Some(id))
    }

    /// Ends the running generation early; the cache holds the prompt and
    /// the ids read so far but the last.
    pub fn cancel(&mut self) -> Result<()> {
        self.end();
        Ok(())
    }

    /// Ends the generation and returns its ids and timings.
    pub fn finish(&mut self) -> Result<(Vec<u32>, GenStats)> {
        self.end();
        let gen = self
            .gen
            .take()
            .ok_or_else(|| Error::option("finish", "no generation was started"))?;
        Ok(gen.result())
    }

    fn end(&mut self) {
        if let Some(gen) = self.gen.as_mut().filter(|g| !g.done) {
            gen.done = true;
            // Ended inside the prefill: `history` holds what ran.
            if self.pending.is_empty() {
                self.history = gen.cached();
            }
            self.pending.clear();
        }
    }

    /// Teacher-forced log-probabilities of `tokens` (from position 0).
    pub async fn score(&mut self, tokens: &[u32]) -> Result<Scores> {
        let vocab = self.model.config.vocab_size;
        if tokens.len() > self.model.ctx {
            return Err(Error::ContextOverflow {
                needed: tokens.len(),
                capacity: self.model.ctx,
            });
        }
        self.gen = None;
        self.history.clear();
        self.pending.clear();
        let mut scores = Scores::default();
        for (i, chunk) in tokens.chunks(SCORE_CHUNK).enumerate() {
            let p = i * SCORE_CHUNK;
            let logits = self.model.forward(chunk, p, true)?;
            scores.push_rows(&logits, vocab, tokens, p);
        }
        self.history = tokens.to_vec();
        Ok(scores)
    }
}
