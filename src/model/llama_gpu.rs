//! The llama architecture on the GPU: weights uploaded once (still
//! quantized), activation buffers and KV cache allocated once, and three
//! dispatch lists recorded once at load:
//!
//! - `decode`: one token, fused kernels (5 dispatches per layer + 3):
//!   embed; per layer [norm+QKV matvec+RoPE+KV append, attention,
//!   O matvec+residual, norm+gate/up+SiLU·mul matvec, down matvec+residual];
//!   norm+LM-head matvec; sample. Where the subgroup matvec cannot take
//!   RoPE (`ops::fuses_rope`), a RoPE+KV append dispatch follows the QKV
//!   matvec (6 per layer).
//! - `prefill`: a batch of tokens through every layer with tiled GEMMs.
//! - heads: `last` (norm+LM head of the last token, then sample) or `all`
//!   (logits of every token, for scoring).
//!
//! Per-step values (token count, position, sampler settings) live in one
//! uniform written with one `write_buffer` per step.

use crate::gguf::Gguf;
use crate::gpu::{Gpu, StepParams};
use crate::model::config::LlamaConfig;
use crate::model::loader::{Body, Weights};
use crate::ops::{self, AttnShape, Dispatch, GemmOpts, KvCache, MatvecOpts, RopeOpts, Weight};
use crate::Result;

/// Which activation buffer an op writes: lets a debug dump read it back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    X,
    Xn,
    Qkv,
    Attn,
    Ffh,
    H,
    Logits,
    None,
}

/// A dispatch with the name of the intermediate it produces
/// (`blk.3.attn_out`, as the reference's dump names).
pub struct Op {
    pub name: String,
    pub out: Act,
    pub dispatch: Dispatch,
}

/// Activation buffers, sized for `max_batch` tokens.
struct Acts {
    x: wgpu::Buffer,      // (max_batch, dim) residual stream
    xn: wgpu::Buffer,     // (max_batch, dim) normed input
    qkv: wgpu::Buffer,    // (max_batch, q_dim + 2 kv_dim)
    attn: wgpu::Buffer,   // (max_batch, q_dim)
    ffh: wgpu::Buffer,    // (max_batch, 2 ffn) [gate; up]
    h: wgpu::Buffer,      // (max_batch, ffn)
    logits: wgpu::Buffer, // (max_batch, vocab)
    parts: wgpu::Buffer,  // (n_kv_heads, dim) decode attention's partial O projections (64 KiB)
    // Decode with the FFN in one dispatch (ops::ffn): its partial down
    // vectors, and the residual after attention that it writes (64 KiB each).
    fparts: wgpu::Buffer, // (slices, dim)
    x2: wgpu::Buffer,     // (dim,)
    // The integer row GEMM's x (ops::quant_x): Q8_1 blocks of the widest
    // input, 64 KiB more for the last tile's view; 4 bytes where no GEMM
    // takes them.
    xq: wgpu::Buffer, // (max_batch, max(dim, q_dim, ffn) / 32, 5) vec4s
}

/// GPU weights of one layer.
struct LayerW {
    attn_norm: wgpu::Buffer,
    qkv: Weight, // [q; k; v] rows
    wo: Weight,
    ffn_norm: wgpu::Buffer,
    gate_up: Weight, // [gate; up] rows
    down: Weight,
    kv: KvCache,
}

/// The model on the GPU, ready to run steps.
pub struct LlamaGpu {
    pub config: LlamaConfig,
    /// KV cache capacity in tokens.
    pub ctx: usize,
    /// Largest prefill step.
    pub max_batch: usize,
    step: wgpu::Buffer,
    /// Token history `(ctx + 1,)`: prompt ids are written here, the sampler
    /// writes each next id here, the embedding reads from here.
    pub tokens: wgpu::Buffer,
    acts: Acts,
    pub decode: Vec<Op>,
    pub prefill: Vec<Op>,
    pub head_last: Vec<Op>,
    pub head_all: Vec<Op>,
    /// Bytes of weights, caches and activations allocated at load.
    pub gpu_bytes: u64,
    _weights: (Weight, Option<Weight>, Vec<LayerW>, wgpu::Buffer),
}

