// Entry point of the subgroup matvec (shaders/matvec_sg.wgsl has the row
// sums): y[row] (+)= dot(W[row, :], x[last token, :]), one row set of 16
// rows per SPLIT lanes, and the epilogues (SwiGLU, residual, RoPE + KV
// append).
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2 (and 6 for a buffer): the weight, declared by shaders/weights/
// binding 3, x (n_tokens, k): declared by gpu::kernels, storage or
// (X_UNIFORM, one token) a uniform indexed through X_MASK
@group(0) @binding(4) var<storage, read_write> y: array<f32>;   // (n,)
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>;  // (k,) norm weight
// NPARTS > 0: partial vectors to add (`parts4`, `parts1`,
// shaders/parts.wgsl), declared by gpu::kernels after the other bindings,
// and with FOLD the buffer `fold_store` writes x plus them to.

override WG: u32 = 8u; // lanes: the adapter's minimum subgroup size (<= 64)

// Vector i of x: with NPARTS (and no RESIDUAL, which takes them into y
// instead), plus the partial O projections attention left: the residual
// stream after attention is x + their sum.
fn x_at(i: u32) -> vec4<f32> {
    var v = x[i & X_MASK];
    if NPARTS > 0u && !RESIDUAL {
        v += parts4(i);
    }
    return v;
}

fn norm_w4(c: u32) -> vec4<f32> {
    return nw[c];
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lane: u32) {
    let sub = lane % SPLIT; // lane within its set
    let row0 = (wg_linear(wid, nwg) * (WG / SPLIT) + lane / SPLIT) * ROWS;
    // The last token's x; with X_UNIFORM x holds only the one token.
    let xbase = select((step.n_tokens - 1u) * wp.k / 4u, 0u, X_UNIFORM);
    // FUSE_NORM: the norm's scale at the end (`norm_scaled`), its square
    // sum from the blocks the loop loads anyway, not a pass of its own.
    var r = row_sums(row0, sub, lane, xbase, 0u, wp.k / 32u);
    if FUSE_NORM {
        r = norm_scaled(r, wp.k, wp.aux);
    }
    let s = set_sums(r);
    // FOLD: the residual stream (x plus the parts) for the kernel after
    // next, once, by the first workgroup (before the RoPE epilogue returns).
    if FOLD && wg_linear(wid, nwg) == 0u {
        for (var i = lane; i < wp.k / 4u; i += WG) {
            fold_store(i, x_at(xbase + i));
        }
    }
    if ROPE {
        for (var p = sub; p < ROWS / 2u; p += SPLIT) {
            let row = row0 + 2u * p;
            if row < wp.n {
                let pos = step.pos0 + step.n_tokens - 1u;
                rope_store_at(row, row, pick(s.g0, s.g1, s.g2, s.g3, 2u * p),
                              pick(s.g0, s.g1, s.g2, s.g3, 2u * p + 1u), pos);
            }
        }
        return;
    }
    for (var i = sub; i < ROWS; i += SPLIT) {
        let row = row0 + i;
        if row < wp.n {
            var v = pick(s.g0, s.g1, s.g2, s.g3, i);
            if SWIGLU {
                v = v / (1.0 + exp(-v)) * pick(s.u0, s.u1, s.u2, s.u3, i);
            }
            if RESIDUAL {
                v += y[row];
                if NPARTS > 0u {
                    v += parts1(row);
                }
            }
            y[row] = v;
        }
    }
}
