//! One builder per kernel family. A builder checks shapes, writes the
//! kernel's parameter block once and binds the buffers, returning a
//! `Dispatch` that is recorded into the step's compute pass every token.
//! Nothing here runs per token except `Dispatch::encode`.

mod builders;
mod kv;
pub mod params;
mod tune;
mod weight;

pub use builders::*;
pub use kv::{KvCache, KvStore, KV_WORDS_PER_ROW};
pub use tune::{tune, tune_with, Tuning};
pub use weight::{Weight, WeightStore, WEIGHT_TEXELS_PER_ROW};

use crate::gpu::{Gpu, Kernel};
use crate::{Error, Result};

/// How many workgroups a dispatch launches, given the step's token count.
#[derive(Clone, Copy, Debug)]
pub enum Grid {
    /// `n` workgroups, independent of the token count; split into 2-D when
    /// above the 65535 per-dimension limit (kernels use `wg_linear`).
    Flat(u32),
    /// `x` workgroups per row of `tile` tokens: `(x, ceil(n_tokens / tile))`.
    Tokens { x: u32, tile: u32 },
    /// One dispatch of `x` workgroups per `tile` tokens, each with its own
    /// bind group (`Dispatch::tiles`: the row GEMM with x as a uniform,
    /// a view of the tile's tokens).
    Tiles { x: u32, tile: u32 },
}

impl Grid {
    /// Workgroup counts for `n_tokens`.
    pub fn size(self, n_tokens: u32) -> [u32; 3] {
        match self {
            Grid::Flat(n) => {
                let x = n.clamp(1, 65535);
                [x, n.div_ceil(x), 1]
            }
            Grid::Tokens { x, tile } => [x.max(1), n_tokens.div_ceil(tile.max(1)).max(1), 1],
            Grid::Tiles { x, .. } => [x.max(1), 1, 1],
        }
    }
}

/// A recorded kernel launch: pipeline, bound buffers and grid.
pub struct Dispatch {
    pub kernel: Kernel,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    grid: Grid,
    /// Kept alive with the bind group.
    _params: wgpu::Buffer,
    /// `Grid::Tiles`: the bind groups (and their parameters) of tiles 1..,
    /// `bind_group` being tile 0's.
    tiles: Vec<(wgpu::BindGroup, wgpu::Buffer)>,
}

