//! The sampler kernel: greedy, repetition penalty, filters, seeding, the
//! drawn distribution, and agreement with a CPU mirror of the shader.

use edge_llm::gpu::{Kernel, StepParams};
use edge_llm::ops::{self, Dispatch};
use edge_llm::reference::ops as r;

use crate::kernel_util::{gpu, read_u32, run, sampler, step, upload, upload_u32, Rng};

const NO_TOKEN: u32 = 0xDEAD_BEEF;

/// Logits and a token history on the GPU, with a reusable sample dispatch.
struct Sampler {
    history: Vec<u32>,
    logits: wgpu::Buffer,
    tokens: wgpu::Buffer,
    step: wgpu::Buffer,
    d: Dispatch,
}

impl Sampler {
    fn new(logits: &[f32], history: &[u32]) -> Self {
        Self::with_wg(logits, history, None)
    }

    /// On a workgroup of `wg` invocations (`ops::sample_wg`), else the
    /// adapter's (`ops::sample`).
    fn with_wg(logits: &[f32], history: &[u32], wg: Option<u32>) -> Self {
        assert!(!history.is_empty());
        let mut ids = history.to_vec();
        ids.extend([NO_TOKEN; 4]);
        let (lb, tb) = (upload(logits), upload_u32(&ids));
        let st = step(StepParams::default());
        let d = match wg {
            Some(wg) => ops::sample_wg(gpu(), &st, logits.len(), &lb, &tb, wg),
            None => ops::sample(gpu(), &st, logits.len(), &lb, &tb),
        }
        .unwrap();
        Sampler {
            history: history.to_vec(),
            logits: lb,
            tokens: tb,
            step: st,
            d,
        }
    }

    /// Samples the token after the history under `p` (its n_tokens and
    /// pos0 are set here) and checks that nothing else in the token buffer
    /// changed.
    fn draw(&self, mut p: StepParams) -> u32 {
        let end = self.history.len();
        p.n_tokens = 1;
        p.pos0 = end as u32 - 1;
        gpu()
            .queue
            .write_buffer(&self.step, 0, bytemuck::bytes_of(&p));
        run(&[&self.d], 1);
        let t = read_u32(&self.tokens);
        assert_eq!(&t[..end], &self.history[..], "sample: history changed");
        assert!(
            // 4 sentinels were written; buffers are padded past them.
            t[end + 1..end + 4].iter().all(|&v| v == NO_TOKEN),
            "sample: stray write after tokens[end]"
        );
        t[end]
    }
}

/// Sampler settings with the penalty off.
fn params(
    temperature: f32,
    top_k: u32,
    top_p: f32,
    min_p: f32,
    seed: u32,
    counter: u32,
) -> StepParams {
    StepParams {
        temperature,
        top_k,
        top_p,
        min_p,
        seed,
        counter,
        rep_penalty: 1.0,
        ..Default::default()
    }
}

fn greedy() -> StepParams {
    params(0.0, 0, 1.0, 0.0, 0, 0)
}

#[test]
fn sample_greedy_is_argmax_with_lowest_index_ties() {
    // Both workgroup sizes (GPUs, CPU drivers) on whichever adapter runs.
    for wg in [256, 8] {
        greedy_case(wg);
    }
}

fn greedy_case(wg: u32) {
    let mut rng = Rng::new(20);
    for vocab in [70, 1000, 49152] {
        for _ in 0..3 {
            let logits = rng.vec(vocab, -5.0, 5.0);
            let want = r::argmax(&logits).unwrap() as u32;
            assert_eq!(
                Sampler::with_wg(&logits, &[1], Some(wg)).draw(greedy()),
                want,
                "greedy vocab {vocab} wg {wg}"
            );
        }
    }
    let mut logits = rng.vec(1000, -1.0, 1.0);
    // Ties in different threads (with 256: 700, 300, 45 are strided to
    // different lanes).
    for i in [700, 300, 45] {
        logits[i] = 5.0;
    }
    assert_eq!(
        Sampler::with_wg(&logits, &[1], Some(wg)).draw(greedy()),
        45,
        "tie across threads"
    );
    // Ties within one thread's strided set (300 and 556 = 300 + 256 and
    // 300 + 32 * 8).
    for i in [556, 300] {
        logits[i] = 6.0;
    }
    assert_eq!(
        Sampler::with_wg(&logits, &[1], Some(wg)).draw(greedy()),
        300,
        "tie within a thread"
    );
    assert_eq!(
        Sampler::with_wg(&[0.0; 777], &[1], Some(wg)).draw(greedy()),
        0,
        "all equal"
    );
}

