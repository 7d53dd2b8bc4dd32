// x of one unit for the 8 tokens through the subgroup: with >= 8 lanes,
// lane j loads token j's two vectors and broadcasts them; with 4 (XL = 4,
// SwiftShader) lane j loads tokens j and j + 4. Why: the 16 vectors are
// the same for every lane, and CPU drivers run a load as a scalar loop over
// the lanes, while a broadcast stays in registers; lavapipe runs the GEMM
// ~2x faster so (`cargo xtask bench --kernels`).
// With NORM each lane adds the squares of what it loads to `sq` (its
// token's slot: a.x, and b.x for the second token of 4 lanes) before the
// norm weight scales them; sq_total gathers the 8 tokens' sums. The unit's
// 8 norm weights are loaded one per lane and broadcast (unit_gain): a
// vec4 load per lane costs llvmpipe 4 scalar loads per lane, ~8% of the
// GEMM when every lane loaded both vectors.
override XL: u32 = 8u; // lanes sharing the loads: 4 or 8

// x at columns c of one token, the squares added to `s` (NORM).
struct XPair {
    l: vec4<f32>,
    h: vec4<f32>,
}

// `g`: the norm weight at columns c (NORM).
fn x_pair(o: u32, c: vec2<u32>, g: XPair, s: ptr<function, f32>) -> XPair {
    let l = x_at(o + c.x);
    let h = x_at(o + c.y);
    if NORM {
        *s += dot(l, l) + dot(h, h);
        return XPair(l * g.l, h * g.h);
    }
    return XPair(l, h);
}

// The norm weight at the unit's columns c (NORM): lane j loads the j-th of
// the 8 (of 4 lanes: the j-th of each vector).
fn unit_gain(c: vec2<u32>, lane: u32) -> XPair {
    if !NORM {
        return XPair(vec4<f32>(1.0), vec4<f32>(1.0));
    }
    if XL < 8u {
        let j = lane % 4u;
        let a = norm_w(4u * c.x + j);
        let b = norm_w(4u * c.y + j);
        return XPair(
            vec4<f32>(subgroupBroadcast(a, 0u), subgroupBroadcast(a, 1u),
                      subgroupBroadcast(a, 2u), subgroupBroadcast(a, 3u)),
            vec4<f32>(subgroupBroadcast(b, 0u), subgroupBroadcast(b, 1u),
                      subgroupBroadcast(b, 2u), subgroupBroadcast(b, 3u)),
        );
    }
    let j = lane % 8u;
    let g = norm_w(select(4u * c.y + j - 4u, 4u * c.x + j, j < 4u));
    return XPair(
        vec4<f32>(subgroupBroadcast(g, 0u), subgroupBroadcast(g, 1u),
                  subgroupBroadcast(g, 2u), subgroupBroadcast(g, 3u)),
        vec4<f32>(subgroupBroadcast(g, 4u), subgroupBroadcast(g, 5u),
                  subgroupBroadcast(g, 6u), subgroupBroadcast(g, 7u)),
    );
}

fn x_unit(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32,
          sq: ptr<function, Acc>) -> XUnit {
    if XL < 8u {
        return x_unit4(base, last, k4, c, lane, sq);
    }
    let o = base + min(lane % TOK, last) * k4;
    var s = (*sq).a.x;
    let p = x_pair(o, c, unit_gain(c, lane), &s);
    (*sq).a.x = s;
    let l = p.l;
    let h = p.h;
    // subgroupBroadcast takes a constant lane, hence no loop.
    return XUnit(
        array<vec4<f32>, 8>(
            subgroupBroadcast(l, 0u), subgroupBroadcast(l, 1u),
            subgroupBroadcast(l, 2u), subgroupBroadcast(l, 3u),
            subgroupBroadcast(l, 4u), subgroupBroadcast(l, 5u),
            subgroupBroadcast(l, 6u), subgroupBroadcast(l, 7u),
        ),
        array<vec4<f32>, 8>(
            subgroupBroadcast(h, 0u), subgroupBroadcast(h, 1u),
            subgroupBroadcast(h, 2u), subgroupBroadcast(h, 3u),
            subgroupBroadcast(h, 4u), subgroupBroadcast(h, 5u),
            subgroupBroadcast(h, 6u), subgroupBroadcast(h, 7u),
        ),
    );
}

// x_unit on 4-lane subgroups: tokens j (l0, h0) and j + 4 (l1, h1) from
// lane j.
fn x_unit4(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32,
           sq: ptr<function, Acc>) -> XUnit {
    let o0 = base + min(lane % 4u, last) * k4;
    let o1 = base + min(lane % 4u + 4u, last) * k4;
    var s0 = (*sq).a.x;
    var s1 = (*sq).b.x;
    let g = unit_gain(c, lane);
    let p0 = x_pair(o0, c, g, &s0);
    let p1 = x_pair(o1, c, g, &s1);
    (*sq).a.x = s0;
    (*sq).b.x = s1;
    let l0 = p0.l;
    let h0 = p0.h;
    let l1 = p1.l;
    let h1 = p1.h;
    return XUnit(
        array<vec4<f32>, 8>(
            subgroupBroadcast(l0, 0u), subgroupBroadcast(l0, 1u),
            subgroupBroadcast(l0, 2u), subgroupBroadcast(l0, 3u),
            subgroupBroadcast(l1, 0u), subgroupBroadcast(l1, 1u),
            subgroupBroadcast(l1, 2u), subgroupBroadcast(l1, 3u),
        ),
        array<vec4<f32>, 8>(
            subgroupBroadcast(h0, 0u), subgroupBroadcast(h0, 1u),
            subgroupBroadcast(h0, 2u), subgroupBroadcast(h0, 3u),
            subgroupBroadcast(h1, 0u), subgroupBroadcast(h1, 1u),
            subgroupBroadcast(h1, 2u), subgroupBroadcast(h1, 3u),
        ),
    );
}

// The sums of the row in the neighbouring lane (row ^ 1: lane parity is
// row parity), for the ROPE epilogue.
fn pair_partner(v: vec4<f32>) -> vec4<f32> {
    return subgroupShuffleXor(v, 1u);
}

// The 8 tokens' square sums from the lanes' shares (x_unit).
fn sq_total(sq: Acc) -> Acc {
    if XL < 8u {
        return Acc(
            vec4<f32>(subgroupBroadcast(sq.a.x, 0u), subgroupBroadcast(sq.a.x, 1u),
                      subgroupBroadcast(sq.a.x, 2u), subgroupBroadcast(sq.a.x, 3u)),
            vec4<f32>(subgroupBroadcast(sq.b.x, 0u), subgroupBroadcast(sq.b.x, 1u),
                      subgroupBroadcast(sq.b.x, 2u), subgroupBroadcast(sq.b.x, 3u)),
        );
    }
    return Acc(
        vec4<f32>(subgroupBroadcast(sq.a.x, 0u), subgroupBroadcast(sq.a.x, 1u),
                  subgroupBroadcast(sq.a.x, 2u), subgroupBroadcast(sq.a.x, 3u)),
        vec4<f32>(subgroupBroadcast(sq.a.x, 4u), subgroupBroadcast(sq.a.x, 5u),
                  subgroupBroadcast(sq.a.x, 6u), subgroupBroadcast(sq.a.x, 7u)),
    );
}

@compute @workgroup_size(32)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    gemm_rows(wid, tid, lane);
}
