// Picks the next token from the logits of the step's last token and writes
// it to tokens[pos0 + n_tokens], where the next step's embedding reads it.
// One workgroup (WG invocations). Order as llama.cpp's default chain:
// repetition penalty, then top-k, top-p and min-p on the untempered
// distribution, then temperature and a seeded draw. temperature <= 0 is greedy (argmax).
// Thresholds are found by bisection on the logit value instead of sorting:
// no scratch memory, and the same kept set as a sort up to exact ties.
struct SampleParams {
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> p: SampleParams;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // (vocab,)
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>; // (ctx,)

// Invocations: 256 on GPUs; on CPU drivers as few as llvmpipe's loop
// limit allows (ops::cpu_sample_wg says why: 64 for a 49152 vocabulary).
override WG: u32 = 256u;
const BISECT_STEPS: u32 = 32u;

var<workgroup> rf: array<f32, WG>;
var<workgroup> ru: array<u32, WG>;

fn sum_f(tid: u32, v: f32) -> f32 {
    rf[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            rf[tid] += rf[tid + s];
        }
        workgroupBarrier();
    }
    let r = rf[0];
    workgroupBarrier();
    return r;
}

// Max value; ties resolved to the lowest index. Returns (value, index).
fn argmax(tid: u32) -> vec2<u32> {
    var best = -3.4e38;
    var bi = 0u;
    for (var i = tid; i < p.vocab; i += WG) {
        let v = logits[i];
        if v > best {
            best = v;
            bi = i;
        }
    }
    rf[tid] = best;
    ru[tid] = bi;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            let ov = rf[tid + s];
            let oi = ru[tid + s];
            if ov > rf[tid] || (ov == rf[tid] && oi < ru[tid]) {
                rf[tid] = ov;
                ru[tid] = oi;
            }
        }
        workgroupBarrier();
    }
    let r = vec2<u32>(bitcast<u32>(rf[0]), ru[0]);
    workgroupBarrier();
    return r;
}

fn count_ge(tid: u32, thr: f32) -> f32 {
    var c = 0.0;
    for (var i = tid; i < p.vocab; i += WG) {
        c += select(0.0, 1.0, logits[i] >= thr);
    }
    return sum_f(tid, c);
}

fn mass_ge(tid: u32, thr: f32, floor_v: f32, m: f32) -> f32 {
    var c = 0.0;
    for (var i = tid; i < p.vocab; i += WG) {
        let v = logits[i];
        if v >= thr && v >= floor_v {
            c += exp(v - m);
        }
    }
    return sum_f(tid, c);
}

fn pcg(v: u32) -> u32 {
    let s = v * 747796405u + 2891336453u;
    let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
    return (w >> 22u) ^ w;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
    let end = step.pos0 + step.n_tokens; // history is tokens[0..end)
    // Repetition penalty, once per distinct token of the window (llama.cpp).
    if step.rep_penalty != 1.0 && step.rep_last_n > 0u {
        let first = end - min(end, step.rep_last_n);
        for (var j = first + tid; j < end; j += WG) {
            let id = tokens[j];
            var seen = false;
            for (var e = first; e < j; e++) {
                if tokens[e] == id {
                    seen = true;
                    break;
                }
            }
            if !seen && id < p.vocab {
                let v = logits[id];
                logits[id] = select(v * step.rep_penalty, v / step.rep_penalty, v > 0.0);
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
    let am = argmax(tid);
    if step.temperature <= 0.0 {
        if tid == 0u {
            tokens[end] = am.y;
        }
        return;
    }
    let m = bitcast<f32>(am.x);
    // Lowest logit kept so far; everything below it is filtered out.
    var floor_v = -3.4e38;
    if step.top_k > 0u && step.top_k < p.vocab {
        // Largest threshold keeping at least top_k tokens.
        var lo = m - 1.0e4;
        var hi = m;
        for (var it = 0u; it < BISECT_STEPS; it++) {
            let mid = 0.5 * (lo + hi);
            if count_ge(tid, mid) >= f32(step.top_k) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        floor_v = lo;
    }
    if step.top_p < 1.0 {
        let total = mass_ge(tid, floor_v, floor_v, m);
        var lo = floor_v;
        if lo < m - 1.0e4 {
            lo = m - 1.0e4;
        }
        var hi = m;
        for (var it = 0u; it < BISECT_STEPS; it++) {
            let mid = 0.5 * (lo + hi);
            if mass_ge(tid, mid, floor_v, m) >= step.top_p * total {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        floor_v = max(floor_v, lo);
    }
    if step.min_p > 0.0 {
        floor_v = max(floor_v, m + log(step.min_p));
    }
    // Draw: each thread owns a contiguous slice of the vocabulary.
    let inv_t = 1.0 / step.temperature;
    let per = (p.vocab + WG - 1u) / WG;
    let lo_i = tid * per;
    let hi_i = min(lo_i + per, p.vocab);
    var part = 0.0;
    for (var i = lo_i; i < hi_i; i++) {
        let v = logits[i];
        if v >= floor_v {
            part += exp((v - m) * inv_t);
        }
    }
    rf[tid] = part;
    workgroupBarrier();
    if tid == 0u {
        var total = 0.0;
        for (var k = 0u; k < WG; k++) {
            total += rf[k];
        }
        let r = pcg(step.seed ^ pcg(step.counter + 0x9e3779b9u));
        let goal = f32(r >> 8u) / 16777216.0 * total;
        var acc = 0.0;
        var chosen = am.y;
        var k = 0u;
        for (; k < WG; k++) {
            if acc + rf[k] > goal {
                break;
            }
            acc += rf[k];
        }
        if k < WG {
            let s = k * per;
            let e = min(s + per, p.vocab);
            for (var i = s; i < e; i++) {
                let v = logits[i];
                if v >= floor_v {
                    acc += exp((v - m) * inv_t);
                    chosen = i;
                    if acc > goal {
                        break;
                    }
                }
            }
        }
        tokens[end] = chosen;
    }
}