impl LlamaGpu {
    /// Uploads the weights of a llama GGUF (`file` is the whole file) and
    /// records the dispatch lists. `ctx` is the KV cache capacity. The file
    /// goes through the streaming loader's path as one chunk.
    pub fn load(
        gpu: &Gpu,
        g: &Gguf,
        file: &[u8],
        ctx: usize,
        max_batch: usize,
    ) -> Result<LlamaGpu> {
        let mut body = Body::new(g)?;
        body.config.check_ctx(ctx)?;
        body.feed(gpu, 0, file)?;
        let config = body.config.clone();
        let weights = body.finish()?;
        Self::assemble(gpu, config, weights, ctx, max_batch)
    }

    /// Allocates activations and KV caches around uploaded `w` and records
    /// the dispatch lists.
    pub(crate) fn assemble(
        gpu: &Gpu,
        c: LlamaConfig,
        w: Weights,
        ctx: usize,
        max_batch: usize,
    ) -> Result<LlamaGpu> {
        c.check_ctx(ctx)?;
        let (dim, qd, kvd, ffn, vocab) = (c.dim, c.q_dim(), c.kv_dim(), c.ffn_dim, c.vocab_size);
        // The logits of a whole batch (scoring) are one binding: keep them
        // within the adapter's binding size (a 262k vocabulary fits 128
        // tokens in 128 MiB).
        let f = 4u64; // bytes of an f32
        let logits_rows = gpu.info.max_storage_binding / (vocab.max(1) as u64 * f);
        let max_batch = max_batch
            .min(usize::try_from(logits_rows).unwrap_or(usize::MAX))
            .clamp(1, ctx);
        let mut bytes = 0u64;
        let mut storage = |label: &str, elems: usize| -> Result<wgpu::Buffer> {
            let b = gpu.storage(label, elems as u64 * f)?;
            bytes += b.size();
            Ok(b)
        };
        // The GEMMs' inputs get 64 KiB more: the row GEMM binds x as a
        // uniform, a 64 KiB view from each tile's first token (ops::gemm);
        // down's (a tile's tokens over ffn > 1024 columns) takes two.
        let view = ops::X_UNIFORM_BYTES as usize / 4;
        let q8_1 = ops::gemm_fuses(gpu)
            && w.layers.iter().any(|l| {
                [&l.qkv, &l.wo, &l.gate_up, &l.down]
                    .iter()
                    .any(|w| ops::gemm_takes_q8_1(gpu, w))
            });
        let xq_elems = if q8_1 {
            let widest = dim.max(qd).max(ffn);
            max_batch * (ops::q8_1_token_bytes(widest) / 4) as usize + view
        } else {
            1
        };
        let acts = Acts {
            x: storage("x", max_batch * dim + view)?,
            xn: storage("xn", max_batch * dim + view)?,
            qkv: storage("qkv", max_batch * (qd + 2 * kvd))?,
            attn: storage("attn", max_batch * qd + view)?,
            ffh: storage("ffh", max_batch * 2 * ffn)?,
            h: storage("h", max_batch * ffn + 2 * view)?,
            logits: storage("logits", max_batch * vocab)?,
            // Read through a 64 KiB uniform view (ops::MatvecOpts::parts).
            parts: storage("parts", ops::X_UNIFORM_BYTES as usize / 4)?,
            fparts: storage("fparts", ops::X_UNIFORM_BYTES as usize / 4)?,
            x2: storage("x2", ops::X_UNIFORM_BYTES as usize / 4)?,
            xq: storage("xq", xq_elems)?,
        };
        let tokens = storage("tokens", ctx + 1)?;
        let shape = AttnShape {
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: c.head_dim,
            ctx,
        };
        let Weights {
            embd,
            output,
            out_norm,
            layers: lw,
        } = w;
        let mut layers = Vec::with_capacity(lw.len());
        for (l, w) in lw.into_iter().enumerate() {
            let kv = KvCache::new(gpu, &format!("blk.{l}"), shape, gpu.info.kv_textures)?;
            bytes += kv.bytes();
            layers.push(LayerW {
                attn_norm: w.attn_norm,
                qkv: w.qkv,
                wo: w.wo,
                ffn_norm: w.ffn_norm,
                gate_up: w.gate_up,
                down: w.down,
                kv,
            });
        }
        for w in layers
            .iter()
            .flat_map(|l| {
                // Down shares [gate; up]'s store where the loader could.
                let down = (!l.down.store.same(&l.gate_up.store)).then_some(&l.down);
                [&l.qkv, &l.wo, &l.gate_up].into_iter().chain(down)
            })
            .chain([&embd])
            .chain(output.as_ref())
        {
            bytes += w.store.bytes();
        }
        let step = gpu.uniform_init("step", bytemuck::bytes_of(&StepParams::default()))?;

        let b = Builder {
            gpu,
            step: &step,
            c: &c,
            shape,
            acts: &acts,
            max_batch,
        };
        let lm_head = output.as_ref().unwrap_or(&embd);
        let decode = b.decode(&embd, lm_head, &out_norm, &layers, &tokens)?;
        let prefill = b.prefill(&embd, &layers, &tokens)?;
        let head_last = vec![
            b.op(
                "result_norm+logits",
                Act::Logits,
                ops::matvec(
                    gpu,
                    &step,
                    lm_head,
                    &acts.x,
                    &acts.logits,
                    MatvecOpts {
                        norm: Some((&out_norm, c.norm_eps)),
                        ..Default::default()
                    },
                )?,
            ),
            b.op(
                "sample",
                Act::None,
                ops::sample(gpu, &step, vocab, &acts.logits, &tokens)?,
            ),
        ];
        let head_all = vec![
            b.op(
                "result_norm",
                Act::Xn,
                ops::rmsnorm(
                    gpu, &step, &acts.x, &acts.xn, &out_norm, dim, c.norm_eps, max_batch,
                )?,
            ),
            b.op(
                "logits",
                Act::Logits,
                ops::gemm(
                    gpu,
                    &step,
                    lm_head,
                    &acts.xn,
                    &acts.logits,
                    ops::GemmOpts::default(),
                    max_batch,
                )?,
            ),
        ];
        gpu.check()?;
        Ok(LlamaGpu {
            config: c,
            ctx,
            max_batch,
            step,
            tokens,
            acts,
            decode,
            prefill,
            head_last,
            head_all,
            gpu_bytes: bytes,
            _weights: (embd, output, layers, out_norm),
        })
    }

