//! Adapter and device selection, error capture, buffer helpers.

use std::sync::{Arc, Mutex};

use super::kernels::{Binding, Kernel, MatvecLayout};
use crate::{Error, Result};

/// What the engine reports about the adapter it runs on.
#[derive(Clone, Debug, serde::Serialize)]
pub struct GpuInfo {
    pub name: String,
    pub backend: String,
    pub driver: String,
    /// A CPU implementation (lavapipe, SwiftShader): the adapter's own
    /// device type, not its name.
    pub cpu: bool,
    /// `subgroups` requested and granted.
    pub subgroups: bool,
    /// `shader-f16` requested and granted.
    pub shader_f16: bool,
    /// Lanes of a subgroup-matvec workgroup: the adapter's smallest
    /// subgroup size (so one workgroup is one subgroup), when `subgroups`
    /// is granted and that size is in 4..=64; else the portable kernels.
    pub subgroup_lanes: Option<u32>,
    pub max_storage_binding: u64,
    /// Bytes of one uniform binding (the decode matvec's x on CPU
    /// adapters, `Kernel::Matvec { x_uniform }`).
    pub max_uniform_binding: u64,
    /// The decode matvec reads x through a uniform binding
    /// (`Kernel::Matvec { x_uniform }`): native CPU adapters (lavapipe:
    /// decode list ~8% faster). Not in browsers: Chromium's SwiftShader
    /// ran the decode ops ~8% slower so (`tests/browser/bench.mjs
    /// --profile`, medians of 5 alternations).
    pub x_uniform: bool,
    pub max_buffer_size: u64,
    /// Texels per side of a 2-D texture (weights in textures).
    pub max_texture_2d: u32,
    /// The matvec layout decode uses here (`ops::tune` picks it at load).
    pub matvec_layout: MatvecLayout,
    /// What `ops::tune` measured: ms for its matvec as [groups, rows]
    /// (zeros: not raced, the subgroup matvec runs instead).
    pub matvec_tune_ms: [f64; 2],
    /// The prefill GEMM layout (`ops::tune` picks it at load).
    pub gemm_layout: MatvecLayout,
    /// What `ops::tune` measured for its GEMM: [groups, rows] ms (zeros:
    /// not raced, CPU adapters take the row GEMM).
    pub gemm_tune_ms: [f64; 2],
    /// Lanes per row set of the subgroup matvec (shaders/matvec_sg.wgsl
    /// `SPLIT`): all of `subgroup_lanes` unless `ops::tune` measured 2 as
    /// faster (lavapipe); 0 without subgroups.
    pub matvec_split: u32,
    /// What `ops::tune` measured for the subgroup matvec: [all lanes, 2] ms.
    pub split_tune_ms: [f64; 2],
    /// Weights go in textures, not storage buffers (`ops::Weight`):
    /// `ops::tune` sets it where the subgroup matvec runs clearly faster
    /// so (lavapipe).
    pub weight_textures: bool,
    /// What `ops::tune` measured for that matvec: [buffer, texture] ms.
    pub texture_tune_ms: [f64; 2],
    /// The KV cache goes in r32uint textures (`ops::KvCache`): where
    /// `ops::tune` measured decode attention clearly faster so (lavapipe
    /// on a host without AVX-512: ~1.9x at position 1024; with it,
    /// storage loads win).
    pub kv_textures: bool,
    /// What `ops::tune` measured for that attention: [buffer, texture] ms
    /// (zeros: not raced).
    pub kv_tune_ms: [f64; 2],
    /// Decode runs a layer's attention half as one dispatch where it can
    /// (`ops::fuses_qkv_attention_o`). On by default; A/B timing
    /// (examples/profile_decode `--ab`) turns it off for a second model.
    pub fuse_attention: bool,
    /// Wall time of the whole of `ops::tune` (pipeline compiles included),
    /// part of the load time.
    pub tune_total_ms: f64,
}

/// The device, its queue and the compiled kernels.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: GpuInfo,
    /// First uncaptured error or device loss, reported by `check`.
    fault: Arc<Mutex<Option<Error>>>,
    pipelines: Mutex<Vec<(Kernel, wgpu::ComputePipeline, wgpu::BindGroupLayout)>>,
    /// What has been asked of the device (benchmarks, per-token checks).
    pub counters: super::Counters,
}

