//! The edge-llm side of `cargo xtask bench`: measures one model natively and
//! prints one JSON object on stdout (progress on stderr).
//!
//! ```text
//! cargo run --release --example bench -- [--model smollm2-135m] [--runs 3]
//!     [--warmup 1] [--decode-tokens 128] [--long-context 1000] [--text FILE]...
//! cargo run --release --example bench -- --kernels [--runs 5] [--only matvec|attention|gemm]
//! ```
//!
//! Definitions (the peers' script, tools/reference/llama-ref.mjs `bench-suite`,
//! uses the same): prefill tok/s = prompt tokens / time to first token;
//! decode tok/s = (generated - 1) / (time of the last token - time of the
//! first); medians of `--runs` runs after `--warmup` unrecorded ones. GPU
//! work is counted by `gpu::Counters` on the real token path, in steady
//! state (tokens 2..n-1 of a decode, one submit and one read each).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod kernels;

use std::time::Instant;

use edge_llm::engine::{BackendChoice, Engine, LoadOptions, SamplerParams};
use edge_llm::gpu::CounterSnapshot;
use serde_json::{json, Value};

struct Opts {
    model: String,
    runs: usize,
    warmup: usize,
    decode_tokens: usize,
    long_context: usize,
    texts: Vec<String>,
}

/// The arguments: `Some(only)` for `--kernels` (`only`: one kernel group,
/// from `--only`), and the model benchmark's options.
fn parse() -> (Option<Option<String>>, Opts) {
    let mut o = Opts {
        model: "smollm2-135m".into(),
        runs: 3,
        warmup: 1,
        decode_tokens: 128,
        long_context: 1000,
        texts: Vec::new(),
    };
    let mut kernels = false;
    let mut only = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .unwrap_or_else(|| die(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--kernels" => kernels = true,
            "--only" => only = Some(val()),
            "--model" => o.model = val(),
            "--runs" => o.runs = num(&val()),
            "--warmup" => o.warmup = num(&val()),
            "--decode-tokens" => o.decode_tokens = num(&val()),
            "--long-context" => o.long_context = num(&val()),
            "--text" => o.texts.push(val()),
            _ => die(&format!("unknown argument {a}")),
        }
    }
    if o.texts.is_empty() {
        o.texts = vec![
            "tests/data/texts/a.txt".into(),
            "tests/data/texts/b.txt".into(),
        ];
    }
    if let Some(g) = only.as_deref().filter(|g| !kernels::GROUPS.contains(g)) {
        die(&format!(
            "--only takes one of {:?}, not {g}",
            kernels::GROUPS
        ));
    }
    o.runs = o.runs.max(1);
    (kernels.then_some(only), o)
}

fn die(msg: &str) -> ! {
    eprintln!("bench: {msg}");
    std::process::exit(2)
}

fn num(s: &str) -> usize {
    s.parse()
        .unwrap_or_else(|_| die(&format!("{s} is not a number")))
}

/// Median of `v` (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Runs `f` `warmup` times unrecorded, then `runs` times; returns every run.
fn repeat<T>(o: &Opts, what: &str, mut f: impl FnMut() -> T) -> Vec<T> {
    for _ in 0..o.warmup {
        f();
    }
    (0..o.runs)
        .map(|i| {
            eprintln!("bench: {what} run {}/{}", i + 1, o.runs);
            f()
        })
        .collect()
}

/// One decode: tok/s and GPU work per steady-state token.
struct Decode {
    tok_s: f64,
    ttft_ms: f64,
    per_token: CounterSnapshot,
    steady_tokens: u64,
}

/// Generates `n` tokens after `prompt` from an empty cache.
fn decode(e: &mut Engine, prompt: &[u32], n: usize) -> Decode {
    let s = e.session.gpu().expect("the GPU session");
    s.reset();
    s.start(prompt, &SamplerParams::default(), n).unwrap();
    let (mut a, mut b) = (None, None);
    let mut got = 0usize;
    while pollster::block_on(s.next_token()).unwrap().is_some() {
        got += 1;
        // Steady state: after token 1 is read until token n-2 is read;
        // each call in between submits one step and reads one id.
        if got == 2 {
            a = Some(s.gpu.counters.snapshot());
        }
        if got + 1 == n {
            b = Some(s.gpu.counters.snapshot());
        }
    }
    let (_, stats) = s.finish().unwrap();
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let d = b.since(&a);
    let steady = (got.saturating_sub(3)) as u64;
    let per = |v: u64| v.checked_div(steady).unwrap_or(0);
    Decode {
        tok_s: stats.decode_tok_s,
        ttft_ms: stats.ttft_ms,
        per_token: CounterSnapshot {
            submits: per(d.submits),
            passes: per(d.passes),
            dispatches: per(d.dispatches),
            readback_bytes: per(d.readback_bytes),
            // Creation counts are totals over the steady state: 0 expected.
            ..d
        },
        steady_tokens: steady,
    }
}

