// Epilogue of the QKV matvec (matvec_sg.wgsl ROPE, decode) and of the QKV
// row GEMM (gemm_row.wgsl ROPE, prefill): rows `row` and `row + 1` of
// [q; k; v] are pair (2i, 2i + 1) of one head (llama's adjacent pairs; row
// even, head_dim even). q is rotated in place, k is rotated into the k
// cache and v copied to the v cache at the token's position, as
// rope_kv.wgsl does; k and v stay in y as computed (attention reads the
// caches). Why: one dispatch per layer fewer (lavapipe and SwiftShader pay
// ~0.1-0.4 ms per dispatch, and rope_kv's loads are per-lane loops there).
// The bindings rp, kc and vc are declared by gpu::kernels after the
// weight's (and the GEMM's norm weight).

// The pair at y[yi], y[yi + 1] (row `row` of its token) at position `pos`.
fn rope_store_at(yi: u32, row: u32, a: f32, b: f32, pos: u32) {
    let hd = rp.head_dim;
    let head = row / hd;
    let d = row % hd;
    let n_qk = rp.n_heads + rp.n_kv_heads;
    if head >= n_qk {
        let dst = ((head - n_qk) * rp.ctx + pos) * hd + d;
        vc[dst] = a;
        vc[dst + 1u] = b;
        y[yi] = a;
        y[yi + 1u] = b;
        return;
    }
    let r = rope_pair(a, b, d / 2u, pos, rp);
    if head < rp.n_heads {
        y[yi] = r.x;
        y[yi + 1u] = r.y;
    } else {
        let dst = ((head - rp.n_heads) * rp.ctx + pos) * hd + d;
        kc[dst] = r.x;
        kc[dst + 1u] = r.y;
        y[yi] = a;
        y[yi + 1u] = b;
    }
}

// One element of a pair, for kernels whose lanes hold adjacent rows (the
// row GEMM): `own` is row `row`'s value, `other` its pair partner's; the
// lane writes only its own element of y and of the caches.
fn rope_store_one(yi: u32, row: u32, own: f32, other: f32, pos: u32) {
    let hd = rp.head_dim;
    let head = row / hd;
    let d = row % hd;
    let even = (d & 1u) == 0u;
    let n_qk = rp.n_heads + rp.n_kv_heads;
    y[yi] = own;
    if head >= n_qk {
        vc[((head - n_qk) * rp.ctx + pos) * hd + d] = own;
        return;
    }
    let r = rope_pair(select(other, own, even), select(own, other, even), d / 2u, pos, rp);
    let v = select(r.y, r.x, even);
    if head < rp.n_heads {
        y[yi] = v;
    } else {
        kc[((head - rp.n_heads) * rp.ctx + pos) * hd + d] = v;
    }
}
