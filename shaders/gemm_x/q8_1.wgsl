// The row GEMM's integer path for Q4_1 weights on 8-lane subgroups with x
// as a uniform: each token's x is rounded per 32-column block to Q8_1 as
// llama.cpp's CPU backend rounds it (d = amax / 127 in f16, q = round(x /
// d), half to even as its AVX code; s = d * sum(q)), and a row's block sum
// is d_w d_x sum(q_w q_x) + m_w s_x with exact integer products. Why: on
// CPU drivers the float path spends its time dequantizing and in 8 float
// products per weight word; integers take two products per 32-bit
// multiply (below) and each token's block crosses the subgroup as 18
// words instead of 32 floats (a 128-token prefill chunk at position 384
// ~15% faster on lavapipe: 739-901 against 843-1083 ms in 6 alternated
// runs of `profile_decode -- --prefill 128 --pos 384`). Each workgroup
// rounds the tokens again; a pass rounding them once would save more.
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

// Unit uu's x pairs from its rounded columns lo (4uu..) and hi (16 + 4uu..).
fn x_pairs(lo: vec4<i32>, hi: vec4<i32>) -> vec4<i32> {
    return vec4<i32>(lo.z, lo.w, hi.z, hi.w) + vec4<i32>(lo.x, lo.y, hi.x, hi.y) * 65536;
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

// Block j of the lane's token (lane % 8 of the group; past `last`, the last
// token), RMS-normed but for the 1/rms scale with NORM (its squares added
// to `sq`, as x_unit), rounded.
fn x_block_q(base: u32, last: u32, k4: u32, j: u32, lane: u32, sq: ptr<function, Acc>) -> XQ {
    let o = base + min(lane % TOK, last) * k4 + 8u * j;
    var x0 = x_at(o);
    var x1 = x_at(o + 1u);
    var x2 = x_at(o + 2u);
    var x3 = x_at(o + 3u);
    var x4 = x_at(o + 4u);
    var x5 = x_at(o + 5u);
    var x6 = x_at(o + 6u);
    var x7 = x_at(o + 7u);
    if NORM {
        (*sq).a.x += dot(x0, x0) + dot(x1, x1) + dot(x2, x2) + dot(x3, x3)
                   + dot(x4, x4) + dot(x5, x5) + dot(x6, x6) + dot(x7, x7);
        // The block's 32 norm weights: lane i loads columns 4i.. and
        // broadcasts them (a load per lane is a scalar loop on CPU drivers).
        let c = 32u * j + 4u * (lane % 8u);
        let g = vec4<f32>(norm_w(c), norm_w(c + 1u), norm_w(c + 2u), norm_w(c + 3u));
        x0 *= subgroupBroadcast(g, 0u);
        x1 *= subgroupBroadcast(g, 1u);
        x2 *= subgroupBroadcast(g, 2u);
        x3 *= subgroupBroadcast(g, 3u);
        x4 *= subgroupBroadcast(g, 4u);
        x5 *= subgroupBroadcast(g, 5u);
        x6 *= subgroupBroadcast(g, 6u);
        x7 *= subgroupBroadcast(g, 7u);
    }
    let m = max(max(max(abs(x0), abs(x1)), max(abs(x2), abs(x3))),
                max(max(abs(x4), abs(x5)), max(abs(x6), abs(x7))));
    let amax = max(max(m.x, m.y), max(m.z, m.w));
    let id = select(0.0, 127.0 / amax, amax > 0.0);
    let q0 = vec4<i32>(round(x0 * id));
    let q1 = vec4<i32>(round(x1 * id));
    let q2 = vec4<i32>(round(x2 * id));
    let q3 = vec4<i32>(round(x3 * id));
    let q4 = vec4<i32>(round(x4 * id));
    let q5 = vec4<i32>(round(x5 * id));
    let q6 = vec4<i32>(round(x6 * id));
    let q7 = vec4<i32>(round(x7 * id));
    let sum = dot(q0 + q1 + q2 + q3 + q4 + q5 + q6 + q7, vec4<i32>(1));
    // d in f16 as Q8_1 stores it; s from it, so the sums equal those of the
    // dequantized x (src/reference/ops.rs `round_q8_1`).
    let d = unpack2x16float(pack2x16float(vec2<f32>(amax / 127.0, 0.0))).x;
    return XQ(x_pairs(q0, q4), x_pairs(q1, q5), x_pairs(q2, q6), x_pairs(q3, q7),
              vec2<f32>(d, d * f32(sum)));
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

// Block j of the 4 rows (w0..w3) for a group of 8 tokens: each lane rounds
// its token's block once and the subgroup shares it.
fn mac_block(s: Acc4, w0: WBlk, w1: WBlk, w2: WBlk, w3: WBlk, j: u32,
             base: u32, last: u32, k4: u32, lane: u32, sq: ptr<function, Acc>) -> Acc4 {
    let x = x_block_q(base, last, k4, j, lane, sq);
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
