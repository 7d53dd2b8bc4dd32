// x of one unit for the 8 tokens through the subgroup (>= 8 lanes): lane j
// loads token j's two vectors and broadcasts them. Why: the 16 vectors are
// the same for every lane, and CPU drivers run a load as a scalar loop over
// the lanes, while a broadcast stays in registers; lavapipe runs the GEMM
// ~2x faster so (`cargo xtask bench --kernels`).
fn x_unit(base: u32, last: u32, k4: u32, c: vec2<u32>, lane: u32) -> XUnit {
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

@compute @workgroup_size(32)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    gemm_rows(wid, tid, lane);
}
