//! Times each decode dispatch kind on the current adapter (tuning aid):
//! `cargo run --release --example profile_decode [MODEL] [--prefill N] [--pos P] [--soak S] [--pairs N] [--sample]`.
//! Each op of the decode list at position P (or, with `--prefill N`, of the
//! prefill list run on N tokens from position P; P defaults to 0 there and
//! to where the warm-up left the cache for decode) is recorded REPS times
//! in one submit. The cache holds 2048 positions. `--soak S` then runs
//! whole lists for S seconds and prints ms a list (for `perf` and A/B runs).
//! `--pairs N` then times, for each kind of op and the kind before it in
//! the list, [before, op] against [before] and [op] alone (N rounds in
//! turns, medians): a pipeline switch that costs more than its two
//! dispatches shows as the excess (lavapipe compiled the greedy sampler
//! again after every other pipeline; shaders/sample.wgsl).
//! `--ab N` then times the decode list against the same list built with
//! `GpuInfo::fuse_attention` off, in turns (N pairs of REPS lists each,
//! one process: the machine's drift hits both alike), and prints the
//! medians and the median ratio. `--sample` (with `--pos`): the step samples
//! (temperature 0.7, top-k 40, top-p 0.9) instead of taking the argmax.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Instant;

use edge_llm::engine::{BackendChoice, Engine, Flow, GenerateOptions, LoadOptions, SamplerParams};
use edge_llm::model::llama_gpu::{LlamaGpu, Op};

