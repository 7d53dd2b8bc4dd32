//! Helpers for the GPU kernel tests: one shared device, a deterministic
//! PRNG, random GGUF weights, guarded output buffers and error metrics.

#![allow(dead_code)]

pub use edge_llm::cpu::sample as sampler;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use edge_llm::gguf::GgmlType;
use edge_llm::gpu::{Gpu, StepParams};
use edge_llm::ops::{Dispatch, KvCache, KvStore};

/// Written past the end of every output; a kernel that writes out of bounds
/// (within the buffer) changes it.
pub const SENTINEL: f32 = 1234.5;
/// Guard band length in f32 elements (odd on purpose: not a tile multiple).
pub const GUARD: usize = 67;

/// The one device all tests share. Fails (does not skip) without an adapter.
pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| match pollster::block_on(Gpu::new()) {
        Ok(g) => {
            eprintln!(
                "GPU: {} ({}, {})",
                g.info.name, g.info.backend, g.info.driver
            );
            g
        }
        Err(e) => panic!(
            "no usable GPU adapter: {e}. These tests need Vulkan; on a machine \
             without a GPU install Mesa lavapipe (apt install mesa-vulkan-drivers) \
             and check `vulkaninfo --summary`"
        ),
    })
}

/// splitmix64: small, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn u32(&mut self) -> u32 {
        (self.u64() >> 32) as u32
    }

    /// Uniform in [0, 1).
    pub fn f32(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.f32()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }

    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }
}

fn f16_bytes(v: f32) -> [u8; 2] {
    half::f16::from_f32(v).to_le_bytes()
}

/// Random `[rows, cols]` weight as GGUF block bytes of type `ty`: f16 scales
/// in 0.01..0.1 (Q4_1 mins in -0.1..0.1), uniformly random quants.
pub fn rand_weight(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let n = rows * cols;
    let mut out = Vec::new();
    let bytes = |out: &mut Vec<u8>, rng: &mut Rng, k: usize| {
        out.extend((0..k).map(|_| rng.u32() as u8));
    };
    match ty {
        GgmlType::F32 => out.extend((0..n).flat_map(|_| rng.range(-1.0, 1.0).to_le_bytes())),
        GgmlType::F16 => out.extend((0..n).flat_map(|_| f16_bytes(rng.range(-1.0, 1.0)))),
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 => {
            assert_eq!(cols % 32, 0, "block types need cols % 32 == 0");
            for _ in 0..n / 32 {
                out.extend(f16_bytes(rng.range(0.01, 0.1)));
                match ty {
                    GgmlType::Q8_0 => bytes(&mut out, rng, 32),
                    GgmlType::Q4_0 => bytes(&mut out, rng, 16),
                    _ => {
                        out.extend(f16_bytes(rng.range(-0.1, 0.1)));
                        bytes(&mut out, rng, 16);
                    }
                }
            }
        }
        other => panic!("no random weights for {other:?}"),
    }
    out
}

/// The GPU weight types.
pub const TYPES: [GgmlType; 5] = [
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
];

/// A storage buffer holding `data`.
pub fn upload(data: &[f32]) -> wgpu::Buffer {
    gpu()
        .storage_init("test input", bytemuck::cast_slice(data))
        .unwrap()
}

/// A storage buffer holding `ids`.
pub fn upload_u32(ids: &[u32]) -> wgpu::Buffer {
    gpu()
        .storage_init("test ids", bytemuck::cast_slice(ids))
        .unwrap()
}

/// A KV cache's words from its values: f16 pairs (dims 2w, 2w + 1 in word
/// w, as shaders/rope_kv.wgsl writes them), as f32 bit patterns so that
/// `upload`, `guarded` and `read_guarded` move them unchanged.
pub fn f16_words(values: &[f32]) -> Vec<f32> {
    values
        .chunks_exact(2)
        .map(|p| {
            let lo = u32::from(half::f16::from_f32(p[0]).to_bits());
            let hi = u32::from(half::f16::from_f32(p[1]).to_bits());
            f32::from_bits(lo | (hi << 16))
        })
        .collect()
}

/// The values of `f16_words`' words.
pub fn f16_values(words: &[f32]) -> Vec<f32> {
    words
        .iter()
        .flat_map(|w| {
            let b = w.to_bits();
            [b as u16, (b >> 16) as u16].map(|h| half::f16::from_bits(h).to_f32())
        })
        .collect()
}

/// `v` rounded to f16, as a KV cache keeps it.
pub fn f16_round(v: &[f32]) -> Vec<f32> {
    f16_values(&f16_words(v))
}

/// `v` followed by zeros up to `ops::X_UNIFORM_BYTES`: an x the decode
/// matvec may bind as a uniform.
pub fn padded(v: &[f32]) -> Vec<f32> {
    let mut p = v.to_vec();
    p.resize(
        v.len().max(edge_llm::ops::X_UNIFORM_BYTES as usize / 4),
        0.0,
    );
    p
}

/// An output buffer holding `init` followed by `GUARD` sentinels.
pub fn guarded(init: &[f32]) -> wgpu::Buffer {
    let mut v = init.to_vec();
    v.extend(std::iter::repeat_n(SENTINEL, GUARD));
    upload(&v)
}

