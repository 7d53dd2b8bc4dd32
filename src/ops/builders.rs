//! The op builders. Each documents its buffer shapes; `max_tokens` is the
//! largest step the bound buffers must hold.

use super::params::{AttnParams, NormParams, RopeParams, SampleParams, SiluParams, WParams};
use super::{need, to_u32, Dispatch, Grid, KvCache, Weight};
use crate::gguf::GgmlType;
use crate::gpu::{Gpu, Kernel, MatvecLayout};
use crate::{Error, Result};

/// Output rows per matvec workgroup (shaders/matvec.wgsl `ROWS`).
const MATVEC_ROWS: u32 = 32;
/// Output rows per subgroup-matvec workgroup (shaders/matvec_sg.wgsl `ROWS`).
const MATVEC_SG_ROWS: u32 = 16;
/// GEMM tile edge (shaders/gemm.wgsl `TILE`).
const GEMM_TILE: u32 = 32;

/// Bytes of the decode matvec's uniform view of x (`Kernel::Matvec {
/// x_uniform }`): the WebGPU default uniform binding limit. x buffers
/// smaller than this keep the storage view.
pub const X_UNIFORM_BYTES: u64 = 65536;

/// Matvec options.
#[derive(Clone, Copy, Default)]
pub struct MatvecOpts<'a> {
    /// RMSNorm the input on the fly with this weight and epsilon.
    pub norm: Option<(&'a wgpu::Buffer, f32)>,
    /// `w` holds `[gate; up]`: output silu(gate·x) * (up·x), `w.rows / 2` rows.
    pub swiglu: bool,
    /// Accumulate into `y` instead of overwriting.
    pub residual: bool,
    /// Force a portable layout (tests, tuning): no subgroup kernel even
    /// where the adapter has one. `None`: the subgroup kernel where the
    /// adapter has subgroups, else the GPU's tuned `matvec_layout`.
    pub layout: Option<MatvecLayout>,
    /// Lanes per row set of the subgroup kernel (tests, tuning); `None`:
    /// the GPU's tuned `matvec_split`.
    pub split: Option<u32>,
    /// `w` is [q; k; v]: apply RoPE and append k and v to the caches in
    /// the epilogue, as `rope_kv` would after it (decode; only where
    /// `fuses_rope` says so).
    pub rope: Option<RopeFuse<'a>>,
    /// Lanes of the subgroup kernel's workgroup (tests): a power of two,
    /// at least 4 and at most the adapter's subgroup size, so lavapipe can
    /// run what SwiftShader's 4-lane subgroups run. `None`: the adapter's.
    pub lanes: Option<u32>,
    /// The dispatch only ever runs on one token (the decode list). Where
    /// `GpuInfo::x_uniform` allows and x's buffer holds `X_UNIFORM_BYTES`,
    /// the subgroup kernel then reads x through a uniform binding
    /// (`Kernel::Matvec { x_uniform }`).
    pub decode: bool,
    /// Attention's partial O projections (`attention_o`): the buffer and
    /// how many vectors of the residual width it holds. Added to x as it
    /// is loaded, or with `residual` to y (decode, subgroup kernel, where
    /// `attention_o` runs).
    pub parts: Option<(&'a wgpu::Buffer, u32)>,
    /// With `parts` (added to x): the first workgroup also writes x plus
    /// the parts here, `(k,)` (the residual stream; `ffn` reads it).
    pub fold: Option<&'a wgpu::Buffer>,
}

/// What the QKV matvec needs to apply RoPE itself (`MatvecOpts::rope`).
#[derive(Clone, Copy)]
pub struct RopeFuse<'a> {
    pub shape: AttnShape,
    pub rope: RopeOpts,
    /// The layer's caches, `(n_kv_heads, ctx, head_dim)` each
    /// (`AttnShape::cache_words`).
    pub kv: &'a KvCache,
}

/// The parameters of a RoPE epilogue (matvec, row GEMM), the caches
/// checked for size; they are bound after the kernel's own bindings,
/// then the caches (`rope_tail`).
fn rope_params_buf(gpu: &Gpu, rf: &RopeFuse) -> Result<wgpu::Buffer> {
    rf.kv.check(rf.shape)?;
    let rp = rope_params(rf.shape, rf.rope)?;
    gpu.uniform_init("rope params", bytemuck::bytes_of(&rp))
}

/// The bindings a RoPE epilogue adds: its parameters, K and V.
fn rope_tail<'a>(params: &'a wgpu::Buffer, rf: &RopeFuse<'a>) -> Vec<wgpu::BindingResource<'a>> {
    let [k, v] = rf.kv.resources();
    vec![params.as_entire_binding(), k, v]
}

/// Checks a parts buffer (`MatvecOpts::parts`, `attention_o`): `count`
/// vectors of `width`, within the 64 KiB uniform view it is read through,
/// which the buffer must hold whole and the adapter allow.
fn check_parts(gpu: &Gpu, pb: &wgpu::Buffer, count: u32, width: usize) -> Result<()> {
    let bytes = u64::from(count) * width as u64 * 4;
    let view = X_UNIFORM_BYTES.min(gpu.info.max_uniform_binding);
    if count == 0 || bytes > view || pb.size() < X_UNIFORM_BYTES {
        return Err(Error::shape(
            "attention parts",
            format!(
                "{count} vectors of {width} in a buffer of {} bytes (64 KiB, all within it)",
                pb.size()
            ),
        ));
    }
    Ok(())
}

/// The 64 KiB uniform view of a buffer (`X_UNIFORM_BYTES`).
fn uniform_view(b: &wgpu::Buffer) -> wgpu::BindingResource<'_> {
    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
        buffer: b,
        offset: 0,
        size: std::num::NonZeroU64::new(X_UNIFORM_BYTES),
    })
}

/// Lanes of the subgroup matvec for `w` (0: a portable kernel runs). It
/// works on whole 32-column blocks and reads a row set's scales as one
/// tile column (quant::SCALE_TILE_ROWS), so the up rows of [gate; up]
/// must start a tile.
fn matvec_lanes(gpu: &Gpu, w: &Weight, n: usize, opts: &MatvecOpts) -> u32 {
    let tiled_up = !opts.swiglu || n.is_multiple_of(crate::quant::SCALE_TILE_ROWS);
    match gpu.info.subgroup_lanes {
        Some(lanes) if opts.layout.is_none() && w.cols.is_multiple_of(32) && tiled_up => lanes,
        _ => 0,
    }
}