const REPS: u32 = 10;
const CTX: u32 = 2048;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefill = args
        .iter()
        .position(|a| a == "--prefill")
        .map(|i| args[i + 1].parse::<u32>().unwrap());
    // Where the prefill chunk starts, or the decode step's position
    // (attention grows with it).
    let pos = args
        .iter()
        .position(|a| a == "--pos")
        .map(|i| args[i + 1].parse::<u32>().unwrap());
    let arg = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "smollm2-135m".into());
    let path = edge_llm::models::resolve(&arg).unwrap();
    let file = std::fs::read(path).unwrap();
    let mut e = pollster::block_on(Engine::load(
        &file,
        &LoadOptions {
            ctx: CTX as usize,
            // The prefill GEMMs' token tiles are made at load for
            // max_batch tokens: with 64, `--prefill 128` timed 64.
            max_batch: prefill.map_or(64, |n| n.max(1) as usize),
            backend: BackendChoice::Gpu,
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
    // A real decode run beside the list timings below: what a step costs
    // on top of its dispatches (uniform write, readback, host work).
    e.session.reset();
    let long = GenerateOptions {
        max_tokens: 64,
        ..Default::default()
    };
    let g = pollster::block_on(e.generate(&ids, &long, |_| Flow::Continue)).unwrap();
    println!(
        "generate 64: decode {:.2} tok/s ({:.2} ms a token)",
        g.stats.decode_tok_s,
        1000.0 / g.stats.decode_tok_s
    );
    let s = e.session.as_gpu().expect("the GPU session");
    let i = &s.gpu.info;
    println!(
        "tuned: matvec {:?} split {}, gemm {:?} {:?} ms, weight textures {}, KV textures {} {:?} ms",
        i.matvec_layout,
        i.matvec_split,
        i.gemm_layout,
        i.gemm_tune_ms,
        i.weight_textures,
        i.kv_textures,
        i.kv_tune_ms
    );
    let sampler = if args.iter().any(|a| a == "--sample") {
        SamplerParams {
            temperature: 0.7,
            top_k: 40,
            top_p: 0.9,
            ..Default::default()
        }
    } else {
        SamplerParams::default()
    };
    let (ops, n_tokens) = match prefill {
        Some(n) => {
            // The step uniform of an n-token prefill chunk at position pos0.
            let pos0 = pos.unwrap_or(0);
            assert!(
                pos0 + n <= CTX,
                "--pos {pos0} + --prefill {n} past the {CTX}-token cache"
            );
            let sp = SamplerParams::default();
            s.model.set_step(&s.gpu, &sp.step(n, pos0, 0));
            (&s.model.prefill, n)
        }
        None => {
            if let Some(p) = pos {
                assert!(p < CTX, "--pos {p} past the {CTX}-token cache");
                s.model.set_step(&s.gpu, &sampler.step(1, p, 0));
            }
            (&s.model.decode, 1)
        }
    };
    let mut per_kind: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    let kind_of = |op: &Op| {
        let kind = format!("{:?}", op.dispatch.kernel);
        op.name.rsplit('.').next().unwrap_or("").to_string() + " " + &kind
    };
    for op in ops {
        let t = Instant::now();
        let mut enc = s.gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..REPS {
                op.dispatch.encode(&mut pass, n_tokens);
            }
        }
        s.gpu.queue.submit([enc.finish()]);
        s.gpu.wait().unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(REPS);
        let entry = per_kind.entry(kind_of(op)).or_default();
        entry.0 += ms;
        entry.1 += 1;
    }
    // Second column: each kind's ops alone, in list order, REPS such
    // lists a submit: every op then streams its weights from memory as in
    // a real step, so hot minus this is what the caches hid.
    let total: f64 = per_kind.values().map(|v| v.0).sum();
    let mut total_seq = 0.0;
    println!("  ms (hot)   ms (in sequence)");
    for (k, (ms, n)) in &per_kind {
        let kind_ops: Vec<&Op> = ops.iter().filter(|op| kind_of(op) == *k).collect();
        let mut seq: Vec<f64> = (0..3)
            .map(|_| time_lists(&s.gpu, &kind_ops, n_tokens, REPS))
            .collect();
        seq.sort_by(f64::total_cmp);
        total_seq += seq[1];
        println!("{ms:9.2} {:9.2} ms  {n:3}x  {k}", seq[1]);
    }
    println!(
        "{total:9.2} {total_seq:9.2} ms per {n_tokens} token(s) ({:.2} tok/s hot)",
        1000.0 * f64::from(n_tokens) / total
    );
    // The whole list REPS times in one submit: every op streams its
    // weights from memory as on a real step (above, REPS runs of one op
    // keep its weight in the CPU's caches), but nothing of the host side
    // of a token (encode, submit, readback) is in it.
    let all: Vec<&Op> = ops.iter().collect();
    let mut whole: Vec<f64> = (0..3)
        .map(|_| time_lists(&s.gpu, &all, n_tokens, REPS))
        .collect();
    whole.sort_by(f64::total_cmp);
    println!(
        "{:9.2} ms per whole list (median of 3 submits of {REPS} lists)",
        whole[1]
    );
    // `--soak S`: run whole lists for S more seconds, for a profiler
    // attached to this process (`perf record -p PID`).
    let soak = args
        .iter()
        .position(|a| a == "--soak")
        .map_or(0.0, |i| args[i + 1].parse::<f64>().unwrap());
    println!("soak {soak} s (pid {})", std::process::id());
    let t = Instant::now();
    let mut lists = 0u32;
    while t.elapsed().as_secs_f64() < soak {
        lists += 1;
        time_lists(&s.gpu, &all, n_tokens, 1);
    }
    if soak > 0.0 {
        let ms = t.elapsed().as_secs_f64() * 1e3 / f64::from(lists.max(1));
        println!("soak: {lists} lists, {ms:.2} ms a list");
    }
    if let Some(rounds) = args
        .iter()
        .position(|a| a == "--pairs")
        .map(|i| args[i + 1].parse::<usize>().unwrap())
    {
        pair_excess(&s.gpu, ops, n_tokens, rounds, kind_of);
    }
    if let Some(pairs) = args
        .iter()
        .position(|a| a == "--ab")
        .map(|i| args[i + 1].parse::<usize>().unwrap())
    {
        ab(
            e.session.gpu().expect("the GPU session"),
            &file,
            pos.unwrap_or(20),
            pairs,
        );
    }
}

/// `--ab`: the decode list (A) against one built with
/// `GpuInfo::fuse_attention` off (B), REPS lists a submit, in turns.
fn ab(s: &mut edge_llm::engine::Session, file: &[u8], pos: u32, pairs: usize) {
    let g = edge_llm::gguf::parse(file).unwrap();
    s.gpu.info.fuse_attention = false;
    let b = LlamaGpu::load(&s.gpu, &g, file, CTX as usize, 64).unwrap();
    s.gpu.info.fuse_attention = true;
    let step = SamplerParams::default().step(1, pos, 0);
    s.model.set_step(&s.gpu, &step);
    b.set_step(&s.gpu, &step);
    println!(
        "A/B at position {pos}: {} vs {} dispatches a token",
        s.model.decode.len(),
        b.decode.len()
    );
    let (la, lb): (Vec<&Op>, Vec<&Op>) =
        (s.model.decode.iter().collect(), b.decode.iter().collect());
    let time = |ops: &[&Op]| time_lists(&s.gpu, ops, 1, REPS);
    let (mut ta, mut tb, mut r) = (vec![], vec![], vec![]);
    for _ in 0..pairs {
        let a = time(&la);
        let bb = time(&lb);
        r.push(a / bb);
        ta.push(a);
        tb.push(bb);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "A (fused) {:.2} ms, B {:.2} ms a list (medians of {pairs}); A/B median {:.3}",
        median(&mut ta),
        median(&mut tb),
        median(&mut r)
    );
}

/// `--pairs`: for each distinct (kind before, kind) of consecutive ops,
/// the median ms of [a, b] minus those of [a] and [b], `reps` lists a
/// submit, `rounds` rounds in turns.
fn pair_excess(
    gpu: &edge_llm::gpu::Gpu,
    ops: &[Op],
    n_tokens: u32,
    rounds: usize,
    kind_of: impl Fn(&Op) -> String,
) {
    let mut seen = std::collections::BTreeSet::new();
    println!("pipeline switches ([a, b] - [a] - [b], medians of {rounds}):");
    for w in ops.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        if !seen.insert((kind_of(a), kind_of(b))) {
            continue;
        }
        let lists: [Vec<&Op>; 3] = [vec![a], vec![b], vec![a, b]];
        let mut t: [Vec<f64>; 3] = Default::default();
        for _ in 0..rounds.max(1) {
            for (l, v) in lists.iter().zip(t.iter_mut()) {
                v.push(time_lists(gpu, l, n_tokens, REPS));
            }
        }
        let [ta, tb, tab] = t.map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        });
        println!(
            "{:8.2} ms  {} -> {}  ({ta:.2} + {tb:.2} alone, {tab:.2} together)",
            tab - ta - tb,
            a.name,
            b.name
        );
    }
}

/// `ops` `reps` times in one pass and one submit: ms a list, waited for.
fn time_lists(gpu: &edge_llm::gpu::Gpu, ops: &[&Op], n_tokens: u32, reps: u32) -> f64 {
    let t = Instant::now();
    let mut enc = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for _ in 0..reps {
            for op in ops {
                op.dispatch.encode(&mut pass, n_tokens);
            }
        }
    }
    gpu.queue.submit([enc.finish()]);
    gpu.wait().unwrap();
    t.elapsed().as_secs_f64() * 1000.0 / f64::from(reps)
}
