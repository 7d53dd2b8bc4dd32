// x of one unit for the 8 tokens through the subgroup: with >= 8 lanes,
// lane j loads token j's two vectors and broadcasts them; with 4 (XL = 4,
// SwiftShader) lane j loads tokens j and j + 4. Why: the 16 vectors are
// the same for every lane, and CPU drivers run a load as a scalar loop over
// the lanes, while a broadcast stays in registers; lavapipe runs the GEMM
// ~2x faster so (`cargo xtask bench --kernels`).
override XL: u32 = 8u; // lanes sharing the loads: 4 or 8

fn x_unit(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32) -> XUnit {
    if XL < 8u {
        return x_unit4(base, last, k4, c, lane);
    }
    let o = base + min(lane % TOK, last) * k4;
    let l = x[o + c.x];
    let h = x[o + c.y];
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
fn x_unit4(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32) -> XUnit {
    let o0 = base + min(lane % 4u, last) * k4;
    let o1 = base + min(lane % 4u + 4u, last) * k4;
    let l0 = x[o0 + c.x];
    let h0 = x[o0 + c.y];
    let l1 = x[o1 + c.x];
    let h1 = x[o1 + c.y];
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

@compute @workgroup_size(32)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    gemm_rows(wid, tid, lane);
}
