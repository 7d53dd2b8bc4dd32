//! Kernel identities, their WGSL sources and binding lists.
//!
//! A kernel's source is `common.wgsl` + (for weight kernels) the quant
//! decoder of its weight type + its own file. Variants of one source are
//! WGSL override constants, so one shader module serves them all.

use crate::gguf::GgmlType;
use crate::{Error, Result};

/// How a decode matvec spreads a row's dot product over invocations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatvecLayout {
    /// Groups of 8 invocations share rows and reduce in workgroup memory
    /// (shaders/matvec.wgsl; prefill: the tiled shaders/gemm.wgsl): GPUs
    /// and lavapipe.
    #[default]
    Groups,
    /// One invocation per row, no barriers (shaders/matvec_row.wgsl;
    /// prefill: shaders/gemm_row.wgsl, 4 rows x 8 tokens per invocation):
    /// SwiftShader, where a barrier costs more than the loads it shares.
    Rows,
}

/// Every compute kernel, with what distinguishes its pipelines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// Decode matvec on one token: shaders/matvec_sg.wgsl with workgroups
    /// of `subgroup` lanes (at most the adapter's smallest subgroup size)
    /// when `subgroup` > 0 (`layout` is then unused), else the portable
    /// kernel of `layout`. `split`: lanes per row set of the subgroup
    /// kernel (a power of two dividing `subgroup`; 0 without subgroups).
    Matvec {
        ty: GgmlType,
        fuse_norm: bool,
        swiglu: bool,
        residual: bool,
        subgroup: u32,
        split: u32,
        layout: MatvecLayout,
        /// The weight is a texture (`ops::Weight`), not a buffer.
        tex: bool,
        /// The decode QKV matvec applies RoPE and appends k and v to the
        /// KV cache in its epilogue (shaders/rope_store.wgsl; subgroup
        /// kernel only, llama's adjacent pairs), saving the rope_kv
        /// dispatch of each layer.
        rope: bool,
        /// The row sets share x through broadcasts (shaders/matvec_sg.wgsl
        /// XSHARE): 4 or 8 lanes in sets of 2 over an even block count.
        share_x: bool,
        /// With `rope`: the KV cache is r32uint textures (`ops::KvCache`),
        /// written with `textureStore`; false without `rope`.
        kv_tex: bool,
        /// Subgroup kernel, one token (the decode list): x bound as a
        /// uniform, `array<vec4<f32>, 4096>` (the 64 KiB WebGPU uniform
        /// limit; `ops::X_UNIFORM_BYTES`), its index masked to the array.
        /// Why: on CPU drivers a storage load with a per-lane address is a
        /// scalar loop over the lanes with a bounds check per component, a
        /// uniform load a gather: lavapipe's decode list ran ~8% faster
        /// (medians of 6 alternations). An array sized to k (or to k's
        /// next power of two) ran no faster than storage; the cause was
        /// not found.
        x_uniform: bool,
        /// With `x_uniform` and Q4_1 weights: each lane rounds its blocks
        /// of x to Q8_1 once and the rows take integer products
        /// (shaders/quant_sg/q4_1_int.wgsl), as the prefill's integer GEMM
        /// and llama.cpp's CPU backend (`ops::decode_rounds_x`).
        int_x: bool,
        /// Subgroup kernel, decode: attention's partial O projections
        /// (`Kernel::AttnO`) to add, this many vectors bound as a uniform
        /// after the other bindings (shaders/parts.wgsl): to x as it is
        /// loaded (the FFN's gate/up), or with `residual` to y (down); or
        /// `Kernel::Ffn`'s, to x (the next layer's QKV, the LM head).
        parts: u32,
        /// With `parts`: workgroup 0 also writes x plus the parts to a
        /// buffer bound after them (the residual stream, for the kernel
        /// after next: `Kernel::Ffn` reads it).
        fold: bool,
    },
    /// Prefill GEMM over a batch of tokens. `subgroup` (`Rows` only): x
    /// is shared through broadcasts within subgroups of at least that
    /// many lanes (8, or 4 on SwiftShader); 0: every lane loads it.
    /// `Rows` only: `norm`, x RMS-normed on the fly (the norm weight
    /// bound after y); `swiglu`, w is [gate; up] and y silu(gate) * up;
    /// `rope`, w is [q; k; v], RoPE and the KV append in the epilogue
    /// (bindings as the matvec's, after the norm weight).
    Gemm {
        ty: GgmlType,
        residual: bool,
        layout: MatvecLayout,
        tex: bool,
        subgroup: u32,
        norm: bool,
        swiglu: bool,
        rope: bool,
        /// `Rows` over 8-lane subgroups: x bound as a uniform, a 64 KiB
        /// view from the first token of a tile, one dispatch per tile
        /// (`ops::Grid::Tiles`). Why: llvmpipe turns a storage load with a
        /// per-lane address into a loop over the lanes, and on hosts
        /// without AVX-512 each lane's value reaches the vector through a
        /// stack slot whose reload stalls (56% of this kernel there); a
        /// uniform load is a gather. The GEMMs ran 2.5-3.4x faster so on
        /// such a host (BENCHMARKS.md, sixth session).
        x_uniform: bool,
        /// With `x_uniform`: a tile's tokens span two 64 KiB views (k in
        /// 1025..=2048: the down GEMM), the second bound after every other
        /// binding.
        x_split: bool,
        /// With `x_uniform` and Q4_1 weights: x rounded per 32-column block
        /// to Q8_1 and the products taken in integers, as llama.cpp's CPU
        /// backend (shaders/gemm_x/q8_1.wgsl). Why: on CPU drivers the
        /// float path's dequantizing and products set the GEMM's speed.
        int_x: bool,
        /// As `Matvec`'s.
        kv_tex: bool,
    },
    /// Embedding row gather from the token buffer.
    Embed {
        ty: GgmlType,
        tex: bool,
    },
    RmsNorm,
    /// x rounded to Q8_1 blocks for the integer row GEMM
    /// (`Gemm { int_x }`, shaders/quant_x.wgsl), RMS-normed first with
    /// `norm`.
    QuantX {
        norm: bool,
    },
    /// RoPE and the KV append (shaders/rope_kv.wgsl); `kv_tex` as
    /// `Attention`'s.
    RopeKv {
        kv_tex: bool,
    },
    /// shaders/attention.wgsl (runs everywhere) when `subgroup` is 0, else
    /// shaders/attention_sg.wgsl: `subgroup` lanes, `hd4` = head_dim / 4,
    /// `group` query heads per KV head; when `dims` > 0,
    /// shaders/attention_dims_sg.wgsl: lanes over the head dims, `dims`
    /// vec4s each (CPU adapters); when `tokens`,
    /// shaders/attention_tokens_sg.wgsl: lanes over 8 tokens (prefill on
    /// CPU adapters with 8-lane subgroups, `hd4` 16).
    Attention {
        subgroup: u32,
        hd4: u32,
        group: u32,
        dims: u32,
        tokens: bool,
        /// The KV cache is r32uint textures (`ops::KvCache`), read with
        /// `textureLoad`.
        kv_tex: bool,
    },
    /// Decode attention with its share of the O projection
    /// (shaders/attn_o_sg.wgsl): `Attention { dims: 2 }` on 8 lanes
    /// (head_dim 64) for the one token, `group` query heads per KV head,
    /// then row sets of 2 lanes over Wo (`ty`, `tex` as `Matvec`'s) into
    /// one partial vector per KV head.
    AttnO {
        ty: GgmlType,
        tex: bool,
        group: u32,
        kv_tex: bool,
        /// The O projection rounds the heads' outputs to Q8_1 (as
        /// `Matvec`'s `int_x`).
        int_x: bool,
    },
    /// A layer's attention half of decode in one dispatch
    /// (shaders/entry/qkv_attn_o_sg.wgsl): per KV head, RMSNorm and its
    /// rows of [q; k; v] (`ty`, `tex` as `Matvec`'s, with `int_x`), RoPE
    /// and the KV append (the caches in buffers), then `AttnO`'s attention
    /// and O share. [q; k; v] and Wo share a store; x plus `parts` partial
    /// vectors (the FFN's, folded into a buffer) is the input.
    QkvAttnO {
        ty: GgmlType,
        tex: bool,
        group: u32,
        parts: u32,
        int_x: bool,
    },
    /// The decode FFN in one dispatch (shaders/entry/ffn_sg.wgsl): RMSNorm,
    /// [gate; up], SiLU·mul and down on 8 lanes, `slices` workgroups each
    /// over ffn / `slices` hidden units (`nb` pairs of 32-column blocks of
    /// down), each writing a partial down vector; x plus `parts` partial O
    /// projections is the input. Both weights (`ty`, `tex` as `Matvec`'s)
    /// share a store.
    Ffn {
        ty: GgmlType,
        tex: bool,
        slices: u32,
        nb: u32,
        parts: u32,
        /// [gate; up] and down round their x to Q8_1 (as `Matvec`'s
        /// `int_x`).
        int_x: bool,
    },
    SiluMul,
    /// shaders/sample.wgsl on one workgroup of `wg` invocations (a power
    /// of two, `ops::sample` picks it).
    Sample {
        wg: u32,
    },
}

