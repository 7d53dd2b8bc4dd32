// A layer's attention half in one decode dispatch, on CPU adapters with
// 8-lane subgroups and head_dim 64: the workgroup of KV head kvh computes
// the q rows of its GROUP query heads and its own k and v rows with the
// subgroup matvec's row sums (shaders/matvec_sg.wgsl, the norm fused, x
// plus the FFN's partial vectors), rotates them and appends k and v to the
// caches (`rope_store_at`, shaders/rope_store.wgsl), then runs `attend`
// (shaders/attention_dims_sg.wgsl) on them and its share of Wo (`o_share`,
// shaders/o_share_sg.wgsl) into parts[kvh]. Why: a KV head's attention
// needs only its own q, k and v, so the QKV matvec needs no dispatch of
// its own (lavapipe pays ~0.1 ms per dispatch, and the QKV matvec's 15
// workgroups each loaded x and the partial vectors).
//
// [q; k; v] and Wo sit in one store (the loader puts them there), each with
// its own WParams: `wp`, which the decoders read, is private and set per
// phase. q stays in workgroup memory (`y`); k and v reach attention through
// the caches. With NPARTS, x plus the FFN's partial vectors is the
// residual, and workgroup 0 also writes it to xo (`fold_store`).
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wpq: WParams; // [q; k; v]: k = dim
// binding 2 (and 6 for a buffer): the shared store, declared by shaders/weights/
@group(0) @binding(3) var<uniform> x: array<vec4<f32>, 4096>; // (dim,): one token
@group(0) @binding(4) var<uniform> p: AttnParams;
@group(0) @binding(5) var<storage, read> nw: array<vec4<f32>>; // (dim,) attention norm weight
// then (after the store's word view for a buffer): wpo (Wo's WParams), rp
// (RopeParams), kc, vc (the caches), out (n_heads * head_dim), parts
// (n_kv_heads, dim) and, with NPARTS, pa and xo: declared by gpu::kernels.

var<private> wp: WParams;
// The workgroup's first q vec4 in [q; k; v] (kvh * GROUP * HD4).
var<private> q_base: u32;
// The workgroup's q rows (GROUP heads, rotated), then its k and v rows,
// which only the caches read.
var<workgroup> y: array<f32, 384>;

fn x_at(i: u32) -> vec4<f32> {
    return x[i & 4095u] + parts4(i);
}

fn norm_w4(c: u32) -> vec4<f32> {
    return nw[c];
}

fn q4(i: u32) -> vec4<f32> {
    let b = 4u * (i - q_base);
    return vec4<f32>(y[b], y[b + 1u], y[b + 2u], y[b + 3u]);
}

fn store_out(i: u32, v: vec4<f32>) {
    out[i] = v;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let kvh = wid.x;
    let sub = lane % 2u;
    let hd = p.head_dim;
    wp = wpq;
    q_base = kvh * GROUP * HD4;
    if FOLD && kvh == 0u {
        for (var i = lane; i < wpq.k / 4u; i += WG) {
            fold_store(i, x_at(i));
        }
    }
    // The workgroup's rows, local row l: q of heads kvh * GROUP .. for l <
    // nq, then k, then v of KV head kvh; 16-row sets, 4 a pass (the set
    // count, 4 GROUP + 8, is a multiple of 4).
    let nq = GROUP * hd;
    let sets = (nq + 2u * hd) / ROWS;
    let pos = step.pos0 + step.n_tokens - 1u;
    // The counter starts at a per-lane value (0 in every lane): lavapipe
    // runs loops with a counter uniform across the lanes several times
    // slower (shaders/matvec_sg.wgsl `row_sums`).
    for (var g = lane / WG; g * (WG / 2u) < sets; g++) {
        let l0 = (g * (WG / 2u) + lane / 2u) * ROWS;
        var row0 = kvh * nq + l0;
        if l0 >= nq + hd {
            row0 = (p.n_heads + p.n_kv_heads + kvh) * hd + l0 - nq - hd;
        } else if l0 >= nq {
            row0 = (p.n_heads + kvh) * hd + l0 - nq;
        }
        let r = norm_scaled(row_sums(row0, sub, lane, 0u, 0u, wpq.k / 32u), wpq.k, wpq.aux);
        let s = set_sums(r);
        for (var i = sub; i < ROWS / 2u; i += 2u) {
            rope_store_at(l0 + 2u * i, row0 + 2u * i, pick(s.g0, s.g1, s.g2, s.g3, 2u * i),
                          pick(s.g0, s.g1, s.g2, s.g3, 2u * i + 1u), pos);
        }
    }
    // q in y and this position's k and v in the caches, for every lane.
    storageBarrier();
    workgroupBarrier();
    let o = attend(kvh, 0u, lane);
    store_outs(kvh, 0u, lane, o);
    wp = wpo;
    o_share(kvh, lane, o);
}