/// Whether the decode matvec over `qkv` can apply `rope` in its epilogue
/// (`MatvecOpts::rope`): the subgroup kernel with llama's adjacent pairs
/// (NeoX pairs lie in different row sets).
pub fn fuses_rope(gpu: &Gpu, qkv: &Weight, rope: RopeOpts) -> bool {
    !rope.neox && matvec_lanes(gpu, qkv, qkv.rows, &MatvecOpts::default()) > 0
}

/// y: `(n,)` (+)= w `(n, k)` · x `(n_tokens, k)` at the step's last token.
pub fn matvec(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    opts: MatvecOpts,
) -> Result<Dispatch> {
    let n = if opts.swiglu {
        if !w.rows.is_multiple_of(2) {
            return Err(Error::shape(
                "matvec swiglu",
                "odd row count for [gate; up]",
            ));
        }
        w.rows / 2
    } else {
        w.rows
    };
    need(x, w.cols as u64, "matvec x")?;
    need(y, n as u64, "matvec y")?;
    let (nw, eps) = match opts.norm {
        Some((nw, eps)) => {
            need(nw, w.cols as u64, "matvec norm weight")?;
            (nw, eps)
        }
        None => (x, 0.0), // bound but unused
    };
    // The adapter's lanes, or fewer where a test asks (subgroup kernel only).
    let max = matvec_lanes(gpu, w, n, &opts);
    let subgroup = match opts.lanes {
        Some(l) if max > 0 && l.is_power_of_two() && (4..=max).contains(&l) => l,
        Some(l) if max > 0 => {
            return Err(Error::shape(
                "matvec lanes",
                format!("{l} lanes on {max}-lane subgroups"),
            ))
        }
        _ => max,
    };
    let n32 = to_u32(n, "matvec rows")?;
    // Lanes per row set: asked for, else tuned; a power of two <= the lanes.
    let split = match opts.split.unwrap_or(gpu.info.matvec_split) {
        _ if subgroup == 0 => 0,
        s if s.is_power_of_two() && s <= subgroup => s,
        s if opts.split.is_some() => {
            return Err(Error::shape(
                "matvec split",
                format!("{s} lanes per set on {subgroup}-lane subgroups"),
            ))
        }
        _ => subgroup,
    };
    let x_uniform = opts.decode
        && subgroup > 0
        && gpu.info.x_uniform
        && w.cols * 4 <= X_UNIFORM_BYTES as usize
        && X_UNIFORM_BYTES <= gpu.info.max_uniform_binding.min(x.size())
        && x.usage().contains(wgpu::BufferUsages::UNIFORM);
    let kernel = Kernel::Matvec {
        ty: w.ty,
        fuse_norm: opts.norm.is_some(),
        swiglu: opts.swiglu,
        residual: opts.residual,
        subgroup,
        split,
        layout: opts.layout.unwrap_or(gpu.info.matvec_layout),
        tex: w.store.is_texture(),
        rope: opts.rope.is_some(),
        kv_tex: opts.rope.is_some_and(|rf| rf.kv.is_texture()),
        // The broadcasts need every lane in every pass: whole pairs of
        // blocks.
        share_x: matches!(subgroup, 4 | 8) && split == 2 && (w.cols / 32).is_multiple_of(2),
        x_uniform,
        int_x: x_uniform && decode_rounds_x(gpu, w.ty),
        parts: match opts.parts {
            Some((pb, count)) => {
                check_parts(gpu, pb, count, if opts.residual { n } else { w.cols })?;
                if subgroup == 0 || !opts.decode {
                    return Err(Error::option(
                        "matvec parts",
                        "partial vectors go to the subgroup kernel of a decode matvec",
                    ));
                }
                count
            }
            None => 0,
        },
        fold: match opts.fold {
            Some(xo) if opts.parts.is_some() && !opts.residual => {
                need(xo, w.cols as u64, "matvec fold")?;
                true
            }
            Some(_) => {
                return Err(Error::option(
                    "matvec fold",
                    "folding needs parts added to x (no residual)",
                ))
            }
            None => false,
        },
    };
    let params = w.params(n, eps)?;
    // RoPE in the epilogue: its parameters and the caches follow the
    // weight's bindings (gpu::kernels).
    let mut rope_buf = None;
    if let Some(rf) = opts.rope {
        if subgroup == 0 || rf.rope.neox || opts.swiglu || opts.residual {
            return Err(Error::shape(
                "matvec rope",
                "RoPE fuses only into a plain subgroup matvec with llama pairs",
            ));
        }
        if n != rf.shape.qkv_width() {
            return Err(Error::shape(
                "matvec rope",
                format!("{n} rows for a q|k|v width of {}", rf.shape.qkv_width()),
            ));
        }
        rope_buf = Some(rope_params_buf(gpu, &rf)?);
    }
    let mut tail = match (&rope_buf, &opts.rope) {
        (Some(b), Some(rf)) => rope_tail(b, rf),
        _ => Vec::new(),
    };
    // The parts, last: the uniform view the shader declares, then where
    // they are folded to.
    if let Some((pb, _)) = opts.parts {
        tail.push(uniform_view(pb));
    }
    if let Some(xo) = opts.fold {
        tail.push(xo.as_entire_binding());
    }
    let rows = if subgroup > 0 {
        MATVEC_SG_ROWS * (subgroup / split)
    } else {
        MATVEC_ROWS
    };
    let groups = n32.div_ceil(rows);
    Dispatch::with_weight(
        gpu,
        kernel,
        bytemuck::bytes_of(&params),
        &w.store,
        &[x, y, nw],
        &tail,
        Grid::Flat(groups),
        step,
    )
}

/// What a GEMM does besides y (+)= x·wᵀ. The fusions run on the row
/// GEMM only (`gemm_fuses`).
#[derive(Clone, Copy, Default)]
pub struct GemmOpts<'a> {
    /// Accumulate into `y` instead of overwriting.
    pub residual: bool,
    /// RMSNorm x on the fly with this weight `(k,)` and epsilon.
    pub norm: Option<(&'a wgpu::Buffer, f32)>,
    /// `w` holds `[gate; up]`: y = silu(gate·x) * (up·x), `(n_tokens,
    /// w.rows / 2)`.
    pub swiglu: bool,
    /// `w` is [q; k; v]: apply RoPE and append k and v to the caches in
    /// the epilogue, as `rope_kv` would after it (llama's pairs only).
    pub rope: Option<RopeFuse<'a>>,
    /// x holds `quant_x`'s Q8_1 blocks, `(n_tokens, k / 32, 5)` vec4s:
    /// the integer row GEMM (`gemm_takes_q8_1`; no `norm`, `quant_x` did
    /// it).
    pub x_q8_1: bool,
}

