// Causal grouped-query attention of the step's tokens over the KV cache, on
// adapters with subgroups (same bindings and parameters as attention.wgsl).
// One workgroup per (KV head, token), WG lanes = one subgroup: it serves the
// GROUP query heads that share the KV head, so each key and value row is
// loaded once for all of them. Lanes stride over keys; each keeps its own
// running max, sum and output (online softmax) in registers, and the lanes
// are merged once at the end with subgroup max/add: no workgroup memory, no
// barriers, each K/V element loaded once. Shapes fixed per pipeline
// (HD4 = head_dim / 4, GROUP * HD4 <= 64) so loops unroll into registers.

// AttnParams and the bindings (vec4 views): shaders/attn_params.wgsl,
// shaders/attn_sg_bindings.wgsl.

override WG: u32 = 8u;    // lanes: the adapter's minimum subgroup size
override HD4: u32 = 16u;  // head_dim / 4
override GROUP: u32 = 1u; // query heads per KV head

const MAXV: u32 = 64u;    // GROUP * HD4 at most
const MAXG: u32 = 8u;     // GROUP at most

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let t = wid.y;
    let stride4 = (p.n_heads + 2u * p.n_kv_heads) * HD4;
    let keys = key_range(t);
    let start = keys.x;
    let n_keys = keys.y;
    var q: array<vec4<f32>, MAXV>;
    var acc: array<vec4<f32>, MAXV>;
    var m: array<f32, MAXG>;
    var l: array<f32, MAXG>;
    for (var h = 0u; h < GROUP; h++) {
        let qb = t * stride4 + (kvh * GROUP + h) * HD4;
        for (var i = 0u; i < HD4; i++) {
            q[h * HD4 + i] = qkv[qb + i] * p.scale;
            acc[h * HD4 + i] = vec4<f32>(0.0);
        }
        m[h] = -3.0e38;
        l[h] = 0.0;
    }
    let kv0 = kvh * p.ctx;
    for (var j = start + lane; j < n_keys; j += WG) {
        let kb = (kv0 + j) * HD4;
        // Each K and V vec4 is loaded once and used by every head.
        var s: array<f32, MAXG>;
        for (var h = 0u; h < GROUP; h++) {
            s[h] = 0.0;
        }
        for (var i = 0u; i < HD4; i++) {
            let kv = k4(kb + i);
            for (var h = 0u; h < GROUP; h++) {
                s[h] += dot(q[h * HD4 + i], kv);
            }
        }
        var corr: array<f32, MAXG>;
        var e: array<f32, MAXG>;
        for (var h = 0u; h < GROUP; h++) {
            let m_new = max(m[h], s[h]);
            corr[h] = exp(m[h] - m_new);
            e[h] = exp(s[h] - m_new);
            l[h] = l[h] * corr[h] + e[h];
            m[h] = m_new;
        }
        for (var i = 0u; i < HD4; i++) {
            let vv = v4(kb + i);
            for (var h = 0u; h < GROUP; h++) {
                acc[h * HD4 + i] = acc[h * HD4 + i] * corr[h] + e[h] * vv;
            }
        }
    }
    for (var h = 0u; h < GROUP; h++) {
        let mt = subgroupMax(m[h]);
        let c = exp(m[h] - mt);
        let inv = 1.0 / subgroupAdd(l[h] * c);
        let ob = (t * p.n_heads + kvh * GROUP + h) * HD4;
        for (var i = 0u; i < HD4; i++) {
            let v = subgroupAdd(acc[h * HD4 + i] * c);
            if lane == 0u {
                out[ob + i] = v * inv;
            }
        }
    }
}
