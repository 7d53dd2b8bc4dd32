//! Kernel micro-benchmarks (`--kernels`): each kernel at SmolLM2-135M's
//! shapes, recorded `REPS` times into one compute pass, so the time per
//! dispatch excludes submit and readback. Reports GB/s (bytes the kernel
//! must read: weights, activations, KV cache) and GFLOP/s.

use std::time::Instant;

use edge_llm::gguf::GgmlType;
use edge_llm::gpu::{Gpu, MatvecLayout, StepParams};
use edge_llm::ops::{self, AttnKernel, AttnShape, Dispatch, KvCache, MatvecOpts, Weight};
use serde_json::{json, Value};

const REPS: u32 = 20;

/// SmolLM2-135M: dim 576, ffn 1536, 9 heads of 64 over 3 KV heads, vocab 49152.
const DIM: usize = 576;
const FFN: usize = 1536;
const VOCAB: usize = 49152;
const QKV: usize = DIM + 2 * 3 * 64;

const TYPES: [GgmlType; 5] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
];

/// Deterministic filler bytes (xorshift); scales are set to sane f16s so no
/// denormal or NaN arithmetic distorts the timing.
fn weight_bytes(ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let mut s = 0x9E37_79B9u32;
    let mut byte = || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        s as u8
    };
    let n = rows * cols;
    let scale = half::f16::from_f32(0.03).to_le_bytes();
    let mut out = Vec::new();
    match ty {
        GgmlType::F32 => {
            for _ in 0..n {
                out.extend((f32::from(byte()) / 256.0 - 0.5).to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for _ in 0..n {
                out.extend(half::f16::from_f32(f32::from(byte()) / 256.0 - 0.5).to_le_bytes());
            }
        }
        _ => {
            let (extra, quant) = match ty {
                GgmlType::Q8_0 => (0, 32),
                GgmlType::Q4_0 => (0, 16),
                _ => (2, 16),
            };
            for _ in 0..n / 32 {
                out.extend(scale);
                out.extend(&scale[..extra]);
                out.extend((0..quant).map(|_| byte()));
            }
        }
    }
    out
}

fn storage(gpu: &Gpu, label: &str, elems: usize, v: f32) -> wgpu::Buffer {
    gpu.storage_init(label, bytemuck::cast_slice(&vec![v; elems]))
        .unwrap()
}

fn step(gpu: &Gpu, n_tokens: u32, pos0: u32) -> wgpu::Buffer {
    let p = StepParams {
        n_tokens,
        pos0,
        top_p: 1.0,
        rep_penalty: 1.0,
        ..Default::default()
    };
    gpu.uniform_init("step", bytemuck::bytes_of(&p)).unwrap()
}

/// Median seconds per dispatch of `d` over 3 timed submits of `REPS`.
fn time(gpu: &Gpu, d: &Dispatch, n_tokens: u32, runs: usize) -> f64 {
    let once = || {
        let t = Instant::now();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..REPS {
                d.encode(&mut pass, n_tokens);
            }
        }
        gpu.queue.submit([enc.finish()]);
        gpu.wait().unwrap();
        t.elapsed().as_secs_f64() / f64::from(REPS)
    };
    once(); // warm-up: pipeline compile and first touch of the buffers
    let v: Vec<f64> = (0..runs).map(|_| once()).collect();
    super::median(&v)
}

fn row(kernel: &str, shape: String, secs: f64, bytes: f64, flops: f64) -> Value {
    let r2 = |x: f64| (x * 100.0).round() / 100.0;
    eprintln!(
        "{kernel:<28} {shape:<22} {:>9.1} us {:>7.2} GB/s {:>7.2} GFLOP/s",
        secs * 1e6,
        bytes / secs / 1e9,
        flops / secs / 1e9
    );
    json!({"kernel": kernel, "shape": shape, "us": r2(secs * 1e6),
           "gb_s": r2(bytes / secs / 1e9), "gflop_s": r2(flops / secs / 1e9)})
}

fn matvecs(gpu: &Gpu, runs: usize, out: &mut Vec<Value>) {
    let st = step(gpu, 1, 0);
    // Room for the decode matvec's uniform view of x (`ops::X_UNIFORM_BYTES`).
    let x = storage(gpu, "x", FFN.max(ops::X_UNIFORM_BYTES as usize / 4), 0.5);
    let y = storage(gpu, "y", VOCAB, 0.0);
    let nw = storage(gpu, "nw", FFN, 1.0);
    // (name, rows of the weight, k, fused options) as decode uses them.
    let shapes: [(&str, usize, usize, bool, bool); 4] = [
        ("qkv+norm", QKV, DIM, true, false),
        ("gate_up+norm+swiglu", 2 * FFN, DIM, true, true),
        ("down+residual", DIM, FFN, false, false),
        ("lm_head+norm", VOCAB, DIM, true, false),
    ];
    // Both kernels where the adapter has subgroups: the portable one is
    // what adapters without them (Chromium's SwiftShader) run.
    let paths: &[bool] = match gpu.info.subgroup_lanes {
        Some(_) => &[false, true],
        None => &[true],
    };
    for ty in TYPES {
        for &(name, rows, k, norm, swiglu) in &shapes {
            let w = Weight::upload(gpu, name, ty, &weight_bytes(ty, rows, k), rows, k).unwrap();
            for &portable in paths {
                let opts = MatvecOpts {
                    norm: norm.then_some((&nw, 1e-5)),
                    swiglu,
                    residual: name.contains("residual"),
                    // Forcing a layout skips the subgroup kernel.
                    layout: portable.then_some(MatvecLayout::Groups),
                    split: None,
                    rope: None,
                    lanes: None,
                    // As the decode list runs it (x uniform on CPU adapters
                    // where x's buffer is large enough).
                    decode: true,
                    parts: None,
                    fold: None,
                };
                let d = ops::matvec(gpu, &st, &w, &x, &y, opts).unwrap();
                let secs = time(gpu, &d, 1, runs);
                let bytes = (w.store.bytes() + (k * 4) as u64) as f64;
                let flops = 2.0 * (rows * k) as f64;
                let path = if portable { "wg" } else { "sg" };
                out.push(row(
                    &format!("matvec {} {name} {path}", ty.name()),
                    format!("{rows}x{k}"),
                    secs,
                    bytes,
                    flops,
                ));
            }
        }
    }
}