impl Dispatch {
    /// A launch binding `step`, a new uniform holding `params`, then
    /// `buffers`.
    fn new(
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u8],
        buffers: &[&wgpu::Buffer],
        grid: Grid,
        step: &wgpu::Buffer,
    ) -> Result<Self> {
        Self::bind(gpu, kernel, params, None, buffers, &[], grid, step, 0)
    }

    /// A launch binding `step`, a new uniform holding `params`, `qkv`, the
    /// caches `kv` (K, V) and `out` if any (rope_kv, attention).
    #[allow(clippy::too_many_arguments)]
    fn with_kv(
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u8],
        qkv: &wgpu::Buffer,
        kv: &KvCache,
        out: Option<&wgpu::Buffer>,
        grid: Grid,
        step: &wgpu::Buffer,
    ) -> Result<Self> {
        let mut tail = kv.resources().to_vec();
        tail.extend(out.map(|o| o.as_entire_binding()));
        Self::bind(gpu, kernel, params, None, &[qkv], &tail, grid, step, 0)
    }

    /// A launch of a weight kernel: the weight is binding 2, then `rest`
    /// (and, for the subgroup matvec on a buffer, the weight again: its
    /// word view), then `tail`.
    #[allow(clippy::too_many_arguments)]
    fn with_weight(
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u8],
        w: &WeightStore,
        rest: &[&wgpu::Buffer],
        tail: &[wgpu::BindingResource],
        grid: Grid,
        step: &wgpu::Buffer,
    ) -> Result<Self> {
        Self::bind(gpu, kernel, params, Some(w), rest, tail, grid, step, 0)
    }

    /// `with_weight` for the row GEMM with x as a uniform (`Grid::Tiles`):
    /// a bind group per tile of `tile` tokens up to `max_tokens`, x bound
    /// from the tile's first token (`token_bytes` of x a token), whose
    /// index `params_at` writes into the parameters.
    #[allow(clippy::too_many_arguments)]
    fn with_weight_tiles(
        gpu: &Gpu,
        kernel: Kernel,
        params_at: impl Fn(u32) -> Vec<u8>,
        w: &WeightStore,
        rest: &[&wgpu::Buffer],
        tail: &[wgpu::BindingResource],
        (x, tile, max_tokens, token_bytes): (u32, u32, u32, u64),
        step: &wgpu::Buffer,
    ) -> Result<Self> {
        let grid = Grid::Tiles { x, tile };
        let at = |t0: u32| {
            let offset = u64::from(t0) * token_bytes;
            Self::bind(
                gpu,
                kernel,
                &params_at(t0),
                Some(w),
                rest,
                tail,
                grid,
                step,
                offset,
            )
        };
        let mut first = at(0)?;
        for t0 in (tile..max_tokens).step_by(tile.max(1) as usize) {
            let d = at(t0)?;
            first.tiles.push((d.bind_group, d._params));
        }
        Ok(first)
    }

    #[allow(clippy::too_many_arguments)]
    fn bind(
        gpu: &Gpu,
        kernel: Kernel,
        params: &[u8],
        w: Option<&WeightStore>,
        buffers: &[&wgpu::Buffer],
        tail: &[wgpu::BindingResource],
        grid: Grid,
        step: &wgpu::Buffer,
        x_offset: u64,
    ) -> Result<Self> {
        let (pipeline, _) = gpu.pipeline(kernel)?;
        let params = gpu.uniform_init(&format!("{kernel:?} params"), params)?;
        let mut all: Vec<wgpu::BindingResource> =
            vec![step.as_entire_binding(), params.as_entire_binding()];
        all.extend(w.map(WeightStore::resource));
        all.extend(buffers.iter().map(|b| b.as_entire_binding()));
        // x as a uniform (after step, params and the weight): the 64 KiB
        // the shader declares, from `x_offset` (a GEMM tile's tokens).
        if let Kernel::Matvec {
            x_uniform: true, ..
        }
        | Kernel::Ffn { .. }
        | Kernel::QkvAttnO { .. }
        | Kernel::Gemm {
            x_uniform: true, ..
        } = kernel
        {
            all[3] = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: buffers[0],
                offset: x_offset,
                size: std::num::NonZeroU64::new(builders::X_UNIFORM_BYTES),
            });
        }
        let word_view = matches!(
            kernel,
            Kernel::Matvec {
                subgroup: 1..,
                tex: false,
                ..
            } | Kernel::AttnO { tex: false, .. }
                | Kernel::QkvAttnO { tex: false, .. }
                | Kernel::Ffn { tex: false, .. }
        );
        if let Some(w) = w.filter(|_| word_view) {
            all.push(w.resource());
        }
        all.extend(tail.iter().cloned());
        // A GEMM tile's second 64 KiB of x, last.
        if let Kernel::Gemm { x_split: true, .. } = kernel {
            all.push(wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: buffers[0],
                offset: x_offset + builders::X_UNIFORM_BYTES,
                size: std::num::NonZeroU64::new(builders::X_UNIFORM_BYTES),
            }));
        }
        let bind_group = gpu.bind_group(kernel, &all)?;
        Ok(Dispatch {
            kernel,
            pipeline,
            bind_group,
            grid,
            _params: params,
            tiles: Vec::new(),
        })
    }

    /// Records the launch for a step of `n_tokens` tokens.
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>, n_tokens: u32) {
        let [x, y, z] = self.grid.size(n_tokens);
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.dispatch_workgroups(x, y, z);
        if let Grid::Tiles { tile, .. } = self.grid {
            let n = n_tokens.div_ceil(tile.max(1)).saturating_sub(1) as usize;
            for (bg, _) in self.tiles.iter().take(n) {
                pass.set_bind_group(0, bg, &[]);
                pass.dispatch_workgroups(x, y, z);
            }
        }
    }
}

/// Checks that `buf` holds at least `elems` 4-byte elements.
fn need(buf: &wgpu::Buffer, elems: u64, what: &str) -> Result<()> {
    if buf.size() < elems * 4 {
        return Err(Error::shape(
            what,
            format!("buffer of {} bytes, need {}", buf.size(), elems * 4),
        ));
    }
    Ok(())
}

fn to_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::shape(what, format!("{v} exceeds u32")))
}
