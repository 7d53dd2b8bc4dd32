// Rotates q and k of each token in place (RoPE at position pos0 + t) and
// appends k and v to this layer's KV cache.
// One thread per pair slot: (n_heads + 2 * n_kv_heads) * head_dim / 2 per
// token; q/k slots rotate a pair, v slots copy two values.
// RopeParams and rope_pair: shaders/rope.wgsl.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: RopeParams;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>; // (n_tokens, (n_heads + 2 n_kv) * head_dim)
@group(0) @binding(3) var<storage, read_write> kc: array<f32>;  // (n_kv_heads, ctx, head_dim)
@group(0) @binding(4) var<storage, read_write> vc: array<f32>;  // (n_kv_heads, ctx, head_dim)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half_hd = p.head_dim / 2u;
    let slot = gid.x;
    let t = gid.y;
    let n_slots = (p.n_heads + 2u * p.n_kv_heads) * half_hd;
    if slot >= n_slots || t >= step.n_tokens {
        return;
    }
    let pos = step.pos0 + t;
    let head = slot / half_hd;          // 0..n_heads: q, then k heads, then v heads
    let i = slot % half_hd;             // pair index within the head
    let stride = (p.n_heads + 2u * p.n_kv_heads) * p.head_dim;
    let base = t * stride + head * p.head_dim;
    let n_qk = p.n_heads + p.n_kv_heads;
    if head >= n_qk {
        // v: copy dims 2i and 2i+1 into the cache.
        let kvh = head - n_qk;
        let dst = (kvh * p.ctx + pos) * p.head_dim + 2u * i;
        vc[dst] = qkv[base + 2u * i];
        vc[dst + 1u] = qkv[base + 2u * i + 1u];
        return;
    }
    // Slots i >= rope_dim / 2 carry the unrotated dims 2i, 2i + 1 (>= rope_dim)
    // in both modes; NeoX pairs (i, i + rope_dim / 2) only below that.
    var a = 2u * i;
    var b = 2u * i + 1u;
    if p.neox != 0u && i < p.rope_dim / 2u {
        a = i;
        b = i + p.rope_dim / 2u;
    }
    let r = rope_pair(qkv[base + a], qkv[base + b], i, pos, p);
    let x0 = r.x;
    let x1 = r.y;
    if head < p.n_heads {
        qkv[base + a] = x0;
        qkv[base + b] = x1;
    } else {
        let kvh = head - p.n_heads;
        let dst = (kvh * p.ctx + pos) * p.head_dim;
        kc[dst + a] = x0;
        kc[dst + b] = x1;
    }
}
