// F16 weights: two halves per word, even element in the low half.

// Matvec path (see q4_1.wgsl): a unit is 8 consecutive columns.
fn unit_x(u: u32) -> vec2<u32> {
    return vec2<u32>(u * 8u, u * 8u + 4u);
}

fn unit_dot(row: u32, u: u32, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
    let base = (row * wp.k + u * 8u) / 2u;
    let lo = vec4<f32>(unpack2x16float(wword(base)), unpack2x16float(wword(base + 1u)));
    let hi = vec4<f32>(unpack2x16float(wword(base + 2u)), unpack2x16float(wword(base + 3u)));
    return dot(lo, xl) + dot(hi, xh);
}

// GEMM path (see q4_1.wgsl).
struct Unit {
    lo: vec4<f32>,
    hi: vec4<f32>,
}

fn unit_w(row: u32, u: u32) -> Unit {
    let base = (row * wp.k + u * 8u) / 2u;
    return Unit(vec4<f32>(unpack2x16float(wword(base)), unpack2x16float(wword(base + 1u))),
                vec4<f32>(unpack2x16float(wword(base + 2u)), unpack2x16float(wword(base + 3u))));
}

// Row GEMM path (see q4_1.wgsl): a unit is one 16-byte fetch.
struct WBlk {
    base: u32, // first vec4 of the block
}

fn blk_w(row: u32, j: u32) -> WBlk {
    return WBlk((row * wp.k + 32u * j) / 8u);
}

fn blk_unit(b: WBlk, uu: u32) -> Unit {
    let v = wvec4(b.base + uu);
    return Unit(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)),
                vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
}
