// The row GEMM's integer path for Q4_1 weights on 8-lane subgroups: x
// comes rounded to Q8_1 blocks (shaders/quant_x.wgsl, normed there where
// the GEMM would fuse the norm) through a uniform view, and a row's block
// sum is d_w d_x sum(q_w q_x) + m_w s_x with exact integer products, as
// llama.cpp's CPU backend computes it. Why: on CPU drivers the float
// path's dequantizing and 8 float products per weight word set the GEMM's
// speed; integers take two products per 32-bit multiply (below), and a
// token's block crosses the subgroup as 20 words instead of 32 floats.
//
// The arithmetic (`w_pairs`, `high`): shaders/int_q8_1.wgsl.

// A token's block of x: the pairs of unit uu (columns 4uu.. and 16 + 4uu..,
// see quant/q4_1.wgsl) in the order of the weight word's shifts (0, 8, 4,
// 12), and the bits of (d, s, 0, 0) as quant_x stores them.
struct XQ {
    p0: vec4<i32>,
    p1: vec4<i32>,
    p2: vec4<i32>,
    p3: vec4<i32>,
    ds: vec4<i32>,
}

// A row's block as nibble pairs, and its (d, m).
struct WQ {
    p0: vec4<i32>,
    p1: vec4<i32>,
    p2: vec4<i32>,
    p3: vec4<i32>,
    dm: vec2<f32>,
}

fn wq(b: WBlk) -> WQ {
    return WQ(w_pairs(b.q.x), w_pairs(b.q.y), w_pairs(b.q.z), w_pairs(b.q.w), b.dm);
}

// Row block `w` times token block `x`.
fn row_q(w: WQ, x: XQ) -> f32 {
    let a = high(dot(w.p0, x.p0) + dot(w.p1, x.p1));
    let b = high(dot(w.p2, x.p2) + dot(w.p3, x.p3));
    let ds = bitcast<vec2<f32>>(x.ds.xy);
    return w.dm.x * ds.x * f32(a + b) + w.dm.y * ds.y;
}

// Block j of the lane's token (lane % 8 of the group; past `last`, the
// last token); `xs`: x's stride per token in vec4s (5 per block).
fn x_block_q(base: u32, last: u32, xs: u32, j: u32, lane: u32) -> XQ {
    let o = base + min(lane % TOK, last) * xs + 5u * j;
    return XQ(xq_at(o), xq_at(o + 1u), xq_at(o + 2u), xq_at(o + 3u), xq_at(o + 4u));
}

// v of lanes 0..7 (constant lanes for subgroupBroadcast, hence no loop).
fn lanes_i(v: vec4<i32>) -> array<vec4<i32>, 8> {
    return array<vec4<i32>, 8>(
        subgroupBroadcast(v, 0u), subgroupBroadcast(v, 1u), subgroupBroadcast(v, 2u),
        subgroupBroadcast(v, 3u), subgroupBroadcast(v, 4u), subgroupBroadcast(v, 5u),
        subgroupBroadcast(v, 6u), subgroupBroadcast(v, 7u),
    );
}

// A row's sums for the 8 tokens' blocks.
fn acc_q(s: Acc, w: WQ, x0: XQ, x1: XQ, x2: XQ, x3: XQ, x4: XQ, x5: XQ, x6: XQ, x7: XQ) -> Acc {
    return Acc(s.a + vec4<f32>(row_q(w, x0), row_q(w, x1), row_q(w, x2), row_q(w, x3)),
               s.b + vec4<f32>(row_q(w, x4), row_q(w, x5), row_q(w, x6), row_q(w, x7)));
}

// Block j of the 4 rows (w0..w3) for a group of 8 tokens: each lane loads
// its token's block and the subgroup shares it (`sq`: unused, x comes
// normed).
fn mac_block(s: Acc4, w0: WBlk, w1: WBlk, w2: WBlk, w3: WBlk, j: u32,
             base: u32, last: u32, xs: u32, lane: u32, sq: ptr<function, Acc>) -> Acc4 {
    let x = x_block_q(base, last, xs, j, lane);
    // Token t's block from lane t (arrays indexed by constants only).
    let p0 = lanes_i(x.p0);
    let p1 = lanes_i(x.p1);
    let p2 = lanes_i(x.p2);
    let p3 = lanes_i(x.p3);
    let ds = lanes_i(x.ds);
    let x0 = XQ(p0[0], p1[0], p2[0], p3[0], ds[0]);
    let x1 = XQ(p0[1], p1[1], p2[1], p3[1], ds[1]);
    let x2 = XQ(p0[2], p1[2], p2[2], p3[2], ds[2]);
    let x3 = XQ(p0[3], p1[3], p2[3], p3[3], ds[3]);
    let x4 = XQ(p0[4], p1[4], p2[4], p3[4], ds[4]);
    let x5 = XQ(p0[5], p1[5], p2[5], p3[5], ds[5]);
    let x6 = XQ(p0[6], p1[6], p2[6], p3[6], ds[6]);
    let x7 = XQ(p0[7], p1[7], p2[7], p3[7], ds[7]);
    return Acc4(acc_q(s.r0, wq(w0), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r1, wq(w1), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r2, wq(w2), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r3, wq(w3), x0, x1, x2, x3, x4, x5, x6, x7));
}
