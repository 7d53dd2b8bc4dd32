// Q4_1 for the subgroup matvec (matvec_sg.wgsl): dot(W[row, block j], xb).
// The block's 4 quant words are one 16-byte load (wvec4(b)); word i holds
// columns 4i..4i+3 (low nibbles, xb.v_i) and 4i+16.. (high, xb.v_{i+4});
// the mins need only the block's x sum. Scale word: tile_unit(row, j).
fn blk_dot_w(row: u32, j: u32, xb: XBlock, sw: u32) -> f32 {
    let b = tile_unit(row, j);
    let q = wvec4(b);
    let dm = unpack2x16float(sw);
    let s = nib_dot(q.x, xb.v0, xb.v4) + nib_dot(q.y, xb.v1, xb.v5)
          + nib_dot(q.z, xb.v2, xb.v6) + nib_dot(q.w, xb.v3, xb.v7);
    return dm.x * s + dm.y * xb.sum;
}

// SetScales, set_scales, blk_dot_set: shaders/quant_sg/scales32.wgsl.
