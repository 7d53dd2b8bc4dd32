//! RefLlama on a tiny synthetic model with random F32 weights: KV-cache
//! consistency, the dump hook and input errors (no model file needed).
#![allow(clippy::unwrap_used)]

use super::*;
use crate::gguf::{Array, TensorInfo, Value};

/// Decodes F32 tensor bytes (the only type the synthetic model uses).
fn f32_only(ty: GgmlType, b: &[u8], n: usize) -> Result<Vec<f32>> {
    assert_eq!(ty, GgmlType::F32);
    let v: Vec<f32> = b
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(v.len(), n);
    Ok(v)
}

/// A 2-layer GQA model (dim 8, 4 heads, 2 kv heads, ffn 12, vocab 16) with
/// weights from a fixed LCG; norms near 1. Returns the Gguf and file bytes.
fn tiny(tied: bool) -> (Gguf, Vec<u8>) {
    let metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("llama.block_count".into(), Value::U32(2)),
        ("llama.embedding_length".into(), Value::U32(8)),
        ("llama.feed_forward_length".into(), Value::U32(12)),
        ("llama.attention.head_count".into(), Value::U32(4)),
        ("llama.attention.head_count_kv".into(), Value::U32(2)),
        ("llama.context_length".into(), Value::U32(32)),
        (
            "llama.attention.layer_norm_rms_epsilon".into(),
            Value::F32(1e-5),
        ),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(Array::String(vec![String::new(); 16])),
        ),
    ];
    let mut g = Gguf {
        version: 3,
        metadata,
        tensors: vec![],
        alignment: 32,
        data_offset: 0,
        file_len: 0,
    };
    let mut cfg = LlamaConfig::from_gguf(&g).unwrap();
    cfg.tied_output = tied;
    let mut file = Vec::new();
    let mut seed = 0x1234_5678u32;
    for (name, dims) in cfg.expected_tensors() {
        let n: u64 = dims.iter().product();
        let offset = file.len() as u64;
        for _ in 0..n {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let r = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5; // [-0.5, 0.5)
            let v = if name.contains("norm") {
                1.0 + 0.2 * r
            } else {
                r
            };
            file.extend_from_slice(&v.to_le_bytes());
        }
        g.tensors.push(TensorInfo {
            name,
            dims,
            ty: GgmlType::F32,
            offset,
            size: n * 4,
        });
    }
    g.file_len = file.len() as u64;
    (g, file)
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "[{i}] {x} vs {y}");
    }
}

#[test]
fn incremental_decode_matches_batch() {
    for tied in [true, false] {
        let (g, file) = tiny(tied);
        let mut m = RefLlama::load_with(&g, &file, 16, &f32_only).unwrap();
        assert_eq!(m.config().tied_output, tied);
        let toks = [3u32, 1, 4, 1, 5, 9];
        let batch = m.forward(&toks, 0).unwrap();
        assert_eq!(batch.len(), toks.len() * 16);
        assert!(batch.iter().all(|v| v.is_finite()));
        // Prefill 2, then one at a time: every row equals the batch row.
        m.reset();
        let mut rows = m.forward(&toks[..2], 0).unwrap();
        for (i, &t) in toks.iter().enumerate().skip(2) {
            rows.extend(m.forward(&[t], i).unwrap());
        }
        close(&rows, &batch, 1e-5);
        assert_eq!(m.n_past(), toks.len());
        // Rewinding overwrites the cache: re-running the tail reproduces it.
        let tail = m.forward(&toks[3..], 3).unwrap();
        close(&tail, &batch[3 * 16..], 1e-5);
    }
}

#[test]
fn position_changes_the_output() {
    // The same token at a different position must give different logits
    // (RoPE + attention over a different history), but the first token's
    // logits do not depend on anything after it (causality).
    let (g, file) = tiny(true);
    let mut m = RefLlama::load_with(&g, &file, 16, &f32_only).unwrap();
    let a = m.forward(&[7, 2], 0).unwrap();
    m.reset();
    let b = m.forward(&[7, 3], 0).unwrap();
    close(&a[..16], &b[..16], 0.0);
    assert!(a[16..].iter().zip(&b[16..]).any(|(x, y)| x != y));
}

#[test]
fn dump_hook_names_every_op() {
    let (g, file) = tiny(true);
    let mut m = RefLlama::load_with(&g, &file, 16, &f32_only).unwrap();
    let mut seen: Vec<(String, usize)> = Vec::new();
    let logits = m
        .forward_with_dump(&[1, 2, 3], 0, &mut |name, v| {
            seen.push((name.into(), v.len()))
        })
        .unwrap();
    let ops = [
        ("attn_norm", 8),
        ("q", 8),
        ("k", 4),
        ("v", 4),
        ("kqv_out", 8),
        ("attn_out", 8),
        ("ffn_inp", 8),
        ("ffn_norm", 8),
        ("ffn_out", 8),
        ("l_out", 8),
    ];
    let mut want = vec![("inp_embd".to_string(), 3 * 8)];
    for l in 0..2 {
        want.extend(ops.iter().map(|(op, w)| (format!("blk.{l}.{op}"), 3 * w)));
    }
    want.push(("result_norm".into(), 3 * 8));
    want.push(("logits".into(), 3 * 16));
    assert_eq!(seen, want);
    assert_eq!(logits.len(), 3 * 16);
}

#[test]
fn bad_inputs_are_errors() {
    let (g, file) = tiny(true);
    assert!(matches!(
        RefLlama::load_with(&g, &file, 0, &f32_only),
        Err(Error::InvalidOption { .. })
    ));
    assert!(RefLlama::load_with(&g, &file, 33, &f32_only).is_err());
    // Truncated file: the tensor data is out of bounds.
    assert!(matches!(
        RefLlama::load_with(&g, &file[..file.len() - 4], 8, &f32_only),
        Err(Error::BadGguf { .. })
    ));
    let mut m = RefLlama::load_with(&g, &file, 4, &f32_only).unwrap();
    assert!(matches!(m.forward(&[16], 0), Err(Error::Tokenizer(_))));
    assert!(matches!(
        m.forward(&[1], 1),
        Err(Error::InvalidOption { .. })
    ));
    assert!(matches!(
        m.forward(&[1, 2, 3, 4, 5], 0),
        Err(Error::ContextOverflow {
            needed: 5,
            capacity: 4
        })
    ));
    assert_eq!(m.forward(&[], 0).unwrap(), Vec::<f32>::new());
    // The public `load` goes through crate::quant::dequantize.
    let _ = RefLlama::load(&g, &file, 4);
}
