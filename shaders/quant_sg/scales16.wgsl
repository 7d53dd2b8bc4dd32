// The f16 scales of Q8_0 and Q4_0 for the subgroup matvec, appended after
// the type's `blk_dot_d` (dot of a block with its scale given).
// The 16 f16 scales of block j for the rows row0..row0+15 (row0 a multiple
// of 16): adjacent in the scale region, so two 16-byte loads.
struct SetScales {
    a: vec4<u32>,
    b: vec4<u32>,
}

fn set_scales(row0: u32, j: u32) -> SetScales {
    let t = (wp.scale_offset + tile_unit(row0, j) / 2u) / 4u;
    return SetScales(wvec4(t), wvec4(t + 1u));
}

// dot(W[row0 + i, block j], xb), the scale taken from `s`.
fn blk_dot_set(row: u32, j: u32, xb: XBlock, s: SetScales, i: u32) -> f32 {
    let h = unpack2x16float(select(s.a, s.b, i >= 8u)[(i / 2u) % 4u]);
    return blk_dot_d(row, j, xb, select(h.x, h.y, (i & 1u) == 1u));
}
