// Q4_0 for the subgroup matvec (see q4_1.wgsl): (nibble - 8) * d, the -8
// through the block's x sum; f16 scales two per word.
fn blk_dot_d(row: u32, j: u32, xb: XBlock, d: f32) -> f32 {
    let b = tile_unit(row, j);
    let q = wvec4(b);
    let s = nib_dot(q.x, xb.v0, xb.v4) + nib_dot(q.y, xb.v1, xb.v5)
          + nib_dot(q.z, xb.v2, xb.v6) + nib_dot(q.w, xb.v3, xb.v7);
    return d * (s - 8.0 * xb.sum);
}

// SetScales, set_scales, blk_dot_set: shaders/quant_sg/scales16.wgsl.
