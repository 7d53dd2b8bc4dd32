//! The `edge-llm` binary: its JSON contract and its errors (one line on
//! stderr, non-zero exit, never a panic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

mod common;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-llm"))
        .args(args)
        .output()
        .expect("run edge-llm")
}

/// Asserts a clean failure with error `code`.
fn fails_with(args: &[&str], code: &str) {
    let out = run(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("edge-llm: error"))
        .collect();
    assert_eq!(lines.len(), 1, "{args:?}: {err}");
    assert!(
        lines[0].contains(&format!("[{code}]")),
        "{args:?}: expected {code}: {err}"
    );
}

fn tmp_file(name: &str, bytes: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("edge-llm-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p.to_string_lossy().into_owned()
}

/// A valid GGUF v3 with no tensors and one key: general.architecture = `arch`.
fn gguf_with_arch(arch: &str) -> Vec<u8> {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // tensors
    f.extend(1u64.to_le_bytes()); // metadata entries
    let key = "general.architecture";
    f.extend((key.len() as u64).to_le_bytes());
    f.extend(key.as_bytes());
    f.extend(8u32.to_le_bytes()); // string
    f.extend((arch.len() as u64).to_le_bytes());
    f.extend(arch.as_bytes());
    f
}

#[test]
fn usage_and_option_errors() {
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage"));
    fails_with(&["frobnicate"], "invalid_option");
    fails_with(&["generate", "--model", "x.gguf"], "invalid_option"); // no --prompt
    fails_with(
        &[
            "generate",
            "--model",
            "x.gguf",
            "--prompt",
            "hi",
            "--temperature",
            "-1",
        ],
        "invalid_option",
    );
    fails_with(
        &[
            "generate",
            "--model",
            "x.gguf",
            "--prompt",
            "hi",
            "--max-tokens",
            "many",
        ],
        "invalid_option",
    );
    fails_with(
        &[
            "generate", "--model", "x.gguf", "--prompt", "hi", "--top-p", "0",
        ],
        "invalid_option",
    );
    fails_with(
        &[
            "generate",
            "--model",
            "x.gguf",
            "--prompt",
            "hi",
            "--tempreature",
            "1",
        ],
        "invalid_option",
    );
    fails_with(
        &["generate", "--model", "no-such-model", "--prompt", "hi"],
        "invalid_option",
    );
    fails_with(
        &[
            "score",
            "--model",
            "x.gguf",
            "--text-file",
            "/nonexistent/t.txt",
        ],
        "io",
    );
}

#[test]
fn bad_model_files() {
    fails_with(
        &[
            "generate",
            "--model",
            "/nonexistent/m.gguf",
            "--prompt",
            "hi",
        ],
        "io",
    );
    let junk = tmp_file("junk.gguf", b"this is not a gguf file at all");
    fails_with(
        &["generate", "--model", &junk, "--prompt", "hi"],
        "bad_gguf",
    );
    fails_with(&["tokenize", "--model", &junk, "--text", "hi"], "bad_gguf");
    let mut truncated = gguf_with_arch("llama");
    truncated.truncate(30);
    let truncated = tmp_file("truncated.gguf", &truncated);
    fails_with(
        &["generate", "--model", &truncated, "--prompt", "hi"],
        "bad_gguf",
    );
    let mamba = tmp_file("mamba.gguf", &gguf_with_arch("mamba"));
    fails_with(
        &["generate", "--model", &mamba, "--prompt", "hi"],
        "unsupported",
    );
}

#[test]
fn tokenize_json() {
    let model = common::model_path();
    let out = run(&[
        "tokenize",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "The capital of France is",
        "--json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        common::token_ids(&v["tokens"]),
        vec![504, 3575, 282, 4649, 314]
    );
}

/// The `--json` contract, greedy tokens, and seeded sampling being
/// repeatable.
#[test]
fn generate_json_and_seeds() {
    let model = common::model_path();
    let m = model.to_str().unwrap();
    let gen = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "generate",
            "--model",
            m,
            "--prompt",
            "The capital of France is",
            "--max-tokens",
            "6",
            "--json",
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let g = gen(&[]);
    for key in [
        "prompt_tokens",
        "generated",
        "text",
        "ttft_ms",
        "prefill_tok_s",
        "decode_tok_s",
    ] {
        assert!(!g[key].is_null(), "missing {key}: {g}");
    }
    assert_eq!(
        common::token_ids(&g["prompt_tokens"]),
        vec![504, 3575, 282, 4649, 314]
    );
    assert_eq!(
        &common::token_ids(&g["generated"])[..5],
        &[7042, 30, 198, 198, 504]
    );
    assert!(g["text"].as_str().unwrap().starts_with(" Paris."));
    let sampled = [
        "--temperature",
        "1.0",
        "--top-k",
        "40",
        "--top-p",
        "0.95",
        "--min-p",
        "0.02",
        "--repeat-penalty",
        "1.1",
    ];
    let a = gen(&[&sampled[..], &["--seed", "7"]].concat());
    let b = gen(&[&sampled[..], &["--seed", "7"]].concat());
    assert_eq!(a["generated"], b["generated"], "same seed, same tokens");
    let others: Vec<serde_json::Value> = (8..12)
        .map(|s| gen(&[&sampled[..], &["--seed", &s.to_string()]].concat())["generated"].clone())
        .collect();
    assert!(
        others.iter().any(|o| *o != a["generated"]),
        "different seeds never changed the output"
    );
}