impl GemmOpts<'_> {
    fn fused(&self) -> bool {
        self.norm.is_some() || self.swiglu || self.rope.is_some()
    }
}

/// Whether this GPU's GEMM takes `GemmOpts`' norm and swiglu: the row
/// layout, software adapters. Elsewhere the prefill keeps rmsnorm and
/// silu_mul as ops of their own (and rope_kv, `gemm_fuses_rope`).
pub fn gemm_fuses(gpu: &Gpu) -> bool {
    gpu.info.gemm_layout == MatvecLayout::Rows
}

/// Bytes of one token's Q8_1 blocks (`quant_x`): 5 vec4s a 32-column block.
pub fn q8_1_token_bytes(k: usize) -> u64 {
    (k / 32) as u64 * 80
}

/// Whether the row GEMM over 8 lanes takes `w` with x as Q8_1 blocks
/// here (`GemmOpts::x_q8_1`): Q4_1 weights, x as a uniform (CPU adapters),
/// a 16-token tile's blocks within one 64 KiB view (k <= 1638). Why:
/// integer products (`Kernel::Gemm { int_x }`). The prefill takes it
/// where `gemm_fuses` too.
pub fn gemm_takes_q8_1(gpu: &Gpu, w: &Weight) -> bool {
    let tile_bytes = 16 * q8_1_token_bytes(w.cols);
    w.ty == GgmlType::Q4_1
        && gemm_subgroup(gpu) == 8
        && gpu.info.x_uniform
        && X_UNIFORM_BYTES <= gpu.info.max_uniform_binding
        && tile_bytes <= X_UNIFORM_BYTES
        && tile_bytes.is_multiple_of(u64::from(
            gpu.device.limits().min_uniform_buffer_offset_alignment,
        ))
}

/// Whether the decode kernels on the subgroup matvec's row sums (the
/// matvec with x as a uniform, `ffn`, `attention_o`) round x to Q8_1 for
/// weights of type `ty` here: Q4_1 on adapters that bind x as a uniform
/// (native CPU adapters), the adapters where the prefill rounds it too
/// (`gemm_takes_q8_1`), so prompt and reply are computed alike. Why:
/// integer products (shaders/quant_sg/q4_1_int.wgsl); each lane rounds
/// its blocks once for all the rows it meets.
pub fn decode_rounds_x(gpu: &Gpu, ty: GgmlType) -> bool {
    ty == GgmlType::Q4_1 && gpu.info.x_uniform
}

/// x `(n_tokens, k)` rounded to Q8_1 blocks in `xq` for the integer row
/// GEMM (`gemm_takes_q8_1`), RMS-normed first with `norm` (weight `(k,)`,
/// epsilon). `xq` holds `max_tokens` tokens' blocks (`q8_1_token_bytes`).
pub fn quant_x(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    x: &wgpu::Buffer,
    xq: &wgpu::Buffer,
    norm: Option<(&wgpu::Buffer, f32)>,
    k: usize,
    max_tokens: usize,
) -> Result<Dispatch> {
    if !k.is_multiple_of(32) || k == 0 {
        return Err(Error::shape(
            "quant_x",
            format!("k = {k} is not a positive multiple of 32"),
        ));
    }
    // A workgroup is one subgroup of 8 lanes (its subgroupAdd).
    if gemm_subgroup(gpu) != 8 {
        return Err(Error::option(
            "quant_x",
            "needs subgroups of at least 8 lanes",
        ));
    }
    need(x, (max_tokens * k) as u64, "quant_x x")?;
    need(
        xq,
        max_tokens as u64 * q8_1_token_bytes(k) / 4,
        "quant_x blocks",
    )?;
    let mut bufs = vec![x, xq];
    if let Some((nw, _)) = norm {
        need(nw, k as u64, "quant_x norm weight")?;
        bufs.push(nw);
    }
    let params = NormParams {
        dim: to_u32(k, "quant_x k")?,
        eps: norm.map_or(0.0, |n| n.1),
        _pad0: 0,
        _pad1: 0,
    };
    Dispatch::new(
        gpu,
        Kernel::QuantX {
            norm: norm.is_some(),
        },
        bytemuck::bytes_of(&params),
        &bufs,
        Grid::Tokens { x: 1, tile: 1 },
        step,
    )
}

/// Whether `gemm` takes `GemmOpts::rope` for `rope` here: the row GEMM
/// with x over subgroups (the pair partner comes through a shuffle), on
/// llama's adjacent pairs.
pub fn gemm_fuses_rope(gpu: &Gpu, rope: RopeOpts) -> bool {
    gemm_fuses(gpu) && gemm_subgroup(gpu) > 0 && !rope.neox
}

/// y: `(n_tokens, n)` (+)= x `(n_tokens, k)` · w `(n, k)`ᵀ, in the GPU's
/// tuned layout (`GpuInfo::gemm_layout`).
pub fn gemm(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    opts: GemmOpts,
    max_tokens: usize,
) -> Result<Dispatch> {
    let layout = gpu.info.gemm_layout;
    let subgroup = gemm_subgroup(gpu);
    gemm_in_layout(gpu, step, w, x, y, opts, max_tokens, layout, subgroup)
}

/// Lanes the row GEMM shares x over through subgroup broadcasts here: 8
/// (one per token) where subgroups are that wide, 4 (two tokens each)
/// where they have 4 lanes (SwiftShader), else 0 (no sharing).
pub fn gemm_subgroup(gpu: &Gpu) -> u32 {
    match gpu.info.subgroup_lanes {
        Some(lanes) if lanes >= 4 => lanes.min(8),
        _ => 0,
    }
}

