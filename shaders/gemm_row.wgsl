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
// Same bindings as gemm.wgsl. The entry point and `x_unit`, which loads x,
// are appended from shaders/gemm_x/: plain loads, or one load per lane
// shared through subgroupBroadcast where subgroups have >= 8 lanes.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;        // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n)

override RESIDUAL: bool = false;

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

// Unit uu (a constant) of block j of the 4 rows (w0..w3), for the 8 tokens.
fn mac4(s: Acc4, w0: WBlk, w1: WBlk, w2: WBlk, w3: WBlk, j: u32, uu: u32,
        base: u32, last: u32, k4: u32, lane: u32) -> Acc4 {
    let xu = x_unit(base, last, k4, unit_x(4u * j + uu) / 4u, lane);
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
        var v = select(s.b[j % 4u], s.a[j % 4u], j < 4u);
        if RESIDUAL {
            v += y[i];
        }
        y[i] = v;
    }
}

// A group's sums of the invocation's 4 rows (row0 + r * LANES).
fn store4(s: Acc4, row0: u32, t0: u32, last: u32) {
    store(s.r0, row0, t0, last);
    store(s.r1, row0 + LANES, t0, last);
    store(s.r2, row0 + 2u * LANES, t0, last);
    store(s.r3, row0 + 3u * LANES, t0, last);
}

// The invocation's 4 rows x TILE tokens; `lane` is its subgroup lane (0
// without subgroups). No early exit: every lane must reach x_unit's
// broadcasts, so rows past the end reread the last row and store drops them.
fn gemm_rows(wid: vec3<u32>, tid: u32, lane: u32) {
    let row0 = wid.x * LANES * RPL + tid;
    let t0 = wid.y * TILE;
    if t0 >= step.n_tokens {
        return; // uniform over the workgroup
    }
    let rows = min(vec4<u32>(0u, 1u, 2u, 3u) * LANES + row0, vec4<u32>(wp.n - 1u));
    let last = step.n_tokens - 1u - t0; // tokens past it reread it; dropped in store
    let k4 = wp.k / 4u;
    let base = t0 * k4; // first vec4 of token t0's row of x
    // The second group: tokens t0 + 8.. (all the last token when past it).
    let t1 = min(t0 + TOK, step.n_tokens - 1u);
    let last1 = step.n_tokens - 1u - t1;
    let base1 = t1 * k4;
    let z = Acc(vec4<f32>(0.0), vec4<f32>(0.0));
    var s = Acc4(z, z, z, z);
    var v = Acc4(z, z, z, z);
    // Block by block: each row's block is fetched once (blk_w) and its 4
    // units decoded from registers; on CPU drivers the fetches, not the
    // arithmetic, set the speed.
    for (var j = 0u; j < wp.k / 32u; j++) {
        let w0 = blk_w(rows.x, j);
        let w1 = blk_w(rows.y, j);
        let w2 = blk_w(rows.z, j);
        let w3 = blk_w(rows.w, j);
        s = mac4(s, w0, w1, w2, w3, j, 0u, base, last, k4, lane);
        s = mac4(s, w0, w1, w2, w3, j, 1u, base, last, k4, lane);
        s = mac4(s, w0, w1, w2, w3, j, 2u, base, last, k4, lane);
        s = mac4(s, w0, w1, w2, w3, j, 3u, base, last, k4, lane);
        if TILE > TOK {
            v = mac4(v, w0, w1, w2, w3, j, 0u, base1, last1, k4, lane);
            v = mac4(v, w0, w1, w2, w3, j, 1u, base1, last1, k4, lane);
            v = mac4(v, w0, w1, w2, w3, j, 2u, base1, last1, k4, lane);
            v = mac4(v, w0, w1, w2, w3, j, 3u, base1, last1, k4, lane);
        }
    }
    store4(s, row0, t0, last);
    if TILE > TOK && t0 + TOK < step.n_tokens {
        store4(v, row0, t1, last1);
    }
}
