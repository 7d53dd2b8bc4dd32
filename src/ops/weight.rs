//! A weight matrix in GPU memory, still quantized, in the repacked layout of
//! `quant::repack` that the WGSL decoders read: a storage buffer of words,
//! or the same words in an rgba32uint texture where `ops::tune` found
//! texel fetches faster (shaders/weights/texture.wgsl says why).

use super::params::WParams;
use crate::gguf::GgmlType;
use crate::gpu::Gpu;
use crate::{quant, Error, Result};

/// Texels per row of a weight texture (shaders/weights/texture.wgsl
/// `WEIGHT_ROW_SHIFT`): WebGPU's guaranteed 2D size, so one texture holds
/// up to 1 GiB of words.
pub const WEIGHT_TEXELS_PER_ROW: u32 = 8192;

/// Where a weight's words live.
#[derive(Clone)]
pub enum WeightStore {
    Buffer(wgpu::Buffer),
    /// Words 4i..4i+3 are texel i, at (i % 8192, i / 8192).
    Texture(wgpu::Texture, wgpu::TextureView),
}

impl WeightStore {
    /// Room for `words` words: a texture when `texture` and the adapter's
    /// textures can hold them, else a buffer (textures are only faster:
    /// the kernels read either, `Kernel::*::tex`).
    pub fn new(gpu: &Gpu, label: &str, words: u64, texture: bool) -> Result<WeightStore> {
        let texels = words.div_ceil(4).max(1);
        let rows = texels.div_ceil(u64::from(WEIGHT_TEXELS_PER_ROW));
        if texture {
            if let Some((tex, view)) = gpu.texture_2d(
                label,
                WEIGHT_TEXELS_PER_ROW,
                rows,
                wgpu::TextureFormat::Rgba32Uint,
                wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            )? {
                return Ok(WeightStore::Texture(tex, view));
            }
        }
        Ok(WeightStore::Buffer(gpu.storage(label, words * 4)?))
    }

    /// Writes `words` at word `at`. For a texture `at` must be a multiple
    /// of 4 (whole texels; the loader's slabs are) and a partial last texel
    /// is zero-padded.
    pub fn write(&self, gpu: &Gpu, at: u64, words: &[u32]) -> Result<()> {
        match self {
            WeightStore::Buffer(buf) => {
                gpu.queue
                    .write_buffer(buf, at * 4, bytemuck::cast_slice(words));
                Ok(())
            }
            WeightStore::Texture(tex, _) => {
                if !at.is_multiple_of(4) {
                    return Err(Error::shape(
                        "weight texture",
                        format!("write at word {at}, not a whole texel"),
                    ));
                }
                let mut padded;
                let words = if words.len().is_multiple_of(4) {
                    words
                } else {
                    padded = words.to_vec();
                    padded.resize(words.len().div_ceil(4) * 4, 0);
                    &padded
                };
                // A texel range is a partial first row, whole rows and a
                // partial last row: one write each.
                let per_row = u64::from(WEIGHT_TEXELS_PER_ROW);
                let mut t = at / 4;
                let mut rest = words;
                while !rest.is_empty() {
                    let x = t % per_row;
                    let texels = (rest.len() / 4) as u64;
                    let (w, h) = if x == 0 && texels >= per_row {
                        (per_row, texels / per_row)
                    } else {
                        ((per_row - x).min(texels), 1)
                    };
                    let n = (w * h * 4) as usize;
                    let origin = wgpu::Origin3d {
                        x: x as u32,
                        y: (t / per_row) as u32,
                        z: 0,
                    };
                    gpu.queue.write_texture(
                        wgpu::TexelCopyTextureInfo {
                            texture: tex,
                            mip_level: 0,
                            origin,
                            aspect: wgpu::TextureAspect::All,
                        },
                        bytemuck::cast_slice(&rest[..n]),
                        wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(w as u32 * 16),
                            rows_per_image: None,
                        },
                        wgpu::Extent3d {
                            width: w as u32,
                            height: h as u32,
                            depth_or_array_layers: 1,
                        },
                    );
                    t += w * h;
                    rest = &rest[n..];
                }
                Ok(())
            }
        }
    }

    /// Whether two weights live in the same store (a kernel that reads
    /// both binds it once: `ops::ffn`).
    pub fn same(&self, other: &WeightStore) -> bool {
        match (self, other) {
            (WeightStore::Buffer(a), WeightStore::Buffer(b)) => a == b,
            (WeightStore::Texture(a, _), WeightStore::Texture(b, _)) => a == b,
            _ => false,
        }
    }

    /// Bytes of GPU memory held.
    pub fn bytes(&self) -> u64 {
        match self {
            WeightStore::Buffer(b) => b.size(),
            WeightStore::Texture(t, _) => u64::from(t.width()) * u64::from(t.height()) * 16,
        }
    }

    pub fn is_texture(&self) -> bool {
        matches!(self, WeightStore::Texture(..))
    }

    /// How a kernel binds it.
    pub fn resource(&self) -> wgpu::BindingResource<'_> {
        match self {
            WeightStore::Buffer(b) => b.as_entire_binding(),
            WeightStore::Texture(_, v) => wgpu::BindingResource::TextureView(v),
        }
    }
}

