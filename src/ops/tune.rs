//! Picks, once per device, the kernel layouts that run fastest on it.
//!
//! Adapters differ by more than any fixed choice can cover: on lavapipe the
//! cooperative matvec (`MatvecLayout::Groups`) is ~3x faster than one row
//! per invocation, on SwiftShader (Chromium without a GPU) it is ~4-7x
//! slower, and adapter names do not say which is which (the browser hides
//! them). So load times both on a model-shaped problem and keeps the winner.

use super::{
    attention, gemm_in_layout, gemm_subgroup, matvec, AttnShape, Dispatch, KvCache, MatvecOpts,
    Weight,
};
use crate::gguf::GgmlType;
use crate::gpu::{now_ms, Gpu, MatvecLayout, StepParams};
use crate::Result;

/// A fused norm + gate/up matvec the size of a small model's FFN.
const ROWS: usize = 2 * 1536;
const COLS: usize = 576;
/// Dispatches per timing; enough to dwarf the submit and readback.
const REPS: u32 = 4;
/// Timed rounds per layout (the best counts).
const ROUNDS: usize = 3;
/// Rows must win clearly (it wins by 1.7-7x on SwiftShader and loses by
/// 3x on lavapipe): the cooperative layout is the better default on real
/// GPUs, where both time near the submit overhead here.
const MARGIN: f64 = 0.8;
/// Row sets of 2 lanes must win too (by ~1.2x on lavapipe's cached tuning
/// weight, 1.1-1.25x streaming a model).
const SPLIT_MARGIN: f64 = 0.95;
/// The tuning attention: a small model's heads (SmolLM2-135M) over this
/// many keys, one token.
const KV_SHAPE: AttnShape = AttnShape {
    n_heads: 9,
    n_kv_heads: 3,
    head_dim: 64,
    ctx: 512,
};

/// Sets `gpu.info.matvec_layout` and `gemm_layout` to the faster layouts
/// on this device (`Tuning::Auto`). They are raced separately: on lavapipe
/// the cooperative matvec wins by 3x while the row GEMM wins by 10x. Where the subgroup
/// matvec runs, also sets `matvec_split`: lavapipe runs it 1.3-2x faster
/// with row sets of 2 lanes (fewer, fuller workgroups) than with one set
/// of all 8; GPUs want the many workgroups of the wide sets. Then it
/// races that matvec on weights in a buffer and in a texture and sets
/// `weight_textures` (textures win on lavapipe: ops::weight), before
/// racing the GEMM layouts on the chosen store. Last it races decode
/// attention over the KV cache in buffers and in textures
/// (`kv_textures`).
pub async fn tune(gpu: &mut Gpu) -> Result<()> {
    tune_with(gpu, Tuning::Auto).await
}

/// How much `tune_with` measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// Race what decides something here. Each race compiles its kernels
    /// (~1 s each on SwiftShader, where racing everything took 6 of a
    /// 9 s load), so CPU adapters (lavapipe, SwiftShader, by device type)
    /// take the winners every race there has picked by a clear margin:
    /// row sets of 2 lanes (lavapipe 1.3-2x, SwiftShader ~1.15x), weights
    /// in textures (1.2x, 1.7x) and the row GEMM (~10x, ~5x). Natively
    /// they still race the KV store, whose winner on lavapipe depends on
    /// the host's CPU.
    Auto,
    /// Race everything the adapter has (tests, benchmarks).
    Race,
}

/// Sets `kv_textures` where decode attention runs clearly faster over the
/// caches in textures (`ops::KvCache`). Raced on every native adapter: on
/// lavapipe textures won by ~1.9x at position 1024 on a host without
/// AVX-512 and lost by ~1.6x on one with it (BENCHMARKS.md).
async fn race_kv(gpu: &mut Gpu) -> Result<()> {
    // 16 dispatches a round (~0.5 ms each on lavapipe) so the submit and
    // readback blur the margin less: with 4, one load in ~5 picked
    // buffers on a host where textures win by ~1.9x.
    let kinds = [(Kind::Attention, false), (Kind::Attention, true)];
    let kv = race(gpu, kinds, 4 * REPS, ROUNDS + 2).await?;
    gpu.info.kv_tune_ms = kv;
    gpu.info.kv_textures = kv[1] < MARGIN * kv[0];
    Ok(())
}

/// `tune`, measuring as much as `how` says.
pub async fn tune_with(gpu: &mut Gpu, how: Tuning) -> Result<()> {
    let t0 = crate::gpu::now_ms();
    if how == Tuning::Auto && gpu.info.cpu {
        cpu_defaults(gpu).await?;
    } else {
        race_layouts(gpu).await?;
    }
    gpu.info.tune_total_ms = crate::gpu::now_ms() - t0;
    Ok(())
}

