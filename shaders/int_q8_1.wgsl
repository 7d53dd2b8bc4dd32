// Q4_1 weights times x rounded to Q8_1, in integers, as llama.cpp's CPU
// backend computes a Q4_1 matmul: shared by the prefill (quant_x.wgsl
// rounds, gemm_x/q8_1.wgsl multiplies) and the decode matvec
// (quant_sg/q4_1_int.wgsl does both), so the two round alike.
//
// Rounding (`round_q8_1`): d = amax / 127 in f16, q = round(x * 127 /
// amax), half to even as llama.cpp's AVX code, s = d * sum(q).
//
// Two products per multiply: a weight word's nibbles at bits 0 and 16,
// (q >> s) & 0x000F000F (`w_pairs`), times x's pair packed as x_b + x_a *
// 65536 (`x_pairs`) gives q_a x_b + (q_a x_a + q_b x_b) * 65536 mod 2^32;
// the wanted sum is the high half, rounded off the low one (`high`).
// Bounds: |q x| <= 15 * 127, so 16 products keep the high half within 16
// bits and the low one within 15: two units (two `dot`s of 4 pairs) per
// extraction.
struct Q81 {
    p0: vec4<i32>,
    p1: vec4<i32>,
    p2: vec4<i32>,
    p3: vec4<i32>,
    d: f32,
    s: f32,
}

// Unit uu's x pairs from its rounded columns lo (4uu..) and hi (16 + 4uu..):
// x_b + x_a * 65536 for the weight nibbles a (bits 0-3) and b (bits 16-19)
// of the word shifted by 0, 8, 4, 12 (quant/q4_1.wgsl's column order).
fn x_pairs(lo: vec4<i32>, hi: vec4<i32>) -> vec4<i32> {
    return vec4<i32>(lo.z, lo.w, hi.z, hi.w) + vec4<i32>(lo.x, lo.y, hi.x, hi.y) * 65536;
}

// Columns 32j.. of x as v0..v7.
fn round_q8_1(v0: vec4<f32>, v1: vec4<f32>, v2: vec4<f32>, v3: vec4<f32>,
              v4: vec4<f32>, v5: vec4<f32>, v6: vec4<f32>, v7: vec4<f32>) -> Q81 {
    let m = max(max(max(abs(v0), abs(v1)), max(abs(v2), abs(v3))),
                max(max(abs(v4), abs(v5)), max(abs(v6), abs(v7))));
    let amax = max(max(m.x, m.y), max(m.z, m.w));
    let id = select(0.0, 127.0 / amax, amax > 0.0);
    let q0 = vec4<i32>(round(v0 * id));
    let q1 = vec4<i32>(round(v1 * id));
    let q2 = vec4<i32>(round(v2 * id));
    let q3 = vec4<i32>(round(v3 * id));
    let q4 = vec4<i32>(round(v4 * id));
    let q5 = vec4<i32>(round(v5 * id));
    let q6 = vec4<i32>(round(v6 * id));
    let q7 = vec4<i32>(round(v7 * id));
    let sum = dot(q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7, vec4<i32>(1));
    // d in f16 as Q8_1 stores it; s from it, so the integer sums equal
    // those of the dequantized x (src/reference/ops.rs `round_q8_1`).
    let d = unpack2x16float(pack2x16float(vec2<f32>(amax / 127.0, 0.0))).x;
    return Q81(x_pairs(q0, q4), x_pairs(q1, q5), x_pairs(q2, q6), x_pairs(q3, q7),
               d, d * f32(sum));
}

// A weight word's 4 nibble pairs, in x_pairs' order.
fn w_pairs(word: u32) -> vec4<i32> {
    return vec4<i32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 4u, 12u)) & vec4<u32>(0x000F000Fu));
}

// The high half of a sum of products, rounded (see above).
fn high(v: i32) -> i32 {
    return (v + 0x8000) >> 16u;
}
