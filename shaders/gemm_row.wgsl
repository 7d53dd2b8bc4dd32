// Y[t, row] (+)= dot(W[row, :], X[t, :]) for a batch of tokens (prefill),
// one invocation per (4 rows, 16 tokens) and no workgroup memory or
// barriers: the layout for software adapters (see matvec_row.wgsl). Why a
// 4 x 16 block per invocation: CPU drivers run x's loads as a scalar loop
// over the lanes, so they, not the arithmetic, set the speed; each x vector
// loaded here serves 4 rows, and each weight unit dequantized serves 16
// tokens, taken as two groups of 8 (x_unit), so only one group's x is live
// at a time (~5-10% faster a prefill chunk on lavapipe than 8 tokens,
// `profile_decode -- --prefill 64`). TILE = 8 keeps one group where the
// doubled shader costs more to compile than it saves (SwiftShader).
// Same bindings as gemm.wgsl (and, with NORM, the norm weight after them).
// The entry point and `x_unit`, which loads x, are appended from
// shaders/gemm_x/: plain loads, or one load per lane shared through
// subgroupBroadcast where subgroups have >= 8 lanes; so is `mac_block`,
// a block's products in float (gemm_x/float.wgsl) or, for Q4_1 with x
// rounded to Q8_1, in integers (gemm_x/q8_1.wgsl).
//
// Three fusions save the prefill a dispatch each (and a pass over x, over
// [gate; up] or over q|k|v in memory), as the decode matvec does:
// - NORM: x is RMS-normed on the fly. x_unit multiplies each x vector by
//   the norm weight (`norm_w`) and adds the raw squares to the token's
//   square sum; the sums of each row are scaled by 1/rms at the end
//   (the scale is common to the whole row, so it commutes with the dot).
// - SWIGLU: w holds [gate; up] (wp.n = 2 n_ff rows) and y is
//   silu(gate) * up, (n_tokens, n_ff): an invocation's 4 rows are two
//   gate rows and their up rows.
// - ROPE: w holds [q; k; v]; RoPE and the KV append in the epilogue
//   (`rope_store_one`, shaders/rope_store.wgsl). Adjacent rows sit in
//   adjacent lanes (row parity = lane parity), so each lane gets its pair
//   partner's sums through `pair_partner` (a subgroup shuffle; x over
//   subgroups only). Why not two pairs per invocation: with adjacent rows
//   in one invocation the weight fetches of a subgroup spread over twice
//   the rows and the QKV GEMM ran ~50% slower on lavapipe.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
// binding 3: x, (n_tokens, k): storage, or a uniform view of a tile's
// tokens from wp.x0 (or two, the second bound last: gpu::kernels,
// `Kernel::Gemm { x_uniform, x_split }`), read through `x_at`.
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n)

override RESIDUAL: bool = false;
override SWIGLU: bool = false;
override NORM: bool = false; // wp.aux: the norm's epsilon
override ROPE: bool = false;

const LANES: u32 = 32u; // invocations per workgroup
const RPL: u32 = 4u;    // rows per invocation: row r of lane l is base + r * LANES + l
const TOK: u32 = 8u;    // tokens per x group (x_unit)
// Tokens per invocation (the grid's token tile, gpu::Kernel::gemm_tokens):
// 16 (two x groups) or 8 (one: half the shader, for slow compilers).
override TILE: u32 = 16u;

// The 8 columns of one unit for 8 tokens: lo[j], hi[j] are token j's x at
// unit_x(u).x.. and unit_x(u).y..
struct XUnit {
    lo: array<vec4<f32>, 8>,
    hi: array<vec4<f32>, 8>,
}

// Partial sums of one row for the 8 tokens.
struct Acc {
    a: vec4<f32>, // tokens t0 .. t0 + 3
    b: vec4<f32>, // tokens t0 + 4 .. t0 + 7
}

// Token j's sum.
fn token_sum(s: Acc, j: u32) -> f32 {
    return select(s.b[j % 4u], s.a[j % 4u], j < 4u);
}