/// How a kernel binds each buffer, in binding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    Uniform,
    Read,
    Write,
    /// A texture read by `textureLoad` (weights: rgba32uint; the KV
    /// cache: r32uint).
    Texture,
    /// The KV cache as a write-only r32uint storage texture.
    StoreTexture,
}

use Binding::{Read as R, Texture as T, Uniform as U, Write as W};

impl Kernel {
    /// Bindings in order; `Gpu::bind_group` takes resources in this order.
    pub fn bindings(self) -> Vec<Binding> {
        let mut b = self.own_bindings().to_vec();
        // The KV cache's two bindings as textures.
        if let Some(i) = self.kv_binding().filter(|_| self.kv_tex()) {
            let t = if b[i] == W { Binding::StoreTexture } else { T };
            b[i] = t;
            b[i + 1] = t;
        }
        if let Kernel::Gemm {
            x_uniform: true, ..
        } = self
        {
            b[3] = U;
        }
        if let Kernel::Gemm { x_split: true, .. } = self {
            b.push(U);
        }
        if let Kernel::Matvec {
            parts: 1.., fold, ..
        } = self
        {
            b.push(U);
            if fold {
                b.push(W);
            }
        }
        if let Kernel::QkvAttnO { parts: 1.., .. } = self {
            b.extend([U, W]);
        }
        b
    }