/// Prefill of `prompt` from an empty cache: (tok/s, ttft ms).
fn prefill(e: &mut Engine, prompt: &[u32]) -> (f64, f64) {
    let s = e.session.gpu().expect("the GPU session");
    s.reset();
    s.start(prompt, &SamplerParams::default(), 1).unwrap();
    while pollster::block_on(s.next_token()).unwrap().is_some() {}
    let (_, st) = s.finish().unwrap();
    (prompt.len() as f64 / (st.ttft_ms / 1000.0), st.ttft_ms)
}

fn load(file: &[u8]) -> (Engine, f64) {
    let t = Instant::now();
    // The GPU path: the benchmark measures it on this adapter (lavapipe).
    let opts = LoadOptions {
        backend: BackendChoice::Gpu,
        ..LoadOptions::default()
    };
    let e = pollster::block_on(Engine::load(file, &opts)).unwrap();
    (e, t.elapsed().as_secs_f64() * 1000.0)
}

fn model_bench(o: &Opts) -> Value {
    let path = edge_llm::models::resolve(&o.model).unwrap();
    let t = Instant::now();
    let file = std::fs::read(&path).unwrap();
    let read_ms = t.elapsed().as_secs_f64() * 1000.0;
    // Cold: the first load in this process (driver shader compiles included).
    let (e, cold_ms) = load(&file);
    drop(e);
    let mut warm = Vec::new();
    for _ in 0..o.runs.min(3) {
        let (e, ms) = load(&file);
        drop(e);
        warm.push(ms);
    }
    let (mut e, _) = load(&file);
    let base = e
        .session
        .gpu()
        .expect("the GPU session")
        .gpu
        .counters
        .snapshot();
    let text: String = o
        .texts
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let all = e.tokenize(&text).unwrap();
    let take = |n: usize| {
        if all.len() < n {
            die(&format!("the texts give {} tokens, {n} needed", all.len()))
        }
        all[..n].to_vec()
    };
    let short = e
        .tokenize("Once upon a time, in a quiet village by the sea,")
        .unwrap();
    let mut prefill_out = serde_json::Map::new();
    for n in [128usize, 512] {
        let p = take(n);
        let runs = repeat(o, &format!("prefill {n}"), || prefill(&mut e, &p));
        let tok_s: Vec<f64> = runs.iter().map(|r| r.0).collect();
        let ttft: Vec<f64> = runs.iter().map(|r| r.1).collect();
        prefill_out.insert(
            n.to_string(),
            json!({"tok_s": round2(median(&tok_s)), "ttft_ms": round2(median(&ttft)),
                   "runs_tok_s": tok_s.iter().map(|v| round2(*v)).collect::<Vec<_>>()}),
        );
    }
    let mut decode_out = serde_json::Map::new();
    let mut per_token = None;
    let long = take(o.long_context);
    for (name, p) in [("short", &short), ("long", &long)] {
        let runs = repeat(o, &format!("decode {name}"), || {
            decode(&mut e, p, o.decode_tokens)
        });
        let tok_s: Vec<f64> = runs.iter().map(|r| r.tok_s).collect();
        let ttft: Vec<f64> = runs.iter().map(|r| r.ttft_ms).collect();
        decode_out.insert(
            name.to_string(),
            json!({"context_tokens": p.len(), "tokens": o.decode_tokens,
                   "tok_s": round2(median(&tok_s)), "ttft_ms": round2(median(&ttft)),
                   "runs_tok_s": tok_s.iter().map(|v| round2(*v)).collect::<Vec<_>>()}),
        );
        if per_token.is_none() {
            per_token = runs
                .last()
                .map(|r| json!({"steady_tokens": r.steady_tokens, "counts": r.per_token}));
        }
    }
    let s = e.session.gpu().expect("the GPU session");
    let total = s.gpu.counters.snapshot();
    let c = s.model.config.clone();
    let info = e.info();
    json!({
        "engine": "edge-llm",
        "version": env!("CARGO_PKG_VERSION"),
        "model": o.model,
        "file": path.display().to_string(),
        "file_bytes": file.len(),
        "adapter": info.adapter,
        "n_layers": c.n_layers,
        "runs": o.runs,
        "warmup": o.warmup,
        "load_ms": {"read_file": round2(read_ms), "cold": round2(cold_ms),
                    "warm": round2(median(&warm))},
        "ttft_ms": decode_out.get("short").map(|d| d["ttft_ms"].clone()),
        "prefill": prefill_out,
        "decode": decode_out,
        "per_token": per_token,
        "dispatch_budget_per_token": 6 * c.n_layers + 4,
        "gpu_buffer_bytes_peak": total.buffer_bytes,
        "gpu_model_bytes": info.gpu_bytes,
        "created_after_load": total.since(&base),
    })
}

fn main() {
    let (kernels, o) = parse();
    let out = if let Some(only) = kernels {
        kernels::run(o.runs, only.as_deref())
    } else {
        model_bench(&o)
    };
    println!("{out}");
}
