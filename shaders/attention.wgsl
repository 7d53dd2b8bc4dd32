// Causal grouped-query attention of the step's tokens over the KV cache.
// One workgroup per (head, token): scores for a chunk of keys go to
// workgroup memory, softmax is kept online across chunks (running max and
// sum), and each thread accumulates its own output dims.
// AttnParams: shaders/attn_params.wgsl.

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: AttnParams;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;      // (n_tokens, (n_heads + 2 n_kv) * head_dim)
// bindings 3, 4: the K and V caches kc, vc (n_kv_heads, ctx, head_dim / 2)
// f16 pairs, read through k_word / v_word: declared by gpu::kernels
// (shaders/kv/)
@group(0) @binding(5) var<storage, read_write> out: array<f32>; // (n_tokens, n_heads * head_dim)

const WG: u32 = 64u;
const CHUNK: u32 = 256u;

var<workgroup> qs: array<f32, 256>;
var<workgroup> sc: array<f32, CHUNK>;
var<workgroup> red: array<f32, WG>;

fn reduce(tid: u32, v: f32, is_max: bool) -> f32 {
    red[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            if is_max {
                red[tid] = max(red[tid], red[tid + s]);
            } else {
                red[tid] += red[tid + s];
            }
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let h = wid.x;
    let t = wid.y;
    let hd = p.head_dim;
    let kvh = h / (p.n_heads / p.n_kv_heads);
    let stride = (p.n_heads + 2u * p.n_kv_heads) * hd;
    let keys = key_range(t);
    let start = keys.x;
    let n_keys = keys.y;
    for (var d = tid; d < hd; d += WG) {
        qs[d] = qkv[t * stride + h * hd + d];
    }
    workgroupBarrier();
    var m = -3.0e38;
    var l = 0.0;
    var acc: array<f32, 4>; // dims tid, tid + WG, ...
    let kv0 = kvh * p.ctx;
    for (var j0 = start; j0 < n_keys; j0 += CHUNK) {
        let len = min(CHUNK, n_keys - j0);
        var lm = -3.0e38;
        for (var j = tid; j < len; j += WG) {
            let kb = (kv0 + j0 + j) * hd / 2u;
            var s = 0.0;
            for (var w = 0u; w < hd / 2u; w++) {
                let k = unpack2x16float(k_word(kb + w));
                s += qs[2u * w] * k.x + qs[2u * w + 1u] * k.y;
            }
            s *= p.scale;
            sc[j] = s;
            lm = max(lm, s);
        }
        let m_new = max(m, reduce(tid, lm, true));
        var ls = 0.0;
        for (var j = tid; j < len; j += WG) {
            let e = exp(sc[j] - m_new);
            sc[j] = e;
            ls += e;
        }
        let cs = reduce(tid, ls, false);
        let corr = exp(m - m_new);
        l = l * corr + cs;
        for (var i = 0u; i < 4u; i++) {
            let d = tid + i * WG;
            if d < hd {
                var a = acc[i] * corr;
                for (var j = 0u; j < len; j++) {
                    let v = unpack2x16float(v_word(((kv0 + j0 + j) * hd + d) / 2u));
                    a += sc[j] * select(v.x, v.y, (d & 1u) == 1u);
                }
                acc[i] = a;
            }
        }
        m = m_new;
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i++) {
        let d = tid + i * WG;
        if d < hd {
            out[(t * p.n_heads + h) * hd + d] = acc[i] / l;
        }
    }
}
