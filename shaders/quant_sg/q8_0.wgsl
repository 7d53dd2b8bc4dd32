// Q8_0 for the subgroup matvec (see q4_1.wgsl): a block's 8 quant words
// are two 16-byte loads; word i holds columns 4i..4i+3.
fn i8x4(v: u32) -> vec4<f32> {
    let s = bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u));
    return vec4<f32>(s >> vec4<u32>(24u));
}

fn blk_dot_d(row: u32, j: u32, xb: XBlock, d: f32) -> f32 {
    let b = tile_unit(row, j);
    let a = wvec4(2u * b);
    let c = wvec4(2u * b + 1u);
    let s = dot(i8x4(a.x), xb.v0) + dot(i8x4(a.y), xb.v1) + dot(i8x4(a.z), xb.v2)
          + dot(i8x4(a.w), xb.v3) + dot(i8x4(c.x), xb.v4) + dot(i8x4(c.y), xb.v5)
          + dot(i8x4(c.z), xb.v6) + dot(i8x4(c.w), xb.v7);
    return d * s;
}

// SetScales, set_scales, blk_dot_set: shaders/quant_sg/scales16.wgsl.

// x as blk_dot_set takes it: unchanged for this type.
fn prep_block(xb: XBlock) -> XBlock {
    return xb;
}
