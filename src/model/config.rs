//! Llama hyper-parameters read from GGUF metadata, and the tensor names and
//! shapes a llama-architecture file must provide.

use crate::gguf::{Array, Gguf};
use crate::{Error, Result};

/// Upper bounds that reject absurd (hostile or corrupt) metadata before any
/// allocation is sized from it. Real models sit far below each.
const MAX_DIM: usize = 65_536;
const MAX_LAYERS: usize = 1024;
const MAX_HEADS: usize = 1024;
const MAX_FFN: usize = 1 << 20;
const MAX_VOCAB: usize = 1 << 22;
const MAX_CONTEXT: usize = 1 << 24;

/// Hyper-parameters of a llama-architecture model (llama.cpp `LLM_ARCH_LLAMA`).
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// `{arch}.block_count`.
    pub n_layers: usize,
    /// Residual stream width, `{arch}.embedding_length`.
    pub dim: usize,
    /// Query heads, `{arch}.attention.head_count`.
    pub n_heads: usize,
    /// Key/value heads (GQA), `{arch}.attention.head_count_kv`.
    pub n_kv_heads: usize,
    /// `dim / n_heads`.
    pub head_dim: usize,
    /// `{arch}.feed_forward_length`.
    pub ffn_dim: usize,
    /// `{arch}.vocab_size`, else the length of `tokenizer.ggml.tokens`.
    pub vocab_size: usize,
    /// Training context, `{arch}.context_length`.
    pub context_length: usize,
    /// `{arch}.rope.freq_base`, default 10000.
    pub rope_theta: f32,
    /// Leading dims of each head that are rotated, `{arch}.rope.dimension_count`.
    pub rope_dim: usize,
    /// `{arch}.attention.layer_norm_rms_epsilon`.
    pub norm_eps: f32,
    /// True when there is no `output.weight`: the LM head reuses `token_embd`.
    pub tied_output: bool,
}

/// Names of the tensors of block `layer` (llama.cpp naming).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTensorNames {
    pub attn_norm: String,
    pub attn_q: String,
    pub attn_k: String,
    pub attn_v: String,
    pub attn_output: String,
    pub ffn_norm: String,
    pub ffn_gate: String,
    pub ffn_up: String,
    pub ffn_down: String,
}

/// Token embedding table, `[dim, vocab]` in ggml order.
pub const TOKEN_EMBD: &str = "token_embd.weight";
/// Final RMSNorm weight, `[dim]`.
pub const OUTPUT_NORM: &str = "output_norm.weight";
/// Untied LM head, `[dim, vocab]`; absent when tied to `token_embd`.
pub const OUTPUT: &str = "output.weight";

/// The tensor names of block `layer`.
pub fn tensor_names(layer: usize) -> LayerTensorNames {
    let n = |s: &str| format!("blk.{layer}.{s}.weight");
    LayerTensorNames {
        attn_norm: n("attn_norm"),
        attn_q: n("attn_q"),
        attn_k: n("attn_k"),
        attn_v: n("attn_v"),
        attn_output: n("attn_output"),
        ffn_norm: n("ffn_norm"),
        ffn_gate: n("ffn_gate"),
        ffn_up: n("ffn_up"),
        ffn_down: n("ffn_down"),
    }
}

/// A required positive integer key, capped at `max`.
fn req_usize(g: &Gguf, key: &str, max: usize) -> Result<usize> {
    let v = g
        .get_u64(key)?
        .ok_or_else(|| Error::bad_gguf(key, "missing"))?;
    check_range(key, v, max)
}

/// An optional positive integer key, capped at `max`.
fn opt_usize(g: &Gguf, key: &str, max: usize) -> Result<Option<usize>> {
    g.get_u64(key)?
        .map(|v| check_range(key, v, max))
        .transpose()
}

fn check_range(key: &str, v: u64, max: usize) -> Result<usize> {
    if v == 0 {
        return Err(Error::bad_gguf(key, "must be > 0"));
    }
    match usize::try_from(v) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(Error::bad_gguf(key, format!("{v} exceeds the cap {max}"))),
    }
}

/// A positive finite float.
fn check_pos_f32(key: &str, v: f32) -> Result<f32> {
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(Error::bad_gguf(
            key,
            format!("must be finite and > 0, got {v}"),
        ))
    }
}

