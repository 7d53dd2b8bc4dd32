// F32 for the subgroup matvec (see q4_1.wgsl): 32 columns = 8 16-byte loads.
fn blk_dot(row: u32, j: u32, xb: XBlock) -> f32 {
    let o = row * (wp.k / 4u) + 8u * j;
    return dot(bitcast<vec4<f32>>(wvec4(o)), xb.v0) + dot(bitcast<vec4<f32>>(wvec4(o + 1u)), xb.v1)
         + dot(bitcast<vec4<f32>>(wvec4(o + 2u)), xb.v2) + dot(bitcast<vec4<f32>>(wvec4(o + 3u)), xb.v3)
         + dot(bitcast<vec4<f32>>(wvec4(o + 4u)), xb.v4) + dot(bitcast<vec4<f32>>(wvec4(o + 5u)), xb.v5)
         + dot(bitcast<vec4<f32>>(wvec4(o + 6u)), xb.v6) + dot(bitcast<vec4<f32>>(wvec4(o + 7u)), xb.v7);
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
