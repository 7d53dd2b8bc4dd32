// F16 for the subgroup matvec (see q4_1.wgsl): 32 columns = 16 words = 4
// 16-byte loads, two halves per word (even column low).
fn h8(q: vec4<u32>, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    return dot(vec4<f32>(unpack2x16float(q.x), unpack2x16float(q.y)), lo)
         + dot(vec4<f32>(unpack2x16float(q.z), unpack2x16float(q.w)), hi);
}

fn blk_dot(row: u32, j: u32, xb: XBlock) -> f32 {
    let o = row * (wp.k / 8u) + 4u * j;
    return h8(wvec4(o), xb.v0, xb.v1) + h8(wvec4(o + 1u), xb.v2, xb.v3)
         + h8(wvec4(o + 2u), xb.v4, xb.v5) + h8(wvec4(o + 3u), xb.v6, xb.v7);
}

// No scales: the set is empty and blk_dot_set is blk_dot.
struct SetScales {
    none: u32,
}

fn set_scales(row0: u32, j: u32) -> SetScales {
    return SetScales(0u);
}

fn blk_dot_set(row: u32, j: u32, xb: XBlock, s: SetScales, i: u32) -> f32 {
    return blk_dot(row, j, xb);
}

// x as blk_dot_set takes it: unchanged for this type.
fn prep_block(xb: XBlock) -> XBlock {
    return xb;
}
