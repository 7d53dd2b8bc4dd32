// h[t, i] = silu(a[t, i]) * a[t, n + i], where a holds [gate; up] per token.
struct Params {
    n: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> a: array<f32>;         // (n_tokens, 2n)
@group(0) @binding(3) var<storage, read_write> h: array<f32>;   // (n_tokens, n)

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let t = gid.y;
    if i >= p.n || t >= step.n_tokens {
        return;
    }
    let g = a[t * 2u * p.n + i];
    let u = a[t * 2u * p.n + p.n + i];
    h[t * p.n + i] = g / (1.0 + exp(-g)) * u;
}
