//! Weights and activations of the CPU path, kept quantized.
//!
//! A weight matrix `[rows, cols]` keeps GGUF's 32-element blocks, row-major,
//! with the f16 scales widened to f32 at load (wasm has no f16 conversion
//! instruction; a block's 16 or 32 quant bytes stay as they are). The
//! activation a matvec reads is quantized first to 8 bits per 32-element
//! block, as llama.cpp's CPU path does (`Q8_0` / `Q8_1`), so a block's dot
//! is an integer sum times two scales (`super::dot`).

use half::f16;

use crate::gguf::GgmlType;
use crate::{Error, Result};

use super::dot;

/// Elements per quant block.
pub const QK: usize = 32;

/// A weight matrix, `rows x cols`, row-major.
pub struct QMat {
    pub rows: usize,
    pub cols: usize,
    data: Data,
}

enum Data {
    /// Q4_0 and Q4_1: element j < 16 of a block is the low nibble of byte
    /// j, element j + 16 its high nibble; value = nibble * d + m (Q4_0:
    /// m = -8 d).
    Q4 {
        qs: Vec<[u8; 16]>,
        d: Vec<f32>,
        m: Vec<f32>,
    },
    /// Q8_0: value = q * d.
    Q8 { qs: Vec<[i8; 32]>, d: Vec<f32> },
    /// Every other type, dequantized.
    F32(Vec<f32>),
}

/// An activation row quantized to 8 bits per block (`QMat::matmul` input):
/// element i ~ `qs[i / 32][i % 32] * d[i / 32]`; `s[b] = d[b] * sum(qs[b])`
/// (the term a Q4 block's `m` multiplies).
#[derive(Clone, Debug, Default)]
pub struct QVec {
    pub qs: Vec<[i8; 32]>,
    pub d: Vec<f32>,
    pub s: Vec<f32>,
}

impl QVec {
    /// Quantizes `x` (a multiple of 32 long) in place of what was here,
    /// as ggml's `quantize_row_q8_1`: per block d = max|x| / 127, q =
    /// round(x / d) (ties to even), d rounded to f16.
    pub fn quantize(&mut self, x: &[f32]) {
        let nb = x.len() / QK;
        self.qs.resize(nb, [0; 32]);
        self.d.resize(nb, 0.0);
        self.s.resize(nb, 0.0);
        for (b, xb) in x.chunks_exact(QK).enumerate() {
            let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs()));
            // As reference::round_q8_1 (the oracle the tests hold this to).
            let d = amax / 127.0;
            let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            let mut sum = 0i32;
            for (q, &v) in self.qs[b].iter_mut().zip(xb) {
                // |v * id| <= 127, so the cast neither wraps nor saturates.
                *q = (v * id).round_ties_even() as i8;
                sum += i32::from(*q);
            }
            // d rounded to f16 as ggml's block keeps it; s stays exact
            // (ggml rounds it too, but a Q4_0 block's m = -8 d makes that
            // rounding cost more than it is worth).
            let d = f16::from_f32(d).to_f32();
            self.d[b] = d;
            self.s[b] = d * sum as f32;
        }
    }
}

/// An empty vector with room for `n`, or `OutOfMemory` instead of an abort.
fn with_capacity<T>(n: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|e| Error::OutOfMemory(format!("cpu weight: {n} blocks: {e}")))?;
    Ok(v)
}

fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_bits(u16::from_le_bytes([b[i], b[i + 1]])).to_f32()
}

