// F16 weights: two halves per word, even element in the low half.

// Matvec path (see q4_1.wgsl): a unit is 8 consecutive columns.
fn unit_x(u: u32) -> vec2<u32> {
    return vec2<u32>(u * 8u, u * 8u + 4u);
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let base = (row * wp.k + u * 8u) / 2u;
    let lo = vec4<f32>(unpack2x16float(w[base]), unpack2x16float(w[base + 1u]));
    let hi = vec4<f32>(unpack2x16float(w[base + 2u]), unpack2x16float(w[base + 3u]));
    return dot(lo, xl) + dot(hi, xh);
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let base = (row * wp.k + u * 8u) / 2u;
    return Unit(vec4<f32>(unpack2x16float(w[base]), unpack2x16float(w[base + 1u])),
                vec4<f32>(unpack2x16float(w[base + 2u]), unpack2x16float(w[base + 3u])));
}

// Subgroup matvec path (see q4_1.wgsl): 32 columns = 16 words.
fn h4(o: u32) -> vec4<f32> {
    return vec4<f32>(unpack2x16float(w[o]), unpack2x16float(w[o + 1u]));
}

fn blk_dot(row: u32, j: u32, xb: XBlock) -> f32 {
    let o = (row * wp.k + j * 32u) / 2u;
    return dot(h4(o), xb.v0) + dot(h4(o + 2u), xb.v1) + dot(h4(o + 4u), xb.v2)
         + dot(h4(o + 6u), xb.v3) + dot(h4(o + 8u), xb.v4) + dot(h4(o + 10u), xb.v5)
         + dot(h4(o + 12u), xb.v6) + dot(h4(o + 14u), xb.v7);
}
