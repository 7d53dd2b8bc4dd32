//! The llama forward pass on the CPU: the graph of `reference::RefLlama`
//! with the weights kept quantized (`QMat`) and the activations each
//! matmul reads quantized to 8 bits, as llama.cpp's CPU path computes it.
//! One thread; the KV cache holds f32 values rounded to f16, as llama.cpp's
//! and the GPU's f16 caches hold them, and grows a page at a time as
//! positions are written (`KvPages`).

use crate::gguf::{Gguf, TensorInfo};
use crate::model::config::{tensor_names, LlamaConfig, OUTPUT, OUTPUT_NORM, TOKEN_EMBD};
use crate::reference::{rmsnorm, rope_norm};
use crate::{Error, Result};

use super::qmat::{QMat, QVec};

struct Layer {
    attn_norm: Vec<f32>, // (dim,)
    wq: QMat,            // (q_dim, dim)
    wk: QMat,            // (kv_dim, dim)
    wv: QMat,            // (kv_dim, dim)
    wo: QMat,            // (dim, q_dim)
    ffn_norm: Vec<f32>,  // (dim,)
    w_gate: QMat,        // (ffn, dim)
    w_up: QMat,          // (ffn, dim)
    w_down: QMat,        // (dim, ffn)
    k_cache: KvPages,    // (positions written, kv_dim)
    v_cache: KvPages,    // (positions written, kv_dim)
}

/// Positions a KV page holds.
const KV_PAGE: usize = 64;

/// One layer's keys (or values), `KV_PAGE` positions a page, pages added
/// as positions are written. Why pages: a cache sized for `ctx` at load
/// was a third of the CPU path's memory (94 MB of SmolLM2's 300 at 2048
/// positions) while a chat uses a few hundred; pages grow without the
/// copies (and, in wasm memory that never shrinks, the leftovers) of a
/// growing `Vec`.
struct KvPages {
    pages: Vec<Vec<f32>>,
    /// Values a position holds (kv_dim).
    row: usize,
}

impl KvPages {
    fn new(row: usize) -> KvPages {
        KvPages {
            pages: Vec::new(),
            row,
        }
    }

    /// Makes room for positions `0..n`; `OutOfMemory` instead of an abort.
    fn reserve(&mut self, n: usize) -> Result<()> {
        while self.pages.len() * KV_PAGE < n {
            self.pages
                .try_reserve(1)
                .map_err(|e| Error::OutOfMemory(format!("KV cache: {e}")))?;
            self.pages.push(zeros(KV_PAGE * self.row, "KV cache page")?);
        }
        Ok(())
    }

    /// Position `j` (reserved).
    fn at(&self, j: usize) -> &[f32] {
        let o = (j % KV_PAGE) * self.row;
        &self.pages[j / KV_PAGE][o..o + self.row]
    }

    fn at_mut(&mut self, j: usize) -> &mut [f32] {
        let o = (j % KV_PAGE) * self.row;
        &mut self.pages[j / KV_PAGE][o..o + self.row]
    }

    fn bytes(&self) -> usize {
        4 * self.pages.len() * KV_PAGE * self.row
    }
}

/// A llama model on the CPU with its KV cache.
pub struct CpuLlama {
    pub config: LlamaConfig,
    pub ctx: usize,
    /// Positions `0..n_past` of the KV cache hold keys and values.
    n_past: usize,
    token_embd: QMat, // (vocab, dim)
    output_norm: Vec<f32>,
    /// Untied LM head; `None`: `token_embd`.
    output: Option<QMat>,
    layers: Vec<Layer>,
    /// Scratch activation rows, one per token of the current batch.
    xq: Vec<QVec>,
}

/// A tensor converted for the CPU path: a matrix, or a vector (norm
/// weights) in f32.
pub enum Part {
    Mat(QMat),
    Vec(Vec<f32>),
}

impl Part {
    /// Converts tensor `t` from its `bytes`: one dimension (ggml's) makes a
    /// vector, more a `QMat` of `dims[1]` rows of `dims[0]` columns.
    pub fn convert(t: &TensorInfo, bytes: &[u8]) -> Result<Part> {
        let size = |d: u64| usize::try_from(d).unwrap_or(usize::MAX);
        if t.dims.len() == 1 {
            let n = size(t.n_elems());
            return Ok(Part::Vec(crate::quant::dequantize(t.ty, bytes, n)?));
        }
        let rows = t.dims[1..]
            .iter()
            .fold(1usize, |a, &d| a.saturating_mul(size(d)));
        Ok(Part::Mat(QMat::from_gguf(
            t.ty,
            bytes,
            rows,
            size(t.dims[0]),
        )?))
    }
}

