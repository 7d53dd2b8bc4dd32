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
