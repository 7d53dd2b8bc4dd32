//! A session: the model on the GPU, its KV cache contents, and the step loop.
//!
//! Decode keeps one step in flight: step k+1 is encoded and submitted
//! before token k is read back (4 bytes, from a small ring of MAP_READ
//! buffers), so the GPU never waits for the CPU between tokens.

use crate::gpu::{now_ms, Gpu, TokenRing};
use crate::model::llama_gpu::{Act, LlamaGpu, Op};
use crate::{Error, Result};

use super::sampler::SamplerParams;

/// Timings of one generation.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GenStats {
    pub prompt_tokens: usize,
    /// Prompt tokens actually computed (the rest reused the KV cache).
    pub prefilled_tokens: usize,
    pub generated_tokens: usize,
    pub ttft_ms: f64,
    pub prefill_tok_s: f64,
    pub decode_tok_s: f64,
}

/// What `Session::generate`'s callback tells the loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Teacher-forced scores of a token sequence.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Scores {
    /// log p(tokens[i + 1] | tokens[..=i]), one fewer than tokens.
    pub logprobs: Vec<f64>,
    /// argmax of the distribution at each of those positions.
    pub argmax: Vec<u32>,
}

/// The model plus what its KV cache holds.
pub struct Session {
    pub gpu: Gpu,
    pub model: LlamaGpu,
    ring: TokenRing,
    /// Tokens whose keys and values are in the cache, positions 0..len.
    history: Vec<u32>,
    /// The generation started by `start`, until `finish`.
    gen: Option<Gen>,
}

/// State of a stepped generation (shared with `cpu::CpuSession`).
pub(crate) struct Gen {
    pub(crate) prompt: Vec<u32>,
    pub(crate) sp: SamplerParams,
    /// `max_new`, capped by the context.
    pub(crate) max_new: usize,
    /// Ids read back so far.
    pub(crate) out: Vec<u32>,
    stats: GenStats,
    t0: f64,
    t_first: f64,
    t_last: f64,
    /// Ended: `history` is up to date and nothing is in flight.
    pub(crate) done: bool,
}

impl Gen {
    /// Checks a generation of up to `max_new` ids after `prompt` on a
    /// model of `ctx` positions and `vocab` ids, and how much of `history`
    /// (the cached tokens) it reuses: the shared prefix, but never the last
    /// prompt token, whose logits the first sample needs. Returns the
    /// state and that count.
    pub(crate) fn plan(
        history: &[u32],
        prompt: &[u32],
        sp: &SamplerParams,
        max_new: usize,
        ctx: usize,
        vocab: usize,
    ) -> Result<(Gen, usize)> {
        sp.validate()?;
        let len = prompt.len();
        if len == 0 {
            return Err(Error::option("prompt", "empty prompt (no tokens)"));
        }
        if len >= ctx {
            return Err(Error::ContextOverflow {
                needed: len + 1,
                capacity: ctx,
            });
        }
        if let Some(&bad) = prompt.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Tokenizer(format!("token id {bad} out of range")));
        }
        let keep = history
            .iter()
            .zip(prompt)
            .take_while(|(a, b)| a == b)
            .count()
            .min(len - 1);
        let t0 = now_ms();
        let gen = Gen {
            prompt: prompt.to_vec(),
            sp: sp.clone(),
            max_new: max_new.min(ctx - len),
            out: Vec::new(),
            stats: GenStats {
                prompt_tokens: len,
                prefilled_tokens: len - keep,
                ..Default::default()
            },
            t0,
            t_first: t0,
            t_last: t0,
            done: false,
        };
        Ok((gen, keep))
    }

    /// Records id `k` of the generation as arrived now.
    pub(crate) fn arrived(&mut self, id: u32) {
        let t = now_ms();
        if self.out.is_empty() {
            self.t_first = t;
        }
        self.t_last = t;
        self.out.push(id);
    }

    /// What the cache holds once the generation ends: the prompt and every
    /// id but the last (its keys and values may not be written).
    pub(crate) fn cached(&self) -> Vec<u32> {
        let n = self.out.len().saturating_sub(1);
        let mut h = self.prompt.clone();
        h.extend_from_slice(&self.out[..n]);
        h
    }

    /// The ids and timings.
    pub(crate) fn result(self) -> (Vec<u32>, GenStats) {
        let n = self.out.len();
        let mut stats = self.stats;
        stats.generated_tokens = n;
        stats.ttft_ms = self.t_first - self.t0;
        stats.prefill_tok_s = if stats.ttft_ms > 0.0 {
            stats.prefilled_tokens as f64 / (stats.ttft_ms / 1000.0)
        } else {
            0.0
        };
        stats.decode_tok_s = if n > 1 && self.t_last > self.t_first {
            (n - 1) as f64 / ((self.t_last - self.t_first) / 1000.0)
        } else {
            0.0
        };
        (self.out, stats)
    }
}

