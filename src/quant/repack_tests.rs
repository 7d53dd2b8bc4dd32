use super::*;
use crate::quant::dequantize;

/// Tiny deterministic PRNG (xorshift64).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// A finite f16 in roughly [-4, 4] (random d/m scales and F16 values).
    fn f16(&mut self) -> [u8; 2] {
        let x = (self.next() % 8001) as f32 / 1000.0 - 4.0;
        f16::from_f32(x).to_le_bytes()
    }
}

/// Random GGUF bytes for `n` elements of `ty`: random f16 scales, random
/// quant bytes.
fn random_tensor(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    let mut b = Vec::new();
    match ty {
        GgmlType::F32 => {
            for _ in 0..n {
                let x = (rng.next() % 20001) as f32 / 1000.0 - 10.0;
                b.extend(x.to_le_bytes());
            }
        }
        GgmlType::F16 => (0..n).for_each(|_| b.extend(rng.f16())),
        _ => {
            let (scales, quants) = match ty {
                GgmlType::Q4_1 => (2, 16),
                GgmlType::Q4_0 => (1, 16),
                _ => (1, 32),
            };
            for _ in 0..n / 32 {
                (0..scales).for_each(|_| b.extend(rng.f16()));
                b.extend((0..quants).map(|_| rng.next() as u8));
            }
        }
    }
    b
}

#[test]
fn repack_round_trips_every_type() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let types = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
    ];
    // Odd and even block counts, single rows and single blocks.
    let shapes = [(1, 32), (3, 160), (5, 96), (2, 64), (7, 32), (1, 2048)];
    for ty in types {
        for (rows, cols) in shapes {
            let n = rows * cols;
            let bytes = random_tensor(ty, n, &mut rng);
            let r = repack(ty, &bytes, rows, cols).unwrap();
            let want = dequantize(ty, &bytes, n).unwrap();
            let got = dequantize_repacked(ty, &r, rows, cols).unwrap();
            let same = want
                .iter()
                .zip(&got)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same && want.len() == got.len(), "{ty:?} {rows}x{cols}");
        }
    }
}

#[test]
fn layout_word_counts_and_offsets() {
    let mut rng = Rng(7);
    // 3 rows of 5 blocks: one tile of 16 rows, 13 of them padding: 80
    // slots of quants, then 80 scale units.
    let (rows, cols) = (3, 160);
    let slots = 16 * 5;
    let b = random_tensor(GgmlType::Q8_0, rows * cols, &mut rng);
    let r = repack(GgmlType::Q8_0, &b, rows, cols).unwrap();
    assert_eq!(r.scale_offset as usize, slots * 8);
    assert_eq!(r.words.len(), slots * 8 + slots / 2);
    // Block 14 (row 2, block 4) is slot 4 * 16 + 2 = 66: the low half of
    // scale word 33; slot 67 (row 3) is padding.
    let so = slots * 8;
    let w = r.words[so + 33];
    assert_eq!(w & 0xFFFF, u32::from(le16(&b, 14 * 34)));
    assert_eq!(w >> 16, 0);
    // Block 1 (row 0, block 1) is slot 16: scale unit 16, quants from
    // word 16 * 8, little-endian.
    assert_eq!(r.words[so + 8] & 0xFFFF, u32::from(le16(&b, 34)));
    assert_eq!(r.words[16 * 8].to_le_bytes(), b[34 + 2..34 + 6]);
    // Block 5 (row 1, block 0) is slot 1, right after block 0.
    assert_eq!(r.words[8].to_le_bytes(), b[5 * 34 + 2..5 * 34 + 6]);
    // Padding slots hold zero quants.
    assert!(r.words[3 * 8..16 * 8].iter().all(|&w| w == 0));

    let b = random_tensor(GgmlType::Q4_1, rows * cols, &mut rng);
    let r = repack(GgmlType::Q4_1, &b, rows, cols).unwrap();
    assert_eq!(r.scale_offset as usize, slots * 4);
    assert_eq!(r.words.len(), slots * 4 + slots);
    // Block 2 (row 0, block 2) is slot 32.
    let s = r.words[slots * 4 + 32];
    assert_eq!(s & 0xFFFF, u32::from(le16(&b, 40)));
    assert_eq!(s >> 16, u32::from(le16(&b, 42)));
    assert_eq!(r.words[32 * 4].to_le_bytes(), b[40 + 4..40 + 8]);

    let b = random_tensor(GgmlType::F16, 4, &mut rng);
    let r = repack(GgmlType::F16, &b, 2, 2).unwrap();
    assert_eq!(r.words.len(), 2);
    assert_eq!(r.words[1] & 0xFFFF, u32::from(le16(&b, 4)));
    assert_eq!(r.scale_offset, 0);
}

#[test]
fn repack_errors_are_typed() {
    let e = repack(GgmlType::Q6_K, &[0; 210], 1, 256).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    let e = repack(GgmlType::Q8_0, &[0; 34], 2, 16).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = repack(GgmlType::F16, &[0; 6], 1, 3).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = repack(GgmlType::Q4_1, &[0; 19], 1, 32).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = repack(GgmlType::F32, &[0; 4], usize::MAX, 2).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let r = Repacked {
        words: vec![0; 9],
        scale_offset: 0,
    };
    let e = dequantize_repacked(GgmlType::Q8_0, &r, 1, 32).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
}
