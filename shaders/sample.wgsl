// Picks the next token from the logits of the step's last token and writes
// it to tokens[pos0 + n_tokens], where the next step's embedding reads it.
// One workgroup (WG invocations). Order as llama.cpp's default chain:
// repetition penalty, then top-k, top-p and min-p on the untempered
// distribution, then temperature and a seeded draw. temperature <= 0 is greedy (argmax).
// Thresholds are found by bisection on the logit value instead of sorting:
// the same kept set as a sort up to exact ties. The bisections (~65
// steps, each a reduction over what they search) walk a compact list of
// candidates, not the vocabulary: a few counting rounds first find a
// threshold that is a safe lower bound of the kept set and keeps at most
// CAP tokens, and one more pass copies those tokens out in vocabulary
// order (so a seed draws the same token however the work is split).
// Where no such threshold exists (flat distributions) the bisections
// walk the whole vocabulary.
struct SampleParams {
    vocab: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

// The step and parameters as read-only storage, not uniforms. Why: Mesa's
// lavapipe (22.x) inlines uniform values that branches depend on and, where
// that removes most of a shader (here: temperature <= 0 drops all but the
// argmax), compiles the shader again at every dispatch that follows another
// pipeline: ~4 ms a token, a tenth of lavapipe's decode step (measured with
// examples/profile_decode). It does not inline storage.
@group(0) @binding(0) var<storage, read> step: Step;
@group(0) @binding(1) var<storage, read> p: SampleParams;
@group(0) @binding(2) var<storage, read_write> logits: array<f32>; // (vocab,)
@group(0) @binding(3) var<storage, read_write> tokens: array<u32>; // (ctx,)

// Invocations: 256 on GPUs; on CPU drivers as few as llvmpipe's loop
// limit allows (ops::cpu_sample_wg says why: 64 for a 49152 vocabulary).
override WG: u32 = 256u;
const BISECT_STEPS: u32 = 32u;
// Most candidates the searches walk (8 KiB of workgroup memory: with the
// reduction arrays, 14 KiB at WG 256, under WebGPU's 16 KiB).
const CAP: u32 = 1024u;
// Counting rounds for the candidate threshold, 4 thresholds each.
const ROUNDS: u32 = 4u;
const LOWEST: f32 = -3.4e38;

var<workgroup> rf: array<f32, WG>;
var<workgroup> ru: array<u32, WG>;
var<workgroup> r4: array<vec4<f32>, WG>;
// The candidates: logit and vocabulary index, in vocabulary order.
var<workgroup> cand_v: array<f32, CAP>;
var<workgroup> cand_i: array<u32, CAP>;
// Decisions that barriers depend on, read back with workgroupUniformLoad.
var<workgroup> w_go: u32;
var<workgroup> w_n: u32;

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

fn sum4(tid: u32, v: vec4<f32>) -> vec4<f32> {
    r4[tid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if tid < s {
            r4[tid] += r4[tid + s];
        }
        workgroupBarrier();
    }
    let r = r4[0];
    workgroupBarrier();
    return r;
}

// Max value; ties resolved to the lowest index. Returns (value, index).
fn argmax(tid: u32) -> vec2<u32> {
    var best = LOWEST;
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

// Value i of what the searches walk: the candidates, or the vocabulary.
fn val(i: u32, compact: bool) -> f32 {
    if compact {
        return cand_v[i];
    }
    return logits[i];
}

fn count_ge(tid: u32, thr: f32, n: u32, compact: bool) -> f32 {
    var c = 0.0;
    for (var i = tid; i < n; i += WG) {
        c += select(0.0, 1.0, val(i, compact) >= thr);
    }
    return sum_f(tid, c);
}

fn mass_ge(tid: u32, thr: f32, floor_v: f32, m: f32, n: u32, compact: bool) -> f32 {
    var c = 0.0;
    for (var i = tid; i < n; i += WG) {
        let v = val(i, compact);
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
    let top_k_on = step.top_k > 0u && step.top_k < p.vocab;
    let top_p_on = step.top_p < 1.0;
    let min_p_on = step.min_p > 0.0;
    // The chain's first filter says which thresholds lie at or below the
    // kept set's floor (safe: every kept token is a candidate):
    // 1 top-k (at least top_k tokens at or above it), 2 top-p (at least
    // top_p of the mass), 3 min-p (at or below m + log(min_p)), 0 none
    // (the draw walks the vocabulary).
    var mode = 0u;
    if top_k_on {
        mode = 1u;
    } else if top_p_on {
        mode = 2u;
    } else if min_p_on {
        mode = 3u;
    }
    let min_p_floor = m + log(max(step.min_p, 1e-30));

    // Counting rounds. Each invocation counts its contiguous slice of the
    // vocabulary against 4 thresholds; the highest safe one becomes `lo`,
    // and the next round splits the interval above it, until `lo` keeps
    // at most CAP tokens.
    let per = (p.vocab + WG - 1u) / WG;
    let s0 = min(tid * per, p.vocab);
    let s1 = min(s0 + per, p.vocab);
    var lo = LOWEST; // highest safe threshold yet (LOWEST: none)
    var lo_n = f32(p.vocab); // tokens at or above it
    var my_n = 0u; // of them in this invocation's slice
    var hi = m; // the lowest unsafe threshold yet
    var total = 0.0; // sum of exp(v - m) over the vocabulary (mode 2)
    if tid == 0u {
        w_go = select(0u, 1u, mode != 0u && !(mode == 1u && step.top_k > CAP));
    }
    for (var r = 0u; r < ROUNDS; r++) {
        if workgroupUniformLoad(&w_go) == 0u {
            break;
        }
        var t = m - vec4<f32>(16.0, 8.0, 4.0, 2.0);
        if r > 0u {
            let d = (hi - lo) * 0.2;
            t = vec4<f32>(lo) + d * vec4<f32>(1.0, 2.0, 3.0, 4.0);
        }
        var c4 = vec4<f32>(0.0);
        var m4 = vec4<f32>(0.0);
        var tot = 0.0;
        for (var i = s0; i < s1; i++) {
            let v = logits[i];
            let ge = vec4<f32>(v) >= t;
            c4 += select(vec4<f32>(0.0), vec4<f32>(1.0), ge);
            if mode == 2u {
                let e = exp(v - m);
                m4 += select(vec4<f32>(0.0), vec4<f32>(e), ge);
                tot += e;
            }
        }
        let c = sum4(tid, c4);
        var mass = vec4<f32>(0.0);
        if mode == 2u {
            mass = sum4(tid, m4);
            if r == 0u {
                total = sum_f(tid, tot);
            }
        }
        // Safe thresholds are the lowest ones (counts and masses only grow
        // as the threshold falls): take the highest.
        var safe = vec4<bool>(false);
        if mode == 1u {
            safe = c >= vec4<f32>(f32(step.top_k));
        } else if mode == 2u {
            safe = mass >= vec4<f32>(step.top_p * total);
        } else {
            safe = t <= vec4<f32>(min_p_floor);
        }
        var best = -1;
        for (var j = 0; j < 4; j++) {
            if safe[j] {
                best = j;
            }
        }
        if best >= 0 {
            lo = t[best];
            lo_n = c[best];
            my_n = u32(c4[best]);
            if best < 3 {
                hi = t[best + 1];
            }
        } else {
            hi = t[0];
        }
        if tid == 0u {
            // Round 0 found nothing safe: the interval below has no
            // bottom; the searches walk the vocabulary.
            w_go = select(0u, 1u, lo_n > f32(CAP) && lo != LOWEST);
        }
    }
    // Copy the tokens at or above `lo` out, in vocabulary order: each
    // invocation writes its slice's after those of the slices before it.
    if tid == 0u {
        w_n = select(0xffffffffu, u32(lo_n), lo != LOWEST && lo_n <= f32(CAP));
    }
    let wn = workgroupUniformLoad(&w_n);
    let compact = wn != 0xffffffffu;
    let n = select(p.vocab, wn, compact);
    if compact {
        ru[tid] = my_n;
        workgroupBarrier();
        var off = 0u;
        for (var k = 0u; k < tid; k++) {
            off += ru[k];
        }
        for (var i = s0; i < s1; i++) {
            let v = logits[i];
            if v >= lo {
                cand_v[off] = v;
                cand_i[off] = i;
                off++;
            }
        }
        workgroupBarrier();
    }

    // Lowest logit kept so far; everything below it is filtered out.
    var floor_v = LOWEST;
    if top_k_on {
        // Largest threshold keeping at least top_k tokens.
        var klo = max(lo, m - 1.0e4);
        var khi = m;
        for (var it = 0u; it < BISECT_STEPS; it++) {
            let mid = 0.5 * (klo + khi);
            if count_ge(tid, mid, n, compact) >= f32(step.top_k) {
                klo = mid;
            } else {
                khi = mid;
            }
        }
        floor_v = klo;
    }
    if top_p_on {
        // The mass above the top-k floor, or (top-p first) the
        // vocabulary's from the counting rounds.
        var mass_all = total;
        if mode != 2u {
            mass_all = mass_ge(tid, floor_v, floor_v, m, n, compact);
        }
        var plo = max(max(floor_v, lo), m - 1.0e4);
        var phi = m;
        for (var it = 0u; it < BISECT_STEPS; it++) {
            let mid = 0.5 * (plo + phi);
            if mass_ge(tid, mid, floor_v, m, n, compact) >= step.top_p * mass_all {
                plo = mid;
            } else {
                phi = mid;
            }
        }
        floor_v = max(floor_v, plo);
    }
    if min_p_on {
        floor_v = max(floor_v, min_p_floor);
    }
    // Draw: each invocation owns a contiguous slice of what was searched.
    let inv_t = 1.0 / step.temperature;
    let dper = (n + WG - 1u) / WG;
    let lo_i = min(tid * dper, n);
    let hi_i = min(lo_i + dper, n);
    var part = 0.0;
    for (var i = lo_i; i < hi_i; i++) {
        let v = val(i, compact);
        if v >= floor_v {
            part += exp((v - m) * inv_t);
        }
    }
    rf[tid] = part;
    workgroupBarrier();
    if tid == 0u {
        var total_w = 0.0;
        for (var k = 0u; k < WG; k++) {
            total_w += rf[k];
        }
        let r = pcg(step.seed ^ pcg(step.counter + 0x9e3779b9u));
        let goal = f32(r >> 8u) / 16777216.0 * total_w;
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
            let s = k * dper;
            let e = min(s + dper, n);
            for (var i = s; i < e; i++) {
                let v = val(i, compact);
                if v >= floor_v {
                    acc += exp((v - m) * inv_t);
                    chosen = i;
                    if compact {
                        chosen = cand_i[i];
                    }
                    if acc > goal {
                        break;
                    }
                }
            }
        }
        tokens[end] = chosen;
    }
}
