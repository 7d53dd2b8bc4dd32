//! One layer's KV cache: K and V `(n_kv_heads, ctx, head_dim)` each, in f16
//! pairs (word w = dims 2w, 2w + 1 of a row, as shaders/rope_kv.wgsl
//! writes them), in storage buffers or in r32uint textures.
//!
//! Why textures: on CPU drivers a storage load with a per-lane address is
//! a loop over the lanes, and on hosts without AVX-512 llvmpipe moves each
//! lane's value into the vector through a stack slot whose reload stalls;
//! a texel fetch is a gather. Decode attention at position 1024 ran ~1.9x
//! faster so on lavapipe (`bench --kernels --only attention`, BENCHMARKS.md
//! run L). The writers (the RoPE epilogues, rope_kv) store words with
//! `textureStore`; the attention kernels read them with `textureLoad`
//! (shaders/kv/).

use super::builders::AttnShape;
use crate::gpu::Gpu;
use crate::{Error, Result};

/// Words per row of a KV texture (shaders/kv/texture.wgsl `KV_ROW_SHIFT`):
/// 16 KiB rows, so the 8192 rows WebGPU guarantees hold 128 MiB per cache.
pub const KV_WORDS_PER_ROW: u32 = 4096;

/// Where one cache (K or V) lives.
pub enum KvStore {
    Buffer(wgpu::Buffer),
    /// Word w is texel (w % 4096, w / 4096).
    Texture(wgpu::Texture, wgpu::TextureView),
}

impl KvStore {
    /// Room for `words` words, zeroed: a texture when `texture` and the
    /// adapter's textures can hold them, else a buffer.
    pub fn new(gpu: &Gpu, label: &str, words: u64, texture: bool) -> Result<KvStore> {
        let rows = words.max(1).div_ceil(u64::from(KV_WORDS_PER_ROW));
        if texture {
            if let Some((tex, view)) = gpu.texture_2d(
                label,
                KV_WORDS_PER_ROW,
                rows,
                wgpu::TextureFormat::R32Uint,
                // Written by storage (the RoPE epilogues), read as texels
                // (attention); copies for tests and debugging.
                wgpu::TextureUsages::STORAGE_BINDING
                    | wgpu::TextureUsages::TEXTURE_BINDING
                    | wgpu::TextureUsages::COPY_DST
                    | wgpu::TextureUsages::COPY_SRC,
            )? {
                return Ok(KvStore::Texture(tex, view));
            }
        }
        Ok(KvStore::Buffer(gpu.storage(label, words * 4)?))
    }

    /// Words it holds (a texture's whole rows).
    pub fn words(&self) -> u64 {
        match self {
            KvStore::Buffer(b) => b.size() / 4,
            KvStore::Texture(t, _) => u64::from(t.width()) * u64::from(t.height()),
        }
    }

    pub fn is_texture(&self) -> bool {
        matches!(self, KvStore::Texture(..))
    }

    /// How a kernel binds it.
    pub fn resource(&self) -> wgpu::BindingResource<'_> {
        match self {
            KvStore::Buffer(b) => b.as_entire_binding(),
            KvStore::Texture(_, v) => wgpu::BindingResource::TextureView(v),
        }
    }

    /// Writes `words` from word 0 (tests: a cache's starting contents). A
    /// texture takes whole rows: `words` is zero-padded to them.
    pub fn write(&self, gpu: &Gpu, words: &[u32]) -> Result<()> {
        if words.len() as u64 > self.words() {
            return Err(Error::shape(
                "kv cache write",
                format!("{} words into {}", words.len(), self.words()),
            ));
        }
        match self {
            KvStore::Buffer(b) => gpu.queue.write_buffer(b, 0, bytemuck::cast_slice(words)),
            KvStore::Texture(t, _) => {
                let per_row = KV_WORDS_PER_ROW as usize;
                let rows = words.len().div_ceil(per_row);
                let mut padded = words.to_vec();
                padded.resize(rows * per_row, 0);
                gpu.queue.write_texture(
                    t.as_image_copy(),
                    bytemuck::cast_slice(&padded),
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(KV_WORDS_PER_ROW * 4),
                        rows_per_image: None,
                    },
                    wgpu::Extent3d {
                        width: KV_WORDS_PER_ROW,
                        height: rows as u32, // <= the texture's height
                        depth_or_array_layers: 1,
                    },
                );
            }
        }
        gpu.check()
    }

    /// Every word it holds (tests, debugging: allocates a staging buffer).
    pub async fn read(&self, gpu: &Gpu) -> Result<Vec<u32>> {
        let bytes = match self {
            KvStore::Buffer(b) => gpu.read_bytes(b, 0, b.size()).await?,
            KvStore::Texture(t, _) => {
                let staging = gpu.storage("kv readback", self.words() * 4)?;
                let mut enc = gpu
                    .device
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("kv readback"),
                    });
                enc.copy_texture_to_buffer(
                    t.as_image_copy(),
                    wgpu::TexelCopyBufferInfo {
                        buffer: &staging,
                        layout: wgpu::TexelCopyBufferLayout {
                            offset: 0,
                            bytes_per_row: Some(KV_WORDS_PER_ROW * 4),
                            rows_per_image: None,
                        },
                    },
                    t.size(),
                );
                gpu.queue.submit([enc.finish()]);
                gpu.read_bytes(&staging, 0, staging.size()).await?
            }
        };
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}

/// One layer's K and V caches, both in one kind of store.
pub struct KvCache {
    pub k: KvStore,
    pub v: KvStore,
}

impl KvCache {
    /// Zeroed caches for `shape`, in textures when `texture` (and the
    /// adapter's textures can hold them).
    pub fn new(gpu: &Gpu, label: &str, shape: AttnShape, texture: bool) -> Result<KvCache> {
        let words = shape.cache_words() as u64;
        let k = KvStore::new(gpu, &format!("{label}.k_cache"), words, texture)?;
        let v = KvStore::new(gpu, &format!("{label}.v_cache"), words, k.is_texture())?;
        Ok(KvCache { k, v })
    }

    /// Caches in the given buffers (tests: buffers with guard words).
    pub fn from_buffers(k: wgpu::Buffer, v: wgpu::Buffer) -> KvCache {
        KvCache {
            k: KvStore::Buffer(k),
            v: KvStore::Buffer(v),
        }
    }

    pub fn is_texture(&self) -> bool {
        self.k.is_texture()
    }

    /// Bytes of both.
    pub fn bytes(&self) -> u64 {
        (self.k.words() + self.v.words()) * 4
    }

    /// Checks that both hold `shape`'s caches in one kind of store.
    pub fn check(&self, shape: AttnShape) -> Result<()> {
        let words = shape.cache_words() as u64;
        if self.k.is_texture() != self.v.is_texture() {
            return Err(Error::shape("kv cache", "K and V in different stores"));
        }
        for (s, what) in [(&self.k, "k cache"), (&self.v, "v cache")] {
            if s.words() < words {
                return Err(Error::shape(
                    what,
                    format!("{} words, need {words}", s.words()),
                ));
            }
        }
        Ok(())
    }

    /// How a kernel binds them: K, then V.
    pub fn resources(&self) -> [wgpu::BindingResource<'_>; 2] {
        [self.k.resource(), self.v.resource()]
    }
}
