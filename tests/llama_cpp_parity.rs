//! End-to-end parity with llama.cpp (the ground truth) on SmolLM2-135M-
//! Instruct Q4_1, through the public engine API on the GPU (lavapipe in CI)
//! and on the CPU path (`edge_llm::cpu`), the same checks for both.
//! Reference data: tests/data/reference/*.json, made by
//! tools/reference/llama-ref.mjs (`cargo xtask reference`).
//!
//! How far two correct engines differ here (llama.cpp CPU vs its Vulkan
//! backend, same file): perplexity ~1-2%, argmax agreement 92-96%, mean
//! |Δ log-prob| ~0.08; greedy paths part at near-ties (their 32-token
//! replies to the six chat prompts are identical for 1 of 6, the first
//! parting at 0.02-0.27 nats).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edge_llm::engine::{BackendChoice, ChatMessage, Engine, Flow, GenerateOptions, LoadOptions};

mod common;

fn engine(backend: BackendChoice) -> Engine {
    let file = std::fs::read(common::model_path()).unwrap();
    let e = pollster::block_on(Engine::load(
        &file,
        &LoadOptions {
            ctx: 1024,
            max_batch: 64,
            backend,
        },
    ))
    .expect("engine (the GPU one on an adapter, lavapipe in CI)");
    assert_eq!(e.info().backend, format!("{backend:?}").to_lowercase());
    e
}

/// Teacher-forced scoring of two 512-token texts against llama.cpp CPU:
/// same tokens, perplexity within 2%, argmax agreement >= 95%, mean
/// |Δ log-prob| <= 0.08 (the last two tighter than llama.cpp's own two
/// backends agree: the per-token check of the arithmetic).
#[test]
fn score_matches_llama_cpp() {
    score(BackendChoice::Gpu);
}

#[test]
fn cpu_score_matches_llama_cpp() {
    score(BackendChoice::Cpu);
}

fn score(backend: BackendChoice) {
    let mut e = engine(backend);
    for name in ["a", "b"] {
        let want = common::load_json(&format!("reference/score_smollm2_{name}_cpu.json"));
        let text = common::read_text(&format!("texts/{name}.txt"));
        let mut ids = e.tokenize(&text).unwrap();
        ids.truncate(512);
        let want_ids = common::token_ids(&want["tokens"]);
        assert_eq!(
            ids, want_ids,
            "text {name}: tokenization differs from llama.cpp"
        );
        let s = pollster::block_on(e.score(&ids)).unwrap();
        let want_lp = common::floats(&want["logprobs"]);
        let want_am = common::token_ids(&want["argmax"]);
        assert_eq!(s.logprobs.len(), want_lp.len());
        let n = want_lp.len() as f64;
        let ppl = (-s.logprobs.iter().sum::<f64>() / n).exp();
        let want_ppl = want["ppl"].as_f64().unwrap();
        let agree = s
            .argmax
            .iter()
            .zip(&want_am)
            .filter(|(a, b)| a == b)
            .count() as f64
            / n;
        let mad = s
            .logprobs
            .iter()
            .zip(&want_lp)
            .map(|(a, b)| (a - b).abs())
            .sum::<f64>()
            / n;
        eprintln!("{backend:?} text {name}: ppl {ppl:.3} vs llama.cpp {want_ppl:.3}; argmax agreement {:.1}%; mean |Δlp| {mad:.4}", agree * 100.0);
        assert!(
            (ppl / want_ppl - 1.0).abs() <= 0.02,
            "text {name}: ppl {ppl} vs {want_ppl}"
        );
        assert!(agree >= 0.95, "text {name}: argmax agreement {agree}");
        assert!(mad <= 0.08, "text {name}: mean |Δ log-prob| {mad}");
    }
}

/// Greedy replies to six chat prompts: the first 32 tokens equal llama.cpp
/// CPU's or its Vulkan backend's on at least 3 of 6 prompts, and where they
/// part, it is at a near-tie (our token one of the reference's top two,
/// within 0.5 nats in its own distribution). Why 3: where two engines part
/// is decided by ties of 0.004-0.06 nats, which any change of rounding
/// moves (llama.cpp's two backends agree on 1 of 6); the near-tie check
/// and the scores above are what catch a wrong kernel.
#[test]
fn greedy_chat_matches_llama_cpp() {
    greedy_chat(BackendChoice::Gpu);
}

#[test]
fn cpu_greedy_chat_matches_llama_cpp() {
    greedy_chat(BackendChoice::Cpu);
}

fn greedy_chat(backend: BackendChoice) {
    let mut e = engine(backend);
    let prompts = common::load_json("chat_prompts.json");
    let cpu = common::load_json("reference/generate_smollm2_cpu.json");
    let vk = common::load_json("reference/generate_smollm2_vulkan.json");
    let opts = GenerateOptions {
        max_tokens: 32,
        ..Default::default()
    };
    let mut identical = 0;
    let list = prompts["prompts"].as_array().unwrap();
    for (i, p) in list.iter().enumerate() {
        let rendered = e
            .render_chat(&[ChatMessage::new("user", p["user"].as_str().unwrap())])
            .unwrap();
        assert_eq!(
            rendered,
            p["rendered"].as_str().unwrap(),
            "chat template rendering"
        );
        let ids = e.tokenize(&rendered).unwrap();
        assert_eq!(
            ids,
            common::token_ids(&cpu["results"][i]["prompt_tokens"]),
            "prompt {i} tokens"
        );
        let g = pollster::block_on(e.generate(&ids, &opts, |_| Flow::Continue)).unwrap();
        let mut explained = Vec::new();
        let mut same = false;
        for (label, r) in [("cpu", &cpu["results"][i]), ("vulkan", &vk["results"][i])] {
            let want = common::token_ids(&r["generated"]);
            let n = want.len().min(32);
            let div = (0..n).find(|&k| g.tokens.get(k) != Some(&want[k]));
            match div {
                None => same = true,
                Some(k) => {
                    let top2 = &r["top2"][k];
                    let lp = |j: usize| top2[j][1].as_f64().unwrap();
                    let ids2 = [
                        top2[0][0].as_u64().unwrap() as u32,
                        top2[1][0].as_u64().unwrap() as u32,
                    ];
                    let gap = lp(0) - lp(1);
                    let ours = g.tokens.get(k).copied();
                    explained.push((
                        label,
                        k,
                        gap,
                        ours.is_some_and(|t| ids2.contains(&t)) && gap <= 0.5,
                    ));
                }
            }
        }
        eprintln!(
            "{backend:?} prompt {i}: {:?} identical={same} divergences={explained:?}",
            g.text
        );
        if same {
            identical += 1;
        } else {
            assert!(
                explained.iter().any(|d| d.3),
                "prompt {i}: divergence not at a near-tie: {explained:?}"
            );
        }
    }
    assert!(
        identical >= 3,
        "only {identical}/6 prompts identical to llama.cpp"
    );
}