#[test]
fn sample_repetition_penalty() {
    let mut rng = Rng::new(21);
    let mut logits = rng.vec(100, -1.0, 1.0);
    logits[10] = 2.0;
    logits[20] = 1.8;
    logits[30] = -0.5;
    // 12 tokens of history, window = the last 6: 10 twice (penalized once),
    // 30 once; 20 only before the window (not penalized).
    let history: Vec<u32> = vec![50, 51, 20, 53, 54, 55, 10, 30, 58, 10, 60, 61];
    let (penalty, last_n) = (1.3f32, 6u32);
    let s = Sampler::new(&logits, &history);
    assert_eq!(s.draw(greedy()), 10, "no penalty");
    let p = StepParams {
        rep_penalty: penalty,
        rep_last_n: last_n,
        ..greedy()
    };
    assert_eq!(s.draw(p), 20, "penalty moves the winner");
    let mut want = logits.clone();
    let mut seen = std::collections::HashSet::new();
    for &id in &history[history.len() - last_n as usize..] {
        if seen.insert(id) {
            let v = &mut want[id as usize];
            *v = if *v > 0.0 { *v / penalty } else { *v * penalty };
        }
    }
    let got = crate::kernel_util::read_all(&s.logits);
    crate::kernel_util::assert_close(&got, &want, 1e-12, "penalized logits");
}

#[test]
fn sample_filters_that_keep_one_token_are_argmax() {
    let mut rng = Rng::new(22);
    for seed in 0..10 {
        let logits = rng.vec(1000, -4.0, 4.0);
        let want = r::argmax(&logits).unwrap() as u32;
        let s = Sampler::new(&logits, &[3]);
        assert_eq!(
            s.draw(params(0.8, 1, 1.0, 0.0, seed, seed)),
            want,
            "top_k 1"
        );
        assert_eq!(
            s.draw(params(0.8, 0, 1e-6, 0.0, seed, seed)),
            want,
            "top_p 1e-6"
        );
        assert_eq!(
            s.draw(params(0.8, 0, 1.0, 1.0, seed, seed)),
            want,
            "min_p 1"
        );
    }
}

#[test]
fn sample_seeding() {
    let mut rng = Rng::new(23);
    let logits = rng.vec(1000, -0.5, 0.5);
    let s = Sampler::new(&logits, &[3]);
    let mut distinct = std::collections::HashSet::new();
    for seed in 0..30 {
        let p = params(1.0, 0, 1.0, 0.0, seed * 7919, 5);
        let a = s.draw(p);
        assert_eq!(a, s.draw(p), "same seed and counter, same token");
        distinct.insert(a);
    }
    assert!(
        distinct.len() >= 20,
        "30 seeds gave only {} distinct tokens",
        distinct.len()
    );
}

#[test]
fn sample_distribution_matches_softmax() {
    let logits = [0.0f32, 1.0, -1.0, 2.0, 0.5, -0.5, 1.5, -2.0];
    let probs = r::softmax(&logits);
    let s = Sampler::new(&logits, &[3]);
    let n = 400;
    let mut counts = [0usize; 8];
    for counter in 0..n {
        counts[s.draw(params(1.0, 0, 1.0, 0.0, 42, counter)) as usize] += 1;
    }
    let chi2: f64 = counts
        .iter()
        .zip(&probs)
        .map(|(&c, &p)| {
            let e = f64::from(p) * f64::from(n);
            (c as f64 - e).powi(2) / e
        })
        .sum();
    // 7 degrees of freedom: P(chi2 > 30) is about 1e-4.
    assert!(
        chi2 < 30.0,
        "counts {counts:?} vs probs {probs:?}: chi2 {chi2}"
    );
}

#[test]
fn sample_top_k_and_top_p_sets() {
    let mut rng = Rng::new(24);
    let logits = rng.vec(1000, -4.0, 4.0);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    let s = Sampler::new(&logits, &[3]);

    let top3 = &order[..3];
    let mut picked = std::collections::HashSet::new();
    for counter in 0..100 {
        let t = s.draw(params(1.5, 3, 1.0, 0.0, 7, counter)) as usize;
        assert!(top3.contains(&t), "top_k 3 picked {t}, outside {top3:?}");
        picked.insert(t);
    }
    assert!(picked.len() >= 2, "top_k 3 always picked {picked:?}");

    let probs = r::softmax(&logits);
    let mut mass = 0.0;
    let mut nucleus = Vec::new();
    for &i in &order {
        nucleus.push(i);
        mass += probs[i];
        if mass >= 0.5 {
            break;
        }
    }
    picked.clear();
    for counter in 0..100 {
        let t = s.draw(params(1.0, 0, 0.5, 0.0, 9, counter)) as usize;
        assert!(
            nucleus.contains(&t),
            "top_p 0.5 picked {t}, outside {nucleus:?}"
        );
        picked.insert(t);
    }
    assert!(
        picked.len() >= 2,
        "top_p 0.5 (set of {}) always picked {picked:?}",
        nucleus.len()
    );
}

