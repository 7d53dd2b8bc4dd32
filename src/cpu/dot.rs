//! Row dots of the CPU path: one weight row against one quantized
//! activation (`super::qmat::QVec`), block by block: an integer sum of
//! quant products times the two scales, plus a Q4 block's `m` times the
//! activation block's sum.
//!
//! On wasm32 with `simd128` (all browsers with WebGPU have it; the crate's
//! wasm build enables it in .cargo/config.toml) the integer sums run on
//! 128-bit vectors: bytes widened to i16 and `i32x4.dot_i16x8_s`, 4 i32
//! partial sums a block scaled into 4 f32 accumulators. Why not relaxed
//! SIMD's 8-bit dot: Safari and Firefox reject modules that use it, and
//! in V8 on this host it was no faster (node, Q4_1 576 x 1536 matrices:
//! 8.4 against 9.5 G weights/s on one thread). Elsewhere the portable
//! loops, which LLVM vectorizes for the native build.

use super::qmat::{QVec, QK};

/// Σ over blocks of `d[b] xd[b] Σ nib·xq + m[b] xs[b]`.
pub fn q4_row(qs: &[[u8; 16]], d: &[f32], m: &[f32], x: &QVec) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::q4_row(qs, d, m, x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut sum = 0.0f32;
        for (b, q) in qs.iter().enumerate() {
            let xq = &x.qs[b];
            let mut acc = 0i32;
            for j in 0..16 {
                acc += i32::from(q[j] & 15) * i32::from(xq[j])
                    + i32::from(q[j] >> 4) * i32::from(xq[j + 16]);
            }
            sum += acc as f32 * (d[b] * x.d[b]) + m[b] * x.s[b];
        }
        sum
    }
}

/// Σ over blocks of `d[b] xd[b] Σ q·xq`.
pub fn q8_row(qs: &[[i8; 32]], d: &[f32], x: &QVec) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd::q8_row(qs, d, x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut sum = 0.0f32;
        for (b, q) in qs.iter().enumerate() {
            let mut acc = 0i32;
            for (&w, &v) in q.iter().zip(&x.qs[b]) {
                acc += i32::from(w) * i32::from(v);
            }
            sum += acc as f32 * (d[b] * x.d[b]);
        }
        sum
    }
}

/// f32 dot with 8 partial sums (vectorizes without -ffast-math).
pub fn f32_row(w: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (wc, xc) = (w.chunks_exact(8), x.chunks_exact(8));
    let tail: f32 = wc
        .remainder()
        .iter()
        .zip(xc.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in wc.zip(xc) {
        for k in 0..8 {
            acc[k] += a[k] * b[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

const _: () = assert!(QK == 32);

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd {
    use core::arch::wasm32::*;

    use super::QVec;

    fn horizontal(v: v128) -> f32 {
        f32x4_extract_lane::<0>(v)
            + f32x4_extract_lane::<1>(v)
            + f32x4_extract_lane::<2>(v)
            + f32x4_extract_lane::<3>(v)
    }

    /// Σ of the 16 products of two i8x16 vectors, as 4 i32 lanes.
    fn dot_i8(a: v128, b: v128) -> v128 {
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), i16x8_extend_low_i8x16(b)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), i16x8_extend_high_i8x16(b)),
        )
    }

    /// As `dot_i8` with `a` unsigned (nibbles).
    fn dot_u8_i8(a: v128, b: v128) -> v128 {
        i32x4_add(
            i32x4_dot_i16x8(u16x8_extend_low_u8x16(a), i16x8_extend_low_i8x16(b)),
            i32x4_dot_i16x8(u16x8_extend_high_u8x16(a), i16x8_extend_high_i8x16(b)),
        )
    }

    fn halves(q: &[i8; 32]) -> (v128, v128) {
        let [a, b]: [[i8; 16]; 2] = bytemuck::cast(*q);
        (bytemuck::cast(a), bytemuck::cast(b))
    }

    pub fn q4_row(qs: &[[u8; 16]], d: &[f32], m: &[f32], x: &QVec) -> f32 {
        let mask = u8x16_splat(15);
        let mut acc = f32x4_splat(0.0);
        let mut mins = 0.0f32;
        for (b, q) in qs.iter().enumerate() {
            let v: v128 = bytemuck::cast(*q);
            let (x0, x1) = halves(&x.qs[b]);
            let i = i32x4_add(
                dot_u8_i8(v128_and(v, mask), x0),
                dot_u8_i8(u8x16_shr(v, 4), x1),
            );
            let scale = f32x4_splat(d[b] * x.d[b]);
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(i), scale));
            mins += m[b] * x.s[b];
        }
        horizontal(acc) + mins
    }

    pub fn q8_row(qs: &[[i8; 32]], d: &[f32], x: &QVec) -> f32 {
        let mut acc = f32x4_splat(0.0);
        for (b, q) in qs.iter().enumerate() {
            let (w0, w1) = halves(q);
            let (x0, x1) = halves(&x.qs[b]);
            let i = i32x4_add(dot_i8(w0, x0), dot_i8(w1, x1));
            acc = f32x4_add(
                acc,
                f32x4_mul(f32x4_convert_i32x4(i), f32x4_splat(d[b] * x.d[b])),
            );
        }
        horizontal(acc)
    }
}
