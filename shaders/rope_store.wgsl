// Epilogue of the QKV matvec (matvec_sg.wgsl ROPE, decode) and of the QKV
// row GEMM (gemm_row.wgsl ROPE, prefill): rows `row` and `row + 1` of
// [q; k; v] are pair (2i, 2i + 1) of one head (llama's adjacent pairs; row
// even, head_dim even). q is rotated in place, k is rotated into the k
// cache and v copied to the v cache at the token's position, as
// rope_kv.wgsl does (the caches hold f16 pairs, word w = dims 2w, 2w + 1);
// k and v stay in y as computed (attention reads the caches). Why: one
// dispatch per layer fewer (lavapipe and SwiftShader pay ~0.1-0.4 ms per
// dispatch, and rope_kv's loads are per-lane loops there).
// The bindings rp, kc and vc are declared by gpu::kernels after the
// weight's (and the GEMM's norm weight); the caches are written through
// k_store / v_store (shaders/kv/: buffers or textures).

// The pair at y[yi], y[yi + 1] (row `row` of its token) at position `pos`.
fn rope_store_at(yi: u32, row: u32, a: f32, b: f32, pos: u32) {
    let hd = rp.head_dim;
    let head = row / hd;
    let d = row % hd;
    let n_qk = rp.n_heads + rp.n_kv_heads;
    if head >= n_qk {
        v_store(((head - n_qk) * rp.ctx + pos) * hd / 2u + d / 2u, pack2x16float(vec2<f32>(a, b)));
        y[yi] = a;
        y[yi + 1u] = b;
        return;
    }
    let r = rope_pair(a, b, d / 2u, pos, rp);
    if head < rp.n_heads {
        y[yi] = r.x;
        y[yi + 1u] = r.y;
    } else {
        k_store(((head - rp.n_heads) * rp.ctx + pos) * hd / 2u + d / 2u, pack2x16float(r));
        y[yi] = a;
        y[yi + 1u] = b;
    }
}

// One element of a pair, for kernels whose lanes hold adjacent rows (the
// row GEMM): `own` is row `row`'s value, `other` its pair partner's; the
// lane writes only its own element of y; the pair's even lane writes its
// cache word.
fn rope_store_one(yi: u32, row: u32, own: f32, other: f32, pos: u32) {
    let hd = rp.head_dim;
    let head = row / hd;
    let d = row % hd;
    let even = (d & 1u) == 0u;
    let n_qk = rp.n_heads + rp.n_kv_heads;
    let w = pos * hd / 2u + d / 2u; // the pair's cache word, past the head's rows
    y[yi] = own;
    if head >= n_qk {
        if even {
            v_store((head - n_qk) * rp.ctx * hd / 2u + w, pack2x16float(vec2<f32>(own, other)));
        }
        return;
    }
    let r = rope_pair(select(other, own, even), select(own, other, even), d / 2u, pos, rp);
    if head < rp.n_heads {
        y[yi] = select(r.y, r.x, even);
    } else if even {
        k_store((head - rp.n_heads) * rp.ctx * hd / 2u + w, pack2x16float(r));
    }
}
