//! A CPU mirror of shaders/sample.wgsl (without the repetition penalty):
//! the same f32 arithmetic, thread partitions, reductions, bisections and
//! PCG draw, so the GPU must pick the same token up to exp() rounding.
//! `wg` is the kernel's workgroup size (`Kernel::Sample { wg }`).

use edge_llm::gpu::StepParams;

const BISECT_STEPS: u32 = 32;

/// The shader's PCG hash.
pub fn pcg(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// `sum_f`: per-thread strided partial sums, then the halving tree.
fn strided_sum(wg: usize, logits: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut parts = vec![0f32; wg];
    for (tid, part) in parts.iter_mut().enumerate() {
        let mut c = 0f32;
        let mut i = tid;
        while i < logits.len() {
            c += f(logits[i]);
            i += wg;
        }
        *part = c;
    }
    let mut s = wg / 2;
    while s > 0 {
        for tid in 0..s {
            parts[tid] += parts[tid + s];
        }
        s /= 2;
    }
    parts[0]
}

/// Lowest index of the largest logit.
fn argmax(logits: &[f32]) -> u32 {
    let mut best = f32::MIN;
    let mut bi = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > best {
            best = v;
            bi = i;
        }
    }
    bi as u32
}

/// The token sample.wgsl picks for `logits` under `p`.
pub fn sample(wg: usize, logits: &[f32], p: &StepParams) -> u32 {
    let vocab = logits.len();
    let am = argmax(logits);
    if p.temperature <= 0.0 {
        return am;
    }
    let m = logits[am as usize];
    let mut floor_v = -3.4e38f32;
    if p.top_k > 0 && (p.top_k as usize) < vocab {
        let (mut lo, mut hi) = (m - 1.0e4, m);
        for _ in 0..BISECT_STEPS {
            let mid = 0.5 * (lo + hi);
            if strided_sum(wg, logits, |v| if v >= mid { 1.0 } else { 0.0 }) >= p.top_k as f32 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        floor_v = lo;
    }
    if p.top_p < 1.0 {
        let mass = |thr: f32| {
            strided_sum(wg, logits, |v| {
                if v >= thr && v >= floor_v {
                    (v - m).exp()
                } else {
                    0.0
                }
            })
        };
        let total = mass(floor_v);
        let mut lo = floor_v.max(m - 1.0e4);
        let mut hi = m;
        for _ in 0..BISECT_STEPS {
            let mid = 0.5 * (lo + hi);
            if mass(mid) >= p.top_p * total {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        floor_v = floor_v.max(lo);
    }
    if p.min_p > 0.0 {
        floor_v = floor_v.max(m + p.min_p.ln());
    }
    let inv_t = 1.0 / p.temperature;
    let per = vocab.div_ceil(wg);
    let slice = |k: usize| (k * per).min(vocab)..((k * per + per).min(vocab));
    let weight = |v: f32| ((v - m) * inv_t).exp();
    let parts: Vec<f32> = (0..wg)
        .map(|k| {
            let mut part = 0f32;
            for &v in &logits[slice(k)] {
                if v >= floor_v {
                    part += weight(v);
                }
            }
            part
        })
        .collect();
    let mut total = 0f32;
    for &x in &parts {
        total += x;
    }
    let r = pcg(p.seed ^ pcg(p.counter.wrapping_add(0x9e37_79b9)));
    let goal = (r >> 8) as f32 / 16_777_216.0 * total;
    let mut acc = 0f32;
    let mut chosen = am;
    let mut k = 0;
    while k < wg {
        if acc + parts[k] > goal {
            break;
        }
        acc += parts[k];
        k += 1;
    }
    if k < wg {
        for i in slice(k) {
            let v = logits[i];
            if v >= floor_v {
                acc += weight(v);
                chosen = i as u32;
                if acc > goal {
                    break;
                }
            }
        }
    }
    chosen
}
