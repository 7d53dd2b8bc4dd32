// The row GEMM's integer path for Q4_1 weights on 8-lane subgroups: x
// comes rounded to Q8_1 blocks (shaders/quant_x.wgsl, normed there where
// the GEMM would fuse the norm) through a uniform view, and a row's block
// sum is d_w d_x sum(q_w q_x) + m_w s_x with exact integer products, as
// llama.cpp's CPU backend computes it. Why: on CPU drivers the float
// path's dequantizing and 8 float products per weight word set the GEMM's
// speed; integers take two products per 32-bit multiply (below), and a
// token's block crosses the subgroup as 18 words instead of 32 floats.
//
// Two products per multiply: a weight word's nibbles at bits 0 and 16,
// (q >> s) & 0x000F000F, times x's pair packed as x_b + x_a * 65536 gives
// q_a x_b + (q_a x_a + q_b x_b) * 65536 mod 2^32; the wanted sum is the
// high half, rounded off the low one. Bounds: |q x| <= 15 * 127, so 16
// products keep the high half within 16 bits and the low one within 15:
// two units per extraction.

// A token's block of x: the pairs of unit uu (columns 4uu.. and 16 + 4uu..,
// see quant/q4_1.wgsl) in the order of the weight word's shifts (0, 8, 4,
// 12), and (d, s).
struct XQ {
    p0: vec4<i32>,
    p1: vec4<i32>,
    p2: vec4<i32>,
    p3: vec4<i32>,
    ds: vec2<f32>,
}

// A row's block as nibble pairs, and its (d, m).
struct WQ {
    p0: vec4<i32>,
    p1: vec4<i32>,
    p2: vec4<i32>,
    p3: vec4<i32>,
    dm: vec2<f32>,
}

fn w_pairs(word: u32) -> vec4<i32> {
    return vec4<i32>((vec4<u32>(word) >> vec4<u32>(0u, 8u, 4u, 12u)) & vec4<u32>(0x000F000Fu));
}

fn wq(b: WBlk) -> WQ {
    return WQ(w_pairs(b.q.x), w_pairs(b.q.y), w_pairs(b.q.z), w_pairs(b.q.w), b.dm);
}

// The high half of a sum of products, rounded (see above).
fn high(v: i32) -> i32 {
    return (v + 0x8000) >> 16u;
}

// Row block `w` times token block `x`.
fn row_q(w: WQ, x: XQ) -> f32 {
    let a = high(dot(w.p0, x.p0) + dot(w.p1, x.p1));
    let b = high(dot(w.p2, x.p2) + dot(w.p3, x.p3));
    return w.dm.x * x.ds.x * f32(a + b) + w.dm.y * x.ds.y;
}

// Block j of the lane's token (lane % 8 of the group; past `last`, the
// last token); `xs`: x's stride per token in vec4s (5 per block).
fn x_block_q(base: u32, last: u32, xs: u32, j: u32, lane: u32) -> XQ {
    let o = base + min(lane % TOK, last) * xs + 5u * j;
    let ds = xq_at(o + 4u);
    return XQ(xq_at(o), xq_at(o + 1u), xq_at(o + 2u), xq_at(o + 3u),
              bitcast<vec2<f32>>(ds.xy));
}

// Token t's block from lane t (constant lanes for subgroupBroadcast).
fn xq0(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 0u), subgroupBroadcast(x.p1, 0u), subgroupBroadcast(x.p2, 0u),
              subgroupBroadcast(x.p3, 0u), subgroupBroadcast(x.ds, 0u));
}

fn xq1(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 1u), subgroupBroadcast(x.p1, 1u), subgroupBroadcast(x.p2, 1u),
              subgroupBroadcast(x.p3, 1u), subgroupBroadcast(x.ds, 1u));
}

fn xq2(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 2u), subgroupBroadcast(x.p1, 2u), subgroupBroadcast(x.p2, 2u),
              subgroupBroadcast(x.p3, 2u), subgroupBroadcast(x.ds, 2u));
}

fn xq3(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 3u), subgroupBroadcast(x.p1, 3u), subgroupBroadcast(x.p2, 3u),
              subgroupBroadcast(x.p3, 3u), subgroupBroadcast(x.ds, 3u));
}

fn xq4(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 4u), subgroupBroadcast(x.p1, 4u), subgroupBroadcast(x.p2, 4u),
              subgroupBroadcast(x.p3, 4u), subgroupBroadcast(x.ds, 4u));
}

fn xq5(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 5u), subgroupBroadcast(x.p1, 5u), subgroupBroadcast(x.p2, 5u),
              subgroupBroadcast(x.p3, 5u), subgroupBroadcast(x.ds, 5u));
}

fn xq6(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 6u), subgroupBroadcast(x.p1, 6u), subgroupBroadcast(x.p2, 6u),
              subgroupBroadcast(x.p3, 6u), subgroupBroadcast(x.ds, 6u));
}

fn xq7(x: XQ) -> XQ {
    return XQ(subgroupBroadcast(x.p0, 7u), subgroupBroadcast(x.p1, 7u), subgroupBroadcast(x.p2, 7u),
              subgroupBroadcast(x.p3, 7u), subgroupBroadcast(x.ds, 7u));
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
    let x0 = xq0(x);
    let x1 = xq1(x);
    let x2 = xq2(x);
    let x3 = xq3(x);
    let x4 = xq4(x);
    let x5 = xq5(x);
    let x6 = xq6(x);
    let x7 = xq7(x);
    return Acc4(acc_q(s.r0, wq(w0), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r1, wq(w1), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r2, wq(w2), x0, x1, x2, x3, x4, x5, x6, x7),
                acc_q(s.r3, wq(w3), x0, x1, x2, x3, x4, x5, x6, x7));
}