/// `gemm` in a given layout (tests, tuning); `subgroup`: lanes sharing x
/// as `Kernel::Gemm`'s (0, 4 or 8), at most what `gemm_subgroup` allows.
#[allow(clippy::too_many_arguments)]
pub fn gemm_in_layout(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    w: &Weight,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    opts: GemmOpts,
    max_tokens: usize,
    layout: MatvecLayout,
    subgroup: u32,
) -> Result<Dispatch> {
    if ![0, 4, 8].contains(&subgroup) || subgroup > gemm_subgroup(gpu) {
        return Err(Error::option(
            "gemm subgroup",
            format!(
                "x over {subgroup} lanes; this adapter allows 0..={}",
                gemm_subgroup(gpu)
            ),
        ));
    }
    if opts.fused() && layout != MatvecLayout::Rows {
        return Err(Error::option(
            "gemm fusion",
            "norm and swiglu fuse into the row GEMM only",
        ));
    }
    if !w.cols.is_multiple_of(32) {
        return Err(Error::shape(
            "gemm",
            format!("k = {} is not a multiple of 32", w.cols),
        ));
    }
    if opts.x_q8_1
        && (opts.norm.is_some()
            || layout != MatvecLayout::Rows
            || subgroup != 8
            || !gemm_takes_q8_1(gpu, w))
    {
        return Err(Error::option(
            "gemm x_q8_1",
            "Q8_1 x takes Q4_1 weights on the row GEMM over 8 lanes with x as a uniform, without norm",
        ));
    }
    // Output width, and rows per workgroup of gemm.wgsl / gemm_row.wgsl
    // (a row-GEMM invocation's 4 rows: two outputs' gate and up rows with
    // swiglu); tokens: the kernel's.
    let (n, rows) = match layout {
        MatvecLayout::Groups => (w.rows, GEMM_TILE),
        MatvecLayout::Rows if opts.swiglu => {
            if !w.rows.is_multiple_of(2) || opts.residual || opts.rope.is_some() {
                return Err(Error::shape(
                    "gemm swiglu",
                    "[gate; up] needs an even row count, no residual and no rope",
                ));
            }
            (w.rows / 2, 64)
        }
        MatvecLayout::Rows => (w.rows, 128),
    };
    // x's bytes per token: f32, or Q8_1 blocks.
    let token_bytes = if opts.x_q8_1 {
        q8_1_token_bytes(w.cols)
    } else {
        w.cols as u64 * 4
    };
    need(x, max_tokens as u64 * token_bytes / 4, "gemm x")?;
    need(y, (max_tokens * n) as u64, "gemm y")?;
    let mut bufs = vec![x, y];
    let eps = match opts.norm {
        Some((nw, eps)) => {
            need(nw, w.cols as u64, "gemm norm weight")?;
            bufs.push(nw);
            eps
        }
        None => 0.0,
    };
    let params = w.params(w.rows, eps)?;
    // RoPE in the epilogue: its parameters and the caches follow.
    let mut rope_buf = None;
    if let Some(rf) = opts.rope {
        // The pair partner comes through a subgroup shuffle.
        if subgroup == 0 || opts.residual {
            return Err(Error::option(
                "gemm rope",
                "RoPE fuses into a row GEMM with x over subgroups, without residual",
            ));
        }
        if rf.rope.neox || w.rows != rf.shape.qkv_width() {
            return Err(Error::shape(
                "gemm rope",
                format!(
                    "llama pairs over a q|k|v width of {}; got {} rows, neox {}",
                    rf.shape.qkv_width(),
                    w.rows,
                    rf.rope.neox
                ),
            ));
        }
        rope_buf = Some(rope_params_buf(gpu, &rf)?);
    }
    let tail = match (&rope_buf, &opts.rope) {
        (Some(b), Some(rf)) => rope_tail(b, rf),
        _ => Vec::new(),
    };
    let subgroup = if layout == MatvecLayout::Rows {
        subgroup
    } else {
        0
    };
    let mut kernel = Kernel::Gemm {
        ty: w.ty,
        residual: opts.residual,
        layout,
        tex: w.store.is_texture(),
        subgroup,
        norm: opts.norm.is_some(),
        swiglu: opts.swiglu,
        rope: opts.rope.is_some(),
        x_uniform: false,
        x_split: false,
        int_x: false,
        kv_tex: opts.rope.is_some_and(|rf| rf.kv.is_texture()),
    };
    // x as a uniform where the adapter takes it (CPU drivers, 8 lanes) and
    // a tile's tokens fit one 64 KiB view, or two (`x_split`), which x's
    // buffer holds from every tile's first token.
    let tile = kernel.gemm_tokens();
    let tile_bytes = u64::from(tile) * token_bytes;
    let views = tile_bytes.div_ceil(X_UNIFORM_BYTES);
    let max_t = to_u32(max_tokens, "gemm tokens")?;
    let x_uniform = layout == MatvecLayout::Rows
        && subgroup == 8
        && gpu.info.x_uniform
        && X_UNIFORM_BYTES <= gpu.info.max_uniform_binding
        && views <= 2
        && u64::from(max_t.div_ceil(tile).saturating_sub(1)) * tile_bytes + views * X_UNIFORM_BYTES
            <= x.size()
        && tile_bytes.is_multiple_of(u64::from(
            gpu.device.limits().min_uniform_buffer_offset_alignment,
        ));
    if let Kernel::Gemm {
        x_uniform: xu,
        x_split,
        int_x,
        ..
    } = &mut kernel
    {
        *xu = x_uniform;
        *x_split = x_uniform && views == 2;
        *int_x = opts.x_q8_1;
    }
    if opts.x_q8_1 && !x_uniform {
        return Err(Error::shape(
            "gemm x_q8_1",
            format!(
                "x of {} bytes holds no uniform view for every tile",
                x.size()
            ),
        ));
    }
    let x_groups = to_u32(n, "gemm rows")?.div_ceil(rows);
    if x_uniform {
        return Dispatch::with_weight_tiles(
            gpu,
            kernel,
            |t0| bytemuck::bytes_of(&WParams { x0: t0, ..params }).to_vec(),
            &w.store,
            &bufs,
            &tail,
            (x_groups, tile, max_t, token_bytes),
            step,
        );
    }
    Dispatch::with_weight(
        gpu,
        kernel,
        bytemuck::bytes_of(&params),
        &w.store,
        &bufs,
        &tail,
        Grid::Tokens {
            x: x_groups,
            tile: kernel.gemm_tokens(),
        },
        step,
    )
}

/// y: `(n_tokens, dim)` = table[tokens[pos0 + t]] * scale; table `(vocab, dim)`.
pub fn embed(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    table: &Weight,
    tokens: &wgpu::Buffer,
    y: &wgpu::Buffer,
    scale: f32,
    max_tokens: usize,
) -> Result<Dispatch> {
    need(y, (max_tokens * table.cols) as u64, "embed y")?;
    let params = table.params(table.rows, scale)?;
    let x_groups = to_u32(table.cols / 8, "embed width")?.div_ceil(64);
    Dispatch::with_weight(
        gpu,
        Kernel::Embed {
            ty: table.ty,
            tex: table.store.is_texture(),
        },
        bytemuck::bytes_of(&params),
        &table.store,
        &[tokens, y],
        &[],
        Grid::Tokens {
            x: x_groups,
            tile: 1,
        },
        step,
    )
}