    /// Writes the step parameters (one `write_buffer`).
    pub fn set_step(&self, gpu: &Gpu, p: &StepParams) {
        gpu.queue.write_buffer(&self.step, 0, bytemuck::bytes_of(p));
    }

    /// Records `ops` into one compute pass of `enc`.
    pub fn encode(enc: &mut wgpu::CommandEncoder, ops: &[Op], n_tokens: u32) {
        let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        for op in ops {
            op.dispatch.encode(&mut pass, n_tokens);
        }
    }

    /// The buffer behind an activation name.
    pub fn act(&self, a: Act) -> Option<&wgpu::Buffer> {
        let s = &self.acts;
        Some(match a {
            Act::X => &s.x,
            Act::Xn => &s.xn,
            Act::Qkv => &s.qkv,
            Act::Attn => &s.attn,
            Act::Ffh => &s.ffh,
            Act::H => &s.h,
            Act::Logits => &s.logits,
            Act::None => return None,
        })
    }

    /// Logits buffer `(max_batch, vocab)`.
    pub fn logits(&self) -> &wgpu::Buffer {
        &self.acts.logits
    }
}

/// A decode matvec's options adding to y (one token: x may be a uniform).
fn decode_residual<'b>() -> MatvecOpts<'b> {
    MatvecOpts {
        residual: true,
        decode: true,
        ..Default::default()
    }
}

/// Records the dispatch lists.
struct Builder<'a> {
    gpu: &'a Gpu,
    step: &'a wgpu::Buffer,
    c: &'a LlamaConfig,
    shape: AttnShape,
    acts: &'a Acts,
    max_batch: usize,
}

impl<'a> Builder<'a> {
    fn op(&self, name: &str, out: Act, dispatch: Dispatch) -> Op {
        Op {
            name: name.to_string(),
            out,
            dispatch,
        }
    }

    fn rope(&self) -> RopeOpts {
        RopeOpts {
            rope_dim: self.c.rope_dim,
            theta: self.c.rope_theta,
            neox: false,
        }
    }

    fn scale(&self) -> f32 {
        1.0 / (self.c.head_dim as f32).sqrt()
    }

    /// RoPE + KV append, then attention, of layer `l` (decode and prefill
    /// share them; only the largest step differs).
    fn attention_ops(&self, l: usize, w: &LayerW, max_tokens: usize) -> Result<[Op; 2]> {
        Ok([
            self.rope_op(l, w, max_tokens)?,
            self.attention_op(l, w, max_tokens)?,
        ])
    }