fn mac(s: Acc, wu: Unit, xu: XUnit) -> Acc {
    let a = vec4<f32>(
        dot(wu.lo, xu.lo[0]) + dot(wu.hi, xu.hi[0]),
        dot(wu.lo, xu.lo[1]) + dot(wu.hi, xu.hi[1]),
        dot(wu.lo, xu.lo[2]) + dot(wu.hi, xu.hi[2]),
        dot(wu.lo, xu.lo[3]) + dot(wu.hi, xu.hi[3]),
    );
    let b = vec4<f32>(
        dot(wu.lo, xu.lo[4]) + dot(wu.hi, xu.hi[4]),
        dot(wu.lo, xu.lo[5]) + dot(wu.hi, xu.hi[5]),
        dot(wu.lo, xu.lo[6]) + dot(wu.hi, xu.hi[6]),
        dot(wu.lo, xu.lo[7]) + dot(wu.hi, xu.hi[7]),
    );
    return Acc(s.a + a, s.b + b);
}

// The 4 rows' sums.
struct Acc4 {
    r0: Acc,
    r1: Acc,
    r2: Acc,
    r3: Acc,
}

// Unit uu (a constant) of block j of the 4 rows (w0..w3), for the 8 tokens;
// `sq`: the group's square sums (NORM, see x_unit).
fn mac4(s: Acc4, w0: WBlk, w1: WBlk, w2: WBlk, w3: WBlk, j: u32, uu: u32,
        base: u32, last: u32, k4: u32, lane: u32, sq: ptr<function, Acc>) -> Acc4 {
    let xu = x_unit(base, last, k4, unit_x(4u * j + uu) / 4u, lane, sq);
    return Acc4(mac(s.r0, blk_unit(w0, uu), xu), mac(s.r1, blk_unit(w1, uu), xu),
                mac(s.r2, blk_unit(w2, uu), xu), mac(s.r3, blk_unit(w3, uu), xu));
}

fn store(s: Acc, row: u32, t0: u32, last: u32) {
    if row >= wp.n {
        return;
    }
    for (var j = 0u; j < TOK; j++) {
        if j > last {
            break;
        }
        let i = (t0 + j) * wp.n + row;
        var v = token_sum(s, j);
        if RESIDUAL {
            v += y[i];
        }
        y[i] = v;
    }
}

// SWIGLU: h[t, o] = silu(g) * u for the 8 tokens; y is (n_tokens, wp.n / 2).
fn store_swiglu(g: Acc, u: Acc, o: u32, t0: u32, last: u32) {
    let nh = wp.n / 2u;
    if o >= nh {
        return;
    }
    let h = Acc(g.a / (1.0 + exp(-g.a)) * u.a, g.b / (1.0 + exp(-g.b)) * u.b);
    for (var j = 0u; j < TOK; j++) {
        if j > last {
            break;
        }
        y[(t0 + j) * nh + o] = token_sum(h, j);
    }
}

// ROPE: row `row` of the 8 tokens; `o`: its pair partner's sums (every
// lane computes them, pair_partner being a subgroup operation).
fn store_rope(s: Acc, o: Acc, row: u32, t0: u32, last: u32) {
    if row >= wp.n {
        return;
    }
    for (var j = 0u; j < TOK; j++) {
        if j > last {
            break;
        }
        let t = t0 + j;
        rope_store_one(t * wp.n + row, row, token_sum(s, j), token_sum(o, j), step.pos0 + t);
    }
}

fn partner(s: Acc) -> Acc {
    return Acc(pair_partner(s.a), pair_partner(s.b));
}

// Sums scaled per token (NORM's 1/rms).
fn scaled(s: Acc, c: Acc) -> Acc {
    return Acc(s.a * c.a, s.b * c.b);
}

// NORM: each token's 1/rms from a group's square sums (x_unit's share
// of them, `sq_total`'s broadcasts: every lane must call it).
fn norm_scale(sq: Acc) -> Acc {
    let tot = sq_total(sq);
    let n = f32(wp.k);
    return Acc(inverseSqrt(tot.a / n + wp.aux), inverseSqrt(tot.b / n + wp.aux));
}

