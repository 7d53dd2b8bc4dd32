// Q4_0 for the subgroup matvec (see q4_1.wgsl): (nibble - 8) * d, the -8
// through the block's x sum; f16 scales two per word.
fn nib_dot(q: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    let v = vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u);
    return dot(vec4<f32>(v & vec4<u32>(15u)), lo) + dot(vec4<f32>((v >> vec4<u32>(4u)) & vec4<u32>(15u)), hi);
}

fn blk_dot_d(row: u32, j: u32, xb: XBlock, d: f32) -> f32 {
    let b = tile_unit(row, j);
    let q = wvec4(b);
    let s = nib_dot(q.x, xb.v0, xb.v4) + nib_dot(q.y, xb.v1, xb.v5)
          + nib_dot(q.z, xb.v2, xb.v6) + nib_dot(q.w, xb.v3, xb.v7);
    return d * (s - 8.0 * xb.sum);
}

// SetScales, set_scales, blk_dot_set: shaders/quant_sg/scales16.wgsl.
