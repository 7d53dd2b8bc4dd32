//! The committed llama.cpp reference data is well-formed and matches the
//! default model, so the comparison tests built on it can trust it.
//! Regenerate with `cargo xtask reference`.
#![allow(clippy::unwrap_used)] // tests may unwrap

mod common;

use common::{floats, load_json, model_path, token_ids};

#[test]
fn default_model_is_cached_and_verified() {
    let path = model_path();
    let model = edge_llm::models::find("smollm2-135m").unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), model.size);
    // Uses the `.sha256-ok` stamp after the first verification.
    assert!(
        edge_llm::models::verify_cached(&path, model).unwrap(),
        "{} fails sha256",
        path.display()
    );
}

#[test]
fn score_files_are_consistent() {
    for text in ["a", "b"] {
        for backend in ["cpu", "vulkan"] {
            let name = format!("reference/score_smollm2_{text}_{backend}.json");
            let j = load_json(&name);
            let tokens = token_ids(&j["tokens"]);
            let logprobs = floats(&j["logprobs"]);
            let argmax = token_ids(&j["argmax"]);
            let top2 = j["top2"].as_array().unwrap();
            assert_eq!(tokens.len(), 512, "{name}");
            assert_eq!(logprobs.len(), tokens.len() - 1, "{name}");
            assert_eq!(argmax.len(), logprobs.len(), "{name}");
            assert_eq!(top2.len(), logprobs.len(), "{name}");
            assert!(tokens.iter().chain(&argmax).all(|&t| t < 49152), "{name}");
            assert!(
                logprobs.iter().all(|&l| l <= 1e-6 && l.is_finite()),
                "{name}"
            );
            for (i, pair) in top2.iter().enumerate() {
                let best = pair[0][1].as_f64().unwrap();
                let second = pair[1][1].as_f64().unwrap();
                assert_eq!(
                    pair[0][0].as_u64().unwrap(),
                    u64::from(argmax[i]),
                    "{name} pos {i}"
                );
                assert!(
                    best >= second && best >= logprobs[i] - 1e-6,
                    "{name} pos {i}"
                );
            }
            let nll = -logprobs.iter().sum::<f64>() / logprobs.len() as f64;
            let ppl = j["ppl"].as_f64().unwrap();
            assert!((nll.exp() / ppl - 1.0).abs() < 1e-4, "{name}: ppl {ppl}");
            assert!((5.0..100.0).contains(&ppl), "{name}: ppl {ppl}");
        }
        // Both backends tokenized the same text the same way.
        let cpu = load_json(&format!("reference/score_smollm2_{text}_cpu.json"));
        let vk = load_json(&format!("reference/score_smollm2_{text}_vulkan.json"));
        assert_eq!(cpu["tokens"], vk["tokens"]);
    }
}

#[test]
fn generate_files_match_chat_prompts() {
    let prompts = load_json("chat_prompts.json");
    let prompts = prompts["prompts"].as_array().unwrap();
    assert_eq!(prompts.len(), 6);
    for backend in ["cpu", "vulkan"] {
        let name = format!("reference/generate_smollm2_{backend}.json");
        let j = load_json(&name);
        let results = j["results"].as_array().unwrap();
        assert_eq!(results.len(), prompts.len(), "{name}");
        for (p, r) in prompts.iter().zip(results) {
            let rendered = p["rendered"].as_str().unwrap();
            let user = p["user"].as_str().unwrap();
            assert!(rendered.contains(user));
            assert_eq!(r["prompt"].as_str().unwrap(), rendered, "{name}");
            // <|im_start|> = 1 opens the prompt; no BOS for SmolLM2.
            assert_eq!(token_ids(&r["prompt_tokens"])[0], 1, "{name}");
            let generated = token_ids(&r["generated"]);
            assert!(!generated.is_empty() && generated.len() <= 32, "{name}");
            let top2 = r["top2"].as_array().unwrap();
            assert_eq!(top2.len(), generated.len(), "{name}");
            for (g, pair) in generated.iter().zip(top2) {
                assert_eq!(
                    pair[0][0].as_u64().unwrap(),
                    u64::from(*g),
                    "{name}: greedy = top-1"
                );
            }
        }
    }
}