    fn own_bindings(self) -> &'static [Binding] {
        match self {
            // step, params, w, x, y, norm weight
            // ... with RoPE: rope params, k cache, v cache
            // (x uniform with `x_uniform`)
            Kernel::Matvec {
                tex: true,
                x_uniform: true,
                rope: true,
                ..
            } => &[U, U, T, U, W, R, U, W, W],
            Kernel::Matvec {
                tex: true,
                x_uniform: true,
                ..
            } => &[U, U, T, U, W, R],
            Kernel::Matvec {
                tex: true,
                rope: true,
                ..
            } => &[U, U, T, R, W, R, U, W, W],
            Kernel::Matvec { tex: true, .. } => &[U, U, T, R, W, R],
            Kernel::Matvec { subgroup: 0, .. } => &[U, U, R, R, W, R],
            // ... and w again (a vec4 view and a word view of one buffer)
            Kernel::Matvec {
                x_uniform: true,
                rope: true,
                ..
            } => &[U, U, R, U, W, R, R, U, W, W],
            Kernel::Matvec {
                x_uniform: true, ..
            } => &[U, U, R, U, W, R, R],
            Kernel::Matvec { rope: true, .. } => &[U, U, R, R, W, R, R, U, W, W],
            Kernel::Matvec { .. } => &[U, U, R, R, W, R, R],
            // step, params, w, x, y (, norm weight) (, rope params, k cache, v cache)
            Kernel::Gemm {
                tex: true,
                norm: true,
                rope: true,
                ..
            } => &[U, U, T, R, W, R, U, W, W],
            Kernel::Gemm {
                tex: true,
                rope: true,
                ..
            } => &[U, U, T, R, W, U, W, W],
            Kernel::Gemm {
                norm: true,
                rope: true,
                ..
            } => &[U, U, R, R, W, R, U, W, W],
            Kernel::Gemm { rope: true, .. } => &[U, U, R, R, W, U, W, W],
            Kernel::Gemm {
                tex: true,
                norm: true,
                ..
            } => &[U, U, T, R, W, R],
            Kernel::Gemm { tex: true, .. } => &[U, U, T, R, W],
            Kernel::Gemm { norm: true, .. } => &[U, U, R, R, W, R],
            Kernel::Gemm { .. } => &[U, U, R, R, W],
            // step, params, w, tokens, y
            Kernel::Embed { tex: true, .. } => &[U, U, T, R, W],
            Kernel::Embed { .. } => &[U, U, R, R, W],
            // step, params, x, y, norm weight
            Kernel::RmsNorm => &[U, U, R, W, R],
            // step, params, x, x's blocks (, norm weight)
            Kernel::QuantX { norm: true } => &[U, U, R, W, R],
            Kernel::QuantX { norm: false } => &[U, U, R, W],
            // step, params, qkv, k cache, v cache
            Kernel::RopeKv { .. } => &[U, U, W, W, W],
            // step, params, qkv, k cache, v cache, out
            Kernel::Attention { .. } => &[U, U, R, R, R, W],
            // step, Wo params, Wo, attention params, qkv, out (Wo's x),
            // (Wo's word view,) k cache, v cache, parts
            Kernel::AttnO { tex: true, .. } => &[U, U, T, U, R, W, R, R, W],
            Kernel::AttnO { .. } => &[U, U, R, U, R, W, R, R, R, W],
            // step, [q; k; v] params, store, x, attention params, norm
            // weight, (store's word view,) Wo params, rope params, k cache,
            // v cache, out, parts (then, with parts, pa and xo)
            Kernel::QkvAttnO { tex: true, .. } => &[U, U, T, U, U, R, U, U, W, W, W, W],
            Kernel::QkvAttnO { .. } => &[U, U, R, U, U, R, R, U, U, W, W, W, W],
            // step, [gate; up] params, store, x, h, norm weight, (store's
            // word view,) down params, parts, fparts, residual out
            Kernel::Ffn { tex: true, .. } => &[U, U, T, U, W, R, U, U, W, W],
            Kernel::Ffn { .. } => &[U, U, R, U, W, R, R, U, U, W, W],
            // step, params, [gate; up], h
            Kernel::SiluMul => &[U, U, R, W],
            // step, params (read-only storage: shaders/sample.wgsl says
            // why), logits, tokens
            Kernel::Sample { .. } => &[R, R, W, W],
        }
    }

    /// The binding of the K cache (V's is next) in `own_bindings`, if the
    /// kernel binds the caches.
    fn kv_binding(self) -> Option<usize> {
        match self {
            Kernel::Matvec { rope: true, .. } | Kernel::Gemm { rope: true, .. } => {
                Some(self.own_bindings().len() - 2)
            }
            Kernel::RopeKv { .. } | Kernel::Attention { .. } => Some(3),
            Kernel::AttnO { .. } => Some(self.own_bindings().len() - 3),
            _ => None,
        }
    }

    /// Whether the kernel's KV cache is textures.
    fn kv_tex(self) -> bool {
        match self {
            Kernel::Matvec { kv_tex, .. }
            | Kernel::Gemm { kv_tex, .. }
            | Kernel::RopeKv { kv_tex }
            | Kernel::Attention { kv_tex, .. }
            | Kernel::AttnO { kv_tex, .. } => kv_tex,
            _ => false,
        }
    }

    /// Override constants selecting the variant.
    pub fn constants(self) -> Vec<(&'static str, f64)> {
        let b = |v: bool| if v { 1.0 } else { 0.0 };
        match self {
            Kernel::Matvec {
                fuse_norm,
                swiglu,
                residual,
                subgroup,
                split,
                rope,
                share_x,
                ..
            } => {
                let mut v = vec![
                    ("FUSE_NORM", b(fuse_norm)),
                    ("SWIGLU", b(swiglu)),
                    ("RESIDUAL", b(residual)),
                ];
                if subgroup > 0 {
                    v.push(("WG", f64::from(subgroup)));
                    v.push(("SPLIT", f64::from(split)));
                    v.push(("ROPE", b(rope)));
                    v.push(("XSHARE", b(share_x)));
                }
                v
            }
            Kernel::Gemm {
                residual,
                subgroup,
                layout,
                norm,
                swiglu,
                rope,
                ..
            } => {
                let mut v = vec![("RESIDUAL", b(residual))];
                if subgroup > 0 {
                    v.push(("XL", f64::from(subgroup)));
                }
                if layout == MatvecLayout::Rows {
                    v.push(("TILE", f64::from(self.gemm_tokens())));
                    v.push(("NORM", b(norm)));
                    v.push(("SWIGLU", b(swiglu)));
                    v.push(("ROPE", b(rope)));
                }
                v
            }
            Kernel::QuantX { norm } => vec![("NORM", b(norm))],
            Kernel::Sample { wg } => vec![("WG", f64::from(wg))],
            // 8 lanes, head_dim 64 (2 vec4s a lane), row sets of 2 lanes.
            Kernel::AttnO { group, .. } => vec![
                ("WG", 8.0),
                ("HD4", 16.0),
                ("GROUP", f64::from(group)),
                ("DPL4", 2.0),
                ("SPLIT", 2.0),
            ],
            Kernel::QkvAttnO { group, .. } => vec![
                ("WG", 8.0),
                ("HD4", 16.0),
                ("GROUP", f64::from(group)),
                ("DPL4", 2.0),
                ("SPLIT", 2.0),
                ("XSHARE", 1.0),
                ("FUSE_NORM", 1.0),
            ],
            Kernel::Ffn { .. } => vec![
                ("WG", 8.0),
                ("SPLIT", 2.0),
                ("XSHARE", 1.0),
                ("FUSE_NORM", 1.0),
                ("SWIGLU", 1.0),
            ],
            // Written for 8 lanes and 16 vec4s a head: only the group varies.
            Kernel::Attention {
                tokens: true,
                group,
                ..
            } => vec![("GROUP", f64::from(group))],
            Kernel::Attention {
                subgroup,
                hd4,
                group,
                dims,
                ..
            } if subgroup > 0 => {
                let mut v = vec![
                    ("WG", f64::from(subgroup)),
                    ("HD4", f64::from(hd4)),
                    ("GROUP", f64::from(group)),
                ];
                if dims > 0 {
                    v.push(("DPL4", f64::from(dims)));
                }
                v
            }
            _ => Vec::new(),
        }
    }

    /// Tokens a GEMM workgroup covers (its grid's token tile): the tiled
    /// layout's edge; the row GEMM's 16 (two groups of 8 per decoded
    /// weight) with x over 8 lanes (lavapipe), else 8: the second group
    /// doubles the shader, and SwiftShader's compile time (Chromium's first
    /// token) grows with it. 0 for other kernels.
    pub fn gemm_tokens(self) -> u32 {
        match self {
            Kernel::Gemm {
                layout: MatvecLayout::Rows,
                subgroup: 8,
                ..
            } => 16,
            Kernel::Gemm {
                layout: MatvecLayout::Rows,
                ..
            } => 8,
            Kernel::Gemm { .. } => 32,
            _ => 0,
        }
    }

    /// The weight type a kernel decodes, if any.
    pub fn weight_type(self) -> Option<GgmlType> {
        match self {
            Kernel::Matvec { ty, .. }
            | Kernel::Gemm { ty, .. }
            | Kernel::Embed { ty, .. }
            | Kernel::AttnO { ty, .. }
            | Kernel::QkvAttnO { ty, .. }
            | Kernel::Ffn { ty, .. } => Some(ty),
            _ => None,
        }
    }
}

