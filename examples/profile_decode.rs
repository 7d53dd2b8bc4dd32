//! Times each decode dispatch kind on the current adapter (tuning aid):
//! `cargo run --release --example profile_decode [MODEL]`.
//! Each op of the decode list is recorded REPS times in one submit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use edge_llm::engine::{Engine, Flow, GenerateOptions, LoadOptions};

const REPS: u32 = 10;

fn main() {
    let arg = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "smollm2-135m".into());
    let path = edge_llm::models::resolve(&arg).unwrap();
    let file = std::fs::read(path).unwrap();
    let mut e = pollster::block_on(Engine::load(
        &file,
        &LoadOptions {
            ctx: 512,
            max_batch: 64,
        },
    ))
    .unwrap();
    // Fill some cache and leave the step uniform at a decode step.
    let ids = e
        .tokenize("Once upon a time, in a quiet village by the sea,")
        .unwrap();
    let opts = GenerateOptions {
        max_tokens: 4,
        ..Default::default()
    };
    for i in 0..2 {
        e.session.reset();
        let g = pollster::block_on(e.generate(&ids, &opts, |_| Flow::Continue)).unwrap();
        println!(
            "generate #{i}: ttft {:.0} ms for {} prompt tokens",
            g.stats.ttft_ms,
            ids.len()
        );
    }
    let s = &e.session;
    let mut per_kind: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for op in &s.model.decode {
        let t = Instant::now();
        let mut enc = s.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..REPS {
                op.dispatch.encode(&mut pass, 1);
            }
        }
        s.gpu.queue.submit([enc.finish()]);
        s.gpu.wait().unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(REPS);
        let kind = format!("{:?}", op.dispatch.kernel);
        let kind = op.name.rsplit('.').next().unwrap_or("").to_string() + " " + &kind;
        let entry = per_kind.entry(kind).or_default();
        entry.0 += ms;
        entry.1 += 1;
    }
    let total: f64 = per_kind.values().map(|v| v.0).sum();
    for (k, (ms, n)) in &per_kind {
        println!("{ms:9.2} ms  {n:3}x  {k}");
    }
    println!("{total:9.2} ms per token ({:.2} tok/s)", 1000.0 / total);
}
