// Y[t, row] (+)= dot(W[row, :], X[t, :]) for a batch of tokens (prefill),
// one invocation per (row, 8 tokens) and no workgroup memory or barriers:
// the layout for software adapters (see matvec_row.wgsl). Each weight unit
// is dequantized once and used for 8 tokens. Same bindings as gemm.wgsl.
@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> wp: WParams;
// binding 2: the weight, declared by shaders/weights/ (buffer or texture)
@group(0) @binding(3) var<storage, read> x: array<vec4<f32>>;        // (n_tokens, k)
@group(0) @binding(4) var<storage, read_write> y: array<f32>;        // (n_tokens, n)

override RESIDUAL: bool = false;

const ROWS: u32 = 32u; // rows per workgroup, one per invocation
const TOK: u32 = 8u;   // tokens per invocation (the grid's token tile)

fn dot8(wu: Unit, o: u32, c: vec2<u32>) -> f32 {
    return dot(wu.lo, x[o + c.x]) + dot(wu.hi, x[o + c.y]);
}

@compute @workgroup_size(32)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wid.x * ROWS + tid;
    let t0 = wid.y * TOK;
    if row >= wp.n || t0 >= step.n_tokens {
        return; // no barrier below: leaving early is safe
    }
    let last = step.n_tokens - 1u - t0; // tokens past it reread it; dropped below
    let k4 = wp.k / 4u;
    let base = t0 * k4;
    // First vec4 of each of the 8 tokens' rows of x.
    let oa = base + min(vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(last)) * k4;
    let ob = base + min(vec4<u32>(4u, 5u, 6u, 7u), vec4<u32>(last)) * k4;
    var a = vec4<f32>(0.0); // tokens t0 .. t0 + 3
    var b = vec4<f32>(0.0); // tokens t0 + 4 .. t0 + 7
    let units = wp.k / 8u;
    for (var u = 0u; u < units; u++) {
        let wu = unit_w(row, u);
        let c = unit_x(u) / 4u;
        a += vec4<f32>(dot8(wu, oa.x, c), dot8(wu, oa.y, c), dot8(wu, oa.z, c), dot8(wu, oa.w, c));
        b += vec4<f32>(dot8(wu, ob.x, c), dot8(wu, ob.y, c), dot8(wu, ob.z, c), dot8(wu, ob.w, c));
    }
    for (var j = 0u; j < TOK; j++) {
        if j > last {
            break;
        }
        let i = (t0 + j) * wp.n + row;
        var v = select(b[j % 4u], a[j % 4u], j < 4u);
        if RESIDUAL {
            v += y[i];
        }
        y[i] = v;
    }
}
