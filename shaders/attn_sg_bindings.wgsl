// Bindings of the subgroup attention kernels (attention.wgsl's, as vec4
// views); the caches are read through `k4` / `v4` (shaders/attn_kv.wgsl),
// the output written through `store_out`.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttnParams;
@group(0) @binding(2) var<storage, read> qkv: array<vec4<f32>>;      // (n_tokens, (n_heads + 2 n_kv) * head_dim)
// bindings 3, 4: the caches kc, vc (n_kv_heads, ctx, head_dim / 4) f16
// quads, declared by gpu::kernels (shaders/kv/)
@group(0) @binding(5) var<storage, read_write> out: array<vec4<f32>>; // (n_tokens, n_heads * head_dim)

fn store_out(i: u32, v: vec4<f32>) {
    out[i] = v;
}

fn q4(i: u32) -> vec4<f32> {
    return qkv[i];
}