/// A `[rows, cols]` weight on the GPU.
pub struct Weight {
    pub store: WeightStore,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// First word of the scale region (see `quant::repack`), from `base`.
    pub scale_offset: u32,
    /// First texel (4 words) of the weight in `store`: 0 unless the store
    /// holds several weights (the loader puts a layer's [gate; up] and down
    /// in one, for `ops::ffn`).
    pub base: u32,
}

impl Weight {
    /// Repacks GGUF block bytes of a `[rows, cols]` matrix and uploads them
    /// in the store the GPU prefers (`GpuInfo::weight_textures`).
    pub fn upload(
        gpu: &Gpu,
        label: &str,
        ty: GgmlType,
        bytes: &[u8],
        rows: usize,
        cols: usize,
    ) -> Result<Weight> {
        Self::upload_to(gpu, label, ty, bytes, rows, cols, gpu.info.weight_textures)
    }

    /// `upload` into a texture or a buffer (tests, tuning).
    pub fn upload_to(
        gpu: &Gpu,
        label: &str,
        ty: GgmlType,
        bytes: &[u8],
        rows: usize,
        cols: usize,
        texture: bool,
    ) -> Result<Weight> {
        check_cols(label, ty, rows, cols)?;
        let words = quant::repacked_words(ty, rows, cols)?;
        let store = WeightStore::new(gpu, label, words as u64, texture)?;
        Self::upload_at(gpu, label, ty, bytes, rows, cols, &store, 0)
    }

    /// `upload` into `store` from texel `base` on (a store shared by
    /// several weights); errors when the words do not fit.
    #[allow(clippy::too_many_arguments)]
    pub fn upload_at(
        gpu: &Gpu,
        label: &str,
        ty: GgmlType,
        bytes: &[u8],
        rows: usize,
        cols: usize,
        store: &WeightStore,
        base: u32,
    ) -> Result<Weight> {
        check_cols(label, ty, rows, cols)?;
        let packed = quant::repack(ty, bytes, rows, cols)?;
        let end = (u64::from(base) * 4).saturating_add(packed.words.len() as u64);
        if end > store.bytes() / 4 {
            return Err(Error::shape(
                label,
                format!(
                    "{} words from texel {base} overflow a store of {} bytes",
                    packed.words.len(),
                    store.bytes()
                ),
            ));
        }
        store.write(gpu, u64::from(base) * 4, &packed.words)?;
        Ok(Weight {
            store: store.clone(),
            ty,
            rows,
            cols,
            scale_offset: packed.scale_offset,
            base,
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
            base: self.base,
            x0: 0,
            _pad1: 0,
            _pad2: 0,
        })
    }
}

/// The repacked layout works on units of 8 weights or whole blocks.
fn check_cols(label: &str, ty: GgmlType, rows: usize, cols: usize) -> Result<()> {
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
    Ok(())
}