impl Session {
    /// A session over a loaded model.
    pub fn new(gpu: Gpu, model: LlamaGpu) -> Session {
        let ring = TokenRing::new(&gpu, 4);
        Session {
            gpu,
            model,
            ring,
            history: Vec::new(),
            gen: None,
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
    }

    fn submit(&self, ops: &[&[Op]], n_tokens: u32, copy: Option<(u32, usize)>) {
        let mut enc = self
            .gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        {
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            for list in ops {
                for op in *list {
                    op.dispatch.encode(&mut pass, n_tokens);
                }
            }
        }
        let dispatches = ops.iter().map(|l| l.len() as u64).sum();
        self.gpu.counters.submit(1, dispatches);
        if let Some((index, slot)) = copy {
            self.ring
                .encode_copy(&mut enc, &self.model.tokens, index, slot);
        }
        let submission = self.gpu.queue.submit([enc.finish()]);
        if let Some((_, slot)) = copy {
            self.ring.submitted(slot, submission);
        }
    }

    /// Writes `tokens` at `pos0` and runs them through the layers in chunks;
    /// the last chunk also runs `head` (and copies the sampled id to ring
    /// slot 0 when `sample_slot`). Returns nothing: results stay on the GPU.
    fn prefill(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        sp: &SamplerParams,
        last_head: &[Op],
        copy_sampled: bool,
    ) {
        self.gpu.queue.write_buffer(
            &self.model.tokens,
            pos0 as u64 * 4,
            bytemuck::cast_slice(tokens),
        );
        let mb = self.model.max_batch;
        let n_chunks = tokens.len().div_ceil(mb);
        for (i, chunk) in tokens.chunks(mb).enumerate() {
            let p = pos0 + i * mb;
            self.model
                .set_step(&self.gpu, &sp.step(chunk.len() as u32, p as u32, 0));
            let last = i + 1 == n_chunks;
            let end = (p + chunk.len()) as u32;
            let copy = (last && copy_sampled).then_some((end, 0));
            let head: &[Op] = if last { last_head } else { &[] };
            self.submit(&[&self.model.prefill, head], chunk.len() as u32, copy);
        }
    }

    /// Greedy or sampled generation after `prompt`. Reuses the cached
    /// prefix shared with the previous call. `on_token` sees each id as it
    /// arrives and may stop the loop. Stops by itself after `max_new`
    /// tokens or at the end of the context. A loop over `start` /
    /// `next_token` / `finish`.
    pub async fn generate(
        &mut self,
        prompt: &[u32],
        sp: &SamplerParams,
        max_new: usize,
        mut on_token: impl FnMut(u32) -> Result<Flow>,
    ) -> Result<(Vec<u32>, GenStats)> {
        self.start(prompt, sp, max_new)?;
        while let Some(id) = self.next_token().await? {
            match on_token(id) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => break,
                Err(e) => {
                    // The callback's error wins over a GPU fault here.
                    let _ = self.cancel();
                    return Err(e);
                }
            }
        }
        self.finish()
    }

    /// Starts a generation after `prompt` (prefill submitted, nothing read
    /// yet); `next_token` then yields the ids. A generation still running
    /// is cancelled first.
    pub fn start(&mut self, prompt: &[u32], sp: &SamplerParams, max_new: usize) -> Result<()> {
        self.cancel()?;
        self.gen = None;
        let (mut gen, keep) = Gen::plan(
            &self.history,
            prompt,
            sp,
            max_new,
            self.model.ctx,
            self.model.config.vocab_size,
        )?;
        self.history.truncate(keep);
        if max_new == 0 {
            self.prefill(&prompt[keep..], keep, sp, &[], false);
            self.history = prompt.to_vec();
            gen.done = true;
            self.gen = Some(gen);
            return self.gpu.wait();
        }
        let head = std::mem::take(&mut self.model.head_last);
        self.prefill(&prompt[keep..], keep, sp, &head, true);
        self.model.head_last = head;
        self.gen = Some(gen);
        Ok(())
    }

    /// True between `start` and the end of the generation.
    pub fn is_generating(&self) -> bool {
        self.gen.as_ref().is_some_and(|g| !g.done)
    }

    /// The next generated id, or `None` once `max_new` ids (or the end of
    /// the context) are reached or no generation runs. Keeps one step in
    /// flight: step k + 1 is submitted before id k is read back.
    pub async fn next_token(&mut self) -> Result<Option<u32>> {
        let Some(gen) = self.gen.as_mut().filter(|g| !g.done) else {
            return Ok(None);
        };
        let k = gen.out.len(); // index of the next generated token to read
        if k >= gen.max_new {
            self.end()?;
            return Ok(None);
        }
        // Process token k (at len + k) to get k + 1.
        let pos = gen.prompt.len() + k;
        if k + 1 < gen.max_new {
            self.model
                .set_step(&self.gpu, &gen.sp.step(1, pos as u32, (k + 1) as u32));
            self.submit(
                &[&self.model.decode],
                1,
                Some((pos as u32 + 1, (k + 1) % self.ring.len())),
            );
        }
        let id = match self.ring.read(&self.gpu, k % self.ring.len()).await {
            Ok(id) => id,
            Err(e) => {
                // Only the reused prefix is known to be in the cache.
                self.gen = None;
                return Err(e);
            }
        };
        let Some(gen) = self.gen.as_mut() else {
            return Err(Error::Gpu("generation vanished during readback".into()));
        };
        gen.arrived(id);
        Ok(Some(id))
    }

