// y[row] (+)= dot(W[row, :], x[last token, :]) for one token (decode).
// Variants (override constants): FUSE_NORM applies RMSNorm(x) * nw on the fly
// (every workgroup recomputes the K-wide sum of squares: K reads, cheaper than
// a dispatch); SWIGLU computes silu(W[row]·x) * (W[row + n]·x) from the
// concatenated [gate; up] weight; RESIDUAL accumulates into y.
// The weight decoder (unit_x/unit_dot) is appended per quant type.
// A workgroup owns 32 rows: 8 groups of 8 threads, each group 4 rows. The 8
// threads of a group stride over 8-column units, each keeping a vec4 of
// partial sums (one lane per row: no dynamically indexed private arrays,
// which CPU drivers such as lavapipe spill to memory), then the group sums
// them in 3 steps. Many rows per workgroup amortise the x loads, the norm
// and the per-workgroup cost, which dominates on CPU drivers.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;   // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (n,)
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;  // (k,) norm weight

override FUSE_NORM: bool = false;
override SWIGLU: bool = false;
override RESIDUAL: bool = false;

const WG: u32 = 64u;
const TPG: u32 = 8u;   // threads per row group
const ROWS: u32 = 32u; // output rows per workgroup: (WG / TPG) groups x 4

var<workgroup> red_g: array<vec4<f32>, 64>; // (WG,) gate (or plain) partial sums
var<workgroup> red_u: array<vec4<f32>, 64>; // (WG,) up partial sums
var<private> xbase: u32;    // first vec4 of the token's row
var<private> norm_scale: f32;

fn load_x4(col: u32) -> vec4<f32> {
    let v = x[xbase + col / 4u];
    if FUSE_NORM {
        return v * norm_scale * nw[col / 4u];
    }
    return v;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let row0 = wg_linear(wid, nwg) * ROWS;
    xbase = (step.n_tokens - 1u) * wp.k / 4u;
    if FUSE_NORM {
        var ss = 0.0;
        for (var i = tid; i < wp.k / 4u; i += WG) {
            let v = x[xbase + i];
            ss += dot(v, v);
        }
        red_g[tid] = vec4<f32>(ss, 0.0, 0.0, 0.0);
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if tid < s {
                red_g[tid] += red_g[tid + s];
            }
            workgroupBarrier();
        }
        norm_scale = inverseSqrt(red_g[0].x / f32(wp.k) + wp.aux);
        workgroupBarrier();
    }
    let lane = tid % TPG;
    let g0 = row0 + (tid / TPG) * 4u;
    // Rows past the end are clamped to the last row; their sums are dropped.
    let last = wp.n - 1u;
    let r = vec4<u32>(min(g0, last), min(g0 + 1u, last), min(g0 + 2u, last), min(g0 + 3u, last));
    var acc_g = vec4<f32>(0.0);
    var acc_u = vec4<f32>(0.0);
    let units = wp.k / 8u;
    for (var u = lane; u < units; u += TPG) {
        let c = unit_x(u);
        let xl = load_x4(c.x);
        let xh = load_x4(c.y);
        acc_g += vec4<f32>(unit_dot(r.x, u, xl, xh), unit_dot(r.y, u, xl, xh),
                           unit_dot(r.z, u, xl, xh), unit_dot(r.w, u, xl, xh));
        if SWIGLU {
            let n = wp.n;
            acc_u += vec4<f32>(unit_dot(r.x + n, u, xl, xh), unit_dot(r.y + n, u, xl, xh),
                               unit_dot(r.z + n, u, xl, xh), unit_dot(r.w + n, u, xl, xh));
        }
    }
    red_g[tid] = acc_g;
    red_u[tid] = acc_u;
    workgroupBarrier();
    for (var s = TPG / 2u; s > 0u; s >>= 1u) {
        if lane < s {
            red_g[tid] += red_g[tid + s];
            if SWIGLU {
                red_u[tid] += red_u[tid + s];
            }
        }
        workgroupBarrier();
    }
    let row = g0 + lane;
    let head = tid - lane; // the group's first thread holds its sums
    if lane < 4u && row < wp.n {
        var v = red_g[head][lane];
        if SWIGLU {
            v = v / (1.0 + exp(-v)) * red_u[head][lane];
        }
        if RESIDUAL {
            v += y[row];
        }
        y[row] = v;
    }
}
