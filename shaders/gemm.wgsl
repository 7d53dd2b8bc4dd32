// Y[t, row] (+)= dot(W[row, :], X[t, :]) for a batch of tokens (prefill).
// Tiles of 32 rows x 32 tokens; each of the 64 threads owns 4 x 4 outputs.
// Per 32-column step the weight tile is dequantized once into workgroup
// memory and reused by all 32 tokens. RESIDUAL accumulates into Y.
struct WParams {
    k: u32,
    n: u32,
    scale_offset: u32,
    aux: f32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
@group(0) @binding(2) var<storage, read> w: array<u32>;        // (n, k) repacked
@group(0) @binding(3) var<storage, read> x: array<f32>;        // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // (n_tokens, n)

override RESIDUAL: bool = false;

const TILE: u32 = 32u;
const LD: u32 = 33u; // padded leading dimension of the tiles

var<workgroup> ws: array<f32, 1056>; // (TILE rows, LD)
var<workgroup> xs: array<f32, 1056>; // (TILE tokens, LD)

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let n0 = wid.x * TILE;
    let t0 = wid.y * TILE;
    let n_tok = step.n_tokens;
    let tr = tid % 8u;
    let tt = tid / 8u;
    var acc: array<f32, 16>; // (4 rows, 4 tokens)
    let kblocks = wp.k / 32u;
    for (var kb = 0u; kb < kblocks; kb++) {
        // 32 rows x 4 units of 8 columns, two units per thread.
        for (var j = 0u; j < 2u; j++) {
            let idx = tid + j * 64u;
            let r = idx / 4u;
            let u = kb * 4u + idx % 4u;
            var wv: array<f32, 8>;
            if n0 + r < wp.n {
                wv = deq_unit(n0 + r, u);
            }
            for (var i = 0u; i < 8u; i++) {
                ws[r * LD + unit_col(u, i) - kb * 32u] = wv[i];
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
            xs[t * LD + c] = v;
        }
        workgroupBarrier();
        for (var c = 0u; c < 32u; c++) {
            for (var a = 0u; a < 4u; a++) {
                let wv = ws[(tr * 4u + a) * LD + c];
                for (var b = 0u; b < 4u; b++) {
                    acc[a * 4u + b] += wv * xs[(tt * 4u + b) * LD + c];
                }
            }
        }
        workgroupBarrier();
    }
    for (var a = 0u; a < 4u; a++) {
        let row = n0 + tr * 4u + a;
        for (var b = 0u; b < 4u; b++) {
            let t = t0 + tt * 4u + b;
            if row < wp.n && t < n_tok {
                var v = acc[a * 4u + b];
                if RESIDUAL {
                    v += y[t * wp.n + row];
                }
                y[t * wp.n + row] = v;
            }
        }
    }
}
