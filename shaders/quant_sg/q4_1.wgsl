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

// The 16 scale words of block j for the rows row0..row0+15 (row0 a
// multiple of 16): adjacent in the scale region, so four 16-byte loads
// instead of 16.
struct SetScales {
    a: vec4<u32>,
    b: vec4<u32>,
    c: vec4<u32>,
    d: vec4<u32>,
}

fn set_scales(row0: u32, j: u32) -> SetScales {
    let t = (wp.scale_offset + tile_unit(row0, j)) / 4u;
    return SetScales(wvec4(t), wvec4(t + 1u), wvec4(t + 2u), wvec4(t + 3u));
}

// dot(W[row0 + i, block j], xb), the scale taken from `s`.
fn blk_dot_set(row: u32, j: u32, xb: XBlock, s: SetScales, i: u32) -> f32 {
    let v = select(select(s.a, s.b, i >= 4u), select(s.c, s.d, i >= 12u), i >= 8u);
    return blk_dot_w(row, j, xb, v[i % 4u]);
}
