//! The GPU weight layout: GGUF blocks split into an array of `u32` words
//! that WGSL reads as `array<u32>` (quant bytes first, scales after), so the
//! quants of a 32-element block are 16-byte aligned (one `vec4<u32>` for
//! Q4_x) and the f16 scales do not break that alignment.
//!
//! For a `rows x cols` row-major matrix:
//! - F32: `words[i]` = bits of element i; `scale_offset = 0`.
//! - F16: `words[i]` = element 2i (low 16 bits) | element 2i+1 (high 16 bits).
//! - Block types: block `j` of row `r` (elements `32j..32j+32` of the row)
//!   sits in slot `s(r, j) = (r / 16) * 16 nbr + 16 j + r % 16`
//!   (`tile_unit`; `nbr = cols / 32` blocks per row): tiles of 16 rows,
//!   block-major inside a tile, the last tile padded to 16 rows with
//!   zeros, `ns = 16 nbr ceil(rows / 16)` slots. Its quants are the
//!   `wpb` words from `wpb s`, its scale is unit `s` of the scale region
//!   after them. Why: the subgroup matvec works on 16 rows at a time, so
//!   their 16 scales of one block are adjacent (one to four 16-byte
//!   loads instead of 16, `shaders/quant_sg/`), and a matvec reads the
//!   quants in address order (on lavapipe the decode list runs ~20-35%
//!   faster than with row-major blocks, whose 64 interleaved row streams
//!   miss the caches).
//! - Q8_0: `wpb = 8`: the block's 32 i8 quants, little-endian (element j
//!   of the block is byte j%4 of word j/4); then the scales, units of 16
//!   bits: unit u is half `u & 1` (0 = low 16 bits) of word
//!   `scale_offset + u/2` and holds the block's f16 `d`; `scale_offset =
//!   8 ns`; `ns/2` scale words.
//! - Q4_0: `wpb = 4`: the block's 16 nibble bytes as in GGUF (element j <
//!   16 is the low nibble of byte j, element j+16 the high nibble); scales
//!   as Q8_0; `scale_offset = 4 ns`. Value = (nibble - 8) * d.
//! - Q4_1: quants as Q4_0; then scale units of one word, unit u =
//!   `words[scale_offset + u]` = d (low 16 bits) | m (high 16 bits);
//!   `scale_offset = 4 ns`; `ns` scale words. Value = nibble * d + m.
//!
//! [`dequantize_repacked`] is the executable form of this description.

use half::f16;

use super::dequant::le16;
use crate::gguf::GgmlType;
use crate::{Error, Result};

/// A tensor in the GPU layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repacked {
    pub words: Vec<u32>,
    /// Index of the first scale word (0 for float types).
    pub scale_offset: u32,
}

/// Rows per scale tile (module docs; `shaders/wparams.wgsl` `tile_unit`).
pub const SCALE_TILE_ROWS: usize = 16;

/// Shape of a repack: element count, block count and word counts.
struct Plan {
    n: usize,
    nb: usize,
    /// Blocks per row.
    nbr: usize,
    /// Quant words (or all words for float types).
    quant_words: usize,
    scale_words: usize,
}

fn plan(ty: GgmlType, rows: usize, cols: usize) -> Result<Plan> {
    let what = || format!("repack {}", ty.name());
    let n = rows
        .checked_mul(cols)
        .ok_or_else(|| Error::shape(what(), format!("{rows} x {cols} overflows")))?;
    let need_cols = match ty {
        GgmlType::F32 => 1,
        GgmlType::F16 => 2,
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 => 32,
        _ => {
            return Err(Error::Unsupported(format!(
                "{} weights on the GPU",
                ty.name()
            )))
        }
    };
    if !cols.is_multiple_of(need_cols) {
        return Err(Error::shape(
            what(),
            format!("{cols} columns is not a multiple of {need_cols}"),
        ));
    }
    let nb = n / 32;
    let nbr = cols / 32;
    // Scale units with the last tile padded to whole tiles.
    let units = rows
        .div_ceil(SCALE_TILE_ROWS)
        .saturating_mul(SCALE_TILE_ROWS)
        .saturating_mul(nbr);
    let (quant_words, scale_words) = match ty {
        GgmlType::F32 => (n, 0),
        GgmlType::F16 => (n / 2, 0),
        GgmlType::Q8_0 => (units.saturating_mul(8), units.div_ceil(2)),
        GgmlType::Q4_0 => (units.saturating_mul(4), units.div_ceil(2)),
        _ => (units.saturating_mul(4), units),
    };
    // WGSL indexes words with u32.
    let total = quant_words.checked_add(scale_words);
    if total.is_none_or(|t| u32::try_from(t).is_err()) {
        return Err(Error::shape(
            what(),
            format!("{rows} x {cols} needs more than 2^32 words"),
        ));
    }
    Ok(Plan {
        n,
        nb,
        nbr,
        quant_words,
        scale_words,
    })
}

/// Words `repack` makes of a `rows x cols` `ty` tensor (a store's size
/// before the bytes are there).
pub fn repacked_words(ty: GgmlType, rows: usize, cols: usize) -> Result<usize> {
    let p = plan(ty, rows, cols)?;
    Ok(p.quant_words + p.scale_words)
}

