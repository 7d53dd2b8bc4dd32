// y[row] (+)= dot(W[row, :], x[last token, :]) for one token (decode), on
// adapters with subgroups. Same bindings, parameters and variants
// (FUSE_NORM, SWIGLU, RESIDUAL) as matvec.wgsl, laid out for SIMD CPUs
// (lavapipe runs a workgroup's invocations as vector lanes):
// a workgroup is WG lanes, WG <= the adapter's smallest subgroup, so the
// whole workgroup is one subgroup and reductions run in registers (no
// workgroup memory, no barrier). Its lanes form WG / SPLIT sets of SPLIT
// lanes; a set owns ROWS rows, and its lanes stride over the 32-column
// blocks. SPLIT is picked per shape (ops::matvec_split) so the stride
// divides the block count: with k = 576 (18 blocks) and SPLIT = 8, the
// third pass would run 2 of 8 lanes. Each lane loads its block of x once
// (8 vec4, normed on the fly) and reuses it for all ROWS rows, so x costs
// ROWS times fewer loads than weights; with sets of 2 lanes on 8- or 4-lane
// subgroups (XSHARE) the sets also share them: the lanes load a pass's two
// blocks once between them and take their block through subgroupBroadcast
// (`share_block`), 4x (2x) fewer x loads. Loads, not arithmetic, bound CPU drivers, and one
// 16-byte load costs far less there than four 4-byte ones: weights are read
// as vec4 (`wvec4`), and a set's 16 scales of a block, adjacent in the
// scale region, as one to four vec4s (`set_scales`).
// The weight decoders `set_scales` and `blk_dot_set` are
// appended per type (shaders/quant_sg/).
// The row sums live here (`row_sums`, `set_sums`, `rows4s`); the entry
// points that own the bindings and write the sums out are
// shaders/entry/matvec_sg.wgsl (the matvec: it declares x, `X_UNIFORM`,
// `X_MASK`) and shaders/attn_o_sg.wgsl (attention's share of the O
// projection, on `rows4s` with blocks from registers). Both declare `wp`,
// the weight (shaders/weights/), `override WG` and the hooks `x_at`
// (vector i of x) and `norm_w4` (vector c of the norm weight).

// 32 consecutive values of x (columns 32j..32j+31 as v0..v7) and their sum.
// Plain fields, not an array: CPU drivers (lavapipe) spill dynamically
// indexed private arrays to memory.
struct XBlock {
    v0: vec4<f32>,
    v1: vec4<f32>,
    v2: vec4<f32>,
    v3: vec4<f32>,
    v4: vec4<f32>,
    v5: vec4<f32>,
    v6: vec4<f32>,
    v7: vec4<f32>,
    sum: f32,
}

override FUSE_NORM: bool = false;
override SWIGLU: bool = false;
override RESIDUAL: bool = false;
override SPLIT: u32 = 8u; // lanes per row set: a power of two dividing WG
// RoPE + KV append in the epilogue (`rope_store_at`, shaders/rope_store.wgsl):
// the set's rows go out in pairs. No SWIGLU or RESIDUAL with it.
override ROPE: bool = false;

const ROWS: u32 = 16u; // output rows per set (ops::MATVEC_SG_ROWS)
// Sets share x loads through broadcasts (share_block): WG 8 or 4 (lavapipe,
// SwiftShader), SPLIT 2 and an even block count (ops::matvec decides).
override XSHARE: bool = false;

// Block j of the token's x, times the norm weight when FUSE_NORM (the
// norm's scale comes at the end, `main`); with `count`, its square sum
// goes to `ss`.
fn load_block(xbase: u32, j: u32, ss: ptr<function, f32>, count: bool) -> XBlock {
    let b = xbase + j * 8u;
    var xb = XBlock(x_at(b), x_at(b + 1u), x_at(b + 2u), x_at(b + 3u),
                    x_at(b + 4u), x_at(b + 5u), x_at(b + 6u), x_at(b + 7u), 0.0);
    if FUSE_NORM {
        if count {
            *ss += dot(xb.v0, xb.v0) + dot(xb.v1, xb.v1) + dot(xb.v2, xb.v2)
                 + dot(xb.v3, xb.v3) + dot(xb.v4, xb.v4) + dot(xb.v5, xb.v5)
                 + dot(xb.v6, xb.v6) + dot(xb.v7, xb.v7);
        }
        let c = j * 8u;
        xb.v0 *= norm_w4(c);
        xb.v1 *= norm_w4(c + 1u);
        xb.v2 *= norm_w4(c + 2u);
        xb.v3 *= norm_w4(c + 3u);
        xb.v4 *= norm_w4(c + 4u);
        xb.v5 *= norm_w4(c + 5u);
        xb.v6 *= norm_w4(c + 6u);
        xb.v7 *= norm_w4(c + 7u);
    }
    xb.sum = dot(xb.v0 + xb.v1 + xb.v2 + xb.v3 + xb.v4 + xb.v5 + xb.v6 + xb.v7, vec4<f32>(1.0));
    return prep_block(xb);
}

