//! CPU reference dequantization, formula for formula as ggml's
//! `dequantize_row_*` (ggml-quants.c), so results match llama.cpp bit for bit
//! (up to the compiler's float contraction on the C side).
//!
//! Block layouts (all little-endian, `d`/`m`/`dmin` are f16):
//! - Q4_0 (18 B / 32): d, qs[16]; y[j] = (lo(qs[j]) - 8)·d, y[j+16] = (hi(qs[j]) - 8)·d
//! - Q4_1 (20 B / 32): d, m, qs[16]; y[j] = lo·d + m, y[j+16] = hi·d + m
//! - Q5_0 (22 B / 32): d, qh (u32), qs[16]; bit k of qh is bit 4 of element k; (q - 16)·d
//! - Q5_1 (24 B / 32): d, m, qh, qs[16]; q·d + m
//! - Q8_0 (34 B / 32): d, qs[32] (i8); q·d
//! - Q4_K (144 B / 256): d, dmin, scales[12] (8 six-bit scale/min pairs), qs[128]
//! - Q5_K (176 B / 256): d, dmin, scales[12], qh[32], qs[128]
//! - Q6_K (210 B / 256): ql[128], qh[64], scales[16] (i8), d

use half::f16;

use crate::gguf::GgmlType;
use crate::{Error, Result};

/// Dequantizes `n_elems` elements of type `ty` held in `bytes` (exactly
/// `n_elems / block_elems` blocks).
pub fn dequantize(ty: GgmlType, bytes: &[u8], n_elems: usize) -> Result<Vec<f32>> {
    // Check before allocating: the caller's count must match the bytes.
    check_len(ty, bytes.len(), n_elems)?;
    // A typed error, not an abort, where memory runs out (wasm32 has 4 GiB
    // at most, and the CPU path widens unsupported types to f32).
    let mut out = Vec::new();
    out.try_reserve_exact(n_elems)
        .map_err(|e| Error::OutOfMemory(format!("{} elements of {}: {e}", n_elems, ty.name())))?;
    out.resize(n_elems, 0.0f32);
    dequantize_into(ty, bytes, &mut out)?;
    Ok(out)
}

/// Dequantizes `bytes` into `out`; `out.len()` is the element count.
pub fn dequantize_into(ty: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<()> {
    check_len(ty, bytes.len(), out.len())?;
    let bb = ty.block_bytes() as usize;
    let be = ty.block_elems() as usize;
    let blocks = bytes.chunks_exact(bb).zip(out.chunks_exact_mut(be));
    match ty {
        GgmlType::F32 => {
            blocks.for_each(|(b, y)| y[0] = f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        }
        GgmlType::F16 => blocks.for_each(|(b, y)| y[0] = half(b, 0)),
        GgmlType::BF16 => {
            blocks.for_each(|(b, y)| y[0] = f32::from_bits(u32::from(le16(b, 0)) << 16))
        }
        GgmlType::Q4_0 => blocks.for_each(|(b, y)| q4_0(b, y)),
        GgmlType::Q4_1 => blocks.for_each(|(b, y)| q4_1(b, y)),
        GgmlType::Q5_0 => blocks.for_each(|(b, y)| q5_0(b, y)),
        GgmlType::Q5_1 => blocks.for_each(|(b, y)| q5_1(b, y)),
        GgmlType::Q8_0 => blocks.for_each(|(b, y)| q8_0(b, y)),
        GgmlType::Q4_K => blocks.for_each(|(b, y)| q4_k(b, y)),
        GgmlType::Q5_K => blocks.for_each(|(b, y)| q5_k(b, y)),
        GgmlType::Q6_K => blocks.for_each(|(b, y)| q6_k(b, y)),
        GgmlType::Q8_1 | GgmlType::Q2_K | GgmlType::Q3_K | GgmlType::Q8_K => {
            return Err(Error::Unsupported(format!(
                "dequantizing {} tensors",
                ty.name()
            )))
        }
    }
    Ok(())
}

/// `n_elems` must be whole blocks and `len` exactly their bytes.
fn check_len(ty: GgmlType, len: usize, n_elems: usize) -> Result<()> {
    let what = || format!("dequantize {}", ty.name());
    let be = ty.block_elems() as usize;
    if !n_elems.is_multiple_of(be) {
        return Err(Error::shape(
            what(),
            format!("{n_elems} elements is not a multiple of the block size {be}"),
        ));
    }
    let need = (n_elems / be).checked_mul(ty.block_bytes() as usize);
    if need != Some(len) {
        return Err(Error::shape(
            what(),
            format!("{n_elems} elements need {need:?} bytes, got {len}"),
        ));
    }
    Ok(())
}

/// Little-endian u16 at `i` (callers pass in-range offsets of a block).
pub(crate) fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// f16 at byte `i`, widened exactly.
pub(crate) fn half(b: &[u8], i: usize) -> f32 {
    f16::from_bits(le16(b, i)).to_f32()
}

// Per-block decoders: `b` is one block's bytes, `y` its output elements.

fn q4_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for j in 0..16 {
        let q = b[2 + j];
        y[j] = (i32::from(q & 0xF) - 8) as f32 * d;
        y[j + 16] = (i32::from(q >> 4) - 8) as f32 * d;
    }
}

fn q4_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    for j in 0..16 {
        let q = b[4 + j];
        y[j] = f32::from(q & 0xF) * d + m;
        y[j + 16] = f32::from(q >> 4) * d + m;
    }
}