impl LlamaConfig {
    /// Reads and validates the hyper-parameters of a llama GGUF.
    pub fn from_gguf(g: &Gguf) -> Result<LlamaConfig> {
        let arch = g
            .get_str("general.architecture")?
            .ok_or_else(|| Error::bad_gguf("general.architecture", "missing"))?;
        if arch != "llama" {
            return Err(Error::Unsupported(format!(
                "architecture `{arch}` (only `llama` is supported)"
            )));
        }
        let k = |s: &str| format!("{arch}.{s}");

        let n_layers = req_usize(g, &k("block_count"), MAX_LAYERS)?;
        let dim = req_usize(g, &k("embedding_length"), MAX_DIM)?;
        let ffn_dim = req_usize(g, &k("feed_forward_length"), MAX_FFN)?;
        let n_heads = req_usize(g, &k("attention.head_count"), MAX_HEADS)?;
        let n_kv_heads = opt_usize(g, &k("attention.head_count_kv"), MAX_HEADS)?.unwrap_or(n_heads);
        let context_length = req_usize(g, &k("context_length"), MAX_CONTEXT)?;

        if dim % n_heads != 0 {
            return Err(Error::bad_gguf(
                k("attention.head_count"),
                format!("{n_heads} does not divide embedding_length {dim}"),
            ));
        }
        if n_heads % n_kv_heads != 0 {
            return Err(Error::bad_gguf(
                k("attention.head_count_kv"),
                format!("{n_kv_heads} does not divide head_count {n_heads}"),
            ));
        }
        let head_dim = dim / n_heads;
        if head_dim % 2 != 0 {
            return Err(Error::bad_gguf(
                k("attention.head_count"),
                format!("head dim {head_dim} is odd"),
            ));
        }
        // Some llama-family files set explicit key/value lengths; we only
        // run the plain `dim / n_heads` layout, so refuse anything else.
        for key in [k("attention.key_length"), k("attention.value_length")] {
            if let Some(n) = g.get_u64(&key)? {
                if n != head_dim as u64 {
                    return Err(Error::Unsupported(format!(
                        "{key} = {n} differs from embedding_length / head_count = {head_dim}"
                    )));
                }
            }
        }

        let rope_key = k("rope.dimension_count");
        let rope_dim = opt_usize(g, &rope_key, MAX_DIM)?.unwrap_or(head_dim);
        if rope_dim > head_dim || rope_dim % 2 != 0 {
            return Err(Error::bad_gguf(
                rope_key,
                format!("{rope_dim} must be even and <= head dim {head_dim}"),
            ));
        }
        let theta_key = k("rope.freq_base");
        let rope_theta = check_pos_f32(&theta_key, g.get_f32(&theta_key)?.unwrap_or(10_000.0))?;
        let eps_key = k("attention.layer_norm_rms_epsilon");
        let norm_eps = g
            .get_f32(&eps_key)?
            .ok_or_else(|| Error::bad_gguf(&eps_key, "missing"))?;
        let norm_eps = check_pos_f32(&eps_key, norm_eps)?;

        let vocab_size = match opt_usize(g, &k("vocab_size"), MAX_VOCAB)? {
            Some(v) => v,
            None => {
                let key = "tokenizer.ggml.tokens";
                match g.get_array(key)? {
                    Some(Array::String(toks)) => check_range(key, toks.len() as u64, MAX_VOCAB)?,
                    Some(_) => return Err(Error::bad_gguf(key, "expected a string array")),
                    None => {
                        return Err(Error::bad_gguf(
                            k("vocab_size"),
                            "missing, and no tokenizer.ggml.tokens to count",
                        ))
                    }
                }
            }
        };

        Ok(LlamaConfig {
            n_layers,
            dim,
            n_heads,
            n_kv_heads,
            head_dim,
            ffn_dim,
            vocab_size,
            context_length,
            rope_theta,
            rope_dim,
            norm_eps,
            tied_output: g.tensor(OUTPUT).is_none(),
        })
    }

    /// Width of the query projection, `n_heads * head_dim`.
    pub fn q_dim(&self) -> usize {
        self.n_heads * self.head_dim
    }

