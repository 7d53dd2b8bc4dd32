// Causal grouped-query attention of the step's tokens over the KV cache, on
// CPU adapters with subgroups (same bindings and parameters as
// attention.wgsl). One workgroup = one subgroup of WG lanes per (KV head,
// token), serving the GROUP <= 4 query heads that share the KV head. Lanes
// split the head dims (DPL4 vec4s each) and walk the keys together: a key's
// score is each lane's partial dot, summed with one subgroupAdd. Every
// per-head value is a vec4 over the heads (q and output as one vec4 per
// dim), so a lane holds 2 * 4 * DPL4 vec4s and no array is indexed by a
// runtime value. Why: attention_sg.wgsl gives each lane whole keys, so each
// lane keeps GROUP * head_dim values of q and output in arrays that CPU
// drivers put in memory; lavapipe runs this layout 2-3x faster (`cargo
// xtask bench --kernels`). GPUs keep attention_sg.wgsl.

// AttnParams and the bindings (vec4 views): shaders/attn_params.wgsl,
// shaders/attn_sg_bindings.wgsl.

override WG: u32 = 8u;    // lanes: the adapter's minimum subgroup size
override HD4: u32 = 16u;  // head_dim / 4 = WG * DPL4
override GROUP: u32 = 1u; // query heads per KV head, <= 4
override DPL4: u32 = 2u;  // vec4s of a head's dims per lane, <= 4

const MAXD: u32 = 16u;    // dims per lane at most (4 * DPL4)

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let t = wid.y;
    let stride4 = (p.n_heads + 2u * p.n_kv_heads) * HD4;
    let keys = key_range(t);
    let start = keys.x;
    let n_keys = keys.y;
    let l4 = lane * DPL4; // the lane's first vec4 within a head
    // qd[d][h]: the lane's dim d of head h (heads past GROUP repeat the last).
    var qd: array<vec4<f32>, MAXD>;
    var ad: array<vec4<f32>, MAXD>; // output sums, same layout
    for (var h = 0u; h < 4u; h++) {
        let qb = t * stride4 + (kvh * GROUP + min(h, GROUP - 1u)) * HD4 + l4;
        for (var r = 0u; r < DPL4; r++) {
            let q = qkv[qb + r] * p.scale;
            qd[4u * r][h] = q.x;
            qd[4u * r + 1u][h] = q.y;
            qd[4u * r + 2u][h] = q.z;
            qd[4u * r + 3u][h] = q.w;
        }
    }
    for (var d = 0u; d < MAXD; d++) {
        ad[d] = vec4<f32>(0.0);
    }
    var m = vec4<f32>(-3.0e38); // running max per head
    var l = vec4<f32>(0.0);     // running sum per head
    let kv0 = kvh * p.ctx;
    // Uniform over the lanes: every lane walks every key (subgroupAdd).
    for (var j = start; j < n_keys; j++) {
        let kb = (kv0 + j) * HD4 + l4;
        var s = vec4<f32>(0.0);
        for (var r = 0u; r < DPL4; r++) {
            let k = k4(kb + r);
            s += qd[4u * r] * k.x + qd[4u * r + 1u] * k.y + qd[4u * r + 2u] * k.z
                + qd[4u * r + 3u] * k.w;
        }
        s = subgroupAdd(s);
        let m_new = max(m, s);
        let corr = exp(m - m_new);
        let e = exp(s - m_new);
        l = l * corr + e;
        m = m_new;
        for (var r = 0u; r < DPL4; r++) {
            let v = v4(kb + r);
            ad[4u * r] = ad[4u * r] * corr + e * v.x;
            ad[4u * r + 1u] = ad[4u * r + 1u] * corr + e * v.y;
            ad[4u * r + 2u] = ad[4u * r + 2u] * corr + e * v.z;
            ad[4u * r + 3u] = ad[4u * r + 3u] * corr + e * v.w;
        }
    }
    let inv = 1.0 / l;
    for (var h = 0u; h < GROUP; h++) {
        let ob = (t * p.n_heads + kvh * GROUP + h) * HD4 + l4;
        for (var r = 0u; r < DPL4; r++) {
            let o = vec4<f32>(ad[4u * r][h], ad[4u * r + 1u][h], ad[4u * r + 2u][h], ad[4u * r + 3u][h]);
            out[ob + r] = o * inv[h];
        }
    }
}
