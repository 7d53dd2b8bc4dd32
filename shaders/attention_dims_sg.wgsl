// Causal grouped-query attention of the step's tokens over the KV cache, on
// CPU adapters with subgroups (same bindings and parameters as
// attention.wgsl). One workgroup = one subgroup of WG lanes per (KV head,
// token), serving the GROUP <= 4 query heads that share the KV head, each
// per-head value a vec4 over the heads. The keys go in blocks of WG:
// - scores: lane i takes key j0 + i whole, q coming from the lanes that
//   hold it (DPL4 vec4s each) through subgroupShuffle; then one max across
//   the lanes and one exp per head and lane for the whole block;
// - values: lanes split the head dims again (DPL4 vec4s each), key i's
//   softmax weights taken from lane i.
// No array is indexed by a runtime value. Why: attention_sg.wgsl gives
// each lane whole keys and whole outputs, GROUP * head_dim values in
// arrays that CPU drivers put in memory (this layout runs 2-3x faster on
// lavapipe, `cargo xtask bench --kernels`); and walking the keys one at a
// time with lanes over dims took a subgroupAdd and two exps per key
// (blocks: decode attention at position 1000 ~25% faster on lavapipe).
// GPUs keep attention_sg.wgsl.

// AttnParams and the bindings (vec4 views): shaders/attn_params.wgsl,
// shaders/attn_sg_bindings.wgsl (or attn_o_sg.wgsl's), attn_kv.wgsl; q is
// read through the hook `q4` (vec4 i of the qkv rows; workgroup memory in
// shaders/entry/qkv_attn_o_sg.wgsl, which computes q itself).

override WG: u32 = 8u;    // lanes: the adapter's minimum subgroup size
override HD4: u32 = 16u;  // head_dim / 4 = WG * DPL4
override GROUP: u32 = 1u; // query heads per KV head, <= 4
override DPL4: u32 = 2u;  // vec4s of a head's dims per lane, <= 4

const MAXD: u32 = 16u;    // dims per lane at most (4 * DPL4)

// Attention of token t of the step for the GROUP query heads of KV head
// kvh, by the lane `lane` of the workgroup: the lane's outputs, [h * DPL4
// + r] = vec4 lane * DPL4 + r of head h (entry points:
// shaders/entry/attention_dims_sg.wgsl, and shaders/attn_o_sg.wgsl, which
// goes on to the O projection).
fn attend(kvh: u32, t: u32, lane: u32) -> array<vec4<f32>, MAXD> {
    let stride4 = (p.n_heads + 2u * p.n_kv_heads) * HD4;
    let keys = key_range(t);
    let start = keys.x;
    let n_keys = keys.y;
    let l4 = lane * DPL4; // the lane's first vec4 within a head
    // qd[h * DPL4 + r]: vec4 r of the lane's dims of head h (heads past
    // GROUP repeat the last); a key's score takes the rest from the other
    // lanes by shuffles (registers; a load per lane is a scalar loop on CPU
    // drivers).
    var qd: array<vec4<f32>, MAXD>;
    for (var h = 0u; h < 4u; h++) {
        let qb = t * stride4 + (kvh * GROUP + min(h, GROUP - 1u)) * HD4 + l4;
        for (var r = 0u; r < DPL4; r++) {
            qd[h * DPL4 + r] = q4(qb + r) * p.scale;
        }
    }
    // ad[d][h]: output sums of the lane's dim d of head h.
    var ad: array<vec4<f32>, MAXD>;
    for (var d = 0u; d < MAXD; d++) {
        ad[d] = vec4<f32>(0.0);
    }
    var m = vec4<f32>(-3.0e38); // running max per head (the same in every lane)
    var l = vec4<f32>(0.0);     // this lane's keys' share of the sum per head
    let kv0 = kvh * p.ctx;
    // Blocks of WG keys. Scores: lane i takes key j0 + i whole, so a block
    // needs one max and one exp per head and lane, and no sum across lanes
    // (a key at a time, each key took a subgroupAdd and two exps).
    for (var j0 = start; j0 < n_keys; j0 += WG) {
        let valid = j0 + lane < n_keys;
        let kb = (kv0 + min(j0 + lane, n_keys - 1u)) * HD4;
        var s = vec4<f32>(0.0);
        for (var o = 0u; o < WG; o++) {
            for (var r = 0u; r < DPL4; r++) {
                let k = k4(kb + o * DPL4 + r);
                s.x += dot(subgroupShuffle(qd[r], o), k);
                if GROUP > 1u {
                    s.y += dot(subgroupShuffle(qd[DPL4 + r], o), k);
                }
                if GROUP > 2u {
                    s.z += dot(subgroupShuffle(qd[2u * DPL4 + r], o), k);
                }
                if GROUP > 3u {
                    s.w += dot(subgroupShuffle(qd[3u * DPL4 + r], o), k);
                }
            }
        }
        s = select(vec4<f32>(-3.0e38), s, valid);
        let m_new = max(m, subgroupMax(s));
        let corr = exp(m - m_new);
        let e = exp(s - m_new);
        l = l * corr + e;
        m = m_new;
        // Values: lanes over dims again, key i's weights from lane i.
        for (var d = 0u; d < 4u * DPL4; d++) {
            ad[d] *= corr;
        }
        let n = min(WG, n_keys - j0);
        for (var i = 0u; i < n; i++) {
            let ei = subgroupShuffle(e, i);
            let vb = (kv0 + j0 + i) * HD4 + l4;
            for (var r = 0u; r < DPL4; r++) {
                let v = v4(vb + r);
                ad[4u * r] += ei * v.x;
                ad[4u * r + 1u] += ei * v.y;
                ad[4u * r + 2u] += ei * v.z;
                ad[4u * r + 3u] += ei * v.w;
            }
        }
    }
    let inv = 1.0 / subgroupAdd(l);
    var o: array<vec4<f32>, MAXD>;
    for (var h = 0u; h < GROUP; h++) {
        for (var r = 0u; r < DPL4; r++) {
            let v = vec4<f32>(ad[4u * r][h], ad[4u * r + 1u][h], ad[4u * r + 2u][h], ad[4u * r + 3u][h]);
            o[h * DPL4 + r] = v * inv[h];
        }
    }
    return o;
}

// Writes `attend`'s outputs of the lane.
fn store_outs(kvh: u32, t: u32, lane: u32, o: array<vec4<f32>, MAXD>) {
    for (var h = 0u; h < GROUP; h++) {
        let ob = (t * p.n_heads + kvh * GROUP + h) * HD4 + lane * DPL4;
        for (var r = 0u; r < DPL4; r++) {
            store_out(ob + r, o[h * DPL4 + r]);
        }
    }
}
