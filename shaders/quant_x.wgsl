// x rounded to Q8_1 blocks for the integer row GEMM (shaders/gemm_x/
// q8_1.wgsl), one workgroup (one 8-lane subgroup) per token, lanes over
// 32-column blocks; with NORM, RMS-normed first (x / rms * norm weight,
// as rmsnorm.wgsl). Rounding: shaders/q8_1_round.wgsl. Why a pass of its own: the
// GEMM's workgroups each read every token, so rounding inside them
// repeated it 24-48 times a token.
//
// A block is 5 vec4<i32> (80 bytes, so a 16-token tile of down's 1536
// columns fits one 64 KiB uniform view): the pairs of its units 0..3, in
// the GEMM's order (`x_pairs`), then bitcast (d, s) and two zeros.
// NormParams (shaders/norm_params.wgsl): dim is k.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: NormParams;
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>;        // (n_tokens, k)
@group(0) @binding(3) var<storage, read_write> xq: array<vec4<i32>>; // (n_tokens, k / 32, 5)
// With NORM: the norm weight at binding 4 and `norm4(i)`, its vec4 i
// (gpu::kernels); without, a stub.

override NORM: bool = false;

const WG: u32 = 8u;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let t = wid.y;
    if t >= step.n_tokens {
        return; // uniform over the workgroup
    }
    let k4 = p.dim / 4u;
    let nb = p.dim / 32u;
    let base = t * k4;
    var scale = 1.0;
    if NORM {
        var ss = 0.0;
        for (var i = lane; i < k4; i += WG) {
            let v = x[base + i];
            ss += dot(v, v);
        }
        scale = inverseSqrt(subgroupAdd(ss) / f32(p.dim) + p.eps);
    }
    for (var b = lane; b < nb; b += WG) {
        let o = base + 8u * b;
        var v0 = x[o];
        var v1 = x[o + 1u];
        var v2 = x[o + 2u];
        var v3 = x[o + 3u];
        var v4 = x[o + 4u];
        var v5 = x[o + 5u];
        var v6 = x[o + 6u];
        var v7 = x[o + 7u];
        if NORM {
            let g = 8u * b;
            v0 = v0 * scale * norm4(g);
            v1 = v1 * scale * norm4(g + 1u);
            v2 = v2 * scale * norm4(g + 2u);
            v3 = v3 * scale * norm4(g + 3u);
            v4 = v4 * scale * norm4(g + 4u);
            v5 = v5 * scale * norm4(g + 5u);
            v6 = v6 * scale * norm4(g + 6u);
            v7 = v7 * scale * norm4(g + 7u);
        }
        let r = round_q8_1(v0, v1, v2, v3, v4, v5, v6, v7);
        let ob = (t * nb + b) * 5u;
        xq[ob] = r.p0;
        xq[ob + 1u] = r.p1;
        xq[ob + 2u] = r.p2;
        xq[ob + 3u] = r.p3;
        xq[ob + 4u] = vec4<i32>(bitcast<i32>(r.d), bitcast<i32>(r.s), 0, 0);
    }
}