/// y: `(n_tokens, dim)` = rmsnorm(x) * w.
#[allow(clippy::too_many_arguments)]
pub fn rmsnorm(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    w: &wgpu::Buffer,
    dim: usize,
    eps: f32,
    max_tokens: usize,
) -> Result<Dispatch> {
    need(x, (max_tokens * dim) as u64, "rmsnorm x")?;
    need(y, (max_tokens * dim) as u64, "rmsnorm y")?;
    need(w, dim as u64, "rmsnorm weight")?;
    let params = NormParams {
        dim: to_u32(dim, "rmsnorm dim")?,
        eps,
        _pad0: 0,
        _pad1: 0,
    };
    Dispatch::new(
        gpu,
        Kernel::RmsNorm,
        bytemuck::bytes_of(&params),
        &[x, y, w],
        Grid::Tokens { x: 1, tile: 1 },
        step,
    )
}

/// Attention geometry shared by `rope_kv` and `attention`.
#[derive(Clone, Copy, Debug)]
pub struct AttnShape {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// KV cache capacity in tokens.
    pub ctx: usize,
}

impl AttnShape {
    /// Width of one token's fused q|k|v row.
    pub fn qkv_width(&self) -> usize {
        (self.n_heads + 2 * self.n_kv_heads) * self.head_dim
    }

    /// Elements of one layer's K (or V) cache: `(n_kv_heads, ctx, head_dim)`.
    pub fn cache_elems(&self) -> usize {
        self.n_kv_heads * self.ctx * self.head_dim
    }

    /// 4-byte words of one layer's K (or V) cache buffer: the caches hold
    /// f16 pairs (dims 2w, 2w + 1 in word w of a row), as llama.cpp keeps
    /// its cache in f16 (shaders/rope_kv.wgsl); head_dim is even.
    pub fn cache_words(&self) -> usize {
        self.cache_elems() / 2
    }

    fn check(&self) -> Result<()> {
        if self.n_heads == 0
            || self.n_kv_heads == 0
            || !self.n_heads.is_multiple_of(self.n_kv_heads)
        {
            return Err(Error::shape(
                "attention",
                format!("{} heads over {} kv heads", self.n_heads, self.n_kv_heads),
            ));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) || self.head_dim > 256 {
            return Err(Error::Unsupported(format!(
                "head_dim {} (even, <= 256 supported)",
                self.head_dim
            )));
        }
        Ok(())
    }
}

/// RoPE options.
#[derive(Clone, Copy, Debug)]
pub struct RopeOpts {
    pub rope_dim: usize,
    pub theta: f32,
    /// NeoX pairing (i, i + d/2) instead of llama's (2i, 2i + 1).
    pub neox: bool,
}

/// shaders/rope.wgsl's `RopeParams`, checked.
fn rope_params(s: AttnShape, rope: RopeOpts) -> Result<RopeParams> {
    s.check()?;
    if rope.rope_dim > s.head_dim || !rope.rope_dim.is_multiple_of(2) {
        return Err(Error::shape(
            "rope",
            format!("rope_dim {} for head_dim {}", rope.rope_dim, s.head_dim),
        ));
    }
    Ok(RopeParams {
        n_heads: to_u32(s.n_heads, "n_heads")?,
        n_kv_heads: to_u32(s.n_kv_heads, "n_kv_heads")?,
        head_dim: to_u32(s.head_dim, "head_dim")?,
        rope_dim: to_u32(rope.rope_dim, "rope_dim")?,
        ctx: to_u32(s.ctx, "ctx")?,
        neox: u32::from(rope.neox),
        theta: rope.theta,
        _pad: 0,
    })
}

/// Rotates q of qkv `(n_tokens, qkv_width)` in place and writes rotated k
/// and v to the caches `(n_kv_heads, ctx, head_dim)` (f16 pairs) at
/// positions pos0 + t (k in qkv stays unrotated: attention reads keys from
/// the cache).
#[allow(clippy::too_many_arguments)]
pub fn rope_kv(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    s: AttnShape,
    rope: RopeOpts,
    qkv: &wgpu::Buffer,
    kv: &KvCache,
    max_tokens: usize,
) -> Result<Dispatch> {
    let params = rope_params(s, rope)?;
    need(qkv, (max_tokens * s.qkv_width()) as u64, "rope qkv")?;
    kv.check(s)?;
    let slots = to_u32(s.qkv_width() / 2, "rope slots")?;
    Dispatch::with_kv(
        gpu,
        Kernel::RopeKv {
            kv_tex: kv.is_texture(),
        },
        bytemuck::bytes_of(&params),
        qkv,
        kv,
        None,
        Grid::Tokens {
            x: slots.div_ceil(64),
            tile: 1,
        },
        step,
    )
}

/// out `(n_tokens, n_heads * head_dim)` = causal softmax(q kᵀ * scale) v over
/// the cache, keys `max(0, pos - window + 1)..=pos` (window 0: all).
#[allow(clippy::too_many_arguments)]
pub fn attention(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    s: AttnShape,
    scale: f32,
    window: usize,
    qkv: &wgpu::Buffer,
    kv: &KvCache,
    out: &wgpu::Buffer,
    max_tokens: usize,
) -> Result<Dispatch> {
    attention_with(
        gpu,
        step,
        s,
        scale,
        window,
        qkv,
        kv,
        out,
        max_tokens,
        AttnKernel::Auto,
    )
}

/// The attention kernels' parameter block.
fn attn_params(s: AttnShape, scale: f32, window: usize) -> Result<AttnParams> {
    Ok(AttnParams {
        n_heads: to_u32(s.n_heads, "n_heads")?,
        n_kv_heads: to_u32(s.n_kv_heads, "n_kv_heads")?,
        head_dim: to_u32(s.head_dim, "head_dim")?,
        ctx: to_u32(s.ctx, "ctx")?,
        window: to_u32(window, "window")?,
        _pad0: 0,
        scale,
        _pad1: 0,
    })
}

/// Lanes of the subgroup attention kernels for `s` here, if they run: they
/// keep a query group's q and output in registers (shaders/attention_sg.wgsl
/// MAXV, MAXG; attention_dims_sg.wgsl MAXD).
fn attention_lanes(gpu: &Gpu, s: AttnShape) -> Option<u32> {
    let group = s.n_heads / s.n_kv_heads.max(1);
    let hd4 = s.head_dim / 4;
    let fits = s.head_dim.is_multiple_of(4) && group <= 8 && group * hd4 <= 64;
    gpu.info.subgroup_lanes.filter(|_| fits)
}

