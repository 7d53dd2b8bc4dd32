//! The scalar f32 llama forward pass (llama.cpp's `LLM_ARCH_LLAMA` graph),
//! with every weight dequantized to f32 up front.
//!
//! Per layer, for activations `x: [n_tokens, dim]`:
//! ```text
//! h    = rmsnorm(x) * attn_norm
//! q,k,v = h·Wqᵀ, h·Wkᵀ, h·Wvᵀ;  rope_norm(q, k) at positions pos0..
//! x   += attention(q, K, V)·Woᵀ
//! h    = rmsnorm(x) * ffn_norm
//! x   += (silu(h·Wgᵀ) * (h·Wuᵀ))·Wdᵀ
//! ```
//! then `logits = (rmsnorm(x) * output_norm)·W_outᵀ` (`W_out` = `token_embd`
//! when tied).

use super::ops::{add, attention, matmul, rmsnorm, rope_norm, silu_mul, AttnDims};
use crate::gguf::{GgmlType, Gguf};
use crate::model::config::{tensor_names, LlamaConfig, OUTPUT, OUTPUT_NORM, TOKEN_EMBD};
use crate::{Error, Result};

/// One block's weights, f32, row-major `[rows, cols]` (ggml dims reversed).
struct Layer {
    attn_norm: Vec<f32>, // [dim]
    wq: Vec<f32>,        // [q_dim, dim]
    wk: Vec<f32>,        // [kv_dim, dim]
    wv: Vec<f32>,        // [kv_dim, dim]
    wo: Vec<f32>,        // [dim, q_dim]
    ffn_norm: Vec<f32>,  // [dim]
    w_gate: Vec<f32>,    // [ffn, dim]
    w_up: Vec<f32>,      // [ffn, dim]
    w_down: Vec<f32>,    // [dim, ffn]
    k_cache: Vec<f32>,   // [n_kv_heads, ctx, head_dim], f16 values
    v_cache: Vec<f32>,   // [n_kv_heads, ctx, head_dim], f16 values
}

/// A dequantizer with the signature of `crate::quant::dequantize`.
pub(crate) type DequantFn<'a> = &'a dyn Fn(GgmlType, &[u8], usize) -> Result<Vec<f32>>;

/// The reference llama model: f32 weights plus its own KV cache.
pub struct RefLlama {
    config: LlamaConfig,
    ctx: usize,
    /// Positions `0..n_past` of the KV cache hold valid keys/values.
    n_past: usize,
    token_embd: Vec<f32>,  // [vocab, dim]
    output_norm: Vec<f32>, // [dim]
    /// Untied LM head `[vocab, dim]`; `None` means use `token_embd`.
    output: Option<Vec<f32>>,
    layers: Vec<Layer>,
}

/// Dequantizes tensor `name` to exactly its element count of f32.
fn load_tensor(g: &Gguf, file: &[u8], name: &str, dequant: DequantFn) -> Result<Vec<f32>> {
    let t = g
        .tensor(name)
        .ok_or_else(|| Error::shape(name, "tensor missing"))?;
    let n = usize::try_from(t.n_elems())
        .map_err(|_| Error::bad_gguf(name, "element count exceeds address space"))?;
    let data = g.tensor_data(file, t)?;
    let v = dequant(t.ty, data, n)?;
    if v.len() != n {
        return Err(Error::shape(
            name,
            format!("dequantized {} elements, expected {n}", v.len()),
        ));
    }
    Ok(v)
}

impl RefLlama {
    /// Reads the config, checks every tensor's shape, dequantizes all
    /// weights with `crate::quant::dequantize` and allocates a KV cache of
    /// `ctx` positions (1 ..= the model's context length).
    pub fn load(g: &Gguf, file: &[u8], ctx: usize) -> Result<RefLlama> {
        Self::load_with(g, file, ctx, &crate::quant::dequantize)
    }

