// The decode FFN in one dispatch, on CPU adapters with 8-lane subgroups:
// workgroup s of SLICES takes hidden units s * SH .. (s + 1) * SH (SH = ffn /
// SLICES). It runs the subgroup matvec's row sums (shaders/matvec_sg.wgsl)
// over its [gate; up] rows with the norm fused, keeps silu(gate) * up in h,
// then multiplies those SH values by their columns of down, all rows, into
// fparts[s] (dim). The next matvec (the next layer's QKV, or the LM head)
// adds the SLICES partial vectors to x as it loads it (shaders/parts.wgsl).
// Why: down needs every hidden unit and WebGPU has no barrier across
// workgroups; partial sums save its dispatch (lavapipe pays ~130 us per
// dispatch).
//
// Both weights sit in one store (the loader puts them there), each with its
// own WParams: `wp`, which the decoders read, is private and set per phase.
// The residual after attention, x + attention's partial O projections, is
// what the norm and gate/up read; workgroup 0 also writes it to xo, the
// residual the next layer's QKV adds fparts to.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wpg: WParams; // [gate; up]: n = ffn, k = dim
// binding 2 (and 6 for a buffer): the shared store, declared by shaders/weights/
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>;      // (dim,): one token
@group(0) @binding(4) var<storage, read_write> h: array<vec4<f32>>; // (ffn,)
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;      // (dim,) ffn norm weight
// then (after the store's word view for a buffer): wpd (down's WParams), pa
// (attention's partial O projections, NPARTS of dim), fparts (SLICES, dim)
// and xo (dim,): declared by gpu::kernels.

override WG: u32 = 8u;

var<private> wp: WParams;

fn x_at(i: u32) -> vec4<f32> {
    return x[i & 4095u] + parts4(i);
}

fn norm_w4(c: u32) -> vec4<f32> {
    return nw[c];
}

// Block j (columns 32 j ..) of h.
fn h_block(j: u32) -> XBlock {
    let b = j * 8u;
    var xb = XBlock(h[b], h[b + 1u], h[b + 2u], h[b + 3u],
                    h[b + 4u], h[b + 5u], h[b + 6u], h[b + 7u], 0.0);
    xb.sum = dot(xb.v0 + xb.v1 + xb.v2 + xb.v3 + xb.v4 + xb.v5 + xb.v6 + xb.v7, vec4<f32>(1.0));
    return prep_block(xb);
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let s = wid.x;
    let sub = lane % 2u;
    wp = wpg;
    let sh = wpg.n / SLICES; // hidden units of the slice
    if s == 0u {
        for (var i = lane; i < wpg.k / 4u; i += WG) {
            xo[i] = x_at(i);
        }
    }
    // [gate; up] rows of the slice, 64 a pass (4 sets of 16).
    let per_wg = (WG / 2u) * ROWS;
    for (var g = lane / WG; g * per_wg < sh; g++) {
        let row0 = s * sh + (g * (WG / 2u) + lane / 2u) * ROWS;
        let r = norm_scaled(row_sums(row0, sub, lane, 0u, 0u, wpg.k / 32u), wpg.k, wpg.aux);
        let t = set_sums(r);
        for (var i = sub; i < ROWS; i += 2u) {
            let gv = pick(t.g0, t.g1, t.g2, t.g3, i);
            let row = row0 + i;
            h[row / 4u][row % 4u] = gv / (1.0 + exp(-gv)) * pick(t.u0, t.u1, t.u2, t.u3, i);
        }
    }
    // The slice's h, written by the other lanes, for the down rows.
    storageBarrier();
    // Down: the slice's 2 NB blocks, lane blocks jb + 2 b + sub.
    wp = wpd;
    let jb = s * sh / 32u;
    var xq: array<XBlock, NB>;
    for (var b = 0u; b < NB; b++) {
        xq[b] = h_block(jb + 2u * b + sub);
    }
    let last = wpd.n - 1u;
    for (var g = lane / WG; g * per_wg < wpd.n; g++) {
        let row0 = (g * (WG / 2u) + lane / 2u) * ROWS;
        var g0 = vec4<f32>(0.0);
        var g1 = vec4<f32>(0.0);
        var g2 = vec4<f32>(0.0);
        var g3 = vec4<f32>(0.0);
        for (var b = 0u; b < NB; b++) {
            let j = jb + 2u * b + sub;
            let sg = set_scales(min(row0, last & ~15u), j);
            g0 += rows4s(row0, j, xq[b], last, sg, 0u);
            g1 += rows4s(row0 + 4u, j, xq[b], last, sg, 4u);
            g2 += rows4s(row0 + 8u, j, xq[b], last, sg, 8u);
            g3 += rows4s(row0 + 12u, j, xq[b], last, sg, 12u);
        }
        g0 += subgroupShuffleXor(g0, 1u);
        g1 += subgroupShuffleXor(g1, 1u);
        g2 += subgroupShuffleXor(g2, 1u);
        g3 += subgroupShuffleXor(g3, 1u);
        for (var i = sub; i < ROWS; i += 2u) {
            let row = row0 + i;
            if row < wpd.n {
                fparts[s * wpd.n + row] = pick(g0, g1, g2, g3, i);
            }
        }
    }
}
