// Bindings of the subgroup attention kernels (attention.wgsl's, as vec4 views).
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttnParams;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;      // (n_tokens, (n_heads + 2 n_kv) * head_dim)
@group(0) @binding(3) var<storage, read> kc: array<vec2<u32>>;       // (n_kv_heads, ctx, head_dim / 4) f16 quads
@group(0) @binding(4) var<storage, read> vc: array<vec2<u32>>;       // (n_kv_heads, ctx, head_dim / 4) f16 quads
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (n_tokens, n_heads * head_dim)

// Dims 4i..4i+3 of the K (V) cache, stored as f16 pairs (rope_kv.wgsl).
fn k4(i: u32) -> vec4<f32> {
    let w = kc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}

fn v4(i: u32) -> vec4<f32> {
    let w = vc[i];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