/// The 5-bit values of a Q5 block: low nibbles from `qs`, bit 4 of element
/// k from bit k of `qh`.
fn q5_values(qh: u32, qs: &[u8]) -> [i32; 32] {
    let mut v = [0i32; 32];
    for j in 0..16 {
        let h0 = ((qh >> j) << 4) & 0x10;
        let h1 = (qh >> (j + 12)) & 0x10;
        v[j] = (u32::from(qs[j] & 0xF) | h0) as i32;
        v[j + 16] = (u32::from(qs[j] >> 4) | h1) as i32;
    }
    v
}

fn q5_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (y, q) in y.iter_mut().zip(q5_values(qh, &b[6..22])) {
        *y = (q - 16) as f32 * d;
    }
}

fn q5_1(b: &[u8], y: &mut [f32]) {
    let (d, m) = (half(b, 0), half(b, 2));
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (y, q) in y.iter_mut().zip(q5_values(qh, &b[8..24])) {
        *y = q as f32 * d + m;
    }
}

fn q8_0(b: &[u8], y: &mut [f32]) {
    let d = half(b, 0);
    for (y, &q) in y.iter_mut().zip(&b[2..34]) {
        *y = f32::from(q as i8) * d;
    }
}

/// Scale and min `j` (0..8) of a K-quant's 12 packed bytes: six bits each;
/// pairs 0..4 sit in the low 6 bits of bytes 0..8, pairs 4..8 take their
/// low 4 bits from bytes 8..12 and their top 2 bits from the top of bytes
/// 0..8 (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        (
            (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
            (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
        )
    }
}

fn q4_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qs = &b[16..144];
    // Four groups of 64: 32 low nibbles then 32 high nibbles of 32 bytes.
    for g in 0..4 {
        let (sc, m) = scale_min_k4(2 * g, scales);
        let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
        let (sc, m) = scale_min_k4(2 * g + 1, scales);
        let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
        let q = &qs[32 * g..32 * g + 32];
        let y = &mut y[64 * g..64 * g + 64];
        for l in 0..32 {
            y[l] = d1 * f32::from(q[l] & 0xF) - m1;
            y[l + 32] = d2 * f32::from(q[l] >> 4) - m2;
        }
    }
}

fn q5_k(b: &[u8], y: &mut [f32]) {
    let (d, min) = (half(b, 0), half(b, 2));
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    // As Q4_K; group g's low/high halves take bit 2g / 2g+1 of qh[l].
    for g in 0..4 {
        let (sc, m) = scale_min_k4(2 * g, scales);
        let (d1, m1) = (d * f32::from(sc), min * f32::from(m));
        let (sc, m) = scale_min_k4(2 * g + 1, scales);
        let (d2, m2) = (d * f32::from(sc), min * f32::from(m));
        let (u1, u2) = (1u8 << (2 * g), 2u8 << (2 * g));
        let q = &qs[32 * g..32 * g + 32];
        let y = &mut y[64 * g..64 * g + 64];
        for l in 0..32 {
            let h1 = if qh[l] & u1 != 0 { 16 } else { 0 };
            let h2 = if qh[l] & u2 != 0 { 16 } else { 0 };
            y[l] = d1 * f32::from((q[l] & 0xF) + h1) - m1;
            y[l + 32] = d2 * f32::from((q[l] >> 4) + h2) - m2;
        }
    }
}

fn q6_k(b: &[u8], y: &mut [f32]) {
    let d = half(b, 208);
    // Two halves of 128: ql 64 bytes, qh 32 bytes, 8 scales each.
    for n in 0..2 {
        let ql = &b[64 * n..64 * n + 64];
        let qh = &b[128 + 32 * n..128 + 32 * n + 32];
        let sc = &b[192 + 8 * n..192 + 8 * n + 8];
        let y = &mut y[128 * n..128 * n + 128];
        for l in 0..32 {
            let is = l / 16;
            let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i8 - 32;
            let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
            let s = |k: usize| d * f32::from(sc[is + k] as i8);
            y[l] = s(0) * f32::from(q1);
            y[l + 32] = s(2) * f32::from(q2);
            y[l + 64] = s(4) * f32::from(q3);
            y[l + 96] = s(6) * f32::from(q4);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "dequant_tests.rs"]
mod tests;