impl QMat {
    /// From a GGUF tensor's bytes, `rows x cols` (ggml dims reversed).
    pub fn from_gguf(ty: GgmlType, bytes: &[u8], rows: usize, cols: usize) -> Result<QMat> {
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| Error::shape("cpu weight", format!("{rows} x {cols} overflows")))?;
        let blocks = |bb: usize| -> Result<std::slice::ChunksExact<'_, u8>> {
            if !cols.is_multiple_of(QK) || bytes.len() != n / QK * bb {
                return Err(Error::shape(
                    format!("cpu weight {}", ty.name()),
                    format!("{} bytes for {rows} x {cols}", bytes.len()),
                ));
            }
            Ok(bytes.chunks_exact(bb))
        };
        let data = match ty {
            GgmlType::Q4_0 | GgmlType::Q4_1 => {
                let q41 = ty == GgmlType::Q4_1;
                let off = if q41 { 4 } else { 2 };
                let nb = n / QK;
                let (mut qs, mut d, mut m) =
                    (with_capacity(nb)?, with_capacity(nb)?, with_capacity(nb)?);
                for b in blocks(off + 16)? {
                    let mut q = [0u8; 16];
                    q.copy_from_slice(&b[off..off + 16]);
                    let db = f16_at(b, 0);
                    qs.push(q);
                    d.push(db);
                    m.push(if q41 { f16_at(b, 2) } else { -8.0 * db });
                }
                Data::Q4 { qs, d, m }
            }
            GgmlType::Q8_0 => {
                let nb = n / QK;
                let (mut qs, mut d) = (with_capacity(nb)?, with_capacity(nb)?);
                for b in blocks(34)? {
                    qs.push(std::array::from_fn(|j| b[2 + j] as i8));
                    d.push(f16_at(b, 0));
                }
                Data::Q8 { qs, d }
            }
            _ => Data::F32(crate::quant::dequantize(ty, bytes, n)?),
        };
        Ok(QMat { rows, cols, data })
    }

    /// Row `r` as f32 into `out` (`cols` long): the embedding lookup.
    pub fn row_f32(&self, r: usize, out: &mut [f32]) {
        let nb = self.cols / QK;
        match &self.data {
            Data::Q4 { qs, d, m } => {
                for (b, o) in out.chunks_exact_mut(QK).enumerate() {
                    let i = r * nb + b;
                    for j in 0..16 {
                        o[j] = f32::from(qs[i][j] & 15) * d[i] + m[i];
                        o[j + 16] = f32::from(qs[i][j] >> 4) * d[i] + m[i];
                    }
                }
            }
            Data::Q8 { qs, d } => {
                for (b, o) in out.chunks_exact_mut(QK).enumerate() {
                    let i = r * nb + b;
                    for (o, &q) in o.iter_mut().zip(&qs[i]) {
                        *o = f32::from(q) * d[i];
                    }
                }
            }
            Data::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
        }
    }

    /// y `[n, rows]` = x `[n, cols]` · selfᵀ, for n tokens: `xf` as f32
    /// (float weights read it) and `xq` quantized (one `QVec` a token).
    /// Each row's blocks are read once for all n tokens.
    pub fn matmul(&self, xf: &[f32], xq: &[QVec], y: &mut [f32]) {
        let (rows, cols, nb) = (self.rows, self.cols, self.cols / QK);
        for r in 0..rows {
            let blocks = r * nb..(r + 1) * nb;
            for (t, xt) in xq.iter().enumerate() {
                y[t * rows + r] = match &self.data {
                    Data::Q4 { qs, d, m } => dot::q4_row(
                        &qs[blocks.clone()],
                        &d[blocks.clone()],
                        &m[blocks.clone()],
                        xt,
                    ),
                    Data::Q8 { qs, d } => dot::q8_row(&qs[blocks.clone()], &d[blocks.clone()], xt),
                    Data::F32(w) => {
                        dot::f32_row(&w[r * cols..(r + 1) * cols], &xf[t * cols..(t + 1) * cols])
                    }
                };
            }
        }
    }

    /// Bytes the matrix holds (memory accounting).
    pub fn bytes(&self) -> usize {
        match &self.data {
            Data::Q4 { qs, .. } => qs.len() * 24,
            Data::Q8 { qs, .. } => qs.len() * 36,
            Data::F32(w) => w.len() * 4,
        }
    }
}

#[cfg(test)]
#[path = "qmat_tests.rs"]
mod tests;
