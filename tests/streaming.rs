//! Streaming load (chunks of any size, tensors uploaded as they arrive) and
//! stepped generation (`next_token` / `next_chunk`, abort) on SmolLM2,
//! against the whole-file load and the callback loops. Needs a GPU adapter
//! (lavapipe in CI) and the model; fails without either.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use edge_llm::engine::{
    BackendChoice, ChatMessage, Engine, FinishReason, Flow, GenerateOptions, LoadOptions,
    SamplerParams, Session,
};
use edge_llm::gpu::Gpu;
use edge_llm::model::llama_gpu::LlamaGpu;
use edge_llm::model::loader::StreamLoader;

mod common;

/// "The capital of France is" (llama.cpp tokenize; SmolLM2 adds no BOS).
const PROMPT: [u32; 5] = [504, 3575, 282, 4649, 314];
const MIB: usize = 1 << 20;

fn gpu() -> Gpu {
    pollster::block_on(Gpu::new()).expect("a GPU adapter (lavapipe in CI) is required")
}

fn greedy(s: &mut Session, n: usize) -> Vec<u32> {
    let sp = SamplerParams::default();
    pollster::block_on(s.generate(&PROMPT, &sp, n, |_| Ok(Flow::Continue)))
        .unwrap()
        .0
}

/// Pushes `file` in chunks: `first` bytes, then `size` bytes at a time.
fn stream(gpu: &Gpu, file: &[u8], first: usize, size: usize) -> StreamLoader {
    let mut l = StreamLoader::new(file.len() as u64);
    let (head, rest) = file.split_at(first);
    l.push(gpu, head).unwrap();
    for c in rest.chunks(size) {
        l.push(gpu, c).unwrap();
    }
    l
}

/// Streaming in odd chunk sizes gives the model the whole-file load gives
/// (same greedy tokens) while holding far less than the file.
#[test]
fn streamed_load_matches_whole_file() {
    let file = std::fs::read(common::model_path()).unwrap();
    let want = {
        let gpu = gpu();
        let g = edge_llm::gguf::parse(&file).unwrap();
        let model = LlamaGpu::load(&gpu, &g, &file, 256, 64).unwrap();
        greedy(&mut Session::new(gpu, model), 16)
    };
    assert_eq!(want.len(), 16);
    for (first, size) in [(10, MIB + 7), (4093, 65_521)] {
        let gpu = gpu();
        let l = stream(&gpu, &file, first, size);
        let peak = l.peak_buffered_bytes();
        println!(
            "chunks {first} then {size}: peak buffered {peak} bytes ({:.1}% of the {}-byte file)",
            100.0 * peak as f64 / file.len() as f64,
            file.len()
        );
        // Header prefix + one 1 MiB slab of the embedding + partial tensors.
        assert!(peak * 10 < file.len(), "peak {peak} of {}", file.len());
        let (g, model) = l.finish(&gpu, 256, 64).unwrap();
        assert_eq!(g.tensors.len(), 272);
        assert_eq!(
            greedy(&mut Session::new(gpu, model), 16),
            want,
            "chunks {first}/{size}"
        );
    }
}

