// Y[t, row] (+)= dot(W[row, :], X[t, :]) for a batch of tokens (prefill).
// Tiles of 32 rows x 32 tokens; each of the 64 threads owns 4 x 4 outputs
// (four vec4 accumulators).
// Per 32-column step the weight tile is dequantized once into workgroup
// memory and reused by all 32 tokens. RESIDUAL accumulates into Y.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> x: array<f32>;        // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_tokens, n)

override RESIDUAL: bool = false;

const TILE: u32 = 32u;

// Tiles stored column-major: element (c, i) at c * TILE + i, so 4
// consecutive rows (or tokens) of one column read as one vec4.
var<workgroup> ws: array<f32, 1024>; // (32 columns, TILE rows)
var<workgroup> xs: array<f32, 1024>; // (32 columns, TILE tokens)

fn ws4(i: u32) -> vec4<f32> {
    return vec4<f32>(ws[i], ws[i + 1u], ws[i + 2u], ws[i + 3u]);
}

fn xs4(i: u32) -> vec4<f32> {
    return vec4<f32>(xs[i], xs[i + 1u], xs[i + 2u], xs[i + 3u]);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let n0 = wid.x * TILE;
    let t0 = wid.y * TILE;
    let n_tok = step.n_tokens;
    let tr = tid % 8u; // rows tr*4 .. tr*4+3 of the tile
    let tt = tid / 8u; // tokens tt*4 .. tt*4+3 of the tile
    // Threads whose 4 tokens are all past the end skip the arithmetic (the
    // last tile of a short prompt); they still help load the tiles.
    let busy = t0 + tt * 4u < n_tok;
    var acc0 = vec4<f32>(0.0); // row tr*4 + 0, tokens tt*4 .. +3
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    let kblocks = wp.k / 32u;
    for (var kb = 0u; kb < kblocks; kb++) {
        // 32 rows x 4 units of 8 columns, two units per thread.
        for (var j = 0u; j < 2u; j++) {
            let idx = tid + j * 64u;
            let r = idx / 4u;
            let u = kb * 4u + idx % 4u;
            var wu = Unit(vec4<f32>(0.0), vec4<f32>(0.0));
            if n0 + r < wp.n {
                wu = unit_w(n0 + r, u);
            }
            let c = unit_x(u) - vec2<u32>(kb * 32u);
            for (var i = 0u; i < 4u; i++) {
                ws[(c.x + i) * TILE + r] = wu.lo[i];
                ws[(c.y + i) * TILE + r] = wu.hi[i];
            }
        }
        for (var j = 0u; j < 16u; j++) {
            let idx = tid + j * 64u;
            let t = idx / 32u;
            let c = idx % 32u;
            var v = 0.0;
            if t0 + t < n_tok {
                v = x[(t0 + t) * wp.k + kb * 32u + c];
            }
            xs[c * TILE + t] = v;
        }
        workgroupBarrier();
        if busy {
            for (var c = 0u; c < 32u; c++) {
                let wv = ws4(c * TILE + tr * 4u);
                let xv = xs4(c * TILE + tt * 4u);
                acc0 += wv.x * xv;
                acc1 += wv.y * xv;
                acc2 += wv.z * xv;
                acc3 += wv.w * xv;
            }
        }
        workgroupBarrier();
    }
    let accs = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var a = 0u; a < 4u; a++) {
        let row = n0 + tr * 4u + a;
        for (var b = 0u; b < 4u; b++) {
            let t = t0 + tt * 4u + b;
            if row < wp.n && t < n_tok {
                var v = accs[a][b];
                if RESIDUAL {
                    v += y[t * wp.n + row];
                }
                y[t * wp.n + row] = v;
            }
        }
    }
}
