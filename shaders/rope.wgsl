// RoPE, shared by rope_kv.wgsl and the decode QKV matvec that applies it in
// its epilogue (matvec_sg.wgsl, ROPE): one copy of the rotation, so both
// paths give the same bits.
struct RopeParams {
    n_heads: u32,
    n_kv_heads: u32,
    head_dim: u32,
    rope_dim: u32,   // rotated dims per head (<= head_dim)
    ctx: u32,        // KV cache capacity
    neox: u32,       // 0: pairs (2i, 2i+1) (llama); 1: pairs (i, i + rope_dim/2)
    theta: f32,      // frequency base
    _pad: u32,
}

// (x0, x1) of pair i rotated by position `pos`; pairs i >= rope_dim / 2
// are left as they are.
fn rope_pair(x0: f32, x1: f32, i: u32, pos: u32, rp: RopeParams) -> vec2<f32> {
    if i >= rp.rope_dim / 2u {
        return vec2<f32>(x0, x1);
    }
    let freq = pow(rp.theta, -2.0 * f32(i) / f32(rp.rope_dim));
    let ang = f32(pos) * freq;
    let c = cos(ang);
    let s = sin(ang);
    return vec2<f32>(x0 * c - x1 * s, x0 * s + x1 * c);
}
