// Rotates q of each token in place (RoPE at position pos0 + t) and appends
// rotated k and v to this layer's KV cache, whose words hold f16 pairs:
// dims (2w, 2w + 1) in word w of a row, as llama.cpp keeps its cache in f16
// (half the bytes attention streams; unpack2x16float on the read side).
// One thread per pair slot: (n_heads + 2 * n_kv_heads) * head_dim / 2 per
// token; q slots rotate a pair, k and v slots write cache word i.
// RopeParams and rope_pair: shaders/rope.wgsl.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: RopeParams;
@group(0) @binding(2) var<storage, read_write> qkv: array<f32>; // (n_tokens, (n_heads + 2 n_kv) * head_dim)
// bindings 3, 4: the caches kc, vc (n_kv_heads, ctx, head_dim / 2) f16
// pairs, written through k_store / v_store: declared by gpu::kernels
// (shaders/kv/)

// Dim d of the k head at `base` after the NeoX rotation, which pairs dims
// half a rotation apart (j, j + rope_dim / 2): a cache word's dims 2i and
// 2i + 1 come from two pairs. Dims past rope_dim stay as they are.
fn k_neox(base: u32, d: u32, pos: u32) -> f32 {
    if d >= p.rope_dim {
        return qkv[base + d];
    }
    let half = p.rope_dim / 2u;
    let j = d % half;
    let r = rope_pair(qkv[base + j], qkv[base + j + half], j, pos, p);
    return select(r.x, r.y, d >= half);
}

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
        // v: dims 2i and 2i+1 into cache word i of the row.
        let kvh = head - n_qk;
        let dst = (kvh * p.ctx + pos) * half_hd + i;
        v_store(dst, pack2x16float(vec2<f32>(qkv[base + 2u * i], qkv[base + 2u * i + 1u])));
        return;
    }
    if head >= p.n_heads {
        let kvh = head - p.n_heads;
        let dst = (kvh * p.ctx + pos) * half_hd + i;
        if p.neox != 0u {
            k_store(dst, pack2x16float(vec2<f32>(k_neox(base, 2u * i, pos),
                                                 k_neox(base, 2u * i + 1u, pos))));
        } else {
            k_store(dst, pack2x16float(rope_pair(qkv[base + 2u * i], qkv[base + 2u * i + 1u], i, pos, p)));
        }
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
    qkv[base + a] = r.x;
    qkv[base + b] = r.y;
}