/// A KV cache holding `k` and `v` (f16 words as f32 bit patterns,
/// `f16_words`) followed by sentinels: `GUARD` of them in buffers, or
/// (`tex`) the rest of the textures' last row.
pub fn kv_cache(k: &[f32], v: &[f32], tex: bool) -> KvCache {
    if !tex {
        return KvCache::from_buffers(guarded(k), guarded(v));
    }
    let g = gpu();
    let store = |init: &[f32], label: &str| {
        let s = KvStore::new(g, label, (init.len() + GUARD) as u64, true).unwrap();
        assert!(s.is_texture(), "{label}: a texture on this adapter");
        let mut words: Vec<u32> = init.iter().map(|x| x.to_bits()).collect();
        words.resize(s.words() as usize, SENTINEL.to_bits());
        s.write(g, &words).unwrap();
        s
    };
    KvCache {
        k: store(k, "test k cache"),
        v: store(v, "test v cache"),
    }
}

/// `kv_cache`'s first `n` words of K and V (as f32 bit patterns), after
/// checking that the sentinels past them are untouched.
pub fn read_kv(kv: &KvCache, n: usize, what: &str) -> (Vec<f32>, Vec<f32>) {
    let read = |s: &KvStore, name: &str| {
        let words = pollster::block_on(s.read(gpu())).unwrap();
        let all: Vec<f32> = words.into_iter().map(f32::from_bits).collect();
        assert!(all.len() >= n + GUARD, "{what}: {name} too small");
        let end = if s.is_texture() { all.len() } else { n + GUARD };
        for (i, &v) in all[n..end].iter().enumerate() {
            assert!(
                v.to_bits() == SENTINEL.to_bits(),
                "{what}: {name}: stray write at word {}: {v}",
                n + i
            );
        }
        all[..n].to_vec()
    };
    (read(&kv.k, "k cache"), read(&kv.v, "v cache"))
}

/// Reads a whole f32 buffer.
pub fn read_all(buf: &wgpu::Buffer) -> Vec<f32> {
    pollster::block_on(gpu().read_f32(buf, 0, buf.size() / 4)).unwrap()
}

/// Reads a whole u32 buffer.
pub fn read_u32(buf: &wgpu::Buffer) -> Vec<u32> {
    let b = pollster::block_on(gpu().read_bytes(buf, 0, buf.size())).unwrap();
    bytemuck::pod_collect_to_vec(&b)
}

/// Reads the first `n` values of a `guarded` buffer after checking that its
/// guard band still holds the sentinel.
pub fn read_guarded(buf: &wgpu::Buffer, n: usize, what: &str) -> Vec<f32> {
    let all = read_all(buf);
    assert!(all.len() >= n + GUARD, "{what}: buffer too small");
    // Buffers are rounded up to whole vec4s; the padding is not ours to check.
    for (i, &v) in all[n..n + GUARD].iter().enumerate() {
        assert!(
            v.to_bits() == SENTINEL.to_bits(),
            "{what}: stray write at element {} (guard offset {i}): {v}",
            n + i
        );
    }
    all[..n].to_vec()
}

/// A step uniform buffer.
pub fn step(p: StepParams) -> wgpu::Buffer {
    gpu()
        .uniform_init("test step", bytemuck::bytes_of(&p))
        .unwrap()
}

/// A plain step of `n_tokens` tokens at `pos0` (sampler off).
pub fn step_tokens(n_tokens: u32, pos0: u32) -> wgpu::Buffer {
    step(StepParams {
        n_tokens,
        pos0,
        top_p: 1.0,
        rep_penalty: 1.0,
        ..Default::default()
    })
}

/// Encodes `ds` into one compute pass, submits and waits; fails on any
/// GPU validation error.
pub fn run(ds: &[&Dispatch], n_tokens: u32) {
    let g = gpu();
    let mut enc = g.device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        for d in ds {
            d.encode(&mut pass, n_tokens);
        }
    }
    g.queue.submit([enc.finish()]);
    g.wait().unwrap();
}

/// Normalized mean squared error `sum((a - b)^2) / sum(b^2)` (f64).
pub fn nmse(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&a, &b) in got.iter().zip(want) {
        let d = f64::from(a) - f64::from(b);
        num += d * d;
        den += f64::from(b) * f64::from(b);
    }
    if den == 0.0 {
        if num == 0.0 {
            0.0
        } else {
            f64::INFINITY
        }
    } else {
        num / den
    }
}

/// Worst NMSE seen per kernel (first word of `what`), for the report.
static WORST: Mutex<BTreeMap<String, f64>> = Mutex::new(BTreeMap::new());

/// Prints the worst NMSE of `kernel` so far (visible with --nocapture).
pub fn print_worst(kernel: &str) {
    let w = WORST.lock().unwrap().get(kernel).copied();
    eprintln!("{kernel}: worst nmse {w:?}");
}

/// Asserts `nmse(got, want) <= tol` (NaN fails), naming the worst element.
pub fn assert_close(got: &[f32], want: &[f32], tol: f64, what: &str) {
    let e = nmse(got, want);
    let kernel = what.split_whitespace().next().unwrap_or("").to_string();
    let mut worst = WORST.lock().unwrap();
    let slot = worst.entry(kernel).or_insert(0.0);
    *slot = slot.max(e);
    drop(worst);
    if e.is_nan() || e > tol {
        let (i, d) = got
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .enumerate()
            .fold((0, -1.0f32), |acc, (i, d)| {
                if d > acc.1 || d.is_nan() {
                    (i, d)
                } else {
                    acc
                }
            });
        panic!(
            "{what}: nmse {e:.3e} > {tol:.0e}; worst at {i}: got {} want {} (|d| {d})",
            got[i], want[i]
        );
    }
}
