// x[t, :] = dequant(E[tokens[pos0 + t], :]) * aux, reading the token id
// from the GPU token buffer (written by the sampler of the previous step).
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> tokens: array<u32>;     // (ctx,) token history
@group(0) @binding(4) var<storage, read_write> y: array<f32>;    // (n_tokens, k)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = gid.x;
    let t = gid.y;
    if u >= wp.k / 8u || t >= step.n_tokens {
        return;
    }
    // Ids come from our tokenizer or sampler; clamp anyway so a bad id can
    // never read outside the table.
    let id = min(tokens[step.pos0 + t], wp.n - 1u);
    let v = unit_w(id, u);
    let c = unit_x(u) + vec2<u32>(t * wp.k);
    for (var i = 0u; i < 4u; i++) {
        y[c.x + i] = v.lo[i] * wp.aux;
        y[c.y + i] = v.hi[i] * wp.aux;
    }
}
