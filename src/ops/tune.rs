//! Picks, once per device, the kernel layouts that run fastest on it.
//!
//! Adapters differ by more than any fixed choice can cover: on lavapipe the
//! cooperative matvec (`MatvecLayout::Groups`) is ~3x faster than one row
//! per invocation, on SwiftShader (Chromium without a GPU) it is ~4-7x
//! slower, and adapter names do not say which is which (the browser hides
//! them). So load times both on a model-shaped problem and keeps the winner.

use super::{matvec, MatvecOpts, Weight};
use crate::gguf::GgmlType;
use crate::gpu::{now_ms, Gpu, MatvecLayout, StepParams};
use crate::Result;

/// A fused norm + gate/up matvec the size of a small model's FFN.
const ROWS: usize = 2 * 1536;
const COLS: usize = 576;
/// Dispatches per timing; enough to dwarf the submit and readback.
const REPS: u32 = 4;
/// Rows must win clearly: the cooperative layout is the better default on
/// real GPUs, where both time near zero here.
const MARGIN: f64 = 0.6;

/// Sets `gpu.info.matvec_layout` to the faster layout on this device.
pub async fn tune(gpu: &mut Gpu) -> Result<()> {
    let groups = time_matvec(gpu, MatvecLayout::Groups).await?;
    let rows = time_matvec(gpu, MatvecLayout::Rows).await?;
    gpu.info.matvec_layout = if rows < MARGIN * groups {
        MatvecLayout::Rows
    } else {
        MatvecLayout::Groups
    };
    Ok(())
}

/// Milliseconds for `REPS` dispatches of the tuning matvec in `layout`.
async fn time_matvec(gpu: &Gpu, layout: MatvecLayout) -> Result<f64> {
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
    let d = matvec(
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
    let mut elapsed = 0.0;
    // The first round warms the driver's shader compile; the second counts.
    for reps in [1, REPS] {
        let t0 = now_ms();
        let mut enc = gpu.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            for _ in 0..reps {
                d.encode(&mut pass, 1);
            }
        }
        gpu.queue.submit([enc.finish()]);
        gpu.read_bytes(&y, 0, 4).await?;
        elapsed = now_ms() - t0;
    }
    gpu.check()?;
    Ok(elapsed)
}