/// `Tuning::Auto` on a CPU adapter: the known winners; only the portable
/// matvec layouts, which rank differently on lavapipe and SwiftShader,
/// are raced, and only where no subgroup matvec replaces them.
async fn cpu_defaults(gpu: &mut Gpu) -> Result<()> {
    if let Some(4..) = gpu.info.subgroup_lanes {
        gpu.info.matvec_split = 2;
        gpu.info.weight_textures = true;
    } else {
        race_matvec_layouts(gpu).await?;
    }
    gpu.info.gemm_layout = MatvecLayout::Rows;
    // The KV store natively (lavapipe: the winner depends on the host's
    // CPU). Chromium's SwiftShader ran decode attention as fast over either
    // (~0.4 s a token over 500 keys), so the browser keeps buffers and
    // saves the race's shader compiles.
    #[cfg(not(target_arch = "wasm32"))]
    race_kv(gpu).await?;
    Ok(())
}

async fn race_matvec_layouts(gpu: &mut Gpu) -> Result<()> {
    use Kind::Matvec;
    use MatvecLayout::{Groups, Rows};
    let mv = race(
        gpu,
        [
            (Matvec(Variant::Layout(Groups)), false),
            (Matvec(Variant::Layout(Rows)), false),
        ],
        REPS,
        ROUNDS,
    )
    .await?;
    gpu.info.matvec_tune_ms = mv;
    gpu.info.matvec_layout = pick(mv);
    Ok(())
}

async fn race_layouts(gpu: &mut Gpu) -> Result<()> {
    use Kind::{Gemm, Matvec};
    use MatvecLayout::{Groups, Rows};
    race_matvec_layouts(gpu).await?;
    if let Some(lanes @ 4..) = gpu.info.subgroup_lanes {
        let wide = Matvec(Variant::Split(lanes));
        let narrow = Matvec(Variant::Split(2));
        let sp = race(gpu, [(wide, false), (narrow, false)], REPS, ROUNDS + 2).await?;
        gpu.info.split_tune_ms = sp;
        gpu.info.matvec_split = if sp[1] < SPLIT_MARGIN * sp[0] {
            2
        } else {
            lanes
        };
        let tuned = Matvec(Variant::Split(gpu.info.matvec_split));
        let tx = race(gpu, [(tuned, false), (tuned, true)], REPS, ROUNDS + 2).await?;
        gpu.info.texture_tune_ms = tx;
        // The tuning weight sits in the CPU's caches, where textures win
        // by only ~1.1x on lavapipe; streaming a model's weights they win
        // by ~1.2-1.3x. So on CPU adapters textures need only not lose.
        let margin = if gpu.info.cpu { 1.0 } else { MARGIN };
        gpu.info.weight_textures = tx[1] < margin * tx[0];
    }
    // The GEMM reads the weights where decode keeps them.
    let tex = gpu.info.weight_textures;
    let gm = race(gpu, [(Gemm(Groups), tex), (Gemm(Rows), tex)], 1, 2).await?;
    gpu.info.gemm_tune_ms = gm;
    gpu.info.gemm_layout = pick(gm);
    race_kv(gpu).await
}

/// The layout of a [groups, rows] race: rows only when clearly faster.
fn pick([groups, rows]: [f64; 2]) -> MatvecLayout {
    if rows < MARGIN * groups {
        MatvecLayout::Rows
    } else {
        MatvecLayout::Groups
    }
}

/// Best ms of `rounds` alternating rounds of `reps` dispatches of each of
/// the two kernels.
/// `(kind, weight (or KV cache) in a texture)` each.
async fn race(gpu: &Gpu, kinds: [(Kind, bool); 2], reps: u32, rounds: usize) -> Result<[f64; 2]> {
    let a = Timed::new(gpu, kinds[0].0, kinds[0].1)?;
    let b = Timed::new(gpu, kinds[1].0, kinds[1].1)?;
    // Warm the driver's shader compile, then take the best of a few
    // alternating rounds: other work on the machine only ever adds time.
    a.time(gpu, 1).await?;
    b.time(gpu, 1).await?;
    let mut best = [f64::INFINITY; 2];
    for _ in 0..rounds {
        best[0] = best[0].min(a.time(gpu, reps).await?);
        best[1] = best[1].min(b.time(gpu, reps).await?);
    }
    Ok(best)
}

/// What is timed.
#[derive(Clone, Copy)]
enum Kind {
    /// Decode: norm + gate/up + SwiGLU matvec, one token.
    Matvec(Variant),
    /// Prefill: the gate/up GEMM over `GEMM_TOKENS` tokens.
    Gemm(MatvecLayout),
    /// Decode attention of `KV_SHAPE` at its last position (the bool of
    /// `race`: the KV cache in textures).
    Attention,
}

