//! A weight matrix in GPU memory, still quantized, in the repacked layout of
//! `quant::repack` that the WGSL decoders read.

use super::params::WParams;
use crate::gguf::GgmlType;
use crate::gpu::Gpu;
use crate::{quant, Error, Result};

/// A `[rows, cols]` weight on the GPU.
pub struct Weight {
    pub buf: wgpu::Buffer,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// First word of the scale region (see `quant::repack`).
    pub scale_offset: u32,
}

impl Weight {
    /// Repacks GGUF block bytes of a `[rows, cols]` matrix and uploads them.
    pub fn upload(
        gpu: &Gpu,
        label: &str,
        ty: GgmlType,
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Weight> {
        let unit = if ty.block_elems() == 1 {
            8
        } else {
            ty.block_elems() as usize
        };
        if !cols.is_multiple_of(unit) || cols == 0 || rows == 0 {
            return Err(Error::shape(
                label,
                format!(
                    "{rows}x{cols} {} matrix: cols must be a positive multiple of {unit}",
                    ty.name()
                ),
            ));
        }
        let packed = quant::repack(ty, bytes, rows, cols)?;
        let buf = gpu.storage_init(label, bytemuck::cast_slice(&packed.words))?;
        Ok(Weight {
            buf,
            ty,
            rows,
            cols,
            scale_offset: packed.scale_offset,
        })
    }

    /// GPU-side parameter block shared by matvec, gemm and embed
    /// (WGSL `WParams`): k, n, scale offset, aux.
    pub(crate) fn params(&self, n: usize, aux: f32) -> Result<WParams> {
        Ok(WParams {
            k: super::to_u32(self.cols, "weight cols")?,
            n: super::to_u32(n, "weight rows")?,
            scale_offset: self.scale_offset,
            aux,
        })
    }
}
