//! Kernel parameter blocks: the one Rust source of truth for each WGSL
//! uniform struct (same name, fields and order); `tests` checks every
//! field offset against the WGSL parsed by naga.

use bytemuck::{Pod, Zeroable};

/// `WParams` of matvec.wgsl, gemm.wgsl and embed.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct WParams {
    /// Columns of the weight.
    pub k: u32,
    /// Output rows.
    pub n: u32,
    /// First word of the scale region (quant::repack).
    pub scale_offset: u32,
    /// RMSNorm epsilon (matvec with a fused norm) or output scale (embed).
    pub aux: f32,
    /// First texel (4 words) of the weight in its store: weights that one
    /// kernel reads together share a store (`ops::WeightStore`).
    pub base: u32,
    /// Row GEMM with x as a uniform (`Kernel::Gemm { x_uniform }`): the
    /// first token of this dispatch's tile, which x's view starts at.
    pub x0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// `NormParams` of rmsnorm.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct NormParams {
    pub dim: u32,
    pub eps: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// `RopeParams` of rope_kv.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct RopeParams {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    pub rope_dim: u32,
    pub ctx: u32,
    pub neox: u32,
    pub theta: f32,
    pub _pad: u32,
}

/// `AttnParams` of attention.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct AttnParams {
    pub n_heads: u32,
    pub n_kv_heads: u32,
    pub head_dim: u32,
    pub ctx: u32,
    pub window: u32,
    pub _pad0: u32,
    pub scale: f32,
    pub _pad1: u32,
}

/// `Params` of silu_mul.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SiluParams {
    pub n: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// `SampleParams` of sample.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub struct SampleParams {
    pub vocab: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::GgmlType;
    use crate::gpu::{kernel_source, Kernel, MatvecLayout, StepParams};
    use std::mem::{offset_of, size_of};

    /// (WGSL struct member name, offset) of struct `name` in `kernel`'s source.
    fn wgsl_layout(kernel: Kernel, name: &str) -> (Vec<(String, u32)>, u32) {
        let src = kernel_source(kernel).unwrap();
        let module = naga::front::wgsl::parse_str(&src).unwrap();
        let mut layouter = naga::proc::Layouter::default();
        layouter.update(module.to_ctx()).unwrap();
        let (h, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .unwrap();
        let naga::TypeInner::Struct { members, .. } = &ty.inner else {
            panic!("{name} is not a struct")
        };
        let fields = members
            .iter()
            .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
            .collect();
        (fields, layouter[h].size)
    }

    macro_rules! check {
        ($kernel:expr, $wgsl:literal, $ty:ty, [$($f:ident),*]) => {{
            let (fields, size) = wgsl_layout($kernel, $wgsl);
            let rust: Vec<(String, u32)> = vec![$((stringify!($f).to_string(), offset_of!($ty, $f) as u32)),*];
            assert_eq!(fields, rust, "{} fields", $wgsl);
            assert_eq!(size as usize, size_of::<$ty>(), "{} size", $wgsl);
        }};
    }

    #[test]
    fn rust_params_match_wgsl_structs() {
        let ty = GgmlType::Q4_1;
        for (layout, subgroup) in [
            (MatvecLayout::Groups, 0),
            (MatvecLayout::Rows, 0),
            (MatvecLayout::Groups, 8),
        ] {
            let mv = Kernel::Matvec {
                ty,
                fuse_norm: false,
                swiglu: false,
                residual: false,
                subgroup,
                split: subgroup,
                layout,
                tex: false,
                rope: false,
                share_x: false,
                x_uniform: false,
                int_x: false,
                parts: 0,
                fold: false,
                kv_tex: false,
            };
            check!(
                mv,
                "WParams",
                WParams,
                [k, n, scale_offset, aux, base, x0, _pad1, _pad2]
            );
        }
        for (layout, subgroup) in [
            (MatvecLayout::Groups, 0),
            (MatvecLayout::Rows, 0),
            (MatvecLayout::Rows, 8),
        ] {
            check!(
                Kernel::Gemm {
                    ty,
                    residual: false,
                    layout,
                    tex: false,
                    subgroup,
                    norm: false,
                    swiglu: false,
                    rope: false,
                    x_uniform: false,
                    x_split: false,
                    int_x: false,
                    kv_tex: false,
                },
                "WParams",
                WParams,
                [k, n, scale_offset, aux, base, x0, _pad1, _pad2]
            );
        }
        check!(
            Kernel::Embed { ty, tex: false },
            "WParams",
            WParams,
            [k, n, scale_offset, aux, base, x0, _pad1, _pad2]
        );
        check!(
            Kernel::RmsNorm,
            "NormParams",
            NormParams,
            [dim, eps, _pad0, _pad1]
        );
        let fused = Kernel::Matvec {
            ty,
            fuse_norm: true,
            swiglu: false,
            residual: false,
            subgroup: 8,
            split: 2,
            layout: MatvecLayout::Groups,
            tex: true,
            rope: true,
            share_x: true,
            x_uniform: false,
            int_x: false,
            parts: 0,
            fold: false,
            kv_tex: false,
        };
        check!(
            fused,
            "RopeParams",
            RopeParams,
            [n_heads, n_kv_heads, head_dim, rope_dim, ctx, neox, theta, _pad]
        );
        check!(
            Kernel::RopeKv { kv_tex: false },
            "RopeParams",
            RopeParams,
            [n_heads, n_kv_heads, head_dim, rope_dim, ctx, neox, theta, _pad]
        );
        check!(
            Kernel::Attention {
                subgroup: 0,
                hd4: 0,
                group: 0,
                dims: 0,
                tokens: false,
                kv_tex: false,
            },
            "AttnParams",
            AttnParams,
            [n_heads, n_kv_heads, head_dim, ctx, window, _pad0, scale, _pad1]
        );
        check!(
            Kernel::SiluMul,
            "Params",
            SiluParams,
            [n, _pad0, _pad1, _pad2]
        );
        check!(
            Kernel::Sample { wg: 256 },
            "SampleParams",
            SampleParams,
            [vocab, _pad0, _pad1, _pad2]
        );
        let (fields, size) = wgsl_layout(Kernel::RmsNorm, "Step");
        assert_eq!(size as usize, size_of::<StepParams>());
        assert_eq!(
            fields[9],
            (
                "counter".to_string(),
                offset_of!(StepParams, counter) as u32
            )
        );
    }
}
