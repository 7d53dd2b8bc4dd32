// y[t, :] = x[t, :] / sqrt(mean(x[t, :]^2) + eps) * w, one workgroup per token.
// NormParams: shaders/norm_params.wgsl.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: NormParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;        // (n_tokens, dim)
@group(0) @binding(3) var<storage, read_write> y: array<f32>;  // (n_tokens, dim)
@group(0) @binding(4) var<storage, read> nw: array<f32>;       // (dim,)

const WG: u32 = 64u;
var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let t = wid.y;
    if t >= step.n_tokens {
        return;
    }
    let base = t * p.dim;
    var ss = 0.0;
    for (var i = tid; i < p.dim; i += WG) {
        let v = x[base + i];
        ss += v * v;
    }
    red[tid] = ss;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            red[tid] += red[tid + s];
        }
        workgroupBarrier();
    }
    let scale = inverseSqrt(red[0] / f32(p.dim) + p.eps);
    for (var i = tid; i < p.dim; i += WG) {
        y[base + i] = x[base + i] * scale * nw[i];
    }
}
