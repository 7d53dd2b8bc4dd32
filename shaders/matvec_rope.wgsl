// Epilogue of the decode QKV matvec (matvec_sg.wgsl, ROPE): rows `row` and
// `row + 1` of [q; k; v] are pair (2i, 2i + 1) of one head (llama's
// adjacent pairs; row even, head_dim even). q is rotated in place, k is
// rotated into the k cache and v copied to the v cache at the token's
// position, as rope_kv.wgsl does for prefill; k and v stay in y as
// computed (attention reads the caches). Why: one dispatch per layer
// fewer (lavapipe and SwiftShader pay ~0.1-0.4 ms per dispatch).
// The bindings rp, kc and vc are declared by gpu::kernels after the
// weight's.
fn rope_store(row: u32, a: f32, b: f32) {
    let hd = rp.head_dim;
    let head = row / hd;
    let d = row % hd;
    let pos = step.pos0 + step.n_tokens - 1u;
    let n_qk = rp.n_heads + rp.n_kv_heads;
    if head >= n_qk {
        let dst = ((head - n_qk) * rp.ctx + pos) * hd + d;
        vc[dst] = a;
        vc[dst + 1u] = b;
        y[row] = a;
        y[row + 1u] = b;
        return;
    }
    let r = rope_pair(a, b, d / 2u, pos, rp);
    if head < rp.n_heads {
        y[row] = r.x;
        y[row + 1u] = r.y;
    } else {
        let dst = ((head - rp.n_heads) * rp.ctx + pos) * hd + d;
        kc[dst] = r.x;
        kc[dst + 1u] = r.y;
        y[row] = a;
        y[row + 1u] = b;
    }
}