const COMMON: &str = include_str!("../../shaders/common.wgsl");
const WPARAMS: &str = include_str!("../../shaders/wparams.wgsl");
const WEIGHT_BUFFER: &str = include_str!("../../shaders/weights/buffer.wgsl");
const WEIGHT_BUFFER_SG: &str = include_str!("../../shaders/weights/buffer_sg.wgsl");
const WEIGHT_TEXTURE: &str = include_str!("../../shaders/weights/texture.wgsl");
const ROPE: &str = include_str!("../../shaders/rope.wgsl");
const ATTN_PARAMS: &str = include_str!("../../shaders/attn_params.wgsl");
const ATTN_SG_BINDINGS: &str = include_str!("../../shaders/attn_sg_bindings.wgsl");
const ATTN_KV: &str = include_str!("../../shaders/attn_kv.wgsl");
const PARTS: &str = include_str!("../../shaders/parts.wgsl");
const ROPE_STORE: &str = include_str!("../../shaders/rope_store.wgsl");

/// The WGSL decoder of a weight type: `unit_x` (where a unit of 8 weights
/// sits), `unit_dot` (matvec) and `unit_w` (dequantized unit, GEMM/embed).
pub fn quant_source(ty: GgmlType) -> Result<&'static str> {
    Ok(match ty {
        GgmlType::F32 => include_str!("../../shaders/quant/f32.wgsl"),
        GgmlType::F16 => include_str!("../../shaders/quant/f16.wgsl"),
        GgmlType::Q8_0 => include_str!("../../shaders/quant/q8_0.wgsl"),
        GgmlType::Q4_0 => include_str!("../../shaders/quant/q4_0.wgsl"),
        GgmlType::Q4_1 => include_str!("../../shaders/quant/q4_1.wgsl"),
        other => {
            return Err(Error::Unsupported(format!(
                "weights of type {} on the GPU",
                other.name()
            )))
        }
    })
}

/// The weight decoders `set_scales` / `blk_dot_set` of the subgroup matvec (whole 32-column
/// blocks through 16-byte loads); with `int_x`, Q4_1 times x rounded to Q8_1.
fn quant_sg_source(ty: GgmlType, int_x: bool) -> Result<&'static str> {
    Ok(match (ty, int_x) {
        (GgmlType::Q4_1, true) => concat!(
            include_str!("../../shaders/int_q8_1.wgsl"),
            include_str!("../../shaders/quant_sg/q4_1_int.wgsl"),
            include_str!("../../shaders/quant_sg/scales32.wgsl")
        ),
        (other, true) => {
            return Err(Error::Unsupported(format!(
                "x rounded to Q8_1 for weights of type {}",
                other.name()
            )))
        }
        (GgmlType::F32, _) => include_str!("../../shaders/quant_sg/f32.wgsl"),
        (GgmlType::F16, _) => include_str!("../../shaders/quant_sg/f16.wgsl"),
        // The two types with f16 scales share their scale reader.
        (GgmlType::Q8_0, _) => concat!(
            include_str!("../../shaders/quant_sg/q8_0.wgsl"),
            include_str!("../../shaders/quant_sg/scales16.wgsl")
        ),
        // The two 4-bit types share their nibble dot.
        (GgmlType::Q4_0, _) => concat!(
            include_str!("../../shaders/quant_sg/nibbles.wgsl"),
            include_str!("../../shaders/quant_sg/q4_0.wgsl"),
            include_str!("../../shaders/quant_sg/scales16.wgsl")
        ),
        (GgmlType::Q4_1, _) => concat!(
            include_str!("../../shaders/quant_sg/nibbles.wgsl"),
            include_str!("../../shaders/quant_sg/q4_1.wgsl"),
            include_str!("../../shaders/quant_sg/scales32.wgsl")
        ),
        (other, _) => {
            return Err(Error::Unsupported(format!(
                "weights of type {} on the GPU",
                other.name()
            )))
        }
    })
}

