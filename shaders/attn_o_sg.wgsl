// Decode attention with its share of the O projection, on CPU adapters
// with 8-lane subgroups and head_dim 64: the workgroup of KV head kvh runs
// attention_dims_sg.wgsl's `attend` for the one token, then multiplies the
// GROUP heads' outputs by their columns of Wo (kvh * GROUP * 64 ..), all
// rows, with the subgroup matvec's row sets (shaders/matvec_sg.wgsl, sets
// of 2 lanes), into parts[kvh] (n rows). The FFN's matvecs add the
// n_kv_heads partial vectors to the residual (shaders/parts.wgsl). Why:
// the O projection needs every head's output and WebGPU has no barrier
// across workgroups; partial sums save its dispatch (lavapipe pays ~130
// us per dispatch).
//
// x never goes through memory: `attend` leaves vec4s 2 lane and 2 lane + 1
// of each head in lane `lane`, and each lane builds its 32-column blocks
// from them with broadcasts once, for all rows (CPU drivers run a storage
// load with a per-lane address as a scalar loop over the lanes).
//
// Bindings: as a weight kernel's (step, wp, the weight at 2 and, for a
// buffer, its word view at 6), with the attention's around the word view.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2 (and 6 for a buffer): Wo, declared by shaders/weights/
@group(0) @binding(3) var<uniform> p: AttnParams;
@group(0) @binding(4) var<storage, read> qkv: array<vec4<f32>>;       // (1, (n_heads + 2 n_kv) * head_dim)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (1, n_heads * head_dim)
// then (after Wo's word view for a buffer) kc, vc (the caches, read through
// k4 / v4: shaders/attn_kv.wgsl, shaders/kv/)
// and parts (n_kv_heads, n): declared by gpu::kernels

fn store_out(i: u32, v: vec4<f32>) {
    out[i] = v;
}

// The row sums' x hooks: unused here (the blocks come from `head_block`).
fn x_at(i: u32) -> vec4<f32> {
    return vec4<f32>(0.0);
}

fn norm_w4(c: u32) -> vec4<f32> {
    return vec4<f32>(1.0);
}

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

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let o = attend(kvh, 0u, lane);
    store_outs(kvh, 0u, lane, o);
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