    /// Ends the running generation early (an abort); the session stays
    /// usable and its cache holds the prompt and the ids read so far.
    pub fn cancel(&mut self) -> Result<()> {
        self.end()
    }

    /// Ends the generation (early if still running) and returns its ids
    /// and timings.
    pub fn finish(&mut self) -> Result<(Vec<u32>, GenStats)> {
        self.end()?;
        let gen = self
            .gen
            .take()
            .ok_or_else(|| Error::option("finish", "no generation was started"))?;
        Ok(gen.result())
    }

    /// Records what the cache holds after a generation and waits for the
    /// step in flight. Idempotent.
    fn end(&mut self) -> Result<()> {
        let Some(gen) = self.gen.as_mut().filter(|g| !g.done) else {
            return Ok(());
        };
        gen.done = true;
        self.history = gen.cached();
        self.gpu.wait()
    }

    /// Teacher-forced log-probabilities of `tokens` (from position 0).
    pub async fn score(&mut self, tokens: &[u32]) -> Result<Scores> {
        let ctx = self.model.ctx;
        if tokens.len() > ctx {
            return Err(Error::ContextOverflow {
                needed: tokens.len(),
                capacity: ctx,
            });
        }
        let vocab = self.model.config.vocab_size;
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::Tokenizer(format!("token id {bad} out of range")));
        }
        self.gen = None;
        self.history.clear();
        let sp = SamplerParams::default();
        let mb = self.model.max_batch;
        let mut scores = Scores::default();
        self.gpu
            .queue
            .write_buffer(&self.model.tokens, 0, bytemuck::cast_slice(tokens));
        for (i, chunk) in tokens.chunks(mb).enumerate() {
            let p = i * mb;
            self.model
                .set_step(&self.gpu, &sp.step(chunk.len() as u32, p as u32, 0));
            self.submit(
                &[&self.model.prefill, &self.model.head_all],
                chunk.len() as u32,
                None,
            );
            let logits = self
                .gpu
                .read_f32(self.model.logits(), 0, (chunk.len() * vocab) as u64)
                .await?;
            scores.push_rows(&logits, vocab, tokens, p);
        }
        self.history = tokens.to_vec();
        Ok(scores)
    }

    /// Runs `tokens` from position 0 one op at a time and returns every
    /// named intermediate (debugging: find the first op that diverges from
    /// the reference). Slow; never used on the token path.
    pub async fn dump(&mut self, tokens: &[u32]) -> Result<Vec<(String, Vec<f32>)>> {
        let n = tokens.len();
        if n == 0 || n > self.model.max_batch {
            return Err(Error::option(
                "tokens",
                format!("1..={} tokens", self.model.max_batch),
            ));
        }
        self.gen = None;
        self.history.clear();
        self.gpu
            .queue
            .write_buffer(&self.model.tokens, 0, bytemuck::cast_slice(tokens));
        self.model
            .set_step(&self.gpu, &SamplerParams::default().step(n as u32, 0, 0));
        let mut out = Vec::new();
        for list in [&self.model.prefill, &self.model.head_all] {
            for op in list.iter() {
                self.submit(&[std::slice::from_ref(op)], n as u32, None);
                if let Some(buf) = self.model.act(op.out) {
                    let elems = self.act_width(op.out) * n;
                    out.push((
                        op.name.clone(),
                        self.gpu.read_f32(buf, 0, elems as u64).await?,
                    ));
                }
            }
        }
        Ok(out)
    }

    fn act_width(&self, a: Act) -> usize {
        let c = &self.model.config;
        match a {
            Act::X | Act::Xn => c.dim,
            Act::Qkv => c.q_dim() + 2 * c.kv_dim(),
            Act::Attn => c.q_dim(),
            Act::Ffh => 2 * c.ffn_dim,
            Act::H => c.ffn_dim,
            Act::Logits => c.vocab_size,
            Act::None => 0,
        }
    }
}

impl Scores {
    /// Appends the scores of `logits` (`[n, vocab]`, tokens `p..p + n` of
    /// `tokens`) for the token after each, while there is one.
    pub(crate) fn push_rows(&mut self, logits: &[f32], vocab: usize, tokens: &[u32], p: usize) {
        for (r, row) in logits.chunks(vocab).enumerate() {
            let Some(&next) = tokens.get(p + r + 1) else {
                break;
            };
            let (lp, am) = logprob_argmax(row, next as usize);
            self.logprobs.push(lp);
            self.argmax.push(am as u32);
        }
    }
}

/// log-softmax of `row` at `target` (f64), and the argmax (first on ties).
fn logprob_argmax(row: &[f32], target: usize) -> (f64, usize) {
    let mut best = 0usize;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    let m = f64::from(row[best]);
    let lse = row
        .iter()
        .map(|&v| (f64::from(v) - m).exp())
        .sum::<f64>()
        .ln()
        + m;
    (
        f64::from(row.get(target).copied().unwrap_or(f32::NEG_INFINITY)) - lse,
        best,
    )
}
