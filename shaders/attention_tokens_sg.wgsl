// Causal grouped-query attention of a prefill chunk on CPU adapters with
// 8-lane subgroups, for head_dim 64 (same bindings and parameters as
// attention.wgsl). One workgroup = one subgroup of 8 lanes = 8 consecutive
// tokens of the step (a lane each) for one KV head, serving the GROUP <= 4
// query heads that share it. Each key and value row (16 vec4s) is loaded
// once for the 8 tokens, two vectors per lane, and handed to every lane by
// subgroupBroadcast; each lane then has whole dot products (no sums across
// lanes). Why: CPU drivers run a load as a scalar loop over the lanes, and
// attention_dims_sg.wgsl loads every row once per token, so prefill
// attention deep in the context is mostly loads there. Lanes past the
// step's tokens repeat its last token and write nothing.

// AttnParams and the bindings (vec4 views): shaders/attn_params.wgsl,
// shaders/attn_sg_bindings.wgsl.

override GROUP: u32 = 1u; // query heads per KV head, <= 4

const WG: u32 = 8u;   // lanes = tokens per workgroup
const HD4: u32 = 16u; // head_dim / 4

// The lane's q (times the scale) and output sums, per head h < GROUP:
// [h][i] holds dims 4i..4i+3. Indexed only by constants (the lists
// below), so they stay in registers: a runtime index would put them in
// memory on CPU drivers.
var<private> q: array<array<vec4<f32>, 16>, 4>;
var<private> acc: array<array<vec4<f32>, 16>, 4>;

fn load_head(o: u32) -> array<vec4<f32>, 16> {
    let s = p.scale;
    return array<vec4<f32>, 16>(
        qkv[o] * s, qkv[o + 1u] * s, qkv[o + 2u] * s, qkv[o + 3u] * s,
        qkv[o + 4u] * s, qkv[o + 5u] * s, qkv[o + 6u] * s, qkv[o + 7u] * s,
        qkv[o + 8u] * s, qkv[o + 9u] * s, qkv[o + 10u] * s, qkv[o + 11u] * s,
        qkv[o + 12u] * s, qkv[o + 13u] * s, qkv[o + 14u] * s, qkv[o + 15u] * s,
    );
}

// Dims 4i..4i+3 of the key against each head's q.
fn qk(i: u32, k: vec4<f32>) -> vec4<f32> {
    var s = vec4<f32>(dot(q[0][i], k), 0.0, 0.0, 0.0);
    if GROUP > 1u {
        s.y = dot(q[1][i], k);
    }
    if GROUP > 2u {
        s.z = dot(q[2][i], k);
    }
    if GROUP > 3u {
        s.w = dot(q[3][i], k);
    }
    return s;
}

// The key's scores for the lane's token, per head. Vector i of the row
// sits in lane i % 8 (a: vectors 0..7, b: 8..15); subgroupBroadcast takes
// a constant lane, hence the list.
fn scores(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    return qk(0u, subgroupBroadcast(a, 0u)) + qk(1u, subgroupBroadcast(a, 1u))
         + qk(2u, subgroupBroadcast(a, 2u)) + qk(3u, subgroupBroadcast(a, 3u))
         + qk(4u, subgroupBroadcast(a, 4u)) + qk(5u, subgroupBroadcast(a, 5u))
         + qk(6u, subgroupBroadcast(a, 6u)) + qk(7u, subgroupBroadcast(a, 7u))
         + qk(8u, subgroupBroadcast(b, 0u)) + qk(9u, subgroupBroadcast(b, 1u))
         + qk(10u, subgroupBroadcast(b, 2u)) + qk(11u, subgroupBroadcast(b, 3u))
         + qk(12u, subgroupBroadcast(b, 4u)) + qk(13u, subgroupBroadcast(b, 5u))
         + qk(14u, subgroupBroadcast(b, 6u)) + qk(15u, subgroupBroadcast(b, 7u));
}

