// Nibble dots for Q4_1 and Q4_0 in the subgroup matvec. Word q holds
// columns 4i..4i+3 in its low nibbles (x in `lo`) and 4i+16.. in its high
// ones (`hi`). Each nibble is masked in place, not shifted down: nibble c
// of `q & NIB_MASK` is worth n * 256^c, so prep_block scales x by 256^-c
// once per block and every row saves 6 of its 8 shifts (powers of two:
// the products are exact, and lavapipe pays per instruction here).
const NIB_MASK = vec4<u32>(0xFu, 0xF00u, 0xF0000u, 0xF000000u);
const NIB_X = vec4<f32>(1.0, 0.00390625, 1.52587890625e-05, 5.9604644775390625e-08);

fn nib_dot(q: u32, lo: vec4<f32>, hi: vec4<f32>) -> f32 {
    return dot(vec4<f32>(vec4<u32>(q) & NIB_MASK), lo) + dot(vec4<f32>(vec4<u32>(q >> 4u) & NIB_MASK), hi);
}

fn prep_block(xb: XBlock) -> XBlock {
    return XBlock(xb.v0 * NIB_X, xb.v1 * NIB_X, xb.v2 * NIB_X, xb.v3 * NIB_X,
                  xb.v4 * NIB_X, xb.v5 * NIB_X, xb.v6 * NIB_X, xb.v7 * NIB_X, xb.sum);
}