/// Lanes and vec4s per lane of attention_dims_sg.wgsl for `s` here, if it
/// runs: at most 4 query heads per KV head, 1 to 4 vec4s of a head a lane.
fn dim_lanes(gpu: &Gpu, s: AttnShape) -> Option<(u32, u32)> {
    let group = s.n_heads / s.n_kv_heads.max(1);
    let hd4 = s.head_dim / 4;
    attention_lanes(gpu, s).and_then(|l| {
        let dims = hd4 / l as usize; // vec4s per lane
        (group <= 4 && hd4.is_multiple_of(l as usize) && (1..=4).contains(&dims))
            .then_some((l, dims as u32))
    })
}

/// Whether the decode attention of shape `s` can finish with its share of
/// the O projection `wo` (`attention_o`): on CPU adapters with 8-lane
/// subgroups, where decode runs attention_dims_sg.wgsl, for head_dim 64
/// and at most 4 query heads per KV head (shaders/attn_o_sg.wgsl is
/// written for that layout), with Wo on the subgroup matvec and the
/// partial vectors within the uniform view the FFN reads them through.
pub fn fuses_attention_o(gpu: &Gpu, s: AttnShape, wo: &Weight) -> bool {
    gpu.info.cpu
        && dim_lanes(gpu, s) == Some((8, 2))
        && matvec_lanes(gpu, wo, wo.rows, &MatvecOpts::default()) == 8
        && wo.cols == s.n_heads * s.head_dim
        && (s.n_kv_heads * wo.rows * 4) as u64 <= X_UNIFORM_BYTES
        && X_UNIFORM_BYTES <= gpu.info.max_uniform_binding
}

/// Workgroups of the decode FFN (`ffn`) on this adapter for these
/// weights, or `None` where it cannot run: CPU adapters with 8-lane
/// subgroups and x as a uniform, [gate; up] and down of one type in one
/// store, ffn a multiple of 64 per workgroup, the partial vectors within
/// 64 KiB.
pub fn fuses_ffn(gpu: &Gpu, gate_up: &Weight, down: &Weight) -> Option<u32> {
    let (dim, ffn) = (gate_up.cols, down.cols);
    let ok = gpu.info.cpu
        && gpu.info.x_uniform
        && X_UNIFORM_BYTES <= gpu.info.max_uniform_binding
        && matvec_lanes(
            gpu,
            gate_up,
            ffn,
            &MatvecOpts {
                swiglu: true,
                ..Default::default()
            },
        ) == 8
        && matvec_lanes(gpu, down, dim, &MatvecOpts::default()) == 8
        && gate_up.ty == down.ty
        && gate_up.store.same(&down.store)
        && gate_up.rows == 2 * ffn
        && down.rows == dim
        && dim.is_multiple_of(64)
        && (dim * 4) as u64 <= X_UNIFORM_BYTES;
    if !ok {
        return None;
    }
    // 4 workgroups (lavapipe here runs 2 threads), fewer where the hidden
    // units do not split so. More cost the next matvec a partial vector
    // per x load (8 ran slower than 4; 2 and 4 within noise).
    [4u32, 2, 1].into_iter().find(|&s| {
        ffn.is_multiple_of(64 * s as usize) && (s as usize * dim * 4) as u64 <= X_UNIFORM_BYTES
    })
}

/// The decode FFN (one token) in one dispatch, where `fuses_ffn`: x
/// `(dim,)` plus `attn_parts` (attention's partial O projections, this many
/// vectors of dim) is the residual after attention; RMSNorm by `norm`,
/// silu(gate) * up into h `(ffn,)`, and down's partial vectors into
/// `fparts` `(slices, dim)` (their sum is down · h); the residual itself
/// goes to `xo` `(dim,)`. For `MatvecOpts::parts` of the next matvec.
#[allow(clippy::too_many_arguments)]
pub fn ffn(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    gate_up: &Weight,
    down: &Weight,
    norm: (&wgpu::Buffer, f32),
    x: &wgpu::Buffer,
    attn_parts: (&wgpu::Buffer, u32),
    h: &wgpu::Buffer,
    fparts: &wgpu::Buffer,
    xo: &wgpu::Buffer,
) -> Result<Dispatch> {
    let Some(slices) = fuses_ffn(gpu, gate_up, down) else {
        return Err(Error::option(
            "ffn",
            "not on this adapter for these weights (ops::fuses_ffn)",
        ));
    };
    let (dim, hidden) = (gate_up.cols, down.cols);
    if x.size() < X_UNIFORM_BYTES || !x.usage().contains(wgpu::BufferUsages::UNIFORM) {
        return Err(Error::shape("ffn x", "a 64 KiB buffer usable as a uniform"));
    }
    need(norm.0, dim as u64, "ffn norm weight")?;
    need(h, hidden as u64, "ffn h")?;
    need(xo, dim as u64, "ffn residual out")?;
    check_parts(gpu, attn_parts.0, attn_parts.1, dim)?;
    check_parts(gpu, fparts, slices, dim)?;
    let kernel = Kernel::Ffn {
        ty: gate_up.ty,
        tex: gate_up.store.is_texture(),
        slices,
        nb: to_u32(hidden / slices as usize / 64, "ffn blocks")?,
        parts: attn_parts.1,
        int_x: decode_rounds_x(gpu, gate_up.ty),
    };
    let gp = gate_up.params(hidden, norm.1)?;
    let dp = down.params(dim, 0.0)?;
    let dpb = gpu.uniform_init("ffn down params", bytemuck::bytes_of(&dp))?;
    Dispatch::with_weight(
        gpu,
        kernel,
        bytemuck::bytes_of(&gp),
        &gate_up.store,
        &[x, h, norm.0],
        &[
            dpb.as_entire_binding(),
            uniform_view(attn_parts.0),
            fparts.as_entire_binding(),
            xo.as_entire_binding(),
        ],
        Grid::Flat(slices),
        step,
    )
}