// acc = acc * corr + e * v for dims 4i..4i+3, per head.
fn pv(i: u32, v: vec4<f32>, corr: vec4<f32>, e: vec4<f32>) {
    acc[0][i] = acc[0][i] * corr.x + v * e.x;
    if GROUP > 1u {
        acc[1][i] = acc[1][i] * corr.y + v * e.y;
    }
    if GROUP > 2u {
        acc[2][i] = acc[2][i] * corr.z + v * e.z;
    }
    if GROUP > 3u {
        acc[3][i] = acc[3][i] * corr.w + v * e.w;
    }
}

// The value row (a, b as in `scores`) into the lane's sums.
fn values(a: vec4<f32>, b: vec4<f32>, corr: vec4<f32>, e: vec4<f32>) {
    pv(0u, subgroupBroadcast(a, 0u), corr, e);
    pv(1u, subgroupBroadcast(a, 1u), corr, e);
    pv(2u, subgroupBroadcast(a, 2u), corr, e);
    pv(3u, subgroupBroadcast(a, 3u), corr, e);
    pv(4u, subgroupBroadcast(a, 4u), corr, e);
    pv(5u, subgroupBroadcast(a, 5u), corr, e);
    pv(6u, subgroupBroadcast(a, 6u), corr, e);
    pv(7u, subgroupBroadcast(a, 7u), corr, e);
    pv(8u, subgroupBroadcast(b, 0u), corr, e);
    pv(9u, subgroupBroadcast(b, 1u), corr, e);
    pv(10u, subgroupBroadcast(b, 2u), corr, e);
    pv(11u, subgroupBroadcast(b, 3u), corr, e);
    pv(12u, subgroupBroadcast(b, 4u), corr, e);
    pv(13u, subgroupBroadcast(b, 5u), corr, e);
    pv(14u, subgroupBroadcast(b, 6u), corr, e);
    pv(15u, subgroupBroadcast(b, 7u), corr, e);
}

fn store_head(o: u32, a: array<vec4<f32>, 16>, inv: f32) {
    for (var i = 0u; i < HD4; i++) {
        out[o + i] = a[i] * inv;
    }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let t0 = wid.y * WG;
    let last = step.n_tokens - 1u;
    let t = min(t0 + lane, last);
    let stride4 = (p.n_heads + 2u * p.n_kv_heads) * HD4;
    let qb = t * stride4 + kvh * GROUP * HD4;
    q[0] = load_head(qb);
    if GROUP > 1u {
        q[1] = load_head(qb + HD4);
    }
    if GROUP > 2u {
        q[2] = load_head(qb + 2u * HD4);
    }
    if GROUP > 3u {
        q[3] = load_head(qb + 3u * HD4);
    }
    // The workgroup walks its tokens' keys together (the first token's
    // start to the last one's end); each lane takes only its own.
    let mine = key_range(t);
    let start = key_range(t0).x;
    let end = key_range(min(t0 + WG - 1u, last)).y;
    var m = vec4<f32>(-3.0e38); // running max per head
    var l = vec4<f32>(0.0);     // running sum per head
    let kv0 = kvh * p.ctx;
    for (var j = start; j < end; j++) {
        let kb = (kv0 + j) * HD4 + lane;
        let s = scores(k4(kb), k4(kb + 8u));
        let valid = j >= mine.x && j < mine.y;
        let m_new = select(m, max(m, s), valid);
        let corr = exp(m - m_new);
        let e = select(vec4<f32>(0.0), exp(s - m_new), valid);
        l = l * corr + e;
        m = m_new;
        values(v4(kb), v4(kb + 8u), corr, e);
    }
    if t0 + lane > last {
        return;
    }
    let inv = 1.0 / l;
    let ob = (t * p.n_heads + kvh * GROUP) * HD4;
    store_head(ob, acc[0], inv.x);
    if GROUP > 1u {
        store_head(ob + HD4, acc[1], inv.y);
    }
    if GROUP > 2u {
        store_head(ob + 2u * HD4, acc[2], inv.z);
    }
    if GROUP > 3u {
        store_head(ob + 3u * HD4, acc[3], inv.w);
    }
}