/// The names `CpuLlama` reads from a model of `config`.
pub fn tensor_list(config: &LlamaConfig) -> Vec<String> {
    let mut names = vec![TOKEN_EMBD.to_string(), OUTPUT_NORM.to_string()];
    if !config.tied_output {
        names.push(OUTPUT.to_string());
    }
    for l in 0..config.n_layers {
        let n = tensor_names(l);
        names.extend([
            n.attn_norm,
            n.attn_q,
            n.attn_k,
            n.attn_v,
            n.attn_output,
            n.ffn_norm,
            n.ffn_gate,
            n.ffn_up,
            n.ffn_down,
        ]);
    }
    names
}

/// `CpuLlama::build`'s tensors by kind.
struct Parts<'a, F>(&'a mut F);

impl<F: FnMut(&str) -> Result<Part>> Parts<'_, F> {
    fn mat(&mut self, name: &str) -> Result<QMat> {
        match (self.0)(name)? {
            Part::Mat(m) => Ok(m),
            Part::Vec(_) => Err(Error::shape(name, "a vector where a matrix belongs")),
        }
    }

    fn vec(&mut self, name: &str) -> Result<Vec<f32>> {
        match (self.0)(name)? {
            Part::Vec(v) => Ok(v),
            Part::Mat(_) => Err(Error::shape(name, "a matrix where a vector belongs")),
        }
    }
}

/// A zeroed f32 buffer, or `OutOfMemory` instead of an abort.
fn zeros(n: usize, what: &str) -> Result<Vec<f32>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| Error::OutOfMemory(format!("{what}: {n} floats: {e}")))?;
    v.resize(n, 0.0);
    Ok(v)
}

impl CpuLlama {
    /// Reads the config, checks every tensor's shape and converts the
    /// weights from the whole file; the KV cache, up to `ctx` positions,
    /// grows as they are written.
    pub fn load(g: &Gguf, file: &[u8], ctx: usize) -> Result<CpuLlama> {
        Self::build(g, ctx, |name| {
            let t = g
                .tensor(name)
                .ok_or_else(|| Error::shape(name, "tensor missing"))?;
            Part::convert(t, g.tensor_data(file, t)?)
        })
    }

    /// As `load`, with each tensor from `part` (converted already: the
    /// streaming load, `super::loader`).
    pub fn build(
        g: &Gguf,
        ctx: usize,
        mut part: impl FnMut(&str) -> Result<Part>,
    ) -> Result<CpuLlama> {
        let config = LlamaConfig::from_gguf(g)?;
        config.check_ctx(ctx)?;
        config.check_tensors(g)?;
        let mut p = Parts(&mut part);
        let mut layers = Vec::with_capacity(config.n_layers);
        for l in 0..config.n_layers {
            let n = tensor_names(l);
            layers.push(Layer {
                attn_norm: p.vec(&n.attn_norm)?,
                wq: p.mat(&n.attn_q)?,
                wk: p.mat(&n.attn_k)?,
                wv: p.mat(&n.attn_v)?,
                wo: p.mat(&n.attn_output)?,
                ffn_norm: p.vec(&n.ffn_norm)?,
                w_gate: p.mat(&n.ffn_gate)?,
                w_up: p.mat(&n.ffn_up)?,
                w_down: p.mat(&n.ffn_down)?,
                k_cache: KvPages::new(config.kv_dim()),
                v_cache: KvPages::new(config.kv_dim()),
            });
        }
        Ok(CpuLlama {
            token_embd: p.mat(TOKEN_EMBD)?,
            output_norm: p.vec(OUTPUT_NORM)?,
            output: if config.tied_output {
                None
            } else {
                Some(p.mat(OUTPUT)?)
            },
            config,
            ctx,
            n_past: 0,
            layers,
            xq: Vec::new(),
        })
    }