/// Decode attention (one token) with its share of the O projection: out
/// `(n_heads * head_dim,)` as `attention`'s, and parts `(n_kv_heads,
/// wo.rows)`, KV head h's outputs times its columns of `wo` (their sum is
/// wo · out). For `MatvecOpts::parts`; only where `fuses_attention_o`.
#[allow(clippy::too_many_arguments)]
pub fn attention_o(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    s: AttnShape,
    scale: f32,
    window: usize,
    qkv: &wgpu::Buffer,
    kv: &KvCache,
    out: &wgpu::Buffer,
    wo: &Weight,
    parts: &wgpu::Buffer,
) -> Result<Dispatch> {
    s.check()?;
    if !fuses_attention_o(gpu, s, wo) {
        return Err(Error::option(
            "attention_o",
            "not on this adapter for this shape (ops::fuses_attention_o)",
        ));
    }
    need(qkv, s.qkv_width() as u64, "attention qkv")?;
    kv.check(s)?;
    need(out, (s.n_heads * s.head_dim) as u64, "attention out")?;
    check_parts(gpu, parts, to_u32(s.n_kv_heads, "n_kv_heads")?, wo.rows)?;
    let kernel = Kernel::AttnO {
        ty: wo.ty,
        tex: wo.store.is_texture(),
        group: to_u32(s.n_heads / s.n_kv_heads, "n_heads")?,
        kv_tex: kv.is_texture(),
        int_x: decode_rounds_x(gpu, wo.ty),
    };
    let ap = attn_params(s, scale, window)?;
    let apb = gpu.uniform_init("attention params", bytemuck::bytes_of(&ap))?;
    let params = wo.params(wo.rows, 0.0)?;
    Dispatch::with_weight(
        gpu,
        kernel,
        bytemuck::bytes_of(&params),
        &wo.store,
        &[&apb, qkv, out],
        &[kv.k.resource(), kv.v.resource(), parts.as_entire_binding()],
        Grid::Tokens {
            x: to_u32(s.n_kv_heads, "n_kv_heads")?,
            tile: 1,
        },
        step,
    )
}

/// Whether a layer's decode attention half runs as one dispatch
/// (`qkv_attention_o`): where `attention_o` and the QKV matvec's RoPE
/// epilogue run on 8 lanes with x as a uniform, [q; k; v] and Wo of one
/// type in one store, the caches in buffers (a workgroup reads back the
/// k and v it appended: storage buffers have a barrier for that in WGSL,
/// storage textures' reads do not exist), and x's blocks even in number
/// (the row sets share x loads in pairs of blocks).
pub fn fuses_qkv_attention_o(
    gpu: &Gpu,
    s: AttnShape,
    qkv: &Weight,
    wo: &Weight,
    rope: RopeOpts,
    kv: &KvCache,
) -> bool {
    let dim = qkv.cols;
    gpu.info.fuse_attention
        && fuses_attention_o(gpu, s, wo)
        && fuses_rope(gpu, qkv, rope)
        && matvec_lanes(gpu, qkv, qkv.rows, &MatvecOpts::default()) == 8
        && gpu.info.x_uniform
        && !kv.is_texture()
        && qkv.ty == wo.ty
        && qkv.store.same(&wo.store)
        && qkv.rows == s.qkv_width()
        && wo.rows == dim
        && dim.is_multiple_of(64)
        && (dim * 4) as u64 <= X_UNIFORM_BYTES
}

/// A layer's attention half of decode (one token) in one dispatch, where
/// `fuses_qkv_attention_o`: RMSNorm of x `(dim,)` by `norm`, [q; k; v]
/// with RoPE and the KV append, attention (out `(n_heads * head_dim,)`)
/// and its O share into `parts` `(n_kv_heads, dim)`, as `matvec` with
/// `MatvecOpts::rope` then `attention_o` would. With `fold` (the FFN's
/// partial vectors: buffer, count, and where the residual goes), x plus
/// them is the input and is also written to the third buffer.
#[allow(clippy::too_many_arguments)]
pub fn qkv_attention_o(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    rf: RopeFuse,
    scale: f32,
    qkv: &Weight,
    norm: (&wgpu::Buffer, f32),
    x: &wgpu::Buffer,
    fold: Option<(&wgpu::Buffer, u32, &wgpu::Buffer)>,
    out: &wgpu::Buffer,
    wo: &Weight,
    parts: &wgpu::Buffer,
) -> Result<Dispatch> {
    let s = rf.shape;
    s.check()?;
    if !fuses_qkv_attention_o(gpu, s, qkv, wo, rf.rope, rf.kv) {
        return Err(Error::option(
            "qkv_attention_o",
            "not on this adapter for these weights (ops::fuses_qkv_attention_o)",
        ));
    }
    let dim = qkv.cols;
    if x.size() < X_UNIFORM_BYTES || !x.usage().contains(wgpu::BufferUsages::UNIFORM) {
        return Err(Error::shape(
            "qkv_attention_o x",
            "a 64 KiB buffer usable as a uniform",
        ));
    }
    need(norm.0, dim as u64, "qkv_attention_o norm weight")?;
    need(out, (s.n_heads * s.head_dim) as u64, "qkv_attention_o out")?;
    let n_kv = to_u32(s.n_kv_heads, "n_kv_heads")?;
    check_parts(gpu, parts, n_kv, dim)?;
    if let Some((fp, count, xo)) = fold {
        check_parts(gpu, fp, count, dim)?;
        need(xo, dim as u64, "qkv_attention_o residual out")?;
    }
    let kernel = Kernel::QkvAttnO {
        ty: qkv.ty,
        tex: qkv.store.is_texture(),
        group: to_u32(s.n_heads / s.n_kv_heads, "n_heads")?,
        parts: fold.map_or(0, |f| f.1),
        int_x: decode_rounds_x(gpu, qkv.ty),
    };
    let qp = qkv.params(qkv.rows, norm.1)?;
    let op = wo.params(wo.rows, 0.0)?;
    let opb = gpu.uniform_init("wo params", bytemuck::bytes_of(&op))?;
    let apb = gpu.uniform_init(
        "attention params",
        bytemuck::bytes_of(&attn_params(s, scale, 0)?),
    )?;
    let rpb = rope_params_buf(gpu, &rf)?;
    let mut tail = vec![opb.as_entire_binding()];
    tail.extend(rope_tail(&rpb, &rf));
    tail.extend([out.as_entire_binding(), parts.as_entire_binding()]);
    if let Some((fp, _, xo)) = fold {
        tail.extend([uniform_view(fp), xo.as_entire_binding()]);
    }
    Dispatch::with_weight(
        gpu,
        kernel,
        bytemuck::bytes_of(&qp),
        &qkv.store,
        &[x, &apb, norm.0],
        &tail,
        Grid::Flat(n_kv),
        step,
    )
}

/// Which kernel `attention_with` records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttnKernel {
    /// What `attention` picks: on CPU adapters `TokenLanes` for prefill
    /// (`max_tokens` > 1) and `DimLanes` for decode where they fit, else
    /// `KeyLanes` where subgroups allow, else `Portable`.
    Auto,
    /// shaders/attention.wgsl: workgroup memory, runs everywhere.
    Portable,
    /// shaders/attention_sg.wgsl: one subgroup per (KV head, token), lanes
    /// over keys.
    KeyLanes,
    /// shaders/attention_dims_sg.wgsl: one subgroup per (KV head, token),
    /// lanes over head dims (at most 4 query heads per KV head, 4 to 16
    /// dims per lane).
    DimLanes,
    /// shaders/attention_tokens_sg.wgsl: one 8-lane subgroup per (KV head,
    /// 8 tokens), lanes over the tokens, each key row loaded once for all
    /// 8 (head_dim 64, at most 4 query heads per KV head).
    TokenLanes,
}