/// Which matvec kernel.
#[derive(Clone, Copy)]
enum Variant {
    /// A portable layout.
    Layout(MatvecLayout),
    /// The subgroup kernel with row sets of this many lanes.
    Split(u32),
}

/// Tokens of the tuning GEMM (a short prompt's chunk).
const GEMM_TOKENS: u32 = 16;

/// The tuning kernel in one layout, with its buffers.
struct Timed {
    dispatch: Dispatch,
    n_tokens: u32,
    y: wgpu::Buffer,
    // Kept alive for the bind group.
    _w: Option<Weight>,
    _kv: Option<KvCache>,
    _bufs: [wgpu::Buffer; 3],
}

impl Timed {
    fn new(gpu: &Gpu, kind: Kind, texture: bool) -> Result<Timed> {
        let n_tokens = match kind {
            Kind::Matvec(_) => 1,
            Kind::Gemm(_) => GEMM_TOKENS,
            Kind::Attention => return Self::attention(gpu, texture),
        };
        let tokens = n_tokens as usize;
        // Zero blocks: timing does not depend on the values.
        let bytes = vec![0u8; ROWS * (COLS / 32) * GgmlType::Q4_1.block_bytes() as usize];
        let w = Weight::upload_to(gpu, "tune w", GgmlType::Q4_1, &bytes, ROWS, COLS, texture)?;
        let step = gpu.uniform_init(
            "tune step",
            bytemuck::bytes_of(&StepParams {
                n_tokens,
                ..StepParams::default()
            }),
        )?;
        let x = gpu.storage("tune x", (tokens * COLS * 4) as u64)?;
        let nw = gpu.storage("tune nw", (COLS * 4) as u64)?;
        let y = gpu.storage("tune y", (tokens * ROWS * 4) as u64)?;
        let dispatch = match kind {
            Kind::Matvec(v) => matvec(
                gpu,
                &step,
                &w,
                &x,
                &y,
                MatvecOpts {
                    norm: Some((&nw, 1e-5)),
                    swiglu: true,
                    residual: false,
                    layout: match v {
                        Variant::Layout(l) => Some(l),
                        Variant::Split(_) => None,
                    },
                    split: match v {
                        Variant::Layout(_) => None,
                        Variant::Split(s) => Some(s),
                    },
                    rope: None,
                    lanes: None,
                    // As the decode list runs it.
                    decode: true,
                    parts: None,
                    fold: None,
                },
            )?,
            // Returned above.
            Kind::Attention => return Self::attention(gpu, texture),
            Kind::Gemm(layout) => {
                let sg = gemm_subgroup(gpu);
                gemm_in_layout(
                    gpu,
                    &step,
                    &w,
                    &x,
                    &y,
                    Default::default(),
                    tokens,
                    layout,
                    sg,
                )?
            }
        };
        Ok(Timed {
            dispatch,
            n_tokens,
            y,
            _w: Some(w),
            _kv: None,
            _bufs: [step, x, nw],
        })
    }

    /// `Kind::Attention` over zeroed caches (timing does not depend on
    /// the values), in textures when `texture`.
    fn attention(gpu: &Gpu, texture: bool) -> Result<Timed> {
        let s = KV_SHAPE;
        let kv = KvCache::new(gpu, "tune", s, texture)?;
        let step = gpu.uniform_init(
            "tune step",
            bytemuck::bytes_of(&StepParams {
                n_tokens: 1,
                pos0: s.ctx as u32 - 1,
                ..StepParams::default()
            }),
        )?;
        let qkv = gpu.storage("tune qkv", (s.qkv_width() * 4) as u64)?;
        let y = gpu.storage("tune attn", (s.n_heads * s.head_dim * 4) as u64)?;
        let scale = 1.0 / (s.head_dim as f32).sqrt();
        let dispatch = attention(gpu, &step, s, scale, 0, &qkv, &kv, &y, 1)?;
        Ok(Timed {
            dispatch,
            n_tokens: 1,
            y: y.clone(),
            _w: None,
            _kv: Some(kv),
            _bufs: [step, qkv, y],
        })
    }

    /// Milliseconds for `reps` dispatches in one submit, to completion.
    async fn time(&self, gpu: &Gpu, reps: u32) -> Result<f64> {
        let t0 = now_ms();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                self.dispatch.encode(&mut pass, self.n_tokens);
            }
        }
        gpu.queue.submit([enc.finish()]);
        gpu.read_bytes(&self.y, 0, 4).await?;
        gpu.check()?;
        Ok(now_ms() - t0)
    }
}
