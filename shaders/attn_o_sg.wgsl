// Decode attention with its share of the O projection, on CPU adapters
// with 8-lane subgroups and head_dim 64: the workgroup of KV head kvh runs
// attention_dims_sg.wgsl's `attend` for the one token, then its share of
// Wo (`o_share`, shaders/o_share_sg.wgsl) into parts[kvh] (n rows). The
// FFN's matvecs add the n_kv_heads partial vectors to the residual
// (shaders/parts.wgsl). Why: the O projection needs every head's output
// and WebGPU has no barrier across workgroups; partial sums save its
// dispatch (lavapipe pays ~130 us per dispatch).
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

fn q4(i: u32) -> vec4<f32> {
    return qkv[i];
}

// The row sums' x hooks: unused here (the blocks come from `head_block`).
fn x_at(i: u32) -> vec4<f32> {
    return vec4<f32>(0.0);
}

fn norm_w4(c: u32) -> vec4<f32> {
    return vec4<f32>(1.0);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let o = attend(kvh, 0u, lane);
    store_outs(kvh, 0u, lane, o);
    o_share(kvh, lane, o);
}