/// `attention` with the kernel chosen (tests cover each on one adapter);
/// an error where the adapter or shape does not allow that kernel.
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    s: AttnShape,
    scale: f32,
    window: usize,
    qkv: &wgpu::Buffer,
    kv: &KvCache,
    out: &wgpu::Buffer,
    max_tokens: usize,
    pick: AttnKernel,
) -> Result<Dispatch> {
    s.check()?;
    need(qkv, (max_tokens * s.qkv_width()) as u64, "attention qkv")?;
    kv.check(s)?;
    need(
        out,
        (max_tokens * s.n_heads * s.head_dim) as u64,
        "attention out",
    )?;
    let params = attn_params(s, scale, window)?;
    let group = s.n_heads / s.n_kv_heads;
    let hd4 = s.head_dim / 4;
    let lanes = attention_lanes(gpu, s);
    let dim_lanes = dim_lanes(gpu, s).map(|(_, d)| d as usize);
    let token_lanes = lanes == Some(8) && hd4 == 16 && group <= 4;
    let (subgroup, dims, tokens) = match (pick, lanes, dim_lanes) {
        (AttnKernel::Auto, Some(l), _) if gpu.info.cpu && token_lanes && max_tokens > 1 => {
            (l, 0, true)
        }
        (AttnKernel::TokenLanes, Some(l), _) if token_lanes => (l, 0, true),
        (AttnKernel::Auto, Some(l), Some(d)) if gpu.info.cpu => (l, d, false),
        (AttnKernel::Auto | AttnKernel::KeyLanes, Some(l), _) => (l, 0, false),
        (AttnKernel::Auto | AttnKernel::Portable, _, _) => (0, 0, false),
        (AttnKernel::DimLanes, Some(l), Some(d)) => (l, d, false),
        (AttnKernel::KeyLanes | AttnKernel::DimLanes | AttnKernel::TokenLanes, _, _) => {
            return Err(Error::option(
                "attention kernel",
                format!("{pick:?} does not run on this adapter for this shape"),
            ))
        }
    };
    let kernel = Kernel::Attention {
        subgroup,
        hd4: if subgroup > 0 {
            to_u32(hd4, "head_dim")?
        } else {
            0
        },
        group: if subgroup > 0 {
            to_u32(group, "n_heads")?
        } else {
            0
        },
        dims: to_u32(dims, "head_dim")?,
        tokens,
        kv_tex: kv.is_texture(),
    };
    // One workgroup per (head, token); per (KV head, token) for subgroups;
    // per (KV head, 8 tokens) with lanes over tokens.
    let x = if subgroup > 0 {
        s.n_kv_heads
    } else {
        s.n_heads
    };
    let tile = if tokens { 8 } else { 1 };
    Dispatch::with_kv(
        gpu,
        kernel,
        bytemuck::bytes_of(&params),
        qkv,
        kv,
        Some(out),
        Grid::Tokens {
            x: to_u32(x, "heads")?,
            tile,
        },
        step,
    )
}

/// h `(n_tokens, n)` = silu(a[:, :n]) * a[:, n:], a `(n_tokens, 2n)`.
pub fn silu_mul(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    n: usize,
    a: &wgpu::Buffer,
    h: &wgpu::Buffer,
    max_tokens: usize,
) -> Result<Dispatch> {
    need(a, (max_tokens * 2 * n) as u64, "silu_mul input")?;
    need(h, (max_tokens * n) as u64, "silu_mul output")?;
    let params = SiluParams {
        n: to_u32(n, "silu_mul n")?,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    let groups = to_u32(n, "silu_mul n")?.div_ceil(64);
    Dispatch::new(
        gpu,
        Kernel::SiluMul,
        bytemuck::bytes_of(&params),
        &[a, h],
        Grid::Tokens { x: groups, tile: 1 },
        step,
    )
}

/// Samples from logits `(vocab,)` with the step's sampler settings and
/// writes the id to tokens[pos0 + n_tokens]. Applies the repetition
/// penalty to `logits` in place.
pub fn sample(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    vocab: usize,
    logits: &wgpu::Buffer,
    tokens: &wgpu::Buffer,
) -> Result<Dispatch> {
    let wg = if gpu.info.cpu {
        cpu_sample_wg(vocab)
    } else {
        256
    };
    sample_wg(gpu, step, vocab, logits, tokens, wg)
}

/// The sampler's workgroup on CPU drivers: the fewest invocations (a
/// power of two, 8 to 256) whose loops stay within llvmpipe's limit.
/// Why few: a CPU driver runs the one workgroup on one thread, its
/// invocations as SIMD lanes of 8, and every barrier switches between
/// those groups (shaders/sample.wgsl). Why not fewer: llvmpipe stops an
/// invocation's loops after 65535 iterations in all (gallivm's loop
/// limiter), and a top-k + top-p draw whose candidates do not fit the
/// shader's compact list (flat distributions) walks the vocabulary ~70
/// times (`SAMPLE_PASSES`), vocab / wg elements a pass; past the limit
/// the draw silently picks wrong tokens (8 invocations on a 49152
/// vocabulary did).
pub fn cpu_sample_wg(vocab: usize) -> u32 {
    const SAMPLE_PASSES: usize = 70;
    const LOOP_LIMIT: usize = 60_000; // 65535, less a margin for the rest
    [8u32, 16, 32, 64, 128, 256]
        .into_iter()
        .find(|&wg| vocab.div_ceil(wg as usize) * SAMPLE_PASSES <= LOOP_LIMIT)
        .unwrap_or(256)
}

/// `sample` on a workgroup of `wg` invocations (tests run both sizes
/// everywhere): a power of two in 1..=256.
pub fn sample_wg(
    gpu: &Gpu,
    step: &wgpu::Buffer,
    vocab: usize,
    logits: &wgpu::Buffer,
    tokens: &wgpu::Buffer,
    wg: u32,
) -> Result<Dispatch> {
    if !wg.is_power_of_two() || wg > 256 {
        return Err(Error::option(
            "sample workgroup",
            format!("{wg} is not a power of two in 1..=256"),
        ));
    }
    need(logits, vocab as u64, "sample logits")?;
    let params = SampleParams {
        vocab: to_u32(vocab, "vocab")?,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch::new(
        gpu,
        Kernel::Sample { wg },
        bytemuck::bytes_of(&params),
        &[logits, tokens],
        Grid::Flat(1),
        step,
    )
}