// Vector c of the token's x, times the norm weight when FUSE_NORM, its
// square sum into `ss` (share_block loads each vector in one lane only, so
// the lanes' sums add up to the norm's).
fn x_normed(xbase: u32, c: u32, ss: ptr<function, f32>) -> vec4<f32> {
    let v = x_at(xbase + c);
    if FUSE_NORM {
        *ss += dot(v, v);
        return v * norm_w4(c);
    }
    return v;
}

// Block j0 + sub of the token's x (as load_block) for sets of 2 lanes: the
// pass's 16 vectors (blocks j0, j0 + 1) are loaded once across the lanes,
// vector m by lane m % WG, and handed out by broadcasts (constant lanes,
// hence the lists). CPU drivers run a load as a scalar loop over the lanes;
// a broadcast stays in registers.
fn share_block(xbase: u32, j0: u32, sub: u32, lane: u32, ss: ptr<function, f32>) -> XBlock {
    let c = j0 * 8u + lane;
    var xb: XBlock;
    if WG == 8u {
        let a = x_normed(xbase, c, ss);
        let b = x_normed(xbase, c + 8u, ss);
        let hi = sub == 1u;
        xb = XBlock(select(subgroupBroadcast(a, 0u), subgroupBroadcast(b, 0u), hi),
                    select(subgroupBroadcast(a, 1u), subgroupBroadcast(b, 1u), hi),
                    select(subgroupBroadcast(a, 2u), subgroupBroadcast(b, 2u), hi),
                    select(subgroupBroadcast(a, 3u), subgroupBroadcast(b, 3u), hi),
                    select(subgroupBroadcast(a, 4u), subgroupBroadcast(b, 4u), hi),
                    select(subgroupBroadcast(a, 5u), subgroupBroadcast(b, 5u), hi),
                    select(subgroupBroadcast(a, 6u), subgroupBroadcast(b, 6u), hi),
                    select(subgroupBroadcast(a, 7u), subgroupBroadcast(b, 7u), hi), 0.0);
    } else {
        // 4 lanes: vectors 4t + lane, t = 0..3; block 0 is t = 0, 1.
        let a = x_normed(xbase, c, ss);
        let b = x_normed(xbase, c + 4u, ss);
        let d = x_normed(xbase, c + 8u, ss);
        let e = x_normed(xbase, c + 12u, ss);
        let hi = sub == 1u;
        xb = XBlock(select(subgroupBroadcast(a, 0u), subgroupBroadcast(d, 0u), hi),
                    select(subgroupBroadcast(a, 1u), subgroupBroadcast(d, 1u), hi),
                    select(subgroupBroadcast(a, 2u), subgroupBroadcast(d, 2u), hi),
                    select(subgroupBroadcast(a, 3u), subgroupBroadcast(d, 3u), hi),
                    select(subgroupBroadcast(b, 0u), subgroupBroadcast(e, 0u), hi),
                    select(subgroupBroadcast(b, 1u), subgroupBroadcast(e, 1u), hi),
                    select(subgroupBroadcast(b, 2u), subgroupBroadcast(e, 2u), hi),
                    select(subgroupBroadcast(b, 3u), subgroupBroadcast(e, 3u), hi), 0.0);
    }
    xb.sum = dot(xb.v0 + xb.v1 + xb.v2 + xb.v3 + xb.v4 + xb.v5 + xb.v6 + xb.v7, vec4<f32>(1.0));
    return prep_block(xb);
}

// Block j of rows r..r+3 (clamped to `last`: their sums are never written),
// rows i0..i0+3 of their set, with the set's scales of the block in `s`.
fn rows4s(r: u32, j: u32, xb: XBlock, last: u32, s: SetScales, i0: u32) -> vec4<f32> {
    return vec4<f32>(blk_dot_set(min(r, last), j, xb, s, i0),
                     blk_dot_set(min(r + 1u, last), j, xb, s, i0 + 1u),
                     blk_dot_set(min(r + 2u, last), j, xb, s, i0 + 2u),
                     blk_dot_set(min(r + 3u, last), j, xb, s, i0 + 3u));
}

