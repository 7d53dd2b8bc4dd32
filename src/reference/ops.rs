//! Scalar reference kernels. Each is written for clarity, not speed, and
//! accumulates in f64 where a sum is involved so that it is a tighter
//! oracle than any f32 GPU kernel it checks.
//!
//! Row-major everywhere: a `[rows, cols]` matrix stores row `r` at
//! `r * cols .. (r + 1) * cols`. Length preconditions are documented; the
//! slice-based ops never panic on bad lengths (they iterate with `zip` /
//! `chunks_exact` and so ignore a ragged tail), `attention` returns an error.

use crate::{Error, Result};

/// RMSNorm of each row: `y = x / sqrt(mean(x^2) + eps) * w`.
///
/// `x`: `[n_rows, w.len()]`, `w`: `[n]` -> `[n_rows, n]`. Matches ggml's
/// `rms_norm` followed by the multiplication with the norm weight.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    if n == 0 {
        return Vec::new();
    }
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(n) {
        let ss: f64 = row.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let scale = 1.0 / (ss / n as f64 + f64::from(eps)).sqrt();
        out.extend(
            row.iter()
                .zip(w)
                .map(|(&v, &g)| (f64::from(v) * scale) as f32 * g),
        );
    }
    out
}

/// Dot product of two f32 vectors with f64 accumulation.
pub fn dot(a: &[f32], b: &[f32]) -> f64 {
    // Four independent partial sums let the compiler use SIMD without
    // reassociating (and so without changing) a single sequential sum.
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..4 {
            acc[i] += f64::from(x[i]) * f64::from(y[i]);
        }
    }
    let tail: f64 = ra
        .iter()
        .zip(rb)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `y[t][r] = sum_k w[r * cols + k] * x[t * cols + k]`: every token times
/// the transposed weight, i.e. `y = x · Wᵀ` (ggml's `mul_mat(W, x)`).
///
/// `x`: `[n_tokens, cols]`, `w`: `[rows, cols]` -> `[n_tokens, rows]`.
pub fn matmul(x: &[f32], n_tokens: usize, w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    if cols == 0 {
        return vec![0.0; n_tokens * rows];
    }
    let mut out = Vec::with_capacity(n_tokens * rows);
    for xt in x.chunks_exact(cols).take(n_tokens) {
        out.extend(w.chunks_exact(cols).take(rows).map(|wr| dot(wr, xt) as f32));
    }
    out
}

/// x rounded per 32-value block to Q8_1 and back, as llama.cpp's CPU
/// backend rounds a Q4_1 matmul's input (`quantize_row_q8_1`, its AVX
/// path): `d = amax / 127` (stored as f16), `q = round(x * 127 / amax)`
/// (half to even), value `d * q`. The GPU's integer GEMM
/// (shaders/gemm_x/q8_1.wgsl) sums exactly these values. `x.len()` must
/// be a multiple of 32 (rows of k columns, k a multiple of 32).
pub fn round_q8_1(x: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for b in x.chunks(32) {
        let amax = b.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let id = if amax > 0.0 { 127.0 / amax } else { 0.0 };
        let d = half::f16::from_f32(amax / 127.0).to_f32();
        out.extend(b.iter().map(|v| d * (v * id).round_ties_even()));
    }
    out
}

/// Rotates `(x0, x1)` by `angle`.
fn rotate(x0: f32, x1: f32, angle: f64) -> (f32, f32) {
    let (s, c) = angle.sin_cos();
    let (a, b) = (f64::from(x0), f64::from(x1));
    ((a * c - b * s) as f32, (a * s + b * c) as f32)
}

/// Angle of rotary pair `i` at `pos`: `pos * theta^(-2i / rope_dim)`.
fn rope_angle(pos: usize, i: usize, rope_dim: usize, theta: f32) -> f64 {
    pos as f64 * f64::from(theta).powf(-2.0 * i as f64 / rope_dim as f64)
}

