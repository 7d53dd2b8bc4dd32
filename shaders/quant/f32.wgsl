// F32 weights: one f32 per word. A unit is 8 consecutive columns.

// Matvec path (see q4_1.wgsl): a unit is 8 consecutive columns.
fn unit_x(u: u32) -> vec2<u32> {
    return vec2<u32>(u * 8u, u * 8u + 4u);
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let base = row * wp.k + u * 8u;
    let lo = bitcast<vec4<f32>>(vec4<u32>(wword(base), wword(base + 1u), wword(base + 2u), wword(base + 3u)));
    let hi = bitcast<vec4<f32>>(vec4<u32>(wword(base + 4u), wword(base + 5u), wword(base + 6u), wword(base + 7u)));
    return dot(lo, xl) + dot(hi, xh);
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let base = row * wp.k + u * 8u;
    return Unit(bitcast<vec4<f32>>(vec4<u32>(wword(base), wword(base + 1u), wword(base + 2u), wword(base + 3u))),
                bitcast<vec4<f32>>(vec4<u32>(wword(base + 4u), wword(base + 5u), wword(base + 6u), wword(base + 7u))));
}

// Row GEMM path (see q4_1.wgsl): a unit is two 16-byte fetches.
struct WBlk {
    base: u32, // first vec4 of the block
}

fn blk_w(row: u32, j: u32) -> WBlk {
    return WBlk((row * wp.k + 32u * j) / 4u);
}

fn blk_unit(b: WBlk, uu: u32) -> Unit {
    return Unit(bitcast<vec4<f32>>(wvec4(b.base + 2u * uu)), bitcast<vec4<f32>>(wvec4(b.base + 2u * uu + 1u)));
}
