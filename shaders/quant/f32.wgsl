// F32 weights: one f32 per word. A unit is 8 consecutive columns.

// Matvec path (see q4_1.wgsl): a unit is 8 consecutive columns.
fn unit_x(u: u32) -> vec2<u32> {
    return vec2<u32>(u * 8u, u * 8u + 4u);
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let base = row * wp.k + u * 8u;
    let lo = bitcast<vec4<f32>>(vec4<u32>(w[base], w[base + 1u], w[base + 2u], w[base + 3u]));
    let hi = bitcast<vec4<f32>>(vec4<u32>(w[base + 4u], w[base + 5u], w[base + 6u], w[base + 7u]));
    return dot(lo, xl) + dot(hi, xh);
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let base = row * wp.k + u * 8u;
    return Unit(bitcast<vec4<f32>>(vec4<u32>(w[base], w[base + 1u], w[base + 2u], w[base + 3u])),
                bitcast<vec4<f32>>(vec4<u32>(w[base + 4u], w[base + 5u], w[base + 6u], w[base + 7u])));
}

// Subgroup matvec path (see q4_1.wgsl): 32 columns = 32 words.
fn f4(o: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(w[o], w[o + 1u], w[o + 2u], w[o + 3u]));
}

fn blk_dot(row: u32, j: u32, xb: XBlock) -> f32 {
    let o = row * wp.k + j * 32u;
    return dot(f4(o), xb.v0) + dot(f4(o + 4u), xb.v1) + dot(f4(o + 8u), xb.v2)
         + dot(f4(o + 12u), xb.v3) + dot(f4(o + 16u), xb.v4) + dot(f4(o + 20u), xb.v5)
         + dot(f4(o + 24u), xb.v6) + dot(f4(o + 28u), xb.v7);
}