/// RoPE, llama.cpp's `LLAMA_ROPE_TYPE_NORM` (GPT-J style): in each head the
/// adjacent pairs `(2i, 2i+1)` for `i < rope_dim / 2` are rotated by
/// `pos * theta^(-2i / rope_dim)`; dims `>= rope_dim` are left as they are.
///
/// `x`: one token, `[n_heads, head_dim]`, rotated in place.
pub fn rope_norm(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    rope_dim: usize,
    pos: usize,
    theta: f32,
) {
    if head_dim == 0 {
        return;
    }
    let rope_dim = rope_dim.min(head_dim);
    for head in x.chunks_exact_mut(head_dim).take(n_heads) {
        for (i, pair) in head[..rope_dim].chunks_exact_mut(2).enumerate() {
            let (a, b) = rotate(pair[0], pair[1], rope_angle(pos, i, rope_dim, theta));
            pair[0] = a;
            pair[1] = b;
        }
    }
}

/// RoPE, llama.cpp's `LLAMA_ROPE_TYPE_NEOX`: pairs `(i, i + rope_dim / 2)`
/// for `i < rope_dim / 2`, same angles as [`rope_norm`].
///
/// `x`: one token, `[n_heads, head_dim]`, rotated in place.
pub fn rope_neox(
    x: &mut [f32],
    n_heads: usize,
    head_dim: usize,
    rope_dim: usize,
    pos: usize,
    theta: f32,
) {
    if head_dim == 0 {
        return;
    }
    let rope_dim = rope_dim.min(head_dim);
    let half = rope_dim / 2;
    for head in x.chunks_exact_mut(head_dim).take(n_heads) {
        let (lo, hi) = head[..2 * half].split_at_mut(half);
        for (i, (a, b)) in lo.iter_mut().zip(hi.iter_mut()).enumerate() {
            let (ra, rb) = rotate(*a, *b, rope_angle(pos, i, rope_dim, theta));
            *a = ra;
            *b = rb;
        }
    }
}

/// Attention geometry shared by the cache and the queries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnDims {
    pub n_heads: usize,
    /// Must divide `n_heads`; query head `h` reads kv head
    /// `h / (n_heads / n_kv_heads)`.
    pub n_kv_heads: usize,
    pub head_dim: usize,
    /// Capacity (positions) of the KV cache.
    pub ctx: usize,
}

/// Causal multi-head attention with grouped-query heads.
///
/// - `q`: `[n_tokens, n_heads, head_dim]`, already roped; token `t` sits at
///   position `pos0 + t`.
/// - `k_cache`, `v_cache`: `[n_kv_heads, ctx, head_dim]`; positions
///   `0 ..= pos0 + n_tokens - 1` must already hold this batch's (roped)
///   keys and values.
///
/// Token `t` attends to positions `0 ..= pos0 + t`, scores scaled by
/// `1 / sqrt(head_dim)`, softmax in f64. Returns `[n_tokens, n_heads, head_dim]`.
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    d: &AttnDims,
    n_tokens: usize,
    pos0: usize,
) -> Result<Vec<f32>> {
    let AttnDims {
        n_heads,
        n_kv_heads,
        head_dim,
        ctx,
    } = *d;
    if n_heads == 0 || n_kv_heads == 0 || head_dim == 0 || n_heads % n_kv_heads != 0 {
        return Err(Error::shape("attention", format!("bad dims {d:?}")));
    }
    if pos0 + n_tokens > ctx {
        return Err(Error::ContextOverflow {
            needed: pos0 + n_tokens,
            capacity: ctx,
        });
    }
    let cache_len = n_kv_heads * ctx * head_dim;
    if q.len() != n_tokens * n_heads * head_dim
        || k_cache.len() != cache_len
        || v_cache.len() != cache_len
    {
        return Err(Error::shape(
            "attention",
            format!(
                "q {} (want {}), k {} / v {} (want {cache_len})",
                q.len(),
                n_tokens * n_heads * head_dim,
                k_cache.len(),
                v_cache.len()
            ),
        ));
    }
    let group = n_heads / n_kv_heads;
    let scale = 1.0 / (head_dim as f64).sqrt();
    let mut out = vec![0.0f32; q.len()];
    let mut scores = Vec::with_capacity(ctx);
    for t in 0..n_tokens {
        let n_keys = pos0 + t + 1;
        for h in 0..n_heads {
            let kvh = h / group;
            let qo = (t * n_heads + h) * head_dim;
            let qh = &q[qo..qo + head_dim];
            let base = kvh * ctx * head_dim;
            scores.clear();
            for j in 0..n_keys {
                let kj = &k_cache[base + j * head_dim..base + (j + 1) * head_dim];
                scores.push(dot(qh, kj) * scale);
            }
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            let mut acc = vec![0.0f64; head_dim];
            for (j, &p) in scores.iter().enumerate() {
                let vj = &v_cache[base + j * head_dim..base + (j + 1) * head_dim];
                for (a, &v) in acc.iter_mut().zip(vj) {
                    *a += p * f64::from(v);
                }
            }
            for (o, a) in out[qo..qo + head_dim].iter_mut().zip(acc) {
                *o = (a / sum) as f32;
            }
        }
    }
    Ok(out)
}