/// Repacks a `rows x cols` tensor of GGUF blocks (`bytes`) into the GPU
/// layout described in the module docs.
pub fn repack(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<Repacked> {
    let p = plan(ty, rows, cols)?;
    let need = ty.bytes_for(p.n as u64);
    if need != Some(bytes.len() as u64) {
        return Err(Error::shape(
            format!("repack {}", ty.name()),
            format!("{rows} x {cols} needs {need:?} bytes, got {}", bytes.len()),
        ));
    }
    let mut words = Vec::with_capacity(p.quant_words + p.scale_words);
    let le32 = |c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    let bb = ty.block_bytes() as usize;
    let unit = |b: usize| tile_unit(b / p.nbr.max(1), b % p.nbr.max(1), p.nbr);
    // Block quants (after `skip` bytes of scales) into their slots.
    let quants = |words: &mut Vec<u32>, skip: usize| {
        let wpb = (bb - skip) / 4;
        words.resize(p.quant_words, 0);
        for (b, blk) in bytes.chunks_exact(bb).enumerate() {
            let at = unit(b) * wpb;
            for (w, c) in words[at..at + wpb]
                .iter_mut()
                .zip(blk[skip..].chunks_exact(4))
            {
                *w = le32(c);
            }
        }
    };
    match ty {
        GgmlType::F32 | GgmlType::F16 => words.extend(bytes.chunks_exact(4).map(le32)),
        GgmlType::Q8_0 | GgmlType::Q4_0 => {
            // Quants after the 2-byte d.
            quants(&mut words, 2);
            let mut scales = vec![0u32; p.scale_words];
            for (b, blk) in bytes.chunks_exact(bb).enumerate() {
                let u = unit(b);
                scales[u / 2] |= u32::from(le16(blk, 0)) << (16 * (u & 1));
            }
            words.extend(scales);
        }
        _ => {
            // Q4_1: quants after d and m.
            quants(&mut words, 4);
            let mut scales = vec![0u32; p.scale_words];
            for (b, blk) in bytes.chunks_exact(bb).enumerate() {
                scales[unit(b)] = u32::from(le16(blk, 0)) | u32::from(le16(blk, 2)) << 16;
            }
            words.extend(scales);
        }
    }
    let scale_offset = if p.scale_words == 0 { 0 } else { p.quant_words };
    Ok(Repacked {
        words,
        // plan() checked the total fits u32.
        scale_offset: u32::try_from(scale_offset).unwrap_or(u32::MAX),
    })
}

/// Scale unit of block `j` of `row` (module docs), `nbr` blocks per row.
pub fn tile_unit(row: usize, j: usize, nbr: usize) -> usize {
    let t = SCALE_TILE_ROWS;
    (row / t) * t * nbr + j * t + row % t
}

/// Reads the GPU layout back into f32 (the CPU twin of the WGSL decoders).
pub fn dequantize_repacked(
    ty: GgmlType,
    r: &Repacked,
    rows: usize,
    cols: usize,
) -> Result<Vec<f32>> {
    let p = plan(ty, rows, cols)?;
    let what = || format!("dequantize_repacked {}", ty.name());
    if r.words.len() != p.quant_words + p.scale_words {
        return Err(Error::shape(
            what(),
            format!(
                "{rows} x {cols} needs {} words, got {}",
                p.quant_words + p.scale_words,
                r.words.len()
            ),
        ));
    }
    let want_offset = if p.scale_words == 0 { 0 } else { p.quant_words };
    if r.scale_offset as usize != want_offset {
        return Err(Error::shape(
            what(),
            format!("scale_offset {} != {want_offset}", r.scale_offset),
        ));
    }
    let w = &r.words;
    let so = want_offset;
    let h = |bits: u32| f16::from_bits(bits as u16).to_f32();
    let unit = |b: usize| tile_unit(b / p.nbr.max(1), b % p.nbr.max(1), p.nbr);
    // d of block b for the shared Q8_0/Q4_0 scale packing.
    let d_of = |b: usize| {
        let u = unit(b);
        h(w[so + u / 2] >> (16 * (u & 1)))
    };
    let byte = |word: u32, k: usize| (word >> (8 * k)) as u8;
    let mut out = Vec::with_capacity(p.n);
    match ty {
        GgmlType::F32 => out.extend(w.iter().map(|&x| f32::from_bits(x))),
        GgmlType::F16 => {
            for &x in w {
                out.push(h(x));
                out.push(h(x >> 16));
            }
        }
        GgmlType::Q8_0 => {
            for b in 0..p.nb {
                let d = d_of(b);
                for j in 0..32 {
                    let q = byte(w[8 * unit(b) + j / 4], j % 4) as i8;
                    out.push(f32::from(q) * d);
                }
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            for b in 0..p.nb {
                let (d, m) = if ty == GgmlType::Q4_0 {
                    (d_of(b), None)
                } else {
                    let s = w[so + unit(b)];
                    (h(s), Some(h(s >> 16)))
                };
                for j in 0..32 {
                    let q = byte(w[4 * unit(b) + (j % 16) / 4], j % 4);
                    let nib = if j < 16 { q & 0xF } else { q >> 4 };
                    out.push(match m {
                        None => (i32::from(nib) - 8) as f32 * d,
                        Some(m) => f32::from(nib) * d + m,
                    });
                }
            }
        }
        // plan() rejected every other type.
        _ => return Err(Error::Unsupported(format!("{} repack", ty.name()))),
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "repack_tests.rs"]
mod tests;