fn pick(a: vec4<f32>, b: vec4<f32>, c: vec4<f32>, d: vec4<f32>, r: u32) -> f32 {
    let v = select(select(a, b, r >= 4u), select(c, d, r >= 12u), r >= 8u);
    return v[r % 4u];
}

// A row set's sums: g* over rows row0..row0+15, u* (SWIGLU) over their up
// rows, from blocks jb <= j < je of the token's x at xbase; ss, the lane's
// share of x's square sum (FUSE_NORM). Each lane holds its blocks' share:
// `set_sums` adds up the set.
struct RowSums {
    g0: vec4<f32>,
    g1: vec4<f32>,
    g2: vec4<f32>,
    g3: vec4<f32>,
    u0: vec4<f32>,
    u1: vec4<f32>,
    u2: vec4<f32>,
    u3: vec4<f32>,
    ss: f32,
}

fn row_sums(row0: u32, sub: u32, lane: u32, xbase: u32, jb: u32, je: u32) -> RowSums {
    var ss = 0.0;
    let last = wp.n - 1u;
    var g0 = vec4<f32>(0.0);
    var g1 = vec4<f32>(0.0);
    var g2 = vec4<f32>(0.0);
    var g3 = vec4<f32>(0.0);
    var u0 = vec4<f32>(0.0);
    var u1 = vec4<f32>(0.0);
    var u2 = vec4<f32>(0.0);
    var u3 = vec4<f32>(0.0);
    // The loop counter must start at `sub`: a counter uniform across the
    // lanes makes lavapipe run this loop 4x slower (measured). With XSHARE
    // every lane still runs the same passes (the block count is even), as
    // the broadcasts need.
    for (var j = jb + sub; j < je; j += SPLIT) {
        var xb: XBlock;
        if XSHARE {
            xb = share_block(xbase, j - sub, sub, lane, &ss);
        } else {
            // Every set loads each block once: count the first set's.
            xb = load_block(xbase, j, &ss, lane < SPLIT);
        }
        // The set's 16 scales of block j in one go (quant::repack keeps
        // them adjacent); a set past the last row reads the last tile's.
        let sg = set_scales(min(row0, last & ~15u), j);
        g0 += rows4s(row0, j, xb, last, sg, 0u);
        g1 += rows4s(row0 + 4u, j, xb, last, sg, 4u);
        g2 += rows4s(row0 + 8u, j, xb, last, sg, 8u);
        g3 += rows4s(row0 + 12u, j, xb, last, sg, 12u);
        if SWIGLU {
            // The up rows sit n rows below the gate rows, a whole number
            // of scale tiles (ops::matvec takes this kernel only then).
            let ru = row0 + wp.n;
            let lu = last + wp.n;
            let su = set_scales(min(ru, lu & ~15u), j);
            u0 += rows4s(ru, j, xb, lu, su, 0u);
            u1 += rows4s(ru + 4u, j, xb, lu, su, 4u);
            u2 += rows4s(ru + 8u, j, xb, lu, su, 8u);
            u3 += rows4s(ru + 12u, j, xb, lu, su, 12u);
        }
    }
    return RowSums(g0, g1, g2, g3, u0, u1, u2, u3, ss);
}

// FUSE_NORM: rmsnorm(x) * nw = scale * (x * nw), one scale for the token
// (over k columns, epsilon eps), so the rows sum over x * nw and take the
// scale at the end, with the square sum from the blocks they loaded.
fn norm_scaled(r: RowSums, k: u32, eps: f32) -> RowSums {
    let scale = inverseSqrt(subgroupAdd(r.ss) / f32(k) + eps);
    return RowSums(r.g0 * scale, r.g1 * scale, r.g2 * scale, r.g3 * scale,
                   r.u0 * scale, r.u1 * scale, r.u2 * scale, r.u3 * scale, r.ss);
}

// The set's sums in every lane of the set (a butterfly; every lane of the
// workgroup must call it).
fn set_sums(r: RowSums) -> RowSums {
    var s = r;
    for (var o = 1u; o < SPLIT; o *= 2u) {
        s.g0 += subgroupShuffleXor(s.g0, o);
        s.g1 += subgroupShuffleXor(s.g1, o);
        s.g2 += subgroupShuffleXor(s.g2, o);
        s.g3 += subgroupShuffleXor(s.g3, o);
        if SWIGLU {
            s.u0 += subgroupShuffleXor(s.u0, o);
            s.u1 += subgroupShuffleXor(s.u1, o);
            s.u2 += subgroupShuffleXor(s.u2, o);
            s.u3 += subgroupShuffleXor(s.u3, o);
        }
    }
    return s;
}