/// The complete WGSL source of `kernel`.
pub fn kernel_source(kernel: Kernel) -> Result<String> {
    let body = match kernel {
        Kernel::Matvec { subgroup: 1.., .. } => concat!(
            include_str!("../../shaders/matvec_sg.wgsl"),
            include_str!("../../shaders/entry/matvec_sg.wgsl")
        ),
        Kernel::Matvec {
            layout: MatvecLayout::Groups,
            ..
        } => include_str!("../../shaders/matvec.wgsl"),
        Kernel::Matvec {
            layout: MatvecLayout::Rows,
            ..
        } => include_str!("../../shaders/matvec_row.wgsl"),
        Kernel::Gemm {
            layout: MatvecLayout::Groups,
            ..
        } => include_str!("../../shaders/gemm.wgsl"),
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            ..
        } => include_str!("../../shaders/gemm_row.wgsl"),
        Kernel::Embed { .. } => include_str!("../../shaders/embed.wgsl"),
        Kernel::RmsNorm => concat!(
            include_str!("../../shaders/norm_params.wgsl"),
            include_str!("../../shaders/rmsnorm.wgsl")
        ),
        Kernel::QuantX { .. } => concat!(
            include_str!("../../shaders/norm_params.wgsl"),
            include_str!("../../shaders/int_q8_1.wgsl"),
            include_str!("../../shaders/quant_x.wgsl")
        ),
        Kernel::RopeKv { .. } => include_str!("../../shaders/rope_kv.wgsl"),
        Kernel::Attention { subgroup: 0, .. } => include_str!("../../shaders/attention.wgsl"),
        Kernel::Attention { tokens: true, .. } => {
            include_str!("../../shaders/attention_tokens_sg.wgsl")
        }
        Kernel::Attention { dims: 1.., .. } => concat!(
            include_str!("../../shaders/attention_dims_sg.wgsl"),
            include_str!("../../shaders/entry/attention_dims_sg.wgsl")
        ),
        Kernel::Attention { .. } => include_str!("../../shaders/attention_sg.wgsl"),
        Kernel::AttnO { .. } => concat!(
            include_str!("../../shaders/attention_dims_sg.wgsl"),
            include_str!("../../shaders/attn_kv.wgsl"),
            include_str!("../../shaders/matvec_sg.wgsl"),
            include_str!("../../shaders/o_share_sg.wgsl"),
            include_str!("../../shaders/attn_o_sg.wgsl")
        ),
        Kernel::QkvAttnO { .. } => concat!(
            include_str!("../../shaders/attention_dims_sg.wgsl"),
            include_str!("../../shaders/attn_kv.wgsl"),
            include_str!("../../shaders/matvec_sg.wgsl"),
            include_str!("../../shaders/o_share_sg.wgsl"),
            include_str!("../../shaders/entry/qkv_attn_o_sg.wgsl")
        ),
        Kernel::Ffn { .. } => concat!(
            include_str!("../../shaders/matvec_sg.wgsl"),
            include_str!("../../shaders/entry/ffn_sg.wgsl")
        ),
        Kernel::SiluMul => include_str!("../../shaders/silu_mul.wgsl"),
        Kernel::Sample { .. } => include_str!("../../shaders/sample.wgsl"),
    };
    // The quant decoder refers to `w` and `wp`, declared by the body; WGSL
    // resolves module-scope names regardless of order. Weight kernels share
    // the `WParams` struct.
    let quant = match kernel {
        Kernel::Matvec {
            ty,
            subgroup: 1..,
            int_x,
            ..
        }
        | Kernel::AttnO { ty, int_x, .. }
        | Kernel::QkvAttnO { ty, int_x, .. }
        | Kernel::Ffn { ty, int_x, .. } => quant_sg_source(ty, int_x)?,
        _ => kernel
            .weight_type()
            .map(quant_source)
            .transpose()?
            .unwrap_or(""),
    };
    // How the weight is bound and read (`wword`, `wvec4`).
    let (wparams, weight) = match kernel {
        Kernel::Matvec { tex: true, .. }
        | Kernel::Gemm { tex: true, .. }
        | Kernel::Embed { tex: true, .. }
        | Kernel::AttnO { tex: true, .. }
        | Kernel::QkvAttnO { tex: true, .. }
        | Kernel::Ffn { tex: true, .. } => (WPARAMS, WEIGHT_TEXTURE),
        Kernel::Matvec { subgroup: 1.., .. }
        | Kernel::AttnO { .. }
        | Kernel::QkvAttnO { .. }
        | Kernel::Ffn { .. } => (WPARAMS, WEIGHT_BUFFER_SG),
        Kernel::Matvec { .. } | Kernel::Gemm { .. } | Kernel::Embed { .. } => {
            (WPARAMS, WEIGHT_BUFFER)
        }
        _ => ("", ""),
    };
    // The row GEMM's entry point and its way of loading x (`x_unit`).
    // and its block products (`mac_block`).
    let entry = match kernel {
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            subgroup: 1..,
            int_x: true,
            ..
        } => concat!(
            include_str!("../../shaders/gemm_x/sg.wgsl"),
            include_str!("../../shaders/int_q8_1.wgsl"),
            include_str!("../../shaders/gemm_x/q8_1.wgsl")
        ),
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            subgroup: 1..,
            ..
        } => concat!(
            include_str!("../../shaders/gemm_x/sg.wgsl"),
            include_str!("../../shaders/gemm_x/float.wgsl")
        ),
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            ..
        } => concat!(
            include_str!("../../shaders/gemm_x/plain.wgsl"),
            include_str!("../../shaders/gemm_x/float.wgsl")
        ),
        _ => "",
    };
    // The epilogue hook `rope_store_at` of the subgroup matvec and the row
    // GEMM: RoPE and the KV append with their bindings, numbered after the
    // weight's (and the GEMM's norm weight), or a stub; and the row GEMM's
    // norm weight (`norm_w`), or 1 (folded away).
    let kv_tex = kernel.kv_tex();
    let rope_at = |n: u32| {
        format!(
            "{ROPE}\n{ROPE_STORE}\n\
             @group(0) @binding({n}) var<uniform> rp: RopeParams;\n{}",
            kv_source(n + 1, KvAccess::Write, kv_tex)
        )
    };
    const ROPE_STUB: &str = "fn rope_store_at(yi: u32, row: u32, a: f32, b: f32, pos: u32) {}\n";
    // The subgroup matvec's x: storage, or (`x_uniform`) a uniform view
    // of the one token's values.
    let matvec_x = match kernel {
        Kernel::Matvec {
            subgroup: 1..,
            x_uniform,
            ..
        } => {
            if x_uniform {
                "const X_UNIFORM = true;\n\
                 const X_MASK = 4095u;\n\
                 @group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>; // (k,): one token\n"
                    .to_string()
            } else {
                "const X_UNIFORM = false;\n\
                 const X_MASK = 0xffffffffu;\n\
                 @group(0) @binding(3) var<storage, read> x: array<vec4<f32>>; // (n_tokens, k)\n"
                    .to_string()
            }
        }
        // The row GEMM's x (`x_at`, `x_stride`: vec4s per token): the same
        // choice, indexed from the view's first token (`WParams::x0`), or
        // two views, the second at the last binding; with `int_x`, x's Q8_1
        // blocks (shaders/quant_x.wgsl) in one view (`xq_at`).
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            x_uniform,
            x_split,
            int_x,
            ..
        } => {
            const F32_STRIDE: &str = "fn x_stride(k: u32) -> u32 { return k / 4u; }\n";
            match (int_x, x_uniform, x_split) {
                (true, ..) => "@group(0) @binding(3) var<uniform> xq: array<vec4<i32>, 4096>; // (tokens x0.., k / 32, 5): a tile's blocks\n\
                     fn xq_at(i: u32) -> vec4<i32> { return xq[i & 4095u]; }\n\
                     fn x_stride(k: u32) -> u32 { return 5u * k / 32u; }\n\
                     // x_unit (shaders/gemm_x/sg.wgsl) is not called here.\n\
                     fn x_at(i: u32) -> vec4<f32> { return vec4<f32>(0.0); }\n"
                    .to_string(),
                (false, true, true) => format!(
                    "@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>; // (tokens x0.., k): a tile's first 64 KiB\n\
                     @group(0) @binding({}) var<uniform> x_hi: array<vec4<f32>, 4096>; // and the next 64 KiB\n\
                     fn x_at(i: u32) -> vec4<f32> {{ return select(x_hi[i & 4095u], x[i & 4095u], i < 4096u); }}\n{F32_STRIDE}",
                    kernel.bindings().len() - 1
                ),
                (false, true, false) => format!(
                    "@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>; // (tokens x0.., k): a tile\n\
                     fn x_at(i: u32) -> vec4<f32> {{ return x[i & 4095u]; }}\n{F32_STRIDE}"
                ),
                _ => format!(
                    "@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>; // (n_tokens, k)\n\
                     fn x_at(i: u32) -> vec4<f32> {{ return x[i]; }}\n{F32_STRIDE}"
                ),
            }
        }
        _ => String::new(),
    };
    // The subgroup matvec's partial O projections (shaders/parts.wgsl): a
    // uniform after every other binding, or stubs.
    let parts = match kernel {
        Kernel::Matvec {
            subgroup: 1..,
            parts,
            fold,
            ..
        } if parts > 0 => {
            let n = kernel.bindings().len() - 1 - usize::from(fold);
            let fold = if fold {
                format!(
                    "const FOLD = true;\n\
                     @group(0) @binding({}) var<storage, read_write> xo: array<vec4<f32>>; // (k,)\n\
                     fn fold_store(i: u32, v: vec4<f32>) {{ xo[i] = v; }}\n",
                    n + 1
                )
            } else {
                "const FOLD = false;\nfn fold_store(i: u32, v: vec4<f32>) {}\n".to_string()
            };
            format!(
                "const NPARTS = {parts}u;\n\
                 @group(0) @binding({n}) var<uniform> pa: array<vec4<f32>, 4096>; // (NPARTS, width)\n{fold}{PARTS}"
            )
        }
        Kernel::QkvAttnO {
            parts: np @ 1.., ..
        } => {
            // The last two bindings.
            let n = kernel.bindings().len() - 2;
            format!(
                "const NPARTS = {}u;\n\
                 const FOLD = true;\n\
                 @group(0) @binding({n}) var<uniform> pa: array<vec4<f32>, 4096>; // (NPARTS, dim)\n\
                 @group(0) @binding({}) var<storage, read_write> xo: array<vec4<f32>>; // (dim,)\n\
                 fn fold_store(i: u32, v: vec4<f32>) {{ xo[i] = v; }}\n{PARTS}",
                np,
                n + 1
            )
        }
        Kernel::Matvec { subgroup: 1.., .. } | Kernel::QkvAttnO { .. } => "const NPARTS = 0u;\n\
             const FOLD = false;\n\
             fn fold_store(i: u32, v: vec4<f32>) {}\n\
             fn parts4(i: u32) -> vec4<f32> { return vec4<f32>(0.0); }\n\
             fn parts1(row: u32) -> f32 { return 0.0; }\n"
            .to_string(),
        Kernel::Ffn {
            tex,
            slices,
            nb,
            parts,
            ..
        } => {
            // After the store's word view (binding 6) for a buffer.
            let n = if tex { 6 } else { 7 };
            format!(
                "const SLICES = {slices}u;\n\
                 const NB = {nb}u;\n\
                 const NPARTS = {parts}u;\n\
                 @group(0) @binding({n}) var<uniform> wpd: WParams; // down: n = dim, k = ffn\n\
                 @group(0) @binding({}) var<uniform> pa: array<vec4<f32>, 4096>; // (NPARTS, dim)\n\
                 @group(0) @binding({}) var<storage, read_write> fparts: array<f32>; // (SLICES, dim)\n\
                 @group(0) @binding({}) var<storage, read_write> xo: array<vec4<f32>>; // (dim,)\n{PARTS}",
                n + 1,
                n + 2,
                n + 3
            )
        }
        _ => String::new(),
    };
    let epilogue = match kernel {
        Kernel::Matvec {
            subgroup: 1..,
            rope: true,
            tex,
            ..
        } => rope_at(if tex { 6 } else { 7 }),
        Kernel::Matvec { subgroup: 1.., .. } => ROPE_STUB.to_string(),
        Kernel::QkvAttnO { tex, .. } => {
            // After the store's word view (binding 6) for a buffer.
            let n = if tex { 6 } else { 7 };
            format!(
                "{ATTN_PARAMS}\n{ROPE}\n{ROPE_STORE}\n\
                 @group(0) @binding({n}) var<uniform> wpo: WParams; // Wo: n = dim\n\
                 @group(0) @binding({}) var<uniform> rp: RopeParams;\n{}\
                 @group(0) @binding({}) var<storage, read_write> out: array<vec4<f32>>; // (n_heads * head_dim,)\n\
                 @group(0) @binding({}) var<storage, read_write> parts: array<f32>; // (n_kv_heads, dim)\n",
                n + 1,
                kv_source(n + 2, KvAccess::ReadWrite, false),
                n + 4,
                n + 5
            )
        }
        Kernel::AttnO { tex, .. } => {
            // After Wo's word view (binding 6) for a buffer.
            let n = if tex { 6 } else { 7 };
            format!(
                "{ATTN_PARAMS}\n{}\
                 @group(0) @binding({}) var<storage, read_write> parts: array<f32>; // (n_kv_heads, n)\n",
                kv_source(n, KvAccess::Quads, kv_tex),
                n + 2
            )
        }
        Kernel::Gemm {
            layout: MatvecLayout::Rows,
            norm,
            rope,
            ..
        } => {
            let norm_w = if norm {
                "@group(0) @binding(5) var<storage, read> nw: array<f32>; // (k,)\n\
                 fn norm_w(i: u32) -> f32 { return nw[i]; }\n"
            } else {
                "fn norm_w(i: u32) -> f32 { return 1.0; }\n"
            };
            let rope = if rope {
                rope_at(5 + u32::from(norm))
            } else {
                "fn rope_store_one(yi: u32, row: u32, own: f32, other: f32, pos: u32) {}\n"
                    .to_string()
            };
            format!("{norm_w}{rope}")
        }
        Kernel::QuantX { norm: true } => {
            "@group(0) @binding(4) var<storage, read> nw: array<vec4<f32>>; // (k,)\n\
             fn norm4(i: u32) -> vec4<f32> { return nw[i]; }\n"
                .to_string()
        }
        Kernel::QuantX { norm: false } => {
            "fn norm4(i: u32) -> vec4<f32> { return vec4<f32>(1.0); }\n".to_string()
        }
        Kernel::RopeKv { .. } => format!("{ROPE}\n{}", kv_source(3, KvAccess::Write, kv_tex)),
        Kernel::Attention { subgroup: 0, .. } => {
            format!("{ATTN_PARAMS}\n{}", kv_source(3, KvAccess::Words, kv_tex))
        }
        Kernel::Attention { .. } => format!(
            "{ATTN_PARAMS}\n{ATTN_SG_BINDINGS}\n{}\n{ATTN_KV}",
            kv_source(3, KvAccess::Quads, kv_tex)
        ),
        _ => String::new(),
    };
    Ok(format!(
        "{COMMON}\n{wparams}\n{weight}\n{matvec_x}\n{body}\n{quant}\n{entry}\n{epilogue}\n{parts}"
    ))
}

