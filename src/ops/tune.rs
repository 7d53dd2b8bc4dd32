//! Picks, once per device, the kernel layouts that run fastest on it.
//!
//! Adapters differ by more than any fixed choice can cover: on lavapipe the
//! cooperative matvec (`MatvecLayout::Groups`) is ~3x faster than one row
//! per invocation, on SwiftShader (Chromium without a GPU) it is ~4-7x
//! slower, and adapter names do not say which is which (the browser hides
//! them). So load times both on a model-shaped problem and keeps the winner.

use super::{matvec, Dispatch, MatvecOpts, Weight};
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

/// Sets `gpu.info.matvec_layout` to the faster layout on this device.
pub async fn tune(gpu: &mut Gpu) -> Result<()> {
    let groups = Timed::new(gpu, MatvecLayout::Groups)?;
    let rows = Timed::new(gpu, MatvecLayout::Rows)?;
    // Warm the driver's shader compile, then take the best of a few
    // alternating rounds: other work on the machine only ever adds time.
    groups.time(gpu, 1).await?;
    rows.time(gpu, 1).await?;
    let (mut g, mut r) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        g = g.min(groups.time(gpu, REPS).await?);
        r = r.min(rows.time(gpu, REPS).await?);
    }
    let (groups, rows) = (g, r);
    gpu.info.matvec_tune_ms = [groups, rows];
    gpu.info.matvec_layout = if rows < MARGIN * groups {
        MatvecLayout::Rows
    } else {
        MatvecLayout::Groups
    };
    Ok(())
}

/// The tuning matvec in one layout, with its buffers.
struct Timed {
    dispatch: Dispatch,
    y: wgpu::Buffer,
    // Kept alive for the bind group.
    _bufs: [wgpu::Buffer; 4],
}

impl Timed {
    fn new(gpu: &Gpu, layout: MatvecLayout) -> Result<Timed> {
        // Zero blocks: timing does not depend on the values.
        let bytes = vec![0u8; ROWS * (COLS / 32) * GgmlType::Q4_1.block_bytes() as usize];
        let w = Weight::upload(gpu, "tune w", GgmlType::Q4_1, &bytes, ROWS, COLS)?;
        let step = gpu.uniform_init(
            "tune step",
            bytemuck::bytes_of(&StepParams {
                n_tokens: 1,
                ..StepParams::default()
            }),
        )?;
        let x = gpu.storage("tune x", (COLS * 4) as u64)?;
        let nw = gpu.storage("tune nw", (COLS * 4) as u64)?;
        let y = gpu.storage("tune y", (ROWS / 2 * 4) as u64)?;
        let dispatch = matvec(
            gpu,
            &step,
            &w,
            &x,
            &y,
            MatvecOpts {
                norm: Some((&nw, 1e-5)),
                swiglu: true,
                residual: false,
                layout: Some(layout),
            },
        )?;
        Ok(Timed {
            dispatch,
            y,
            _bufs: [w.buf, step, x, nw],
        })
    }

    /// Milliseconds for `reps` dispatches in one submit, to completion.
    async fn time(&self, gpu: &Gpu, reps: u32) -> Result<f64> {
        let t0 = now_ms();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                self.dispatch.encode(&mut pass, 1);
            }
        }
        gpu.queue.submit([enc.finish()]);
        gpu.read_bytes(&self.y, 0, 4).await?;
        gpu.check()?;
        Ok(now_ms() - t0)
    }
}
