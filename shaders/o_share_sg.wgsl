// A KV head's share of the O projection after decode attention, on 8-lane
// subgroups with head_dim 64 (shaders/attn_o_sg.wgsl, and
// shaders/entry/qkv_attn_o_sg.wgsl, which computes the head's q, k and v
// first): the GROUP heads' outputs of KV head kvh times their columns of
// Wo (kvh * GROUP * 64 ..), all rows, with the subgroup matvec's row sets
// (shaders/matvec_sg.wgsl, sets of 2 lanes), into parts[kvh] (n rows).
// `wp` is Wo's parameters; the entry point declares `parts`.
//
// x never goes through memory: `attend` leaves vec4s 2 lane and 2 lane + 1
// of each head in lane `lane`, and each lane builds its 32-column blocks
// from them with broadcasts once, for all rows (CPU drivers run a storage
// load with a per-lane address as a scalar loop over the lanes).

// Block `sub` (columns 32 sub ..) of a head whose vec4 i sits in lane i / 2,
// as `a` for even i and `b` for odd: vec4 8 sub + c is in lane 4 sub + c / 2
// (constant lanes for subgroupBroadcast, hence the selects).
fn head_block(a: vec4<f32>, b: vec4<f32>, sub: u32) -> XBlock {
    let hi = sub == 1u;
    var xb = XBlock(select(subgroupBroadcast(a, 0u), subgroupBroadcast(a, 4u), hi),
                    select(subgroupBroadcast(b, 0u), subgroupBroadcast(b, 4u), hi),
                    select(subgroupBroadcast(a, 1u), subgroupBroadcast(a, 5u), hi),
                    select(subgroupBroadcast(b, 1u), subgroupBroadcast(b, 5u), hi),
                    select(subgroupBroadcast(a, 2u), subgroupBroadcast(a, 6u), hi),
                    select(subgroupBroadcast(b, 2u), subgroupBroadcast(b, 6u), hi),
                    select(subgroupBroadcast(a, 3u), subgroupBroadcast(a, 7u), hi),
                    select(subgroupBroadcast(b, 3u), subgroupBroadcast(b, 7u), hi), 0.0);
    xb.sum = dot(xb.v0 + xb.v1 + xb.v2 + xb.v3 + xb.v4 + xb.v5 + xb.v6 + xb.v7, vec4<f32>(1.0));
    return prep_block(xb);
}

// `o`: `attend`'s outputs of the lane. Every lane of the workgroup calls it.
fn o_share(kvh: u32, lane: u32, o: array<vec4<f32>, MAXD>) {
    // Head h's blocks are 2 (kvh * GROUP + h) and the next; the lane's set
    // position `sub` takes one of them.
    let sub = lane % 2u;
    var xq: array<XBlock, 4>;
    for (var h = 0u; h < GROUP; h++) {
        xq[h] = head_block(o[2u * h], o[2u * h + 1u], sub);
    }
    let last = wp.n - 1u;
    let per_wg = (WG / 2u) * ROWS;
    // The counter starts at a per-lane value (0 in every lane): with a
    // counter uniform across the lanes lavapipe runs loops several times
    // slower (shaders/matvec_sg.wgsl `row_sums`).
    for (var g = lane / WG; g * per_wg < wp.n; g++) {
        let row0 = (g * (WG / 2u) + lane / 2u) * ROWS;
        var g0 = vec4<f32>(0.0);
        var g1 = vec4<f32>(0.0);
        var g2 = vec4<f32>(0.0);
        var g3 = vec4<f32>(0.0);
        for (var h = 0u; h < GROUP; h++) {
            let j = 2u * (kvh * GROUP + h) + sub;
            let sg = set_scales(min(row0, last & ~15u), j);
            g0 += rows4s(row0, j, xq[h], last, sg, 0u);
            g1 += rows4s(row0 + 4u, j, xq[h], last, sg, 4u);
            g2 += rows4s(row0 + 8u, j, xq[h], last, sg, 8u);
            g3 += rows4s(row0 + 12u, j, xq[h], last, sg, 12u);
        }
        // The set's two lanes' sums.
        g0 += subgroupShuffleXor(g0, 1u);
        g1 += subgroupShuffleXor(g1, 1u);
        g2 += subgroupShuffleXor(g2, 1u);
        g3 += subgroupShuffleXor(g3, 1u);
        for (var i = sub; i < ROWS; i += 2u) {
            let row = row0 + i;
            if row < wp.n {
                parts[kvh * wp.n + row] = pick(g0, g1, g2, g3, i);
            }
        }
    }
}
