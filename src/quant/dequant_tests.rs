//! Hand-made blocks with known values, one test per type. Each test builds
//! its block from the layout description (the encoding direction), so it
//! checks the decoder's indexing independently of its code.

use super::*;

fn h(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

/// Nibble pattern used by the 4/5-bit tests: low = j, high = 15 - j.
fn nibbles() -> Vec<u8> {
    (0..16u8).map(|j| j | ((15 - j) << 4)).collect()
}

/// Low 4 bits of element k of a 32-element block built from `nibbles()`.
fn nib(k: usize) -> i32 {
    if k < 16 {
        k as i32
    } else {
        15 - (k as i32 - 16)
    }
}

#[test]
fn f32_f16_bf16() {
    let b: Vec<u8> = [1.0f32, -2.5, 1e-30]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    assert_eq!(
        dequantize(GgmlType::F32, &b, 3).unwrap(),
        [1.0, -2.5, 1e-30]
    );
    let b = [0x00, 0x3C, 0x00, 0xC0, 0x00, 0x7C];
    assert_eq!(
        dequantize(GgmlType::F16, &b, 3).unwrap(),
        [1.0, -2.0, f32::INFINITY]
    );
    let b = [0x80, 0x3F, 0x40, 0xC0];
    assert_eq!(dequantize(GgmlType::BF16, &b, 2).unwrap(), [1.0, -3.0]);
}

#[test]
fn q4_0_block() {
    let mut b = h(0.5).to_vec();
    b.extend(nibbles());
    let y = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
    for (k, &v) in y.iter().enumerate() {
        assert_eq!(v, (nib(k) - 8) as f32 * 0.5, "element {k}");
    }
    assert_eq!((y[0], y[15], y[16], y[31]), (-4.0, 3.5, 3.5, -4.0));
}

#[test]
fn q4_1_block() {
    let mut b = h(2.0).to_vec();
    b.extend(h(-1.0));
    b.extend(nibbles());
    let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
    for (k, &v) in y.iter().enumerate() {
        assert_eq!(v, nib(k) as f32 * 2.0 - 1.0, "element {k}");
    }
}

#[test]
fn q5_0_block() {
    // Odd elements get bit 4 (bit k of qh belongs to element k).
    let mut b = h(1.0).to_vec();
    b.extend(0xAAAA_AAAAu32.to_le_bytes());
    b.extend(nibbles());
    let y = dequantize(GgmlType::Q5_0, &b, 32).unwrap();
    for (k, &v) in y.iter().enumerate() {
        let q = nib(k) + if k % 2 == 1 { 16 } else { 0 };
        assert_eq!(v, (q - 16) as f32, "element {k}");
    }
    assert_eq!((y[0], y[1], y[31]), (-16.0, 1.0, 0.0));
}

#[test]
fn q5_1_block() {
    // Only elements 3 and 20 get bit 4.
    let mut b = h(0.5).to_vec();
    b.extend(h(1.0));
    b.extend(((1u32 << 3) | (1 << 20)).to_le_bytes());
    b.extend(nibbles());
    let y = dequantize(GgmlType::Q5_1, &b, 32).unwrap();
    for (k, &v) in y.iter().enumerate() {
        let q = nib(k) + if k == 3 || k == 20 { 16 } else { 0 };
        assert_eq!(v, q as f32 * 0.5 + 1.0, "element {k}");
    }
    assert_eq!(y[3], 10.5);
}

#[test]
fn q8_0_blocks() {
    let mut b = Vec::new();
    for d in [0.25f32, -2.0] {
        b.extend(h(d));
        b.extend((0..32).map(|j| (j as i8 - 16) as u8));
    }
    let y = dequantize(GgmlType::Q8_0, &b, 64).unwrap();
    for k in 0..32 {
        assert_eq!(y[k], (k as f32 - 16.0) * 0.25);
        assert_eq!(y[32 + k], (k as f32 - 16.0) * -2.0);
    }
}

/// Packs 8 six-bit (scale, min) pairs as ggml's K-quants do.
fn pack_k4(sc: [u8; 8], m: [u8; 8]) -> [u8; 12] {
    let mut q = [0u8; 12];
    for j in 0..4 {
        q[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
        q[j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
        q[j + 8] = (sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4);
    }
    q
}

const SC: [u8; 8] = [1, 2, 3, 4, 40, 50, 60, 63];
const MN: [u8; 8] = [5, 6, 7, 8, 33, 44, 55, 62];

/// 256 pseudo-random bytes' worth of quant values below `limit`.
fn qvals(limit: u32) -> Vec<u32> {
    (0..256u32).map(|e| (e * 7 + e / 3) % limit).collect()
}

#[test]
fn q4_k_block() {
    let (d, dmin) = (0.5f32, 0.25f32);
    let q = qvals(16);
    // Element e = 64g + 32h + l is nibble h of byte 32g + l.
    let mut qs = [0u8; 128];
    for (e, &v) in q.iter().enumerate() {
        let (g, hi, l) = (e / 64, (e / 32) % 2, e % 32);
        qs[32 * g + l] |= (v as u8) << (4 * hi);
    }
    let mut b = h(d).to_vec();
    b.extend(h(dmin));
    b.extend(pack_k4(SC, MN));
    b.extend(qs);
    let y = dequantize(GgmlType::Q4_K, &b, 256).unwrap();
    for (e, &v) in y.iter().enumerate() {
        let s = e / 32;
        let want = d * f32::from(SC[s]) * q[e] as f32 - dmin * f32::from(MN[s]);
        assert_eq!(v, want, "element {e}");
    }
    // Sub-block 7: scale 63, min 62.
    assert_eq!(y[224], 0.5 * 63.0 * q[224] as f32 - 0.25 * 62.0);
}

#[test]
fn q5_k_block() {
    let (d, dmin) = (0.25f32, 0.5f32);
    let q = qvals(32);
    // Element e = 64g + 32h + l: low 4 bits in nibble h of qs[32g + l],
    // bit 4 in bit 2g + h of qh[l].
    let (mut qs, mut qh) = ([0u8; 128], [0u8; 32]);
    for (e, &v) in q.iter().enumerate() {
        let (g, hi, l) = (e / 64, (e / 32) % 2, e % 32);
        qs[32 * g + l] |= ((v & 0xF) as u8) << (4 * hi);
        qh[l] |= ((v >> 4) as u8) << (2 * g + hi);
    }
    let mut b = h(d).to_vec();
    b.extend(h(dmin));
    b.extend(pack_k4(SC, MN));
    b.extend(qh);
    b.extend(qs);
    let y = dequantize(GgmlType::Q5_K, &b, 256).unwrap();
    for (e, &v) in y.iter().enumerate() {
        let s = e / 32;
        let want = d * f32::from(SC[s]) * q[e] as f32 - dmin * f32::from(MN[s]);
        assert_eq!(v, want, "element {e}");
    }
    assert!(q.iter().any(|&v| v >= 16));
}

#[test]
fn q6_k_block() {
    let d = 0.125f32;
    let q = qvals(64);
    let sc: [i8; 16] = [
        1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 11, -12, 13, -14, 15, -16,
    ];
    // Element e = 128n + 32k + l: low 4 bits in ql[64n + 32(k%2) + l]
    // (nibble k/2), top 2 bits at bit 2k of qh[32n + l]; scale
    // sc[8n + 2k + l/16]; value d * sc * (q - 32).
    let (mut ql, mut qh) = ([0u8; 128], [0u8; 64]);
    for (e, &v) in q.iter().enumerate() {
        let (n, k, l) = (e / 128, (e / 32) % 4, e % 32);
        ql[64 * n + 32 * (k % 2) + l] |= ((v & 0xF) as u8) << (4 * (k / 2));
        qh[32 * n + l] |= ((v >> 4) as u8) << (2 * k);
    }
    let mut b = ql.to_vec();
    b.extend(qh);
    b.extend(sc.map(|s| s as u8));
    b.extend(h(d));
    assert_eq!(b.len(), 210);
    let y = dequantize(GgmlType::Q6_K, &b, 256).unwrap();
    for (e, &v) in y.iter().enumerate() {
        let (n, k, l) = (e / 128, (e / 32) % 4, e % 32);
        let s = sc[8 * n + 2 * k + l / 16];
        let want = d * f32::from(s) * (q[e] as f32 - 32.0);
        assert_eq!(v, want, "element {e}");
    }
}

#[test]
fn length_errors_are_typed() {
    // Not whole blocks.
    let e = dequantize(GgmlType::Q8_0, &[0; 34], 31).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // Bytes do not match the count.
    let e = dequantize(GgmlType::Q4_1, &[0; 39], 64).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let mut out = [0.0f32; 256];
    let e = dequantize_into(GgmlType::Q6_K, &[0; 209], &mut out).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    // A huge count with few bytes fails before allocating.
    let e = dequantize(GgmlType::F32, &[0; 4], usize::MAX).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    let e = dequantize(GgmlType::Q2_K, &[0; 84], 256).unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e}");
    assert!(dequantize(GgmlType::Q4_0, &[], 0).unwrap().is_empty());
}
