// Attention's partial O projections, summed for the matvec that reads them
// (shaders/entry/matvec_sg.wgsl NPARTS; written by shaders/attn_o_sg.wgsl):
// NPARTS vectors of the residual width back to back, bound as the uniform
// `pa` (64 KiB view, gpu::kernels). The FFN's gate/up matvec adds their sum
// to x as it loads it, the down matvec to its residual: the residual
// stream after attention is x + their sum until the down matvec writes it.

// Vector i of the sum, for an x of width wp.k.
fn parts4(i: u32) -> vec4<f32> {
    var s = vec4<f32>(0.0);
    for (var h = 0u; h < NPARTS; h++) {
        s += pa[(h * wp.k / 4u + i) & 4095u];
    }
    return s;
}

// Element `row` of the sum, for a y of width wp.n.
fn parts1(row: u32) -> f32 {
    var s = 0.0;
    for (var h = 0u; h < NPARTS; h++) {
        let e = h * wp.n + row;
        s += pa[(e / 4u) & 4095u][e % 4u];
    }
    return s;
}
