//! Sampling on the CPU: a mirror of shaders/sample.wgsl, the same f32
//! arithmetic, thread partitions, reductions, bisections, candidate rounds,
//! compaction and PCG draw, so a seed picks the same token on both paths
//! (up to exp() rounding). The CPU path samples with it
//! (`super::session`), and tests/gpu_kernels.rs holds the shader to it.
//! `wg` is the kernel's workgroup size (`Kernel::Sample { wg }`; the CPU
//! path mirrors the GPUs' 256).

use crate::gpu::StepParams;

const BISECT_STEPS: u32 = 32;

/// The shader's PCG hash.
pub fn pcg(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// The halving tree of `sum_f` / `sum4` over per-invocation parts.
fn tree(mut parts: Vec<f32>) -> f32 {
    let mut s = parts.len() / 2;
    while s > 0 {
        for tid in 0..s {
            parts[tid] += parts[tid + s];
        }
        s /= 2;
    }
    parts[0]
}

/// `sum_f`: per-thread strided partial sums, then the halving tree.
fn strided_sum(wg: usize, vals: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let parts = (0..wg)
        .map(|tid| {
            let mut c = 0f32;
            for &v in vals.iter().skip(tid).step_by(wg) {
                c += f(v);
            }
            c
        })
        .collect();
    tree(parts)
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

const CAP: usize = 1024;
const ROUNDS: u32 = 4;
const LOWEST: f32 = -3.4e38;

/// The counting rounds: the candidate threshold `lo` (LOWEST: none) and
/// how many tokens are at or above it, plus the vocabulary's mass (top-p
/// first only).
fn candidate_threshold(
    wg: usize,
    logits: &[f32],
    p: &StepParams,
    mode: u32,
    m: f32,
    min_p_floor: f32,
) -> (f32, f32, f32) {
    let vocab = logits.len();
    let per = vocab.div_ceil(wg);
    let slice = |k: usize| {
        let s0 = (k * per).min(vocab);
        s0..(s0 + per).min(vocab)
    };
    let (mut lo, mut lo_n, mut hi, mut total) = (LOWEST, vocab as f32, m, 0f32);
    let mut go = mode != 0 && !(mode == 1 && p.top_k as usize > CAP);
    for r in 0..ROUNDS {
        if !go {
            break;
        }
        let t: [f32; 4] = if r == 0 {
            [m - 16.0, m - 8.0, m - 4.0, m - 2.0]
        } else {
            let d = (hi - lo) * 0.2;
            [lo + d * 1.0, lo + d * 2.0, lo + d * 3.0, lo + d * 4.0]
        };
        let mut c4 = vec![[0f32; 4]; wg];
        let mut m4 = vec![[0f32; 4]; wg];
        let mut tot = vec![0f32; wg];
        for k in 0..wg {
            for &v in &logits[slice(k)] {
                // The mass only matters (and the shader only sums it) when
                // top-p comes first.
                let e = if mode == 2 { (v - m).exp() } else { 0.0 };
                for j in 0..4 {
                    if v >= t[j] {
                        c4[k][j] += 1.0;
                        m4[k][j] += e;
                    }
                }
                tot[k] += e;
            }
        }
        let comp = |a: &Vec<[f32; 4]>, j: usize| tree(a.iter().map(|x| x[j]).collect());
        let c: [f32; 4] = std::array::from_fn(|j| comp(&c4, j));
        let mass: [f32; 4] = std::array::from_fn(|j| comp(&m4, j));
        if mode == 2 && r == 0 {
            total = tree(tot);
        }
        let safe = |j: usize| match mode {
            1 => c[j] >= p.top_k as f32,
            2 => mass[j] >= p.top_p * total,
            _ => t[j] <= min_p_floor,
        };
        match (0..4).rev().find(|&j| safe(j)) {
            Some(best) => {
                lo = t[best];
                lo_n = c[best];
                if best < 3 {
                    hi = t[best + 1];
                }
            }
            None => hi = t[0],
        }
        go = lo_n > CAP as f32 && lo != LOWEST;
    }
    (lo, lo_n, total)
}

fn compacts(lo: f32, lo_n: f32) -> bool {
    lo != LOWEST && lo_n <= CAP as f32
}

fn mode(p: &StepParams, vocab: usize) -> u32 {
    if p.top_k > 0 && (p.top_k as usize) < vocab {
        1
    } else if p.top_p < 1.0 {
        2
    } else if p.min_p > 0.0 {
        3
    } else {
        0
    }
}

/// How many candidates the searches walk for `logits` under `p`, or
/// `None` where they walk the whole vocabulary (for tests to show that
/// both ways ran).
pub fn candidates(wg: usize, logits: &[f32], p: &StepParams) -> Option<usize> {
    let m = logits[argmax(logits) as usize];
    let min_p_floor = m + p.min_p.max(1e-30).ln();
    let mode = mode(p, logits.len());
    let (lo, lo_n, _) = candidate_threshold(wg, logits, p, mode, m, min_p_floor);
    compacts(lo, lo_n).then_some(lo_n as usize)
}

/// The shader's repetition penalty: once per distinct token of the last
/// `rep_last_n` of `history`, positive logits divided, negative ones
/// multiplied.
pub fn penalize(logits: &mut [f32], history: &[u32], p: &StepParams) {
    if p.rep_penalty == 1.0 || p.rep_last_n == 0 {
        return;
    }
    let first = history.len() - history.len().min(p.rep_last_n as usize);
    let window = &history[first..];
    for (j, &id) in window.iter().enumerate() {
        if window[..j].contains(&id) {
            continue;
        }
        if let Some(v) = logits.get_mut(id as usize) {
            *v = if *v > 0.0 {
                *v / p.rep_penalty
            } else {
                *v * p.rep_penalty
            };
        }
    }
}

/// The token sample.wgsl picks for `logits` under `p` (after the penalty).
pub fn sample(wg: usize, logits: &[f32], p: &StepParams) -> u32 {
    let vocab = logits.len();
    let am = argmax(logits);
    if p.temperature <= 0.0 {
        return am;
    }
    let m = logits[am as usize];
    let top_k_on = p.top_k > 0 && (p.top_k as usize) < vocab;
    let top_p_on = p.top_p < 1.0;
    let min_p_on = p.min_p > 0.0;
    let mode = mode(p, vocab);
    let min_p_floor = m + p.min_p.max(1e-30).ln();
    let (lo, lo_n, total) = candidate_threshold(wg, logits, p, mode, m, min_p_floor);
    // What the searches walk: the candidates in vocabulary order, or all.
    let (vals, ids): (Vec<f32>, Vec<u32>) = if compacts(lo, lo_n) {
        (0..vocab as u32)
            .filter(|&i| logits[i as usize] >= lo)
            .map(|i| (logits[i as usize], i))
            .unzip()
    } else {
        (logits.to_vec(), (0..vocab as u32).collect())
    };
    let mut floor_v = LOWEST;
    if top_k_on {
        let (mut klo, mut khi) = (lo.max(m - 1.0e4), m);
        for _ in 0..BISECT_STEPS {
            let mid = 0.5 * (klo + khi);
            if strided_sum(wg, &vals, |v| if v >= mid { 1.0 } else { 0.0 }) >= p.top_k as f32 {
                klo = mid;
            } else {
                khi = mid;
            }
        }
        floor_v = klo;
    }
    if top_p_on {
        let mass = |thr: f32| {
            strided_sum(wg, &vals, |v| {
                if v >= thr && v >= floor_v {
                    (v - m).exp()
                } else {
                    0.0
                }
            })
        };
        let mass_all = if mode == 2 { total } else { mass(floor_v) };
        let mut plo = floor_v.max(lo).max(m - 1.0e4);
        let mut phi = m;
        for _ in 0..BISECT_STEPS {
            let mid = 0.5 * (plo + phi);
            if mass(mid) >= p.top_p * mass_all {
                plo = mid;
            } else {
                phi = mid;
            }
        }
        floor_v = floor_v.max(plo);
    }
    if min_p_on {
        floor_v = floor_v.max(min_p_floor);
    }
    let n = vals.len();
    let inv_t = 1.0 / p.temperature;
    let per = n.div_ceil(wg);
    let slice = |k: usize| (k * per).min(n)..((k * per + per).min(n));
    let weight = |v: f32| ((v - m) * inv_t).exp();
    let parts: Vec<f32> = (0..wg)
        .map(|k| {
            let mut part = 0f32;
            for &v in &vals[slice(k)] {
                if v >= floor_v {
                    part += weight(v);
                }
            }
            part
        })
        .collect();
    let mut total_w = 0f32;
    for &x in &parts {
        total_w += x;
    }
    let r = pcg(p.seed ^ pcg(p.counter.wrapping_add(0x9e37_79b9)));
    let goal = (r >> 8) as f32 / 16_777_216.0 * total_w;
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
            let v = vals[i];
            if v >= floor_v {
                acc += weight(v);
                chosen = ids[i];
                if acc > goal {
                    break;
                }
            }
        }
    }
    chosen
}
