// y[row] (+)= dot(W[row, :], x[last token, :]) for one token (decode).
// Variants (override constants): FUSE_NORM applies RMSNorm(x) * nw on the fly
// (every workgroup recomputes the K-wide sum of squares: K reads, cheaper than
// a dispatch); SWIGLU computes silu(W[row]·x) * (W[row + n]·x) from the
// concatenated [gate; up] weight; RESIDUAL accumulates into y.
// The weight decoder (deq_unit/unit_col) is prepended per quant type.
struct WParams {
    k: u32,            // columns (multiple of 32 for block types)
    n: u32,            // output rows
    scale_offset: u32, // first word of the scale region in w
    aux: f32,          // RMSNorm epsilon when FUSE_NORM
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
@group(0) @binding(2) var<storage, read> w: array<u32>;        // repacked weight, n (or 2n) rows
@group(0) @binding(3) var<storage, read> x: array<f32>;        // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n,)
@group(0) @binding(5) var<storage, read> nw: array<f32>;       // (k,) norm weight

override FUSE_NORM: bool = false;
override SWIGLU: bool = false;
override RESIDUAL: bool = false;

const WG: u32 = 64u;
const ROWS: u32 = 4u; // output rows per workgroup

var<workgroup> red: array<f32, 512>; // (2 * ROWS, WG)
var<private> xbase: u32;
var<private> norm_scale: f32;

fn load_x(col: u32) -> f32 {
    let v = x[xbase + col];
    if FUSE_NORM {
        return v * norm_scale * nw[col];
    }
    return v;
}

// Sums red[r * WG + 0..WG] into red[r * WG] for r < nrows.
fn reduce_rows(tid: u32, nrows: u32) {
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            for (var r = 0u; r < nrows; r++) {
                red[r * WG + tid] += red[r * WG + tid + s];
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
    let row0 = wg_linear(wid, nwg) * ROWS;
    xbase = (step.n_tokens - 1u) * wp.k;
    if FUSE_NORM {
        var ss = 0.0;
        for (var i = tid; i < wp.k; i += WG) {
            let v = x[xbase + i];
            ss += v * v;
        }
        red[tid] = ss;
        workgroupBarrier();
        reduce_rows(tid, 1u);
        norm_scale = inverseSqrt(red[0] / f32(wp.k) + wp.aux);
        workgroupBarrier();
    }
    var acc: array<f32, 8>; // (2 * ROWS): gate rows then up rows
    let units = wp.k / 8u;
    for (var u = tid; u < units; u += WG) {
        var xv: array<f32, 8>;
        for (var i = 0u; i < 8u; i++) {
            xv[i] = load_x(unit_col(u, i));
        }
        for (var r = 0u; r < ROWS; r++) {
            let row = row0 + r;
            if row < wp.n {
                let wv = deq_unit(row, u);
                var s = 0.0;
                for (var i = 0u; i < 8u; i++) {
                    s += wv[i] * xv[i];
                }
                acc[r] += s;
                if SWIGLU {
                    let wu = deq_unit(row + wp.n, u);
                    var su = 0.0;
                    for (var i = 0u; i < 8u; i++) {
                        su += wu[i] * xv[i];
                    }
                    acc[ROWS + r] += su;
                }
            }
        }
    }
    let nacc = select(ROWS, 2u * ROWS, SWIGLU);
    for (var r = 0u; r < nacc; r++) {
        red[r * WG + tid] = acc[r];
    }
    workgroupBarrier();
    reduce_rows(tid, nacc);
    let row = row0 + tid;
    if tid < ROWS && row < wp.n {
        var v = red[tid * WG];
        if SWIGLU {
            v = v / (1.0 + exp(-v)) * red[(ROWS + tid) * WG];
        }
        if RESIDUAL {
            v += y[row];
        }
        y[row] = v;
    }
}
