//! TEMPORARY lead-side stub, replaced by the quant branch at merge.
use crate::gguf::GgmlType;
use crate::{Error, Result};

pub struct Repacked {
    pub words: Vec<u32>,
    pub scale_offset: u32,
}

pub fn repack(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<Repacked> {
    let nb = rows * cols / 32;
    let f16 = |b: &[u8], i: usize| u32::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let words_of = |b: &[u8]| b.chunks(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<u32>>();
    match ty {
        GgmlType::F32 | GgmlType::F16 => Ok(Repacked { words: words_of(bytes), scale_offset: 0 }),
        GgmlType::Q8_0 | GgmlType::Q4_0 => {
            let (bs, qn) = if ty == GgmlType::Q8_0 { (34, 32) } else { (18, 16) };
            let mut words = Vec::new();
            for b in 0..nb {
                words.extend(words_of(&bytes[b * bs + 2..b * bs + 2 + qn]));
            }
            let off = words.len() as u32;
            for p in 0..nb.div_ceil(2) {
                let lo = f16(bytes, 2 * p * bs);
                let hi = if 2 * p + 1 < nb { f16(bytes, (2 * p + 1) * bs) } else { 0 };
                words.push(lo | hi << 16);
            }
            Ok(Repacked { words, scale_offset: off })
        }
        GgmlType::Q4_1 => {
            let mut words = Vec::new();
            for b in 0..nb {
                words.extend(words_of(&bytes[b * 20 + 4..b * 20 + 20]));
            }
            let off = words.len() as u32;
            for b in 0..nb {
                words.push(f16(bytes, b * 20) | f16(bytes, b * 20 + 2) << 16);
            }
            Ok(Repacked { words, scale_offset: off })
        }
        _ => Err(Error::Unsupported(ty.name().into())),
    }
}

pub fn dequantize(ty: GgmlType, bytes: &[u8], n: usize) -> Result<Vec<f32>> {
    let h = |b: &[u8], i: usize| half::f16::from_le_bytes([b[i], b[i + 1]]).to_f32();
    let mut out = Vec::with_capacity(n);
    match ty {
        GgmlType::F32 => out.extend(bytes.chunks(4).take(n).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
        GgmlType::F16 => out.extend((0..n).map(|i| h(bytes, 2 * i))),
        GgmlType::Q8_0 => {
            for b in 0..n / 32 {
                let d = h(bytes, b * 34);
                out.extend((0..32).map(|i| f32::from(bytes[b * 34 + 2 + i] as i8) * d));
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let bs = if ty == GgmlType::Q4_0 { 18 } else { 20 };
            let q0 = if ty == GgmlType::Q4_0 { 2 } else { 4 };
            for b in 0..n / 32 {
                let d = h(bytes, b * bs);
                let (m, off) = if ty == GgmlType::Q4_1 { (h(bytes, b * bs + 2), 0.0) } else { (0.0, 8.0) };
                let q = &bytes[b * bs + q0..b * bs + q0 + 16];
                let mut blk = [0f32; 32];
                for j in 0..16 {
                    blk[j] = (f32::from(q[j] & 15) - off) * d + m;
                    blk[j + 16] = (f32::from(q[j] >> 4) - off) * d + m;
                }
                out.extend(blk);
            }
        }
        _ => return Err(Error::Unsupported(ty.name().into())),
    }
    Ok(out)
}