    /// Bytes of weights and cache (memory accounting).
    pub fn bytes(&self) -> usize {
        let l: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]
                    .iter()
                    .map(|m| m.bytes())
                    .sum::<usize>()
                    + l.k_cache.bytes()
                    + l.v_cache.bytes()
            })
            .sum();
        l + self.token_embd.bytes() + self.output.as_ref().map_or(0, QMat::bytes)
    }

    /// Runs `tokens` at positions `pos0..` (the cache must hold `0..pos0`:
    /// `pos0` may rewind but not skip ahead) and returns the logits of the last token (`all`: of every token,
    /// `[n, vocab]`).
    pub fn forward(&mut self, tokens: &[u32], pos0: usize, all: bool) -> Result<Vec<f32>> {
        let n = tokens.len();
        if n == 0 {
            return Err(Error::option("tokens", "empty (no tokens to run)"));
        }
        crate::reference::llama::check_span(pos0, n, self.n_past, self.ctx)?;
        // Room for the new positions before anything changes: running out
        // of memory leaves the cache as it was.
        for w in self.layers.iter_mut() {
            w.k_cache.reserve(pos0 + n)?;
            w.v_cache.reserve(pos0 + n)?;
        }
        let c = self.config.clone();
        let (dim, q_dim, kv_dim, hd) = (c.dim, c.q_dim(), c.kv_dim(), c.head_dim);
        let mut x = vec![0.0f32; n * dim];
        for (row, &tok) in x.chunks_exact_mut(dim).zip(tokens) {
            if tok as usize >= c.vocab_size {
                return Err(Error::Tokenizer(format!("token id {tok} out of range")));
            }
            self.token_embd.row_f32(tok as usize, row);
        }
        let f16 = |v: f32| half::f16::from_f32(v).to_f32();
        let xq = &mut self.xq;
        for w in self.layers.iter_mut() {
            let h = rmsnorm(&x, &w.attn_norm, c.norm_eps);
            let mut q = matmul(xq, &w.wq, &h, n);
            let mut k = matmul(xq, &w.wk, &h, n);
            let v = matmul(xq, &w.wv, &h, n);
            for t in 0..n {
                let pos = pos0 + t;
                rope_norm(
                    &mut q[t * q_dim..(t + 1) * q_dim],
                    c.n_heads,
                    hd,
                    c.rope_dim,
                    pos,
                    c.rope_theta,
                );
                rope_norm(
                    &mut k[t * kv_dim..(t + 1) * kv_dim],
                    c.n_kv_heads,
                    hd,
                    c.rope_dim,
                    pos,
                    c.rope_theta,
                );
                for (d, s) in w.k_cache.at_mut(pos).iter_mut().zip(&k[t * kv_dim..]) {
                    *d = f16(*s);
                }
                for (d, s) in w.v_cache.at_mut(pos).iter_mut().zip(&v[t * kv_dim..]) {
                    *d = f16(*s);
                }
            }
            let att = attention(&q, w, &c, n, pos0);
            let o = matmul(xq, &w.wo, &att, n);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            let h = rmsnorm(&x, &w.ffn_norm, c.norm_eps);
            let gate = matmul(xq, &w.w_gate, &h, n);
            let up = matmul(xq, &w.w_up, &h, n);
            let act: Vec<f32> = gate
                .iter()
                .zip(&up)
                .map(|(&g, &u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let down = matmul(xq, &w.w_down, &act, n);
            for (a, b) in x.iter_mut().zip(&down) {
                *a += b;
            }
        }
        self.n_past = pos0 + n;
        let rows = if all { &x[..] } else { &x[(n - 1) * dim..] };
        let h = rmsnorm(rows, &self.output_norm, c.norm_eps);
        let head = self.output.as_ref().unwrap_or(&self.token_embd);
        let logits = matmul(&mut self.xq, head, &h, h.len() / dim);
        Ok(logits)
    }
}

/// y `[n, w.rows]` = x `[n, w.cols]` · wᵀ, x quantized into `xq` first.
fn matmul(xq: &mut Vec<QVec>, w: &QMat, x: &[f32], n: usize) -> Vec<f32> {
    xq.resize_with(n, QVec::default);
    for (q, row) in xq.iter_mut().zip(x.chunks_exact(w.cols)) {
        q.quantize(row);
    }
    let mut y = vec![0.0; n * w.rows];
    w.matmul(x, &xq[..n], &mut y);
    y
}

/// Causal attention of `n` tokens at `pos0..` over the layer's cache:
/// `[n, q_dim]`. Scores in f32, scaled by 1 / sqrt(head_dim).
fn attention(q: &[f32], w: &Layer, c: &LlamaConfig, n: usize, pos0: usize) -> Vec<f32> {
    let (hd, q_dim) = (c.head_dim, c.q_dim());
    let group = c.n_heads / c.n_kv_heads.max(1);
    let scale = 1.0 / (hd as f32).sqrt();
    let mut out = vec![0.0f32; n * q_dim];
    let mut scores = Vec::with_capacity(pos0 + n);
    for t in 0..n {
        let n_keys = pos0 + t + 1;
        for h in 0..c.n_heads {
            let kv = (h / group) * hd;
            let qh = &q[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
            scores.clear();
            let mut max = f32::NEG_INFINITY;
            for j in 0..n_keys {
                let k = &w.k_cache.at(j)[kv..kv + hd];
                let s = super::dot::f32_row(qh, k) * scale;
                max = max.max(s);
                scores.push(s);
            }
            let mut sum = 0.0f32;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let o = &mut out[t * q_dim + h * hd..t * q_dim + (h + 1) * hd];
            for (j, &p) in scores.iter().enumerate() {
                let v = &w.v_cache.at(j)[kv..kv + hd];
                let p = p / sum;
                for (a, &b) in o.iter_mut().zip(v) {
                    *a += p * b;
                }
            }
        }
    }
    out
}