// A group's sums of the invocation's 4 rows (row0 + r * LANES; with
// SWIGLU gate rows row0, row0 + LANES and their up rows), scaled by the
// tokens' 1/rms `c` when NORM.
fn store4(s: Acc4, row0: u32, t0: u32, last: u32, c: Acc) {
    var r = s;
    if NORM {
        r = Acc4(scaled(s.r0, c), scaled(s.r1, c), scaled(s.r2, c), scaled(s.r3, c));
    }
    if SWIGLU {
        store_swiglu(r.r0, r.r2, row0, t0, last);
        store_swiglu(r.r1, r.r3, row0 + LANES, t0, last);
        return;
    }
    if ROPE {
        let o = Acc4(partner(r.r0), partner(r.r1), partner(r.r2), partner(r.r3));
        store_rope(r.r0, o.r0, row0, t0, last);
        store_rope(r.r1, o.r1, row0 + LANES, t0, last);
        store_rope(r.r2, o.r2, row0 + 2u * LANES, t0, last);
        store_rope(r.r3, o.r3, row0 + 3u * LANES, t0, last);
        return;
    }
    store(r.r0, row0, t0, last);
    store(r.r1, row0 + LANES, t0, last);
    store(r.r2, row0 + 2u * LANES, t0, last);
    store(r.r3, row0 + 3u * LANES, t0, last);
}

// The invocation's 4 rows x TILE tokens; `lane` is its subgroup lane (0
// without subgroups). No early exit: every lane must reach x_unit's
// broadcasts, so rows past the end reread the last row and store drops them.
fn gemm_rows(wid: vec3<u32>, tid: u32, lane: u32) {
    var row0 = wid.x * LANES * RPL + tid;
    let t0 = wp.x0 + wid.y * TILE; // one tile per dispatch with x as a uniform (x0 its first token)
    if t0 >= step.n_tokens {
        return; // uniform over the workgroup
    }
    var rows = min(vec4<u32>(0u, 1u, 2u, 3u) * LANES + row0, vec4<u32>(wp.n - 1u));
    if SWIGLU {
        // Outputs row0 and row0 + LANES: their gate rows, then their up rows.
        let nh = wp.n / 2u;
        row0 = wid.x * LANES * 2u + tid;
        let o = min(vec2<u32>(row0, row0 + LANES), vec2<u32>(nh - 1u));
        rows = vec4<u32>(o, o + nh);
    }
    let last = step.n_tokens - 1u - t0; // tokens past it reread it; dropped in store
    let k4 = x_stride(wp.k); // x's vec4s per token (shaders/gemm_x/)
    let base = (t0 - wp.x0) * k4; // first vec4 of token t0's row of x
    // The second group: tokens t0 + 8.. (all the last token when past it).
    let t1 = min(t0 + TOK, step.n_tokens - 1u);
    let last1 = step.n_tokens - 1u - t1;
    let base1 = (t1 - wp.x0) * k4;
    let z = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var s = Acc4(z, z, z, z);
    var v = Acc4(z, z, z, z);
    var sq = z; // square sums of the two groups (NORM)
    var sq1 = z;
    // Block by block: each row's block is fetched once (blk_w) and its 4
    // units decoded from registers (`mac_block`: shaders/gemm_x/); on CPU
    // drivers the fetches, not the arithmetic, set the speed.
    for (var j = 0u; j < wp.k / 32u; j++) {
        let w0 = blk_w(rows.x, j);
        let w1 = blk_w(rows.y, j);
        let w2 = blk_w(rows.z, j);
        let w3 = blk_w(rows.w, j);
        s = mac_block(s, w0, w1, w2, w3, j, base, last, k4, lane, &sq);
        if TILE > TOK {
            v = mac_block(v, w0, w1, w2, w3, j, base1, last1, k4, lane, &sq1);
        }
    }
    var c = z;
    var c1 = z;
    if NORM {
        c = norm_scale(sq);
        if TILE > TOK {
            c1 = norm_scale(sq1);
        }
    }
    store4(s, row0, t0, last, c);
    if TILE > TOK && t0 + TOK < step.n_tokens {
        store4(v, row0, t1, last1, c1);
    }
}
