//! `QMat` against the scalar reference: dequantized weights times the
//! activation rounded as `reference::round_q8_1`, in f64.

use super::*;
use crate::reference::{matmul, round_q8_1};

/// xorshift: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn f(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() % 1_000_000) as f32 / 1e6
    }
}

/// GGUF bytes of `rows x cols` random blocks of `ty`.
fn blocks(rng: &mut Rng, ty: GgmlType, rows: usize, cols: usize) -> Vec<u8> {
    let nb = rows * cols / QK;
    let mut out = Vec::new();
    let f16b = |v: f32| f16::from_f32(v).to_le_bytes();
    for _ in 0..nb {
        match ty {
            GgmlType::Q4_0 => {
                out.extend(f16b(rng.f(0.001, 0.02)));
                out.extend((0..16).map(|_| rng.next() as u8));
            }
            GgmlType::Q4_1 => {
                out.extend(f16b(rng.f(0.001, 0.02)));
                out.extend(f16b(rng.f(-0.1, 0.0)));
                out.extend((0..16).map(|_| rng.next() as u8));
            }
            GgmlType::Q8_0 => {
                out.extend(f16b(rng.f(0.0001, 0.002)));
                out.extend((0..32).map(|_| rng.next() as u8));
            }
            _ => {
                for _ in 0..QK {
                    out.extend(rng.f(-0.05, 0.05).to_le_bytes());
                }
            }
        }
    }
    out
}

fn nmse(got: &[f32], want: &[f32]) -> f64 {
    let err: f64 = got
        .iter()
        .zip(want)
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let norm: f64 = want.iter().map(|&b| f64::from(b).powi(2)).sum();
    err / norm.max(1e-30)
}

/// Every type, 2 tokens, odd row counts. Tolerance: the integer sums are
/// exact, so only f32 summation order differs from the f64 reference.
#[test]
fn matmul_matches_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q8_0,
        GgmlType::F32,
    ] {
        for (rows, cols) in [(37, 64), (5, 576)] {
            let bytes = blocks(&mut rng, ty, rows, cols);
            let w = QMat::from_gguf(ty, &bytes, rows, cols).unwrap();
            let wf = crate::quant::dequantize(ty, &bytes, rows * cols).unwrap();
            let n = 2;
            let x: Vec<f32> = (0..n * cols).map(|_| rng.f(-2.0, 2.0)).collect();
            let xq: Vec<QVec> = x
                .chunks(cols)
                .map(|row| {
                    let mut q = QVec::default();
                    q.quantize(row);
                    q
                })
                .collect();
            let mut y = vec![0.0; n * rows];
            w.matmul(&x, &xq, &mut y);
            // Float weights read x as it is; quantized ones its rounding.
            let xr = if ty == GgmlType::F32 {
                x.clone()
            } else {
                round_q8_1(&x)
            };
            let want = matmul(&xr, n, &wf, rows, cols);
            let e = nmse(&y, &want);
            assert!(e < 1e-9, "{ty:?} {rows}x{cols}: nmse {e}");
            let mut row = vec![0.0; cols];
            w.row_f32(rows - 1, &mut row);
            assert_eq!(row, wf[(rows - 1) * cols..], "{ty:?} row_f32");
        }
    }
}

#[test]
fn wrong_sizes_are_errors() {
    assert!(QMat::from_gguf(GgmlType::Q4_1, &[0; 20], 1, 64).is_err());
    assert!(QMat::from_gguf(GgmlType::Q8_0, &[0; 34], 1, 33).is_err());
    assert!(QMat::from_gguf(GgmlType::Q8_0, &[0; 34], usize::MAX, 64).is_err());
}