    /// [`RefLlama::load`] with an explicit dequantizer.
    pub(crate) fn load_with(
        g: &Gguf,
        file: &[u8],
        ctx: usize,
        dequant: DequantFn,
    ) -> Result<RefLlama> {
        let config = LlamaConfig::from_gguf(g)?;
        config.check_ctx(ctx)?;
        config.check_tensors(g)?;
        let load = |name: &str| load_tensor(g, file, name, dequant);
        // Checked: on wasm32 a hostile head count times ctx could wrap.
        let cache_len = config
            .n_kv_heads
            .checked_mul(ctx)
            .and_then(|n| n.checked_mul(config.head_dim))
            .ok_or_else(|| Error::option("ctx", format!("{ctx}: KV cache too large")))?;
        let mut layers = Vec::with_capacity(config.n_layers);
        for l in 0..config.n_layers {
            let n = tensor_names(l);
            layers.push(Layer {
                attn_norm: load(&n.attn_norm)?,
                wq: load(&n.attn_q)?,
                wk: load(&n.attn_k)?,
                wv: load(&n.attn_v)?,
                wo: load(&n.attn_output)?,
                ffn_norm: load(&n.ffn_norm)?,
                w_gate: load(&n.ffn_gate)?,
                w_up: load(&n.ffn_up)?,
                w_down: load(&n.ffn_down)?,
                k_cache: vec![0.0; cache_len],
                v_cache: vec![0.0; cache_len],
            });
        }
        Ok(RefLlama {
            token_embd: load(TOKEN_EMBD)?,
            output_norm: load(OUTPUT_NORM)?,
            output: if config.tied_output {
                None
            } else {
                Some(load(OUTPUT)?)
            },
            config,
            ctx,
            n_past: 0,
            layers,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// KV cache capacity in positions.
    pub fn ctx(&self) -> usize {
        self.ctx
    }

    /// Number of positions currently held in the KV cache.
    pub fn n_past(&self) -> usize {
        self.n_past
    }

    /// Forgets the KV cache (the next forward must start at position 0).
    pub fn reset(&mut self) {
        self.n_past = 0;
    }

    /// Runs `tokens` at positions `pos0..pos0 + tokens.len()` and returns
    /// logits `[n_tokens, vocab]`. `pos0` may rewind (`<= n_past`) but not
    /// skip ahead; afterwards the cache holds `pos0 + tokens.len()` positions.
    pub fn forward(&mut self, tokens: &[u32], pos0: usize) -> Result<Vec<f32>> {
        self.forward_with_dump(tokens, pos0, &mut |_, _| {})
    }

    /// [`RefLlama::forward`], calling `dump(name, values)` after each op so
    /// a diverging GPU pass can be traced to its first wrong op. Names, with
    /// `N` the layer (all `[n_tokens, width]` row-major):
    /// `inp_embd`; `blk.N.attn_norm` (after the norm weight), `blk.N.q`,
    /// `blk.N.k` (after RoPE), `blk.N.v`, `blk.N.kqv_out` (attention, before
    /// Wo), `blk.N.attn_out` (after Wo), `blk.N.ffn_inp` (residual sum),
    /// `blk.N.ffn_norm`, `blk.N.ffn_out` (after the down projection),
    /// `blk.N.l_out` (residual sum); `result_norm`; `logits`.
    pub fn forward_with_dump(
        &mut self,
        tokens: &[u32],
        pos0: usize,
        dump: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let n = tokens.len();
        check_span(pos0, n, self.n_past, self.ctx)?;
        let (dim, q_dim, kv_dim, hd) = (c.dim, c.q_dim(), c.kv_dim(), c.head_dim);

        let mut x = Vec::with_capacity(n * dim);
        for &tok in tokens {
            let id = tok as usize;
            if id >= c.vocab_size {
                return Err(Error::Tokenizer(format!(
                    "token id {tok} >= vocab {}",
                    c.vocab_size
                )));
            }
            x.extend_from_slice(&self.token_embd[id * dim..(id + 1) * dim]);
        }
        dump("inp_embd", &x);

        let dims = AttnDims {
            n_heads: c.n_heads,
            n_kv_heads: c.n_kv_heads,
            head_dim: hd,
            ctx: self.ctx,
        };
        for (l, w) in self.layers.iter_mut().enumerate() {
            let name = |op: &str| format!("blk.{l}.{op}");
            let h = rmsnorm(&x, &w.attn_norm, c.norm_eps);
            dump(&name("attn_norm"), &h);
            let mut q = matmul(&h, n, &w.wq, q_dim, dim);
            let mut k = matmul(&h, n, &w.wk, kv_dim, dim);
            let v = matmul(&h, n, &w.wv, kv_dim, dim);
            for t in 0..n {
                let pos = pos0 + t;
                let qt = &mut q[t * q_dim..(t + 1) * q_dim];
                rope_norm(qt, c.n_heads, hd, c.rope_dim, pos, c.rope_theta);
                let kt = &mut k[t * kv_dim..(t + 1) * kv_dim];
                rope_norm(kt, c.n_kv_heads, hd, c.rope_dim, pos, c.rope_theta);
            }
            dump(&name("q"), &q);
            dump(&name("k"), &k);
            dump(&name("v"), &v);
            // Token t's kv head g goes to cache[g][pos0 + t][..], rounded
            // to f16 as llama.cpp's cache (and the GPU's) keeps it.
            let f16 = |x: &f32| half::f16::from_f32(*x).to_f32();
            for t in 0..n {
                for g in 0..c.n_kv_heads {
                    let src = t * kv_dim + g * hd;
                    let dst = (g * self.ctx + pos0 + t) * hd;
                    let (kd, vd) = (&mut w.k_cache[dst..dst + hd], &mut w.v_cache[dst..dst + hd]);
                    for (d, s) in kd.iter_mut().zip(&k[src..src + hd]) {
                        *d = f16(s);
                    }
                    for (d, s) in vd.iter_mut().zip(&v[src..src + hd]) {
                        *d = f16(s);
                    }
                }
            }
            let att = attention(&q, &w.k_cache, &w.v_cache, &dims, n, pos0)?;
            dump(&name("kqv_out"), &att);
            let o = matmul(&att, n, &w.wo, dim, q_dim);
            dump(&name("attn_out"), &o);
            x = add(&x, &o);
            dump(&name("ffn_inp"), &x);

            let h = rmsnorm(&x, &w.ffn_norm, c.norm_eps);
            dump(&name("ffn_norm"), &h);
            let gate = matmul(&h, n, &w.w_gate, c.ffn_dim, dim);
            let up = matmul(&h, n, &w.w_up, c.ffn_dim, dim);
            let act = silu_mul(&gate, &up);
            let down = matmul(&act, n, &w.w_down, dim, c.ffn_dim);
            dump(&name("ffn_out"), &down);
            x = add(&x, &down);
            dump(&name("l_out"), &x);
        }
        self.n_past = pos0 + n;

        let h = rmsnorm(&x, &self.output_norm, c.norm_eps);
        dump("result_norm", &h);
        let head = self.output.as_deref().unwrap_or(&self.token_embd);
        let logits = matmul(&h, n, head, c.vocab_size, dim);
        dump("logits", &logits);
        Ok(logits)
    }
}

/// Checks that `n` tokens at `pos0..` fit a cache of `ctx` positions whose
/// first `n_past` are filled: a forward may rewind, not skip ahead or run
/// past the end (`RefLlama` and `cpu::CpuLlama`).
pub(crate) fn check_span(pos0: usize, n: usize, n_past: usize, ctx: usize) -> Result<()> {
    if pos0 > n_past {
        return Err(Error::option(
            "pos0",
            format!("{pos0} skips past the {n_past} cached positions"),
        ));
    }
    if pos0 + n > ctx {
        return Err(Error::ContextOverflow {
            needed: pos0 + n,
            capacity: ctx,
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "llama_tests.rs"]
mod tests;