impl Gpu {
    /// Opens the best adapter: a real GPU first, else a CPU one (lavapipe,
    /// SwiftShader), so tests run on machines without a GPU.
    pub async fn new() -> Result<Gpu> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::NoAdapter(e.to_string()))?;
        Self::from_adapter(adapter).await
    }

    async fn from_adapter(adapter: wgpu::Adapter) -> Result<Gpu> {
        let ai = adapter.get_info();
        let features = adapter.features() & (wgpu::Features::SUBGROUP | wgpu::Features::SHADER_F16);
        // Ask for what the adapter offers: big models need big bindings.
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("edge-llm"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        #[cfg(not(target_arch = "wasm32"))]
        let requested = adapter.request_device(&desc).await;
        #[cfg(target_arch = "wasm32")]
        let requested = super::web::request_device(&adapter, &desc).await;
        let (device, queue) = requested.map_err(|e| Error::Gpu(format!("request_device: {e}")))?;
        #[cfg(not(target_arch = "wasm32"))]
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        #[cfg(target_arch = "wasm32")]
        let subgroups = super::web::has_subgroups(&device);
        let fault: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
        let f = fault.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let err = match e {
                wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(e.to_string()),
                _ => Error::Gpu(e.to_string()),
            };
            if let Ok(mut slot) = f.lock() {
                slot.get_or_insert(err);
            }
        }));
        let f = fault.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut slot) = f.lock() {
                slot.get_or_insert(Error::DeviceLost(format!("{reason:?}: {msg}")));
            }
        });
        let mut info = GpuInfo {
            name: ai.name,
            backend: format!("{:?}", ai.backend),
            driver: format!("{} {}", ai.driver, ai.driver_info)
                .trim()
                .to_string(),
            cpu: ai.device_type == wgpu::DeviceType::Cpu,
            subgroups,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            subgroup_lanes: (subgroups && (4..=64).contains(&ai.subgroup_min_size))
                .then_some(ai.subgroup_min_size),
            max_storage_binding: limits.max_storage_buffer_binding_size,
            max_uniform_binding: limits.max_uniform_buffer_binding_size,
            x_uniform: ai.device_type == wgpu::DeviceType::Cpu && !cfg!(target_arch = "wasm32"),
            max_buffer_size: limits.max_buffer_size,
            max_texture_2d: limits.max_texture_dimension_2d,
            matvec_layout: MatvecLayout::default(),
            matvec_tune_ms: [0.0; 2],
            gemm_layout: MatvecLayout::default(),
            gemm_tune_ms: [0.0; 2],
            matvec_split: 0,
            split_tune_ms: [0.0; 2],
            weight_textures: false,
            kv_textures: false,
            fuse_attention: true,
            kv_tune_ms: [0.0; 2],
            texture_tune_ms: [0.0; 2],
            tune_total_ms: 0.0,
        };
        info.matvec_split = info.subgroup_lanes.unwrap_or(0);
        Ok(Gpu {
            device,
            queue,
            info,
            fault,
            pipelines: Mutex::new(Vec::new()),
            counters: super::Counters::default(),
        })
    }

    /// Returns (and clears) the first GPU fault seen since the last check.
    pub fn check(&self) -> Result<()> {
        match self.fault.lock() {
            Ok(mut slot) => slot.take().map_or(Ok(()), Err),
            Err(_) => Err(Error::Gpu("fault slot poisoned".into())),
        }
    }

    /// A storage buffer of `size` bytes (rounded up to 4), zero-filled.
    pub fn storage(&self, label: &str, size: u64) -> Result<wgpu::Buffer> {
        let size = size.max(16).div_ceil(16) * 16; // vec4 views need whole vec4s
        if size > self.info.max_buffer_size {
            return Err(Error::OutOfMemory(format!(
                "{label}: {size} bytes exceeds the adapter's max buffer size {}",
                self.info.max_buffer_size
            )));
        }
        // Every storage buffer is bound whole; a bigger one would fail later
        // as an opaque validation error. (Splitting a tensor over several
        // bindings is not implemented: no supported model needs it yet.)
        if size > self.info.max_storage_binding {
            return Err(Error::Unsupported(format!(
                "{label}: {size} bytes exceeds the adapter's max storage binding {}",
                self.info.max_storage_binding
            )));
        }
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            // UNIFORM too: the decode matvec binds x as a uniform on CPU
            // adapters (`Kernel::Matvec { x_uniform }`).
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        self.counters.buffer(size);
        self.check()?;
        Ok(buf)
    }

    /// A `width` x `rows` 2-D texture of `format` and its view, counted
    /// with the buffers; `None` where the adapter's textures are smaller
    /// (the caller keeps the data in a buffer instead: weights, the KV
    /// cache).
    pub fn texture_2d(
        &self,
        label: &str,
        width: u32,
        rows: u64,
        format: wgpu::TextureFormat,
        usage: wgpu::TextureUsages,
    ) -> Result<Option<(wgpu::Texture, wgpu::TextureView)>> {
        let max = self.info.max_texture_2d;
        let Some(height) = u32::try_from(rows)
            .ok()
            .filter(|&h| h <= max && width <= max)
        else {
            return Ok(None);
        };
        let tex = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some(label),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage,
            view_formats: &[],
        });
        let texel = u64::from(format.block_copy_size(None).unwrap_or(4));
        self.counters
            .buffer(u64::from(width) * u64::from(height) * texel);
        self.check()?;
        let view = tex.create_view(&wgpu::TextureViewDescriptor::default());
        Ok(Some((tex, view)))
    }

    /// A storage buffer holding `data`.
    pub fn storage_init(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        let buf = self.storage(label, data.len() as u64)?;
        if !data.is_empty() {
            let mut padded;
            let bytes = if data.len().is_multiple_of(4) {
                data
            } else {
                padded = data.to_vec();
                padded.resize(data.len().div_ceil(4) * 4, 0);
                &padded
            };
            self.queue.write_buffer(&buf, 0, bytes);
        }
        Ok(buf)
    }

    /// A uniform buffer holding `data`.
    pub fn uniform_init(&self, label: &str, data: &[u8]) -> Result<wgpu::Buffer> {
        let size = (data.len() as u64).max(16).div_ceil(16) * 16;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            // STORAGE too: the sampler reads the step and its parameters as
            // read-only storage (shaders/sample.wgsl says why).
            usage: wgpu::BufferUsages::UNIFORM
                | wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, data);
        self.counters.buffer(size);
        self.check()?;
        Ok(buf)
    }

    /// The pipeline and bind group layout of `kernel`, compiled once.
    pub fn pipeline(
        &self,
        kernel: Kernel,
    ) -> Result<(wgpu::ComputePipeline, wgpu::BindGroupLayout)> {
        let mut cache = self
            .pipelines
            .lock()
            .map_err(|_| Error::Gpu("pipeline cache poisoned".into()))?;
        if let Some((_, p, l)) = cache.iter().find(|(k, _, _)| *k == kernel) {
            return Ok((p.clone(), l.clone()));
        }
        let source = super::kernels::kernel_source(kernel)?;
        #[cfg(target_arch = "wasm32")]
        let source = match self.info.subgroups {
            true => format!("{}{source}", super::web::SHADER_PREFIX),
            false => source,
        };
        let label = format!("{kernel:?}");
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            });
        let entries: Vec<wgpu::BindGroupLayoutEntry> = kernel
            .bindings()
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: match b {
                    Binding::Uniform => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Binding::Read | Binding::Write => wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage {
                            read_only: matches!(b, Binding::Read),
                        },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    Binding::Texture => wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Uint,
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    Binding::StoreTexture => wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: wgpu::TextureFormat::R32Uint,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                },
                count: None,
            })
            .collect();
        let bgl = self
            .device
            .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some(&label),
                entries: &entries,
            });
        let layout = self
            .device
            .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(&label),
                bind_group_layouts: &[Some(&bgl)],
                immediate_size: 0,
            });
        let constants = kernel.constants();
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: Some(&layout),
                module: &module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &constants,
                    zero_initialize_workgroup_memory: true,
                },
                cache: None,
            });
        self.counters.pipeline();
        self.check()?;
        cache.push((kernel, pipeline.clone(), bgl.clone()));
        Ok((pipeline, bgl))
    }

    /// A bind group for `kernel` over whole buffers, in binding order.
    pub fn bind_group(
        &self,
        kernel: Kernel,
        resources: &[wgpu::BindingResource<'_>],
    ) -> Result<wgpu::BindGroup> {
        let (_, bgl) = self.pipeline(kernel)?;
        if resources.len() != kernel.bindings().len() {
            return Err(Error::shape(
                format!("{kernel:?} bind group"),
                format!(
                    "{} resources for {} bindings",
                    resources.len(),
                    kernel.bindings().len()
                ),
            ));
        }
        let entries: Vec<wgpu::BindGroupEntry> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: r.clone(),
            })
            .collect();
        let bg = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("{kernel:?}")),
            layout: &bgl,
            entries: &entries,
        });
        self.counters.bind_group();
        self.check()?;
        Ok(bg)
    }

    /// Blocks until the queue is idle (native) and reports faults.
    pub fn wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("poll: {e}")))?;
        self.check()
    }

    /// Copies `len` bytes at `offset` of `src` back to the CPU. Allocates a
    /// staging buffer: for tests, scoring and debugging, not per token.
    pub async fn read_bytes(&self, src: &wgpu::Buffer, offset: u64, len: u64) -> Result<Vec<u8>> {
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: len.max(4).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.counters.buffer(staging.size());
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("readback"),
            });
        enc.copy_buffer_to_buffer(src, offset, &staging, 0, len.div_ceil(4) * 4);
        self.queue.submit([enc.finish()]);
        super::readback::map_read(self, &staging, None).await?;
        self.counters.readback(len);
        let out = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("map: {e}")))?;
            view[..len as usize].to_vec()
        };
        staging.unmap();
        Ok(out)
    }

    /// `read_bytes` as f32.
    pub async fn read_f32(
        &self,
        src: &wgpu::Buffer,
        offset_elems: u64,
        n: u64,
    ) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(src, offset_elems * 4, n * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
}
