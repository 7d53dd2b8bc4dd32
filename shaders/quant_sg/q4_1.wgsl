// Q4_1 for the subgroup matvec (matvec_sg.wgsl): dot(W[row, block j], xb).
// The block's 4 quant words are one 16-byte load (wvec4(b)); word i holds
// columns 4i..4i+3 (low nibbles, xb.v_i) and 4i+16.. (high, xb.v_{i+4});
// the mins need only the block's x sum. Scale word: wword(scale_offset + b).
fn nib_dot(q: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    let v = vec4<u32>(q) >> vec4<u32>(0u, 8u, 16u, 24u);
    return dot(vec4<f32>(v & vec4<u32>(15u)), lo) + dot(vec4<f32>((v >> vec4<u32>(4u)) & vec4<u32>(15u)), hi);
}

fn blk_dot(row: u32, j: u32, xb: XBlock) -> f32 {
    let b = row * (wp.k / 32u) + j;
    let q = wvec4(b);
    let dm = unpack2x16float(wword(wp.scale_offset + b));
    let s = nib_dot(q.x, xb.v0, xb.v4) + nib_dot(q.y, xb.v1, xb.v5)
          + nib_dot(q.z, xb.v2, xb.v6) + nib_dot(q.w, xb.v3, xb.v7);
    return dm.x * s + dm.y * xb.sum;
}