/// SiLU: `x * sigmoid(x)`.
pub fn silu(x: f32) -> f32 {
    let x = f64::from(x);
    (x / (1.0 + (-x).exp())) as f32
}

/// `silu(gate) * up`, elementwise (the SwiGLU FFN activation).
pub fn silu_mul(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter().zip(up).map(|(&g, &u)| silu(g) * u).collect()
}

/// Elementwise `a + b`.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(&x, &y)| x + y).collect()
}

/// Softmax of one row (max-subtracted, f64 sum). Empty in, empty out.
pub fn softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f64> = x.iter().map(|&v| f64::from(v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| (v / sum) as f32).collect()
}

/// Log-softmax of one row: `x - max - ln(sum(exp(x - max)))`.
pub fn log_softmax(x: &[f32]) -> Vec<f32> {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse: f64 = x
        .iter()
        .map(|&v| f64::from(v - max).exp())
        .sum::<f64>()
        .ln();
    x.iter()
        .map(|&v| (f64::from(v - max) - lse) as f32)
        .collect()
}

/// Index of the largest value (the first one on ties; NaNs are skipped).
/// `None` for an empty slice or all-NaN input.
pub fn argmax(x: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in x.iter().enumerate() {
        if v.is_nan() {
            continue;
        }
        match best {
            Some((_, b)) if v <= b => {}
            _ => best = Some((i, v)),
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn rmsnorm_rows() {
        // Row [3, 4]: mean sq = 12.5, 1/sqrt = 0.28284; row [1, 1]: scale 1.
        let y = rmsnorm(&[3.0, 4.0, 1.0, 1.0], &[1.0, 2.0], 0.0);
        close(&y, &[0.848_528, 2.262_742, 1.0, 2.0], 1e-5);
        // eps matters for a zero row and keeps it finite.
        close(&rmsnorm(&[0.0, 0.0], &[1.0, 1.0], 1e-5), &[0.0, 0.0], 0.0);
    }

    #[test]
    fn matmul_small() {
        // W [3, 2], two tokens.
        let w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let x = [1.0, 1.0, 1.0, -1.0];
        let y = matmul(&x, 2, &w, 3, 2);
        close(&y, &[3.0, 7.0, 11.0, -1.0, -1.0, -1.0], 0.0);
        // Long rows exercise the 4-lane path and its tail.
        let a: Vec<f32> = (0..11).map(|i| i as f32).collect();
        assert_eq!(dot(&a, &a), (0..11).map(|i| (i * i) as f64).sum::<f64>());
    }

    #[test]
    fn rope_norm_pairs() {
        // head_dim 4, rope_dim 4, theta 100: pair 0 angle = pos, pair 1
        // angle = pos * 100^(-1/2) = pos / 10.
        let mut x = vec![1.0, 0.0, 0.0, 1.0];
        rope_norm(&mut x, 1, 4, 4, 2, 100.0);
        let (s0, c0) = 2.0f32.sin_cos();
        let (s1, c1) = 0.2f32.sin_cos();
        close(&x, &[c0, s0, -s1, c1], 1e-6);
        // Position 0 is the identity; dims past rope_dim are untouched.
        let mut x = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        rope_norm(&mut x, 2, 4, 4, 0, 10_000.0);
        close(&x, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], 0.0);
        let mut x = vec![1.0, 0.0, 5.0, 6.0];
        rope_norm(&mut x, 1, 4, 2, 1, 10_000.0);
        close(&x, &[1f32.cos(), 1f32.sin(), 5.0, 6.0], 1e-6);
    }

    #[test]
    fn rope_neox_pairs() {
        // Pairs (0, 2) angle pos, (1, 3) angle pos / 10.
        let mut x = vec![1.0, 0.0, 0.0, 1.0];
        rope_neox(&mut x, 1, 4, 4, 2, 100.0);
        let (s0, c0) = 2.0f32.sin_cos();
        let (s1, c1) = 0.2f32.sin_cos();
        close(&x, &[c0, -s1, s0, c1], 1e-6);
    }

    #[test]
    fn attention_causal_gqa() {
        // 2 query heads share 1 kv head, head_dim 2, ctx 3.
        let d = AttnDims {
            n_heads: 2,
            n_kv_heads: 1,
            head_dim: 2,
            ctx: 3,
        };
        let k = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];
        let v = [10.0, 0.0, 0.0, 20.0, 99.0, 99.0];
        // Token 0 at pos 0 sees only key 0: output = v0 for both heads.
        // Token 1 at pos 1: head 0 has q = [0, 0] -> uniform over 2 keys;
        // head 1 has q = [sqrt2 * ln3, 0] -> scores [ln3, 0] -> p = [3/4, 1/4].
        let a = std::f32::consts::SQRT_2 * 3f32.ln();
        let q = [5.0, 5.0, -1.0, 2.0, 0.0, 0.0, a, 0.0];
        let y = attention(&q, &k, &v, &d, 2, 0).unwrap();
        close(&y, &[10.0, 0.0, 10.0, 0.0, 5.0, 10.0, 7.5, 5.0], 1e-5);
        // The same second token alone, with pos0 = 1, gives the same rows.
        let y1 = attention(&q[4..], &k, &v, &d, 1, 1).unwrap();
        close(&y1, &y[4..], 0.0);
        // Overflow and bad lengths are errors, not panics.
        assert!(matches!(
            attention(&q, &k, &v, &d, 2, 2),
            Err(Error::ContextOverflow {
                needed: 4,
                capacity: 3
            })
        ));
        assert!(attention(&q[1..], &k, &v, &d, 2, 0).is_err());
    }

    #[test]
    fn elementwise_and_softmax() {
        let s = silu(1.0);
        assert!((s - 0.731_058_6).abs() < 1e-6);
        close(&silu_mul(&[1.0, 0.0], &[2.0, 5.0]), &[2.0 * s, 0.0], 1e-6);
        close(&add(&[1.0, 2.0], &[3.0, -2.0]), &[4.0, 0.0], 0.0);
        let p = softmax(&[0.0, 3f32.ln()]);
        close(&p, &[0.25, 0.75], 1e-6);
        // Large values do not overflow (max-subtracted).
        close(&softmax(&[1000.0, 1000.0]), &[0.5, 0.5], 0.0);
        let l = log_softmax(&[0.0, 3f32.ln()]);
        close(&l, &[0.25f32.ln(), 0.75f32.ln()], 1e-6);
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0]), Some(1));
        assert_eq!(argmax(&[]), None);
    }
}