/// The kept sets on SmolLM2's vocabulary with peaked logits, where the
/// searches walk a compact candidate list: every draw lies in the set a
/// sort keeps.
#[test]
fn sample_top_k_and_top_p_sets_on_a_full_vocabulary() {
    let mut rng = Rng::new(28);
    let logits = logits(&mut rng, 49152, false);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    let s = Sampler::new(&logits, &[3]);
    let probs = r::softmax(&logits);
    let nucleus = |p: f32| {
        let mut mass = 0.0;
        order
            .iter()
            .take_while(|&&i| {
                let before = mass;
                mass += probs[i];
                before < p
            })
            .copied()
            .collect::<Vec<_>>()
    };
    for (k, p, want) in [
        (40, 1.0, order[..40].to_vec()),
        (0, 0.9, nucleus(0.9)),
        (40, 0.5, nucleus(0.5)),
    ] {
        let mut picked = std::collections::HashSet::new();
        for counter in 0..30 {
            let t = s.draw(params(1.0, k, p, 0.0, 11, counter)) as usize;
            assert!(
                want.contains(&t),
                "top_k {k} top_p {p} picked {t}, outside the {} a sort keeps",
                want.len()
            );
            picked.insert(t);
        }
        assert!(
            picked.len() >= 2,
            "top_k {k} top_p {p} always picked {picked:?}"
        );
    }
}

/// Random logits: `flat` ones (sums of two uniforms in -3..3: top-p
/// keeps thousands of tokens) or peaked like a model's (a few tokens
/// high above a broad tail).
fn logits(rng: &mut Rng, vocab: usize, flat: bool) -> Vec<f32> {
    (0..vocab)
        .map(|_| {
            let v = rng.range(-3.0, 3.0) + rng.range(-3.0, 3.0);
            if flat {
                v
            } else if rng.range(0.0, 1.0) < 0.002 {
                v + 12.0
            } else {
                v - 4.0
            }
        })
        .collect()
}

/// What `mirror_mismatches` found: the differences (case, size, GPU
/// token, mirror token), and how many draws searched a compact candidate
/// list and how many the whole vocabulary.
struct Mirror {
    mismatches: Vec<(usize, u32, u32, u32)>,
    compact: usize,
    whole: usize,
}

/// Draws on `cases` random logit vectors of `vocab` under a spread of
/// settings, on each workgroup size of `wgs` (`None`: the adapter's own,
/// `ops::sample`), against the CPU mirror partitioned and reduced as that
/// size.
fn mirror_mismatches(
    seed: u64,
    vocab: usize,
    flat: bool,
    cases: usize,
    wgs: &[Option<u32>],
) -> Mirror {
    let mut rng = Rng::new(seed);
    let mut out = Mirror {
        mismatches: Vec::new(),
        compact: 0,
        whole: 0,
    };
    for c in 0..cases {
        let logits = logits(&mut rng, vocab, flat);
        let p = params(
            [0.7, 1.0, 1.3][c % 3],
            [0, 40, 5][c % 4 % 3],
            [1.0, 0.9, 0.5, 0.95][c % 4],
            [0.0, 0.05][c % 2],
            rng.u32(),
            c as u32,
        );
        for &wg in wgs {
            let s = Sampler::with_wg(&logits, &[3], wg);
            let Kernel::Sample { wg } = s.d.kernel else {
                panic!("{:?}", s.d.kernel)
            };
            let got = s.draw(p);
            let want = sampler::sample(wg as usize, &logits, &p);
            if got != want {
                out.mismatches.push((c, wg, got, want));
            }
            match sampler::candidates(wg as usize, &logits, &p) {
                Some(_) => out.compact += 1,
                None => out.whole += 1,
            }
        }
    }
    out
}

/// Both workgroup sizes (GPUs, CPU drivers) on 1000 logits.
#[test]
fn sample_matches_cpu_mirror() {
    let cases = 200;
    let m = mirror_mismatches(25, 1000, true, cases, &[Some(256), Some(8)]);
    eprintln!(
        "sampler vs CPU mirror: {} / {} differ: {:?}",
        m.mismatches.len(),
        2 * cases,
        m.mismatches
    );
    assert!(
        m.mismatches.len() * 50 <= 2 * cases,
        "too many differences: {:?}",
        m.mismatches
    );
}

/// The adapter's own workgroup (`ops::sample`, `ops::cpu_sample_wg` on
/// CPU drivers) on SmolLM2's vocabulary, flat and peaked logits: both the
/// compact candidate list and the whole-vocabulary search run. On
/// lavapipe too few invocations run past llvmpipe's loop limit in the
/// whole-vocabulary search and pick wrong tokens (8 invocations differed
/// in 18 of 24 draws).
#[test]
fn sample_full_vocabulary_matches_cpu_mirror() {
    for (seed, flat) in [(26, true), (27, false)] {
        let m = mirror_mismatches(seed, 49152, flat, 12, &[None]);
        eprintln!(
            "full vocabulary (flat {flat}) vs CPU mirror: {:?}; {} compact, {} whole",
            m.mismatches, m.compact, m.whole
        );
        assert!(
            m.mismatches.len() <= 1,
            "too many differences: {:?}",
            m.mismatches
        );
        assert!(m.compact > 0, "no draw searched a candidate list");
        if flat {
            assert!(m.whole > 0, "no draw searched the whole vocabulary");
        }
    }
}
