// The 32-bit (d, m) scale words of Q4_1 for the subgroup matvec, appended
// after the decoder's `blk_dot_w` (dot of a block with its scale word given).
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