    /// RoPE + KV append of layer `l` as a dispatch of its own.
    fn rope_op(&self, l: usize, w: &LayerW, max_tokens: usize) -> Result<Op> {
        let (gpu, step, a) = (self.gpu, self.step, self.acts);
        let rope = ops::rope_kv(
            gpu,
            step,
            self.shape,
            self.rope(),
            &a.qkv,
            &w.kv,
            max_tokens,
        )?;
        Ok(self.op(&format!("blk.{l}.rope_kv"), Act::Qkv, rope))
    }

    /// Attention of layer `l` over the cache (RoPE and KV append done).
    fn attention_op(&self, l: usize, w: &LayerW, max_tokens: usize) -> Result<Op> {
        let a = self.acts;
        let attn = ops::attention(
            self.gpu,
            self.step,
            self.shape,
            self.scale(),
            0,
            &a.qkv,
            &w.kv,
            &a.attn,
            max_tokens,
        )?;
        Ok(self.op(&format!("blk.{l}.kqv_out"), Act::Attn, attn))
    }

    /// A decode matvec's options with the norm by `nw` fused (`decode`:
    /// one token, so x may be bound as a uniform).
    fn decode_norm<'b>(&self, nw: &'b wgpu::Buffer) -> MatvecOpts<'b> {
        MatvecOpts {
            norm: Some((nw, self.c.norm_eps)),
            decode: true,
            ..Default::default()
        }
    }

    /// A decode layer's attention half where `ops::qkv_attention_o` cannot
    /// run: the QKV matvec (with RoPE and the KV append in its epilogue
    /// where it can, else rope_kv), then attention with its O share (the
    /// partial vectors returned, for the FFN to add) or attention and the
    /// O matvec adding to x.
    fn attention_half(
        &self,
        v: &mut Vec<Op>,
        l: usize,
        w: &LayerW,
        rf: ops::RopeFuse,
        fold: Option<(&wgpu::Buffer, u32)>,
        qkv_x: &wgpu::Buffer,
    ) -> Result<Option<(&'a wgpu::Buffer, u32)>> {
        let (gpu, step, a) = (self.gpu, self.step, self.acts);
        let norm = |nw| self.decode_norm(nw);
        let residual = decode_residual();
        // RoPE and the KV append in the QKV matvec's epilogue where
        // that kernel can (one dispatch per layer fewer), else rope_kv.
        if ops::fuses_rope(gpu, &w.qkv, rf.rope) {
            let fused = MatvecOpts {
                rope: Some(rf),
                parts: fold,
                fold: fold.map(|_| &a.x),
                ..norm(&w.attn_norm)
            };
            v.push(self.op(
                &format!("blk.{l}.qkv_rope_kv"),
                Act::Qkv,
                ops::matvec(gpu, step, &w.qkv, qkv_x, &a.qkv, fused)?,
            ));
        } else if fold.is_some() {
            return Err(crate::Error::shape(
                "decode",
                "the fused FFN needs the QKV matvec with RoPE",
            ));
        } else {
            v.push(self.op(
                &format!("blk.{l}.qkv"),
                Act::Qkv,
                ops::matvec(gpu, step, &w.qkv, &a.x, &a.qkv, norm(&w.attn_norm))?,
            ));
            v.push(self.rope_op(l, w, 1)?);
        }
        // Attention with its share of the O projection where it can
        // (one dispatch per layer fewer): the FFN's matvecs then add
        // the partial vectors to the residual.
        let parts = ops::fuses_attention_o(gpu, self.shape, &w.wo)
            .then_some((&a.parts, self.shape.n_kv_heads as u32));
        if parts.is_some() {
            let attn_o = ops::attention_o(
                gpu,
                step,
                self.shape,
                self.scale(),
                0,
                &a.qkv,
                &w.kv,
                &a.attn,
                &w.wo,
                &a.parts,
            )?;
            v.push(self.op(&format!("blk.{l}.kqv_out_o"), Act::Attn, attn_o));
        } else {
            v.push(self.attention_op(l, w, 1)?);
            v.push(self.op(
                &format!("blk.{l}.ffn_inp"),
                Act::X,
                ops::matvec(gpu, step, &w.wo, &a.attn, &a.x, residual)?,
            ));
        }
        Ok(parts)
    }

    fn decode(
        &self,
        embd: &Weight,
        lm_head: &Weight,
        out_norm: &wgpu::Buffer,
        layers: &[LayerW],
        tokens: &wgpu::Buffer,
    ) -> Result<Vec<Op>> {
        let (gpu, step, a, c) = (self.gpu, self.step, self.acts, self.c);
        let mut v = vec![self.op(
            "inp_embd",
            Act::X,
            ops::embed(gpu, step, embd, tokens, &a.x, 1.0, 1)?,
        )];
        // The FFN in one dispatch where every layer can (after attention
        // with its O share): it leaves `slices` partial vectors for the
        // next matvec to add to x, and the residual after attention in x2.
        // So a layer's QKV (but the first) reads x2 plus those and folds
        // them into x, which the FFN reads.
        let ffn_slices = layers
            .iter()
            .map(|w| {
                ops::fuses_attention_o(gpu, self.shape, &w.wo)
                    .then(|| ops::fuses_ffn(gpu, &w.gate_up, &w.down))
                    .flatten()
            })
            .reduce(|a, b| if a == b { a } else { None })
            .flatten();
        for (l, w) in layers.iter().enumerate() {
            // The FFN's partial vectors of the layer before, to fold into x.
            let fold = ffn_slices.filter(|_| l > 0).map(|s| (&a.fparts, s));
            let qkv_x = if fold.is_some() { &a.x2 } else { &a.x };
            let norm = |nw| self.decode_norm(nw);
            let residual = decode_residual();
            // The whole attention half in one dispatch where it can
            // (`ops::qkv_attention_o`: two dispatches a layer fewer).
            let rf = ops::RopeFuse {
                shape: self.shape,
                rope: self.rope(),
                kv: &w.kv,
            };
            let parts =
                if ops::fuses_qkv_attention_o(gpu, self.shape, &w.qkv, &w.wo, rf.rope, &w.kv) {
                    let op = ops::qkv_attention_o(
                        gpu,
                        step,
                        rf,
                        self.scale(),
                        &w.qkv,
                        (&w.attn_norm, c.norm_eps),
                        qkv_x,
                        fold.map(|(fp, n)| (fp, n, &a.x)),
                        &a.attn,
                        &w.wo,
                        &a.parts,
                    )?;
                    v.push(self.op(&format!("blk.{l}.kqv_out_o"), Act::Attn, op));
                    Some((&a.parts, self.shape.n_kv_heads as u32))
                } else {
                    self.attention_half(&mut v, l, w, rf, fold, qkv_x)?
                };
            // Not in the last layer: the LM head would load the partial
            // vectors with x in each of its (vocab / 64) workgroups.
            let last = l + 1 == layers.len();
            if let (Some(_), Some(ap), false) = (ffn_slices, parts, last) {
                v.push(self.op(
                    &format!("blk.{l}.ffn_out"),
                    Act::H,
                    ops::ffn(
                        gpu,
                        step,
                        &w.gate_up,
                        &w.down,
                        (&w.ffn_norm, c.norm_eps),
                        &a.x,
                        ap,
                        &a.h,
                        &a.fparts,
                        &a.x2,
                    )?,
                ));
                continue;
            }
            let swiglu = MatvecOpts {
                swiglu: true,
                parts,
                ..norm(&w.ffn_norm)
            };
            v.push(self.op(
                &format!("blk.{l}.ffn_act"),
                Act::H,
                ops::matvec(gpu, step, &w.gate_up, &a.x, &a.h, swiglu)?,
            ));
            let down = MatvecOpts { parts, ..residual };
            v.push(self.op(
                &format!("blk.{l}.l_out"),
                Act::X,
                ops::matvec(gpu, step, &w.down, &a.h, &a.x, down)?,
            ));
        }
        let head = MatvecOpts {
            norm: Some((out_norm, c.norm_eps)),
            decode: true,
            ..Default::default()
        };
        v.push(self.op(
            "logits",
            Act::Logits,
            ops::matvec(gpu, step, lm_head, &a.x, &a.logits, head)?,
        ));
        v.push(self.op(
            "sample",
            Act::None,
            ops::sample(gpu, step, c.vocab_size, &a.logits, tokens)?,
        ));
        Ok(v)
    }

    fn prefill(&self, embd: &Weight, layers: &[LayerW], tokens: &wgpu::Buffer) -> Result<Vec<Op>> {
        let (gpu, step, a, c, mb) = (self.gpu, self.step, self.acts, self.c, self.max_batch);
        let mut v = vec![self.op(
            "inp_embd",
            Act::X,
            ops::embed(gpu, step, embd, tokens, &a.x, 1.0, mb)?,
        )];
        // RMSNorm and SiLU inside the GEMMs where they fuse (the row GEMM:
        // two dispatches a layer fewer), else ops of their own.
        let fuse = ops::gemm_fuses(gpu);
        let residual = GemmOpts {
            residual: true,
            ..Default::default()
        };
        for (l, w) in layers.iter().enumerate() {
            if fuse {
                // RoPE and the KV append too where they fuse.
                let fuse_rope = ops::gemm_fuses_rope(gpu, self.rope());
                let rope = fuse_rope.then_some(ops::RopeFuse {
                    shape: self.shape,
                    rope: self.rope(),
                    kv: &w.kv,
                });
                let qkv = GemmOpts {
                    norm: Some((&w.attn_norm, c.norm_eps)),
                    rope,
                    ..Default::default()
                };
                let name = if rope.is_some() { "qkv_rope_kv" } else { "qkv" };
                v.extend(self.gemm_ops(
                    &format!("blk.{l}.{name}"),
                    Act::Qkv,
                    &w.qkv,
                    &a.x,
                    &a.qkv,
                    qkv,
                )?);
                if rope.is_some() {
                    v.push(self.attention_op(l, w, mb)?);
                } else {
                    v.extend(self.attention_ops(l, w, mb)?);
                }
            } else {
                v.push(self.op(
                    &format!("blk.{l}.attn_norm"),
                    Act::Xn,
                    ops::rmsnorm(gpu, step, &a.x, &a.xn, &w.attn_norm, c.dim, c.norm_eps, mb)?,
                ));
                v.push(self.op(
                    &format!("blk.{l}.qkv"),
                    Act::Qkv,
                    ops::gemm(gpu, step, &w.qkv, &a.xn, &a.qkv, GemmOpts::default(), mb)?,
                ));
                v.extend(self.attention_ops(l, w, mb)?);
            }
            v.extend(self.gemm_ops(
                &format!("blk.{l}.ffn_inp"),
                Act::X,
                &w.wo,
                &a.attn,
                &a.x,
                residual,
            )?);
            if fuse {
                let swiglu = GemmOpts {
                    norm: Some((&w.ffn_norm, c.norm_eps)),
                    swiglu: true,
                    ..Default::default()
                };
                v.extend(self.gemm_ops(
                    &format!("blk.{l}.ffn_act"),
                    Act::H,
                    &w.gate_up,
                    &a.x,
                    &a.h,
                    swiglu,
                )?);
            } else {
                v.push(self.op(
                    &format!("blk.{l}.ffn_norm"),
                    Act::Xn,
                    ops::rmsnorm(gpu, step, &a.x, &a.xn, &w.ffn_norm, c.dim, c.norm_eps, mb)?,
                ));
                v.push(self.op(
                    &format!("blk.{l}.ffn_gate_up"),
                    Act::Ffh,
                    ops::gemm(
                        gpu,
                        step,
                        &w.gate_up,
                        &a.xn,
                        &a.ffh,
                        GemmOpts::default(),
                        mb,
                    )?,
                ));
                v.push(self.op(
                    &format!("blk.{l}.ffn_act"),
                    Act::H,
                    ops::silu_mul(gpu, step, c.ffn_dim, &a.ffh, &a.h, mb)?,
                ));
            }
            v.extend(self.gemm_ops(
                &format!("blk.{l}.l_out"),
                Act::X,
                &w.down,
                &a.h,
                &a.x,
                residual,
            )?);
        }
        Ok(v)
    }

    /// A prefill GEMM `name` writing `out`: where the row GEMM takes
    /// integer products (`ops::gemm_takes_q8_1`), x rounded to Q8_1 blocks first
    /// (`ops::quant_x`, with the norm the GEMM would fuse), then the GEMM
    /// on those blocks.
    fn gemm_ops(
        &self,
        name: &str,
        out: Act,
        w: &Weight,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        opts: GemmOpts,
    ) -> Result<Vec<Op>> {
        let (gpu, step, a, mb) = (self.gpu, self.step, self.acts, self.max_batch);
        if !(ops::gemm_fuses(gpu) && ops::gemm_takes_q8_1(gpu, w)) {
            return Ok(vec![self.op(
                name,
                out,
                ops::gemm(gpu, step, w, x, y, opts, mb)?,
            )]);
        }
        let round = ops::quant_x(gpu, step, x, &a.xq, opts.norm, w.cols, mb)?;
        let opts = GemmOpts {
            norm: None,
            x_q8_1: true,
            ..opts
        };
        Ok(vec![
            self.op(&format!("{name}.x_q8_1"), Act::None, round),
            self.op(name, out, ops::gemm(gpu, step, w, &a.xq, y, opts, mb)?),
        ])
    }
}
