// y[row] (+)= dot(W[row, :], x[last token, :]) for one token (decode), one
// invocation per output row and no workgroup memory or barriers: the layout
// for software rasterizers such as SwiftShader, where a barrier splits the
// shader into coroutines and costs far more than the loads it would share.
// Same variants and bindings as matvec.wgsl. FUSE_NORM costs nothing extra
// here: each invocation reads all of x anyway, so it sums the squares as it
// goes and scales the dot products at the end (RMSNorm is a per-token scalar).
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;   // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (n,)
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;  // (k,) norm weight

override FUSE_NORM: bool = false;
override SWIGLU: bool = false;
override RESIDUAL: bool = false;

const ROWS: u32 = 32u; // output rows per workgroup, one per invocation

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let row = wg_linear(wid, nwg) * ROWS + tid;
    if row >= wp.n {
        return; // no barrier below: leaving early is safe
    }
    let xbase = (step.n_tokens - 1u) * wp.k / 4u;
    var acc_g = 0.0;
    var acc_u = 0.0;
    var ss = 0.0;
    let units = wp.k / 8u;
    for (var u = 0u; u < units; u++) {
        let c = unit_x(u) / 4u;
        var xl = x[xbase + c.x];
        var xh = x[xbase + c.y];
        if FUSE_NORM {
            ss += dot(xl, xl) + dot(xh, xh);
            xl *= nw[c.x];
            xh *= nw[c.y];
        }
        acc_g += unit_dot(row, u, xl, xh);
        if SWIGLU {
            acc_u += unit_dot(row + wp.n, u, xl, xh);
        }
    }
    if FUSE_NORM {
        let s = inverseSqrt(ss / f32(wp.k) + wp.aux);
        acc_g *= s;
        acc_u *= s;
    }
    var v = acc_g;
    if SWIGLU {
        v = v / (1.0 + exp(-v)) * acc_u;
    }
    if RESIDUAL {
        v += y[row];
    }
    y[row] = v;
}
