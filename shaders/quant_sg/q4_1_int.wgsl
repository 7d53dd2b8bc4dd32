// Q4_1 for the subgroup matvec with x rounded to Q8_1 (`Kernel::Matvec {
// int_x }` and the kernels on its row sums): prep_block rounds a lane's
// block once, for all the rows it meets, and blk_dot_w multiplies in
// integers (shaders/int_q8_1.wgsl), as llama.cpp's CPU backend and the
// prefill's integer GEMM do. Why: the float decoder's 8 conversions and
// products per weight word are what the decode matvecs spend on CPU
// drivers besides the fetches.
//
// The rounded block travels in the XBlock the row sums pass around: v0..v3
// hold its pairs as floats (exact: |x_b + 65536 x_a| < 2^24), v4 (d, s).
// With a fused norm the rows see x * nw rounded and the norm's scale comes
// at the end (`norm_scaled`): q is as for the normed x, d differs in its
// f16 rounding only.
fn prep_block(xb: XBlock) -> XBlock {
    let r = round_q8_1(xb.v0, xb.v1, xb.v2, xb.v3, xb.v4, xb.v5, xb.v6, xb.v7);
    let z = vec4<f32>(0.0);
    return XBlock(vec4<f32>(r.p0), vec4<f32>(r.p1), vec4<f32>(r.p2), vec4<f32>(r.p3),
                  vec4<f32>(r.d, r.s, 0.0, 0.0), z, z, z, 0.0);
}

// dot(W[row, block j], the rounded block); scale word sw as q4_1.wgsl's.
fn blk_dot_w(row: u32, j: u32, xb: XBlock, sw: u32) -> f32 {
    let q = wvec4(tile_unit(row, j));
    let dm = unpack2x16float(sw);
    let a = high(dot(w_pairs(q.x), vec4<i32>(xb.v0)) + dot(w_pairs(q.y), vec4<i32>(xb.v1)));
    let b = high(dot(w_pairs(q.z), vec4<i32>(xb.v2)) + dot(w_pairs(q.w), vec4<i32>(xb.v3)));
    return dm.x * xb.v4.x * f32(a + b) + dm.y * xb.v4.y;
}

// SetScales, set_scales, blk_dot_set: shaders/quant_sg/scales32.wgsl.