    /// Width of the key and value projections, `n_kv_heads * head_dim`.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }

    /// Every tensor the model needs with its dims in ggml order
    /// (`[cols, rows]`), global tensors first. `output.weight` is listed
    /// only when the output is untied.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<u64>)> {
        let (d, q, kv, f, v) = (
            self.dim as u64,
            self.q_dim() as u64,
            self.kv_dim() as u64,
            self.ffn_dim as u64,
            self.vocab_size as u64,
        );
        let mut out = vec![
            (TOKEN_EMBD.to_string(), vec![d, v]),
            (OUTPUT_NORM.to_string(), vec![d]),
        ];
        if !self.tied_output {
            out.push((OUTPUT.to_string(), vec![d, v]));
        }
        for l in 0..self.n_layers {
            let n = tensor_names(l);
            out.extend([
                (n.attn_norm, vec![d]),
                (n.attn_q, vec![d, q]),
                (n.attn_k, vec![d, kv]),
                (n.attn_v, vec![d, kv]),
                (n.attn_output, vec![q, d]),
                (n.ffn_norm, vec![d]),
                (n.ffn_gate, vec![d, f]),
                (n.ffn_up, vec![d, f]),
                (n.ffn_down, vec![f, d]),
            ]);
        }
        out
    }

    /// Checks a KV cache capacity against the trained context.
    pub fn check_ctx(&self, ctx: usize) -> Result<()> {
        if ctx == 0 || ctx > self.context_length {
            return Err(Error::option(
                "ctx",
                format!("{ctx} must be in 1..={}", self.context_length),
            ));
        }
        Ok(())
    }

    /// Checks that every expected tensor exists with the expected dims;
    /// the error names the first tensor that is missing or misshapen.
    pub fn check_tensors(&self, g: &Gguf) -> Result<()> {
        for (name, dims) in self.expected_tensors() {
            let t = g
                .tensor(&name)
                .ok_or_else(|| Error::shape(&name, "tensor missing"))?;
            if t.dims != dims {
                return Err(Error::shape(
                    &name,
                    format!("dims {:?}, expected {:?} (ggml order)", t.dims, dims),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::gguf::{GgmlType, TensorInfo, Value};

    fn meta() -> Vec<(String, Value)> {
        vec![
            ("general.architecture".into(), Value::String("llama".into())),
            ("llama.block_count".into(), Value::U32(2)),
            ("llama.embedding_length".into(), Value::U32(8)),
            ("llama.feed_forward_length".into(), Value::U32(12)),
            ("llama.attention.head_count".into(), Value::U32(4)),
            ("llama.attention.head_count_kv".into(), Value::U32(2)),
            ("llama.context_length".into(), Value::U64(64)),
            (
                "llama.attention.layer_norm_rms_epsilon".into(),
                Value::F32(1e-5),
            ),
            (
                "tokenizer.ggml.tokens".into(),
                Value::Array(Array::String(vec!["a".into(); 10])),
            ),
        ]
    }

    fn gguf(metadata: Vec<(String, Value)>, tensors: Vec<TensorInfo>) -> Gguf {
        Gguf {
            version: 3,
            metadata,
            tensors,
            alignment: 32,
            data_offset: 0,
            file_len: 0,
        }
    }

    fn set(m: &mut Vec<(String, Value)>, key: &str, v: Value) {
        m.retain(|(k, _)| k != key);
        m.push((key.into(), v));
    }

    fn tensors_for(c: &LlamaConfig) -> Vec<TensorInfo> {
        c.expected_tensors()
            .into_iter()
            .map(|(name, dims)| TensorInfo {
                name,
                dims,
                ty: GgmlType::F32,
                offset: 0,
                size: 0,
            })
            .collect()
    }

    #[test]
    fn reads_keys_and_defaults() {
        let c = LlamaConfig::from_gguf(&gguf(meta(), vec![])).unwrap();
        assert_eq!(
            c,
            LlamaConfig {
                n_layers: 2,
                dim: 8,
                n_heads: 4,
                n_kv_heads: 2,
                head_dim: 2,
                ffn_dim: 12,
                vocab_size: 10,
                context_length: 64,
                rope_theta: 10_000.0,
                rope_dim: 2,
                norm_eps: 1e-5,
                tied_output: true,
            }
        );
        let mut m = meta();
        m.retain(|(k, _)| k != "llama.attention.head_count_kv");
        set(&mut m, "llama.vocab_size", Value::U32(7));
        set(&mut m, "llama.rope.freq_base", Value::F32(1e6));
        let out = TensorInfo {
            name: OUTPUT.into(),
            dims: vec![8, 7],
            ty: GgmlType::F32,
            offset: 0,
            size: 0,
        };
        let c = LlamaConfig::from_gguf(&gguf(m, vec![out])).unwrap();
        assert_eq!((c.n_kv_heads, c.vocab_size), (4, 7));
        assert_eq!(c.rope_theta, 1e6);
        assert!(!c.tied_output);
    }

    #[test]
    fn rejects_bad_metadata() {
        let err = |m: Vec<(String, Value)>| LlamaConfig::from_gguf(&gguf(m, vec![])).unwrap_err();

        let mut m = meta();
        set(
            &mut m,
            "general.architecture",
            Value::String("qwen2".into()),
        );
        let e = err(m);
        assert!(
            matches!(&e, Error::Unsupported(s) if s.contains("qwen2")),
            "{e}"
        );

        let cases: Vec<(&str, Value, &str)> = vec![
            ("llama.block_count", Value::U32(0), "llama.block_count"),
            ("llama.block_count", Value::U32(5000), "llama.block_count"),
            (
                "llama.embedding_length",
                Value::U64(1 << 40),
                "llama.embedding_length",
            ),
            (
                "llama.attention.head_count",
                Value::U32(3),
                "llama.attention.head_count",
            ),
            (
                "llama.attention.head_count_kv",
                Value::U32(3),
                "llama.attention.head_count_kv",
            ),
            // dim 8 / 8 heads = head_dim 1: odd.
            (
                "llama.attention.head_count",
                Value::U32(8),
                "llama.attention.head_count",
            ),
            (
                "llama.rope.dimension_count",
                Value::U32(4),
                "llama.rope.dimension_count",
            ),
            (
                "llama.rope.freq_base",
                Value::F32(f32::NAN),
                "llama.rope.freq_base",
            ),
            (
                "llama.attention.layer_norm_rms_epsilon",
                Value::F32(0.0),
                "layer_norm_rms_epsilon",
            ),
            (
                "llama.context_length",
                Value::String("x".into()),
                "llama.context_length",
            ),
        ];
        for (key, v, needle) in cases {
            let mut m = meta();
            set(&mut m, key, v);
            let e = err(m);
            assert!(
                matches!(&e, Error::BadGguf { field, .. } if field.contains(needle)),
                "{key}: {e}"
            );
        }
        let mut m = meta();
        m.retain(|(k, _)| k != "llama.feed_forward_length");
        assert!(err(m).to_string().contains("feed_forward_length"));
        let mut m = meta();
        m.retain(|(k, _)| k != "tokenizer.ggml.tokens");
        assert!(err(m).to_string().contains("vocab_size"));
    }

    #[test]
    fn checks_tensor_shapes() {
        let c = LlamaConfig::from_gguf(&gguf(meta(), vec![])).unwrap();
        assert_eq!(tensor_names(3).ffn_down, "blk.3.ffn_down.weight");
        let ts = tensors_for(&c);
        assert_eq!(ts.len(), 2 + 2 * 9);
        c.check_tensors(&gguf(meta(), ts.clone())).unwrap();

        let mut bad = ts.clone();
        bad.retain(|t| t.name != "blk.1.ffn_up.weight");
        let e = c.check_tensors(&gguf(meta(), bad)).unwrap_err();
        assert!(matches!(&e, Error::Shape { what, .. } if what == "blk.1.ffn_up.weight"));

        let mut bad = ts;
        for t in &mut bad {
            if t.name == "blk.0.attn_k.weight" {
                t.dims = vec![8, 8]; // q-sized instead of kv-sized
            }
        }
        let e = c.check_tensors(&gguf(meta(), bad)).unwrap_err();
        assert!(matches!(&e, Error::Shape { what, .. } if what == "blk.0.attn_k.weight"));
    }
}