fn attention(gpu: &Gpu, runs: usize, out: &mut Vec<Value>) {
    let s = AttnShape {
        n_heads: 9,
        n_kv_heads: 3,
        head_dim: 64,
        ctx: 2048,
    };
    let qkv = storage(gpu, "qkv", 64 * s.qkv_width(), 0.1);
    // The caches in buffers and in textures (`ops::KvCache`), 0.1 as f16
    // pairs.
    let words = vec![0x2e66_2e66u32; s.cache_words()];
    let caches = [false, true].map(|tex| {
        let kv = KvCache::new(gpu, "bench", s, tex).unwrap();
        kv.k.write(gpu, &words).unwrap();
        kv.v.write(gpu, &words).unwrap();
        kv
    });
    let o = storage(gpu, "o", 64 * DIM, 0.0);
    for (n_tokens, pos) in [(1u32, 128u32), (1, 1024), (64, 448)] {
        let st = step(gpu, n_tokens, pos);
        // Each subgroup kernel this adapter runs (the portable one where
        // there are none).
        let kernels = if gpu.info.subgroup_lanes.is_some() {
            vec![AttnKernel::KeyLanes, AttnKernel::DimLanes]
        } else {
            vec![AttnKernel::Portable]
        };
        for (pick, kv) in kernels
            .into_iter()
            .flat_map(|p| caches.iter().map(move |kv| (p, kv)))
        {
            let d = ops::attention_with(gpu, &st, s, 0.125, 0, &qkv, kv, &o, 64, pick).unwrap();
            let secs = time(gpu, &d, n_tokens, runs);
            let keys = f64::from(pos + n_tokens);
            // K and V of every KV head once; 4 flops per key per dim per head.
            let bytes = 2.0 * keys * (s.n_kv_heads * s.head_dim * 4) as f64;
            let flops = 4.0 * keys * f64::from(n_tokens) * (s.n_heads * s.head_dim) as f64;
            let store = if kv.is_texture() { "texture" } else { "buffer" };
            out.push(row(
                &format!("attention {pick:?} {store}"),
                format!("{n_tokens} tok @ pos {pos}"),
                secs,
                bytes,
                flops,
            ));
        }
    }
}

fn gemms(gpu: &Gpu, runs: usize, out: &mut Vec<Value>) {
    let n_tokens = 64u32;
    let st = step(gpu, n_tokens, 0);
    let x = storage(gpu, "x", 64 * FFN, 0.5);
    let y = storage(gpu, "y", 64 * 2 * FFN, 0.0);
    let sg = ops::gemm_subgroup(gpu);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_1] {
        for (name, rows, k) in [("gate_up", 2 * FFN, DIM), ("down", DIM, FFN)] {
            let bytes = weight_bytes(ty, rows, k);
            // Both weight stores: ops::tune races the layouts on the one
            // decode picked, and they rank differently on each.
            for tex in [false, true] {
                let w = Weight::upload_to(gpu, name, ty, &bytes, rows, k, tex).unwrap();
                for layout in [MatvecLayout::Groups, MatvecLayout::Rows] {
                    let d = ops::gemm_in_layout(
                        gpu,
                        &st,
                        &w,
                        &x,
                        &y,
                        Default::default(),
                        64,
                        layout,
                        sg,
                    )
                    .unwrap();
                    let secs = time(gpu, &d, n_tokens, runs);
                    let bytes =
                        (w.store.bytes() + u64::from(n_tokens) * (k + rows) as u64 * 4) as f64;
                    let flops = 2.0 * f64::from(n_tokens) * (rows * k) as f64;
                    let store = if tex { "texture" } else { "buffer" };
                    out.push(row(
                        &format!("gemm {} {name} {layout:?} {store}", ty.name()),
                        format!("{n_tokens} tok x {rows}x{k}"),
                        secs,
                        bytes,
                        flops,
                    ));
                }
            }
        }
    }
}

/// Every kernel micro-benchmark, as one JSON object.
/// The kernel groups, as `--only` names them.
pub const GROUPS: [&str; 3] = ["matvec", "attention", "gemm"];

/// Every group of kernels, or only `only` (one of `GROUPS`).
pub fn run(runs: usize, only: Option<&str>) -> Value {
    let gpu = pollster::block_on(Gpu::new()).unwrap();
    eprintln!("kernels on {} ({})", gpu.info.name, gpu.info.driver);
    let mut rows = Vec::new();
    let groups: [fn(&Gpu, usize, &mut Vec<Value>); 3] = [matvecs, attention, gemms];
    for (name, group) in GROUPS.into_iter().zip(groups) {
        if only.is_none_or(|o| o == name) {
            group(&gpu, runs, &mut rows);
        }
    }
    json!({"engine": "edge-llm", "adapter": gpu.info, "reps_per_submit": REPS, "kernels": rows})
}