/// How a kernel uses the KV cache (`kv_source`).
#[derive(Clone, Copy)]
enum KvAccess {
    /// Stores words (`k_store`, `v_store`): the RoPE epilogues, rope_kv.
    Write,
    /// Loads words (`k_word`, `v_word`): the portable attention.
    Words,
    /// Loads quads of f16 (`k_quad`, `v_quad`; `k4`, `v4` in
    /// shaders/attn_kv.wgsl): the subgroup attention kernels.
    Quads,
    /// Both `Write`'s and `Quads`' accessors, buffers only: the kernel
    /// that appends k and v and then attends (`Kernel::QkvAttnO`).
    ReadWrite,
}

/// The K and V caches' bindings `kc`, `vc` at `n` and `n + 1`, buffers or
/// (`tex`) r32uint textures (`ops::KvCache`), with the accessors `access`
/// needs (shaders/kv/).
fn kv_source(n: u32, access: KvAccess, tex: bool) -> String {
    let (ty, accessors) = match (access, tex) {
        (KvAccess::Write, false) => (
            "var<storage, read_write> {}: array<u32>",
            include_str!("../../shaders/kv/buffer_write.wgsl"),
        ),
        (KvAccess::Words, false) => (
            "var<storage, read> {}: array<u32>",
            include_str!("../../shaders/kv/buffer_words.wgsl"),
        ),
        (KvAccess::Quads, false) => (
            "var<storage, read> {}: array<vec2<u32>>",
            include_str!("../../shaders/kv/buffer_quads.wgsl"),
        ),
        (KvAccess::ReadWrite, _) => (
            "var<storage, read_write> {}: array<vec2<u32>>",
            include_str!("../../shaders/kv/buffer_rw.wgsl"),
        ),
        (KvAccess::Write, true) => (
            "var {}: texture_storage_2d<r32uint, write>",
            concat!(
                include_str!("../../shaders/kv/texture.wgsl"),
                include_str!("../../shaders/kv/texture_write.wgsl")
            ),
        ),
        (KvAccess::Words | KvAccess::Quads, true) => (
            "var {}: texture_2d<u32>",
            concat!(
                include_str!("../../shaders/kv/texture.wgsl"),
                include_str!("../../shaders/kv/texture_read.wgsl")
            ),
        ),
    };
    format!(
        "@group(0) @binding({n}) {}; // (n_kv_heads, ctx, head_dim / 2) f16 pairs\n\
         @group(0) @binding({}) {};\n{accessors}",
        ty.replace("{}", "kc"),
        n + 1,
        ty.replace("{}", "vc")
    )
}