/// Truncated downloads and corrupt headers give typed errors, never a model.
#[test]
fn truncated_or_corrupt_stream_is_an_error() {
    let file = std::fs::read(common::model_path()).unwrap();
    let gpu = gpu();
    let n = file.len();
    // Tensor data missing (the last KiB), header missing, nothing at all.
    for cut in [n - 1024, n / 2, 100, 0] {
        let mut l = StreamLoader::new(n as u64);
        for c in file[..cut].chunks(MIB) {
            l.push(&gpu, c).unwrap();
        }
        let e = l
            .finish(&gpu, 256, 64)
            .err()
            .expect("truncated load must fail");
        assert_eq!(e.code(), "bad_gguf", "cut at {cut}: {e}");
    }
    // A corrupt magic, and an absurd tensor count.
    let mut bad = file[..MIB].to_vec();
    bad[0] = b'X';
    let mut l = StreamLoader::new(n as u64);
    let e = l.push(&gpu, &bad).expect_err("bad magic must fail");
    assert_eq!(e.code(), "bad_gguf", "{e}");
    let mut bad = file[..MIB].to_vec();
    bad[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut l = StreamLoader::new(n as u64);
    let e = l.push(&gpu, &bad).expect_err("bad tensor count must fail");
    assert_eq!(e.code(), "bad_gguf", "{e}");
    // A header longer than the loader's cap (16M empty strings, 128 MiB).
    let mut huge = b"GGUF".to_vec();
    huge.extend(3u32.to_le_bytes());
    huge.extend(0u64.to_le_bytes()); // tensors
    huge.extend(1u64.to_le_bytes()); // metadata entries
    huge.extend(1u64.to_le_bytes());
    huge.push(b'a');
    huge.extend(9u32.to_le_bytes()); // array
    huge.extend(8u32.to_le_bytes()); // of strings
    huge.extend((1u64 << 24).to_le_bytes());
    let mut l = StreamLoader::new(256 << 20);
    l.push(&gpu, &huge).unwrap();
    let zeros = vec![0u8; 4 * MIB];
    let e = (0..20)
        .find_map(|_| l.push(&gpu, &zeros).err())
        .expect("an endless header must fail");
    assert_eq!(e.code(), "bad_gguf", "{e}");
    assert!(l.received_bytes() <= (65 << 20), "{}", l.received_bytes());
    // More bytes than announced.
    let mut l = StreamLoader::new(10);
    let e = l.push(&gpu, &file[..11]).err().unwrap();
    assert_eq!(e.code(), "invalid_option", "{e}");
}

fn chat_prompt(e: &Engine, text: &str) -> Vec<u32> {
    let p = e
        .render_chat(&[ChatMessage {
            role: "user".into(),
            content: text.into(),
        }])
        .unwrap();
    e.tokenize(&p).unwrap()
}

/// Stepped generation equals the callback loop, token for token and text
/// for text; an abort after 3 tokens leaves the engine usable and the next
/// generation (which reuses the cache) correct. The engine is loaded
/// through `Engine::load_streaming`, on the GPU and on the CPU path.
#[test]
fn stepping_matches_callback_and_abort_keeps_engine_usable() {
    stepping(BackendChoice::Gpu);
}

#[test]
fn cpu_stepping_matches_callback_and_abort_keeps_engine_usable() {
    stepping(BackendChoice::Cpu);
}

fn stepping(backend: BackendChoice) {
    let file = std::fs::read(common::model_path()).unwrap();
    let opts = LoadOptions {
        ctx: 512,
        max_batch: 64,
        backend,
    };
    let mut loader = pollster::block_on(Engine::load_streaming(file.len() as u64, &opts)).unwrap();
    for c in file.chunks(MIB + 7) {
        loader.push(c).unwrap();
    }
    println!(
        "engine loader peak buffered {} bytes",
        loader.peak_buffered_bytes()
    );
    let mut e = loader.finish().unwrap();
    assert_eq!(e.info().file_bytes, file.len() as u64);
    assert_eq!(e.info().backend, format!("{backend:?}").to_lowercase());

    let prompt = chat_prompt(&e, "Write a short poem about the sea.");
    let gen_opts = GenerateOptions {
        max_tokens: 16,
        ..Default::default()
    };
    let mut pieces = Vec::new();
    let want = pollster::block_on(e.generate(&prompt, &gen_opts, |t| {
        pieces.push(t.to_string());
        Flow::Continue
    }))
    .unwrap();
    assert_eq!(want.tokens.len(), 16, "{want:?}");
    assert_eq!(want.finish_reason, FinishReason::Length);
    assert_eq!(pieces.concat(), want.text);

    // Engine stepping, from a cold cache.
    e.session.reset();
    e.start_generate(&prompt, &gen_opts).unwrap();
    let (mut text, mut tokens) = (String::new(), Vec::new());
    while let Some(c) = pollster::block_on(e.next_chunk()).unwrap() {
        text.push_str(&c.text);
        tokens.extend(c.tokens);
    }
    let got = e.finish_generate().unwrap();
    assert_eq!((&text, &tokens), (&want.text, &want.tokens));
    assert_eq!((&got.text, &got.tokens), (&want.text, &want.tokens));
    assert_eq!(got.finish_reason, FinishReason::Length);
    assert_eq!(got.stats.generated_tokens, 16);

    // Session stepping equals the session's callback loop.
    let sp = SamplerParams::default();
    e.session.reset();
    e.session.start(&prompt, &sp, 16).unwrap();
    let mut ids = Vec::new();
    while let Some(id) = pollster::block_on(e.session.next_token()).unwrap() {
        ids.push(id);
    }
    let (fin, _) = e.session.finish().unwrap();
    assert_eq!(ids, want.tokens);
    assert_eq!(fin, want.tokens);

    // Abort after 3 tokens, then generate again: same answer as before.
    for other in [false, true] {
        e.start_generate(&prompt, &gen_opts).unwrap();
        let mut n = 0;
        while n < 3 {
            let c = pollster::block_on(e.next_chunk()).unwrap().unwrap();
            n += c.tokens.len();
        }
        e.abort().unwrap();
        assert!(pollster::block_on(e.next_chunk()).unwrap().is_none());
        let a = e.finish_generate().unwrap();
        assert_eq!(a.finish_reason, FinishReason::Aborted);
        assert_eq!(a.tokens, want.tokens[..a.tokens.len()]);
        if other {
            // A different prompt in between must not disturb the cache.
            let p2 = chat_prompt(&e, "Name a color.");
            pollster::block_on(e.generate(&p2, &gen_opts, |_| Flow::Continue)).unwrap();
        }
        let again = pollster::block_on(e.generate(&prompt, &gen_opts, |_| Flow::Continue)).unwrap();
        assert_eq!(
            again.tokens, want.tokens,
            "after abort (other prompt: {other})"
        );
        assert_eq!(again.text, want.text);
    }

    // Callback stop after the first text: aborted, engine still fine.
    let stopped = pollster::block_on(e.generate(&prompt, &gen_opts, |_| Flow::Stop)).unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::Aborted);
    assert!(!stopped.tokens.is_empty() && stopped.tokens.len() < 16);
}