/// Every kernel variant the engine can create, for validation tests.
#[cfg(test)]
pub fn all_variants() -> Vec<Kernel> {
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ];
    let mut v = vec![
        Kernel::RmsNorm,
        Kernel::QuantX { norm: false },
        Kernel::QuantX { norm: true },
        Kernel::Attention {
            subgroup: 0,
            hd4: 0,
            group: 0,
            dims: 0,
            tokens: false,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 8,
            hd4: 16,
            group: 3,
            dims: 0,
            tokens: false,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 32,
            hd4: 8,
            group: 1,
            dims: 0,
            tokens: false,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 8,
            hd4: 16,
            group: 3,
            dims: 2,
            tokens: false,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 8,
            hd4: 32,
            group: 4,
            dims: 4,
            tokens: false,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 8,
            hd4: 16,
            group: 3,
            dims: 0,
            tokens: true,
            kv_tex: false,
        },
        Kernel::Attention {
            subgroup: 8,
            hd4: 16,
            group: 4,
            dims: 0,
            tokens: true,
            kv_tex: false,
        },
        Kernel::SiluMul,
        Kernel::Sample { wg: 256 },
        Kernel::Sample { wg: 8 },
    ];
    // Every kernel that binds the KV cache also with it in textures.
    let kv: Vec<Kernel> = v
        .iter()
        .filter_map(|&k| match k {
            Kernel::Attention {
                subgroup,
                hd4,
                group,
                dims,
                tokens,
                ..
            } => Some(Kernel::Attention {
                subgroup,
                hd4,
                group,
                dims,
                tokens,
                kv_tex: true,
            }),
            _ => None,
        })
        .collect();
    v.extend(kv);
    v.extend([false, true].map(|kv_tex| Kernel::RopeKv { kv_tex }));
    for (ty, tex) in types.into_iter().flat_map(|t| [(t, false), (t, true)]) {
        v.push(Kernel::Embed { ty, tex });
        for group in [1, 3, 4] {
            for kv_tex in [false, true] {
                for int_x in [false, ty == GgmlType::Q4_1] {
                    v.push(Kernel::AttnO {
                        ty,
                        tex,
                        group,
                        kv_tex,
                        int_x,
                    });
                }
            }
        }
        for group in [1, 3, 4] {
            for parts in [0, 4] {
                for int_x in [false, ty == GgmlType::Q4_1] {
                    v.push(Kernel::QkvAttnO {
                        ty,
                        tex,
                        group,
                        parts,
                        int_x,
                    });
                }
            }
        }
        for (slices, nb, parts) in [(4, 6, 3), (2, 1, 1)] {
            for int_x in [false, ty == GgmlType::Q4_1] {
                v.push(Kernel::Ffn {
                    ty,
                    tex,
                    slices,
                    nb,
                    parts,
                    int_x,
                });
            }
        }
        for residual in [false, true] {
            for (layout, subgroup) in [
                (MatvecLayout::Groups, 0),
                (MatvecLayout::Rows, 0),
                (MatvecLayout::Rows, 4),
                (MatvecLayout::Rows, 8),
            ] {
                // The fusions: the row GEMM only; norm, swiglu and rope as
                // the prefill uses them (QKV, [gate; up]), and alone.
                let fusions: &[(bool, bool, bool)] = match (layout, residual) {
                    (MatvecLayout::Rows, false) => &[
                        (false, false, false),
                        (true, false, false),
                        (true, true, false),
                        (true, false, true),
                        (false, false, true),
                    ],
                    _ => &[(false, false, false)],
                };
                // x as a uniform (one view or two): the row GEMM on 8 lanes
                // only.
                let uniform: &[(bool, bool)] = if layout == MatvecLayout::Rows && subgroup == 8 {
                    &[(false, false), (true, false), (true, true)]
                } else {
                    &[(false, false)]
                };
                // Integer products: Q4_1 with x as a uniform.
                let int_x = |x_uniform: bool| x_uniform && ty == GgmlType::Q4_1;
                for &(norm, swiglu, rope) in fusions {
                    for &(x_uniform, x_split) in uniform {
                        // The KV cache in both stores where RoPE writes it.
                        for kv_tex in [false, true].into_iter().take(1 + usize::from(rope)) {
                            v.push(Kernel::Gemm {
                                ty,
                                residual,
                                layout,
                                tex,
                                subgroup,
                                norm,
                                swiglu,
                                rope,
                                x_uniform,
                                x_split,
                                int_x: int_x(x_uniform),
                                kv_tex,
                            });
                        }
                    }
                }
            }
            for fuse_norm in [false, true] {
                for swiglu in [false, true] {
                    for (layout, subgroup, split, rope) in [
                        (MatvecLayout::Groups, 0, 0, false),
                        (MatvecLayout::Rows, 0, 0, false),
                        (MatvecLayout::Groups, 8, 8, false),
                        (MatvecLayout::Groups, 8, 2, false),
                        (MatvecLayout::Groups, 8, 2, true),
                        (MatvecLayout::Groups, 8, 1, false),
                        (MatvecLayout::Groups, 4, 4, true),
                        (MatvecLayout::Groups, 4, 2, false),
                        (MatvecLayout::Groups, 32, 32, false),
                        (MatvecLayout::Groups, 32, 4, false),
                    ] {
                        // x as a uniform: the subgroup kernel only.
                        for x_uniform in [false, true]
                            .into_iter()
                            .take(1 + usize::from(subgroup > 0))
                        {
                            // With partial vectors too, on the decode
                            // path: attention's (the FFN's matvecs), the
                            // FFN's (the QKV matvec, folding them into
                            // x; the LM head).
                            let ffn = subgroup > 0
                                && !rope
                                && (fuse_norm == swiglu)
                                && (swiglu != residual);
                            let qkv = subgroup > 0 && fuse_norm && !swiglu && !residual;
                            let with_parts: &[(u32, bool)] = match (ffn, qkv) {
                                (true, _) => &[(0, false), (3, false)],
                                (_, true) => &[(0, false), (4, false), (4, true)],
                                _ => &[(0, false)],
                            };
                            for &(parts, fold) in with_parts {
                                for kv_tex in [false, true].into_iter().take(1 + usize::from(rope))
                                {
                                    v.push(Kernel::Matvec {
                                        ty,
                                        fuse_norm,
                                        swiglu,
                                        residual,
                                        subgroup,
                                        split,
                                        layout,
                                        tex,
                                        rope,
                                        share_x: matches!(subgroup, 4 | 8) && split == 2,
                                        x_uniform,
                                        int_x: x_uniform && ty == GgmlType::Q4_1,
                                        parts,
                                        fold,
                                        kv_tex,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant parses and validates with naga, overrides applied; no
    /// GPU needed.
    #[test]
    fn all_kernels_validate_with_naga() {
        for k in all_variants() {
            let src = kernel_source(k).unwrap();
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{k:?}: {}", e.emit_to_string(&src)));
            let mut validator = naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            );
            let info = validator
                .validate(&module)
                .unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
            let constants: naga::back::PipelineConstants = k
                .constants()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect();
            naga::back::pipeline_constants::process_overrides(&module, &info, None, &constants)
                .unwrap_or_else(|e| panic!("{k:?}: {e:?}"));
        }
    }
}
