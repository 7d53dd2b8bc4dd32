//! Every WGSL kernel on a real wgpu device (lavapipe in CI) against the
//! scalar reference, with sizes that are not multiples of the workgroup or
//! tile sizes, and a guard band after each output to catch stray writes.
//! Without a GPU adapter these tests fail; they do not skip.
//!
//! Tolerances are normalized MSE (`sum((a-b)^2) / sum(b^2)`): weights
//! dequantize exactly, so weight kernels differ from the f64 reference only
//! by f32 summation order (1e-7 is generous); elementwise kernels by a few
//! ulps (1e-10); RoPE and attention by f32 angles / exp (1e-8), where the
//! f16 KV cache can move a rotated key by one f16 step (1e-7).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod kernel_util;

use edge_llm::gguf::GgmlType;
use edge_llm::gpu::{Kernel, MatvecLayout};
use edge_llm::ops::{self, AttnKernel, AttnShape, MatvecOpts, RopeOpts, Weight};
use edge_llm::quant::dequantize;
use edge_llm::reference::ops as r;
use edge_llm::reference::ops::AttnDims;
use edge_llm::Error;
use kernel_util::*;

const EPS: f32 = 1e-5;

/// One matvec case; `rows` outputs (the weight has `2 * rows` with swiglu).
/// Runs the adapter's own choice (the subgroup kernel where it has
/// subgroups) and each portable layout, forced.
#[allow(clippy::too_many_arguments)]
fn matvec_case(
    rng: &mut Rng,
    ty: GgmlType,
    rows: usize,
    k: usize,
    n_tokens: usize,
    norm: bool,
    swiglu: bool,
    residual: bool,
) {
    let g = gpu();
    let what = format!("matvec {ty:?} {rows}x{k} n_tokens {n_tokens} norm {norm} swiglu {swiglu} residual {residual}");
    let wrows = if swiglu { 2 * rows } else { rows };
    let wbytes = rand_weight(rng, ty, wrows, k);
    let wf = dequantize(ty, &wbytes, wrows * k).unwrap();
    // The same words in a buffer and in a texture (ops::WeightStore).
    let wb = Weight::upload_to(g, "w", ty, &wbytes, wrows, k, false).unwrap();
    let wt = Weight::upload_to(g, "w", ty, &wbytes, wrows, k, true).unwrap();
    let x = rng.vec(n_tokens * k, -1.0, 1.0);
    let nw = rng.vec(k, 0.5, 1.5);
    // Non-residual outputs start as garbage: the kernel must overwrite them.
    let y0 = if residual {
        rng.vec(rows, -1.0, 1.0)
    } else {
        vec![777.0; rows]
    };
    // x's buffer holds the 64 KiB a uniform view of it takes (decode).
    let (xb, nwb) = (upload(&padded(&x)), upload(&nw));
    let st = step_tokens(n_tokens as u32, 0);

    let last = &x[(n_tokens - 1) * k..];
    let want_from = |xin: &[f32]| {
        let mut want = r::matmul(xin, 1, &wf, wrows, k);
        if swiglu {
            want = r::silu_mul(&want[..rows], &want[rows..]);
        }
        if residual {
            want = r::add(&want, &y0);
        }
        want
    };
    let want = want_from(&if norm {
        r::rmsnorm(last, &nw, EPS)
    } else {
        last.to_vec()
    });
    // The integer decode path (`Kernel::Matvec { int_x }`): x (times the
    // norm weight) rounded to Q8_1, the norm's scale taken after the sums.
    let want_int = want_from(&if norm {
        let ss: f32 = last.iter().map(|v| v * v).sum();
        let scale = 1.0 / (ss / k as f32 + EPS).sqrt();
        let xw: Vec<f32> = last.iter().zip(&nw).map(|(a, b)| a * b).collect();
        r::round_q8_1(&xw).iter().map(|v| v * scale).collect()
    } else {
        r::round_q8_1(last)
    });
    // The portable layouts, then the subgroup kernel (where the adapter has
    // subgroups) with row sets of all lanes (the default here, untuned),
    // of 2 lanes (what lavapipe runs) and of 1 (no reduction at all).
    // Each with the weight in a buffer and in a texture.
    let mut cases = vec![];
    for w in [&wb, &wt] {
        cases.extend([
            (w, None, None),
            (w, Some(MatvecLayout::Groups), None),
            (w, Some(MatvecLayout::Rows), None),
        ]);
    }
    let mut cases: Vec<_> = cases
        .into_iter()
        .map(|(w, l, s)| (w, l, s, None, false))
        .collect();
    if k.is_multiple_of(32) && g.info.subgroup_lanes.is_some() {
        // Sets of 2 share x through broadcasts on 8 lanes and, as on
        // SwiftShader, on 4 (where the block count is even).
        cases.extend([
            (&wb, None, Some(1), None, false),
            (&wb, None, Some(2), None, false),
            (&wt, None, Some(2), Some(4), false),
        ]);
        // One token as the decode list runs it: x and the norm weight
        // bound as uniforms on CPU adapters.
        if n_tokens == 1 {
            cases.extend([
                (&wb, None, Some(2), None, true),
                (&wt, None, Some(2), None, true),
                (&wt, None, Some(2), Some(4), true),
            ]);
        }
    }
    for (w, layout, split, lanes, decode) in cases {
        let yb = guarded(&y0);
        let opts = MatvecOpts {
            norm: norm.then_some((&nwb, EPS)),
            swiglu,
            residual,
            layout,
            split,
            rope: None,
            lanes,
            decode,
            parts: None,
            fold: None,
        };
        let d = ops::matvec(g, &st, w, &xb, &yb, opts).unwrap();
        // x as a uniform: decode on native CPU adapters (lavapipe here),
        // where the subgroup kernel runs (not for every shape).
        let (uniform, sg, int_x) = match d.kernel {
            Kernel::Matvec {
                x_uniform,
                subgroup,
                int_x,
                ..
            } => (x_uniform, subgroup > 0, int_x),
            _ => (false, false, false),
        };
        assert_eq!(
            uniform,
            decode && g.info.x_uniform && sg,
            "{what}: x as a uniform"
        );
        // Q4_1 with x as a uniform rounds x, as the prefill does there.
        assert_eq!(
            int_x,
            uniform && ty == GgmlType::Q4_1,
            "{what}: x rounded to Q8_1"
        );
        run(&[&d], n_tokens as u32);
        let tex = w.store.is_texture();
        let what = format!(
            "{what} {layout:?} split {split:?} lanes {lanes:?} texture {tex} x uniform {uniform}"
        );
        let got = read_guarded(&yb, rows, &what);
        let want = if int_x { &want_int } else { &want };
        assert_close(&got, want, 1e-7, &format!("{what} int_x {int_x}"));
    }
}

#[test]
fn matvec_all_types_and_variants() {
    let g = gpu();
    assert!(
        g.info.subgroup_lanes.is_some() || !g.info.subgroups,
        "an adapter with subgroups should get the subgroup matvec"
    );
    let mut rng = Rng::new(1);
    for ty in TYPES {
        for (rows, k) in [(1, 32), (37, 64), (130, 96), (257, 576)] {
            for n_tokens in [1, 3] {
                for v in 0..8 {
                    matvec_case(
                        &mut rng,
                        ty,
                        rows,
                        k,
                        n_tokens,
                        v & 1 != 0,
                        v & 2 != 0,
                        v & 4 != 0,
                    );
                }
            }
        }
    }
    // Long rows: several strides of the 64-thread unit loop (ffn_down).
    for ty in TYPES {
        matvec_case(&mut rng, ty, 49, 1536, 2, false, false, true);
        matvec_case(&mut rng, ty, 21, 1536, 1, true, true, false);
    }
    // Float rows that are not whole 32-column blocks fall back to the
    // portable kernel.
    for ty in [GgmlType::F32, GgmlType::F16] {
        matvec_case(&mut rng, ty, 19, 40, 1, true, true, true);
    }
    print_worst("matvec");
}

/// More than 65535 workgroups: the grid is split into 2-D (`wg_linear`).
#[test]
fn matvec_grid_split_over_65535_groups() {
    let mut rng = Rng::new(11);
    // Over 65535 groups for 32 rows a group (portable) and for 16 (subgroup).
    let rows = 65535 * 32 + 37;
    matvec_case(&mut rng, GgmlType::Q8_0, rows, 32, 1, false, false, false);
    print_worst("matvec");
}

/// A GEMM against the reference in every layout, both weight stores and
/// each subgroup width; `fusion` (row layout only): (RMSNorm of x, w as
/// [gate; up] with SiLU).
#[allow(clippy::too_many_arguments)]
fn gemm_case(
    rng: &mut Rng,
    ty: GgmlType,
    rows: usize,
    k: usize,
    n_tokens: usize,
    residual: bool,
    fusion: (bool, bool),
) {
    let g = gpu();
    let (norm, swiglu) = fusion;
    let what = format!(
        "gemm {ty:?} {rows}x{k} n_tokens {n_tokens} residual {residual} norm {norm} swiglu {swiglu}"
    );
    let wrows = if swiglu { 2 * rows } else { rows };
    let wbytes = rand_weight(rng, ty, wrows, k);
    let wf = dequantize(ty, &wbytes, wrows * k).unwrap();
    let wb = Weight::upload_to(g, "w", ty, &wbytes, wrows, k, false).unwrap();
    let wt = Weight::upload_to(g, "w", ty, &wbytes, wrows, k, true).unwrap();
    let x = rng.vec(n_tokens * k, -1.0, 1.0);
    let nw = rng.vec(k, 0.5, 1.5);
    let y0 = if residual {
        rng.vec(n_tokens * rows, -1.0, 1.0)
    } else {
        vec![777.0; n_tokens * rows]
    };
    let (xb, nwb) = (upload(&x), upload(&nw));
    let st = step_tokens(n_tokens as u32, 0);
    // The expected output from the matmul's input: x (normed with norm),
    // or (`int`) that rounded to Q8_1 blocks as `ops::quant_x` rounds it.
    let want_from = |int: bool| {
        let mut xin = if norm {
            r::rmsnorm(&x, &nw, EPS)
        } else {
            x.clone()
        };
        if int {
            xin = r::round_q8_1(&xin);
        }
        let mut want = r::matmul(&xin, n_tokens, &wf, wrows, k);
        if swiglu {
            want = want
                .chunks(wrows)
                .flat_map(|t| r::silu_mul(&t[..rows], &t[rows..]))
                .collect();
        }
        if residual {
            want = r::add(&want, &y0);
        }
        want
    };
    let opts = ops::GemmOpts {
        residual,
        norm: norm.then_some((&nwb, EPS)),
        swiglu,
        rope: None,
        x_q8_1: false,
    };
    // Every layout on both stores; the row GEMM also with subgroup x.
    // x shared over 4 lanes (SwiftShader's subgroups) runs on wider ones
    // too, so lavapipe checks both ways. The fusions: the row GEMM only.
    let mut layouts = vec![(MatvecLayout::Rows, 0)];
    if !norm && !swiglu {
        layouts.push((MatvecLayout::Groups, 0));
    }
    assert!(
        ops::gemm_subgroup(g) >= 4,
        "lavapipe grants subgroups of 8 lanes"
    );
    for lanes in [4, 8].into_iter().filter(|&l| l <= ops::gemm_subgroup(g)) {
        layouts.push((MatvecLayout::Rows, lanes));
    }
    // x followed by 128 KiB of NaN: room for the uniform views of every
    // tile (two where a tile's 16 tokens pass 64 KiB, k > 1024), so the
    // 8-lane row GEMM binds x as a uniform (one dispatch per 16 tokens),
    // and a read past the tokens would show.
    let padded = {
        let mut v = x.clone();
        v.extend(std::iter::repeat_n(
            f32::NAN,
            2 * ops::X_UNIFORM_BYTES as usize / 4,
        ));
        upload(&v)
    };
    let split = 16 * k * 4 > ops::X_UNIFORM_BYTES as usize;
    let cases = [&wb, &wt]
        .into_iter()
        .flat_map(|w| layouts.iter().map(move |&(l, sg)| (w, l, sg)));
    let cases = cases.flat_map(|(w, l, sg)| [(w, l, sg, false), (w, l, sg, true)]);
    for (w, layout, sg, pad) in cases {
        if pad && (layout, sg) != (MatvecLayout::Rows, 8) {
            continue;
        }
        let yb = guarded(&y0);
        let xin = if pad { &padded } else { &xb };
        let d = ops::gemm_in_layout(g, &st, w, xin, &yb, opts, n_tokens, layout, sg).unwrap();
        assert_eq!(
            matches!(
                d.kernel,
                Kernel::Gemm {
                    x_uniform: true,
                    ..
                }
            ),
            pad,
            "{what}: x as a uniform exactly with the padded buffer"
        );
        assert_eq!(
            matches!(d.kernel, Kernel::Gemm { x_split: true, .. }),
            pad && split,
            "{what}: two views exactly where a tile passes 64 KiB"
        );
        run(&[&d], n_tokens as u32);
        let what = format!(
            "{what} {layout:?} subgroup {sg} texture {} x uniform {pad}",
            w.store.is_texture()
        );
        assert!(
            !matches!(d.kernel, Kernel::Gemm { int_x: true, .. }),
            "{what}: integer products only on Q8_1 x"
        );
        let got = read_guarded(&yb, n_tokens * rows, &what);
        assert_close(&got, &want_from(false), 1e-7, &what);
    }
    // Q4_1 on x rounded to Q8_1 blocks (`ops::quant_x`, with the norm)
    // and integer products, where the adapter takes them (lavapipe); the
    // blocks followed by a 64 KiB view's slack of NaN words.
    for w in [&wb, &wt] {
        if !ops::gemm_takes_q8_1(g, w) {
            assert!(
                ty != GgmlType::Q4_1 || !g.info.cpu,
                "{what}: CPU adapters take Q4_1 on Q8_1 x"
            );
            continue;
        }
        let xq_words = n_tokens * ops::q8_1_token_bytes(k) as usize / 4;
        let xq = upload(&vec![
            f32::NAN;
            xq_words + ops::X_UNIFORM_BYTES as usize / 4
        ]);
        let round = ops::quant_x(g, &st, &xb, &xq, opts.norm, k, n_tokens).unwrap();
        let int_opts = ops::GemmOpts {
            norm: None,
            x_q8_1: true,
            ..opts
        };
        let yb = guarded(&y0);
        let d = ops::gemm_in_layout(
            g,
            &st,
            w,
            &xq,
            &yb,
            int_opts,
            n_tokens,
            MatvecLayout::Rows,
            8,
        )
        .unwrap();
        assert!(matches!(d.kernel, Kernel::Gemm { int_x: true, .. }));
        run(&[&round, &d], n_tokens as u32);
        let what = format!("{what} texture {} x as Q8_1", w.store.is_texture());
        let got = read_guarded(&yb, n_tokens * rows, &what);
        assert_close(&got, &want_from(true), 1e-7, &what);
    }
}

#[test]
fn gemm_all_types() {
    let mut rng = Rng::new(2);
    for ty in TYPES {
        for (rows, k) in [(37, 64), (64, 96), (100, 576)] {
            for n_tokens in [1, 5, 12, 33, 70] {
                for residual in [false, true] {
                    gemm_case(&mut rng, ty, rows, k, n_tokens, residual, (false, false));
                }
            }
        }
    }
    // A tile's x over two uniform views (SmolLM2's down, k = 1536).
    for ty in [GgmlType::Q4_1, GgmlType::Q8_0] {
        for n_tokens in [5, 33] {
            gemm_case(&mut rng, ty, 40, 1536, n_tokens, true, (false, false));
        }
    }
    print_worst("gemm");
}

/// The row GEMM's fusions: RMSNorm of x (QKV) and RMSNorm with
/// [gate; up] and SiLU (the FFN), as the prefill runs them.
#[test]
fn gemm_fused_norm_swiglu() {
    let mut rng = Rng::new(12);
    for ty in TYPES {
        for (rows, k) in [(37, 64), (100, 576)] {
            for n_tokens in [1, 12, 33] {
                for fusion in [(true, false), (true, true), (false, true)] {
                    gemm_case(&mut rng, ty, rows, k, n_tokens, false, fusion);
                }
            }
        }
    }
    print_worst("gemm");
}

#[test]
fn embed_all_types() {
    let g = gpu();
    let mut rng = Rng::new(3);
    let vocab = 50;
    for ty in TYPES {
        let dims: &[usize] = if ty.block_elems() == 1 {
            &[40, 576]
        } else {
            &[96, 576]
        };
        for &dim in dims {
            for (pos0, n_tokens, scale) in [(0usize, 4usize, 1.0f32), (9, 5, 0.75)] {
                let what = format!("embed {ty:?} dim {dim} pos0 {pos0} n_tokens {n_tokens}");
                let wbytes = rand_weight(&mut rng, ty, vocab, dim);
                let table = dequantize(ty, &wbytes, vocab * dim).unwrap();
                let ids: Vec<u32> = (0..pos0 + n_tokens + 3)
                    .map(|_| rng.below(vocab) as u32)
                    .collect();
                let texture = pos0 > 0; // the first case in a buffer, the second in a texture
                let what = format!("{what} texture {texture}");
                let w = Weight::upload_to(g, "embd", ty, &wbytes, vocab, dim, texture).unwrap();
                let (tb, yb) = (upload_u32(&ids), guarded(&vec![777.0; n_tokens * dim]));
                let st = step_tokens(n_tokens as u32, pos0 as u32);
                let d = ops::embed(g, &st, &w, &tb, &yb, scale, n_tokens).unwrap();
                run(&[&d], n_tokens as u32);
                let got = read_guarded(&yb, n_tokens * dim, &what);
                let want: Vec<f32> = ids[pos0..pos0 + n_tokens]
                    .iter()
                    .flat_map(|&id| {
                        table[id as usize * dim..(id as usize + 1) * dim]
                            .iter()
                            .map(|v| v * scale)
                    })
                    .collect();
                assert_close(&got, &want, 1e-12, &what);
            }
        }
    }
    // Out-of-range ids are clamped to the last row, never read past the table.
    let wbytes = rand_weight(&mut rng, GgmlType::F32, vocab, 40);
    let w = Weight::upload(g, "embd", GgmlType::F32, &wbytes, vocab, 40).unwrap();
    let (tb, yb) = (upload_u32(&[vocab as u32 + 5]), guarded(&[0.0; 40]));
    let d = ops::embed(g, &step_tokens(1, 0), &w, &tb, &yb, 1.0, 1).unwrap();
    run(&[&d], 1);
    let last = dequantize(GgmlType::F32, &wbytes, vocab * 40).unwrap()[(vocab - 1) * 40..].to_vec();
    assert_eq!(
        read_guarded(&yb, 40, "embed clamp"),
        last,
        "embed: id past the vocabulary"
    );
    print_worst("embed");
}

#[test]
fn rmsnorm_dims() {
    let g = gpu();
    let mut rng = Rng::new(4);
    for dim in [576, 100, 33] {
        for n_tokens in [1, 7] {
            let what = format!("rmsnorm dim {dim} n_tokens {n_tokens}");
            let x = rng.vec(n_tokens * dim, -2.0, 2.0);
            let w = rng.vec(dim, 0.5, 1.5);
            let (xb, wb, yb) = (
                upload(&x),
                upload(&w),
                guarded(&vec![777.0; n_tokens * dim]),
            );
            let st = step_tokens(n_tokens as u32, 0);
            let d = ops::rmsnorm(g, &st, &xb, &yb, &wb, dim, EPS, n_tokens).unwrap();
            run(&[&d], n_tokens as u32);
            let got = read_guarded(&yb, n_tokens * dim, &what);
            assert_close(&got, &r::rmsnorm(&x, &w, EPS), 1e-10, &what);
        }
    }
    print_worst("rmsnorm");
}

#[test]
fn silu_mul_sizes() {
    let g = gpu();
    let mut rng = Rng::new(5);
    for n in [100, 1536, 33] {
        for n_tokens in [1, 5] {
            let what = format!("silu_mul n {n} n_tokens {n_tokens}");
            let a = rng.vec(n_tokens * 2 * n, -6.0, 6.0);
            let (ab, hb) = (upload(&a), guarded(&vec![777.0; n_tokens * n]));
            let st = step_tokens(n_tokens as u32, 0);
            let d = ops::silu_mul(g, &st, n, &ab, &hb, n_tokens).unwrap();
            run(&[&d], n_tokens as u32);
            let got = read_guarded(&hb, n_tokens * n, &what);
            let want: Vec<f32> = a
                .chunks_exact(2 * n)
                .flat_map(|row| r::silu_mul(&row[..n], &row[n..]))
                .collect();
            assert_close(&got, &want, 1e-10, &what);
        }
    }
    print_worst("silu_mul");
}

const THETA: f32 = 10_000.0;

#[allow(clippy::too_many_arguments)]
fn rope_case(
    rng: &mut Rng,
    nh: usize,
    nkv: usize,
    hd: usize,
    rope_dim: usize,
    neox: bool,
    pos0: usize,
    n_tokens: usize,
    tex: bool,
) {
    let g = gpu();
    let what = format!(
        "rope_kv {nh}/{nkv}x{hd} rope_dim {rope_dim} neox {neox} pos0 {pos0} n_tokens {n_tokens} kv texture {tex}"
    );
    let ctx = pos0 + n_tokens + 5;
    let s = AttnShape {
        n_heads: nh,
        n_kv_heads: nkv,
        head_dim: hd,
        ctx,
    };
    let width = s.qkv_width();
    let qkv = rng.vec(n_tokens * width, -1.0, 1.0);
    // The caches' values, f16 as the caches hold them.
    let kc0 = f16_round(&rng.vec(s.cache_elems(), -1.0, 1.0));
    let vc0 = f16_round(&rng.vec(s.cache_elems(), -1.0, 1.0));
    let qb = guarded(&qkv);
    let kv = kv_cache(&f16_words(&kc0), &f16_words(&vc0), tex);
    let st = step_tokens(n_tokens as u32, pos0 as u32);
    let d = ops::rope_kv(
        g,
        &st,
        s,
        RopeOpts {
            rope_dim,
            theta: THETA,
            neox,
        },
        &qb,
        &kv,
        n_tokens,
    )
    .unwrap();
    run(&[&d], n_tokens as u32);
    let got_qkv = read_guarded(&qb, qkv.len(), &what);
    let (got_k, got_v) = read_kv(&kv, s.cache_words(), &what);
    let (got_k, got_v) = (f16_values(&got_k), f16_values(&got_v));

    let rope = if neox { r::rope_neox } else { r::rope_norm };
    let (mut q_got, mut q_want, mut k_got, mut k_want) = (vec![], vec![], vec![], vec![]);
    let (mut want_k, mut want_v) = (kc0.clone(), vc0.clone());
    for t in 0..n_tokens {
        let pos = pos0 + t;
        let row = &qkv[t * width..(t + 1) * width];
        let mut q = row[..nh * hd].to_vec();
        rope(&mut q, nh, hd, rope_dim, pos, THETA);
        q_want.extend(&q);
        q_got.extend(&got_qkv[t * width..t * width + nh * hd]);
        // k and v stay as they were in qkv: attention reads them from the cache.
        assert_eq!(
            &got_qkv[t * width + nh * hd..(t + 1) * width],
            &row[nh * hd..],
            "{what}: k/v in qkv changed"
        );
        let mut k = row[nh * hd..(nh + nkv) * hd].to_vec();
        rope(&mut k, nkv, hd, rope_dim, pos, THETA);
        for h in 0..nkv {
            let at = (h * ctx + pos) * hd;
            want_k[at..at + hd].copy_from_slice(&k[h * hd..(h + 1) * hd]);
            k_want.extend(&k[h * hd..(h + 1) * hd]);
            k_got.extend(&got_k[at..at + hd]);
            let v = f16_round(&row[(nh + nkv + h) * hd..(nh + nkv + h + 1) * hd]);
            want_v[at..at + hd].copy_from_slice(&v);
        }
    }
    assert_close(&q_got, &q_want, 1e-8, &format!("{what}: q"));
    // k rounded to f16 in the cache, against the rounded reference: where
    // the f32 angles differ (1e-8 above) a value near a rounding boundary
    // lands one f16 step (2^-11 relative) away, hence 1e-7.
    assert_close(&k_got, &f16_round(&k_want), 1e-7, &format!("{what}: k"));
    assert_eq!(
        got_v, want_v,
        "{what}: v cache (written rows copied as f16, others untouched)"
    );
    // Outside the written rows the K cache must be bit-identical.
    for h in 0..nkv {
        for p in (0..ctx).filter(|p| !(pos0..pos0 + n_tokens).contains(p)) {
            let at = (h * ctx + p) * hd;
            assert_eq!(
                &got_k[at..at + hd],
                &kc0[at..at + hd],
                "{what}: k cache row ({h}, {p}) touched"
            );
        }
    }
}

#[test]
fn rope_kv_norm_and_neox() {
    let mut rng = Rng::new(6);
    for (nh, nkv, hd, partial) in [(9, 3, 64, 24), (4, 2, 32, 16)] {
        for rope_dim in [hd, partial] {
            for neox in [false, true] {
                for pos0 in [0, 1000] {
                    for tex in [false, true] {
                        rope_case(&mut rng, nh, nkv, hd, rope_dim, neox, pos0, 3, tex);
                    }
                }
            }
        }
    }
    print_worst("rope_kv");
}

/// Inputs of the fused-vs-separate RoPE tests: a [q; k; v] weight of
/// `heads` = (n_heads, n_kv_heads, head_dim, rope_dim) over k columns, x,
/// a norm weight, random caches (f16 words) with room past the batch, and
/// the step.
struct RopeSetup {
    s: AttnShape,
    rope: RopeOpts,
    rows: usize,
    wbytes: Vec<u8>,
    x: wgpu::Buffer,
    nw: wgpu::Buffer,
    kc0: Vec<f32>,
    vc0: Vec<f32>,
    st: wgpu::Buffer,
}

fn rope_setup(
    rng: &mut Rng,
    ty: GgmlType,
    heads: (usize, usize, usize, usize),
    k: usize,
    pos0: usize,
    n_tokens: usize,
) -> RopeSetup {
    let (n_heads, n_kv_heads, head_dim, rope_dim) = heads;
    let s = AttnShape {
        n_heads,
        n_kv_heads,
        head_dim,
        ctx: pos0 + n_tokens + 5,
    };
    let rows = s.qkv_width();
    RopeSetup {
        s,
        rope: RopeOpts {
            rope_dim,
            theta: THETA,
            neox: false,
        },
        rows,
        wbytes: rand_weight(rng, ty, rows, k),
        x: upload(&padded(&rng.vec(n_tokens * k, -1.0, 1.0))),
        nw: upload(&rng.vec(k, 0.5, 1.5)),
        kc0: f16_words(&rng.vec(s.cache_elems(), -1.0, 1.0)),
        vc0: f16_words(&rng.vec(s.cache_elems(), -1.0, 1.0)),
        st: step_tokens(n_tokens as u32, pos0 as u32),
    }
}

/// The fused and the separate runs' qkv and caches (`(want, got, len)`
/// each, the caches' length in words) agree to NMSE <= 1e-12.
fn same_outputs(
    what: &str,
    qkv: (&wgpu::Buffer, &wgpu::Buffer, usize),
    kv: (&ops::KvCache, &ops::KvCache, usize),
) {
    let (a, b, n) = qkv;
    let (want, got) = (read_guarded(a, n, what), read_guarded(b, n, what));
    assert_close(&got, &want, 1e-12, &format!("{what}: qkv"));
    let (a, b, n) = kv;
    let ((wk, wv), (gk, gv)) = (read_kv(a, n, what), read_kv(b, n, what));
    for (name, want, got) in [("k cache", wk, gk), ("v cache", wv, gv)] {
        let (want, got) = (f16_values(&want), f16_values(&got));
        assert_close(&got, &want, 1e-12, &format!("{what}: {name}"));
    }
}

/// The decode QKV matvec with RoPE and the KV append in its epilogue
/// (`MatvecOpts::rope`) against the matvec followed by rope_kv, which the
/// tests above check against the scalar reference: q, k, v in qkv and
/// both whole caches must agree (NMSE <= 1e-12: the same reductions and
/// the same rotation code, shaders/rope.wgsl).
#[test]
fn matvec_with_rope_matches_matvec_then_rope_kv() {
    let g = gpu();
    assert!(g.info.subgroup_lanes.is_some(), "lavapipe grants subgroups");
    let mut rng = Rng::new(9);
    for (ty, nh, nkv, hd, rope_dim, k) in [
        (GgmlType::Q4_1, 9, 3, 64, 64, 576),
        (GgmlType::Q8_0, 4, 2, 32, 16, 64),
        (GgmlType::F16, 2, 1, 16, 16, 32),
    ] {
        for (pos0, n_tokens) in [(0, 1), (1000, 3)] {
            let RopeSetup {
                s,
                rope,
                rows,
                wbytes,
                x,
                nw,
                kc0,
                vc0,
                st,
            } = rope_setup(&mut rng, ty, (nh, nkv, hd, rope_dim), k, pos0, n_tokens);
            // rope_kv on the one row the matvec wrote, at the last position.
            let st_last = step_tokens(1, (pos0 + n_tokens - 1) as u32);
            for tex in [false, true] {
                let w = Weight::upload_to(g, "w", ty, &wbytes, rows, k, tex).unwrap();
                for split in [None, Some(1), Some(2)] {
                    // The caches in the weights' kind of store, as the
                    // model keeps them (`GpuInfo::kv_textures`).
                    let what = format!(
                        "{ty:?} {nh}/{nkv}x{hd} rope_dim {rope_dim} pos0 {pos0} n_tokens {n_tokens} textures {tex} split {split:?}"
                    );
                    assert!(ops::fuses_rope(g, &w, rope), "{what}: not fusable");
                    // One token: as the decode list runs it (x uniform,
                    // and rounded for Q4_1), on both sides.
                    let opts = MatvecOpts {
                        norm: Some((&nw, EPS)),
                        split,
                        decode: n_tokens == 1,
                        ..Default::default()
                    };
                    let (y1, kv1) = (guarded(&vec![7.0; rows]), kv_cache(&kc0, &vc0, tex));
                    let mv = ops::matvec(g, &st, &w, &x, &y1, opts).unwrap();
                    run(&[&mv], n_tokens as u32);
                    let rk = ops::rope_kv(g, &st_last, s, rope, &y1, &kv1, 1).unwrap();
                    run(&[&rk], 1);
                    let (y2, kv2) = (guarded(&vec![7.0; rows]), kv_cache(&kc0, &vc0, tex));
                    let fused = MatvecOpts {
                        rope: Some(ops::RopeFuse {
                            shape: s,
                            rope,
                            kv: &kv2,
                        }),
                        ..opts
                    };
                    let d = ops::matvec(g, &st, &w, &x, &y2, fused).unwrap();
                    assert_eq!(d.kernel.bindings().len(), if tex { 9 } else { 10 });
                    let uniform = matches!(
                        d.kernel,
                        Kernel::Matvec {
                            x_uniform: true,
                            ..
                        }
                    );
                    assert_eq!(
                        uniform,
                        n_tokens == 1 && g.info.x_uniform,
                        "{what}: x uniform"
                    );
                    run(&[&d], n_tokens as u32);
                    same_outputs(&what, (&y1, &y2, rows), (&kv1, &kv2, kc0.len()));
                }
            }
        }
    }
    print_worst("matvec+rope");
}

/// Decode attention with its share of the O projection (`attention_o`)
/// against attention then the O matvec with residual, and the FFN's
/// matvecs reading the partial vectors (`MatvecOpts::parts`) against the
/// same matvecs on the residual summed on the CPU. The attention outputs
/// must agree to NMSE <= 1e-12 (the same code); the rest to 1e-10 (the O
/// projection summed in KV-head parts, another f32 order).
#[test]
fn attention_o_and_parts_match_attention_then_matvecs() {
    let g = gpu();
    let mut rng = Rng::new(13);
    // (type, heads, kv heads, head_dim, rows of Wo, ffn width)
    for (ty, nh, nkv, hd, dim, ffn) in [
        (GgmlType::Q4_1, 9, 3, 64, 576, 96),
        (GgmlType::Q8_0, 4, 2, 64, 160, 64),
        (GgmlType::F16, 8, 2, 64, 128, 32),
        (GgmlType::Q4_0, 2, 2, 64, 96, 64),
    ] {
        for pos0 in [0, 300] {
            let s = AttnShape {
                n_heads: nh,
                n_kv_heads: nkv,
                head_dim: hd,
                ctx: pos0 + 5,
            };
            let qd = nh * hd;
            let qkv = upload(&rng.vec(s.qkv_width(), -3.0, 3.0));
            let kw = f16_words(&rng.vec(s.cache_elems(), -1.0, 1.0));
            let vw = f16_words(&rng.vec(s.cache_elems(), -1.0, 1.0));
            let x0 = rng.vec(dim, -1.0, 1.0);
            let nw = upload(&rng.vec(dim, 0.5, 1.5));
            let st = step_tokens(1, pos0 as u32);
            let scale = 1.0 / (hd as f32).sqrt();
            for tex in [false, true] {
                // The caches in the weight's kind of store, as the model
                // keeps them (`GpuInfo::kv_textures`).
                let kv = kv_cache(&kw, &vw, tex);
                let what = format!("{ty:?} {nh}/{nkv}x{hd} -> {dim} pos0 {pos0} textures {tex}");
                let wo = Weight::upload_to(
                    g,
                    "wo",
                    ty,
                    &rand_weight(&mut rng, ty, dim, qd),
                    dim,
                    qd,
                    tex,
                )
                .unwrap();
                assert!(ops::fuses_attention_o(g, s, &wo), "{what}: not fusable");
                let decode = MatvecOpts {
                    decode: true,
                    ..Default::default()
                };
                // Separate: attention, then x += Wo · out.
                let out1 = upload(&padded(&vec![0.0; qd]));
                let x1 = upload(&padded(&x0));
                let att = ops::attention(g, &st, s, scale, 0, &qkv, &kv, &out1, 1).unwrap();
                let o = ops::matvec(
                    g,
                    &st,
                    &wo,
                    &out1,
                    &x1,
                    MatvecOpts {
                        residual: true,
                        ..decode
                    },
                )
                .unwrap();
                run(&[&att, &o], 1);
                // Fused: attention and the partial vectors.
                let out2 = upload(&padded(&vec![0.0; qd]));
                let parts = upload(&padded(&vec![f32::NAN; nkv * dim]));
                let ao =
                    ops::attention_o(g, &st, s, scale, 0, &qkv, &kv, &out2, &wo, &parts).unwrap();
                run(&[&ao], 1);
                assert_close(
                    &read_all(&out2)[..qd],
                    &read_all(&out1)[..qd],
                    1e-12,
                    &format!("{what}: out"),
                );
                let p = read_all(&parts);
                // x + ((p0 + p1) + p2), the order the FFN's matvecs add them in.
                let resid: Vec<f32> = (0..dim)
                    .map(|i| x0[i] + (0..nkv).fold(0.0f32, |a, h| a + p[h * dim + i]))
                    .collect();
                let want = read_all(&x1);
                assert_close(&resid, &want[..dim], 1e-10, &format!("{what}: x + parts"));

                // The FFN's gate/up (normed x) and down (residual) with the
                // parts, against the same matvecs on `resid`.
                let gu = Weight::upload_to(
                    g,
                    "gate_up",
                    ty,
                    &rand_weight(&mut rng, ty, 2 * ffn, dim),
                    2 * ffn,
                    dim,
                    tex,
                )
                .unwrap();
                let down = Weight::upload_to(
                    g,
                    "down",
                    ty,
                    &rand_weight(&mut rng, ty, dim, ffn),
                    dim,
                    ffn,
                    tex,
                )
                .unwrap();
                let with = Some((&parts, nkv as u32));
                let act = MatvecOpts {
                    norm: Some((&nw, EPS)),
                    swiglu: true,
                    ..decode
                };
                let xp = upload(&padded(&x0));
                let xr = upload(&padded(&resid));
                let (h1, h2) = (
                    upload(&padded(&vec![0.0; ffn])),
                    upload(&padded(&vec![0.0; ffn])),
                );
                let a1 = ops::matvec(g, &st, &gu, &xr, &h1, act).unwrap();
                let a2 =
                    ops::matvec(g, &st, &gu, &xp, &h2, MatvecOpts { parts: with, ..act }).unwrap();
                assert!(
                    matches!(a2.kernel, Kernel::Matvec { parts: 1.., .. }),
                    "{what}: parts"
                );
                let res = MatvecOpts {
                    residual: true,
                    ..decode
                };
                let d1 = ops::matvec(g, &st, &down, &h1, &xr, res).unwrap();
                let d2 = ops::matvec(g, &st, &down, &h1, &xp, MatvecOpts { parts: with, ..res })
                    .unwrap();
                run(&[&a1, &a2, &d1, &d2], 1);
                assert_close(
                    &read_all(&h2)[..ffn],
                    &read_all(&h1)[..ffn],
                    1e-10,
                    &format!("{what}: gate/up"),
                );
                assert_close(
                    &read_all(&xp)[..dim],
                    &read_all(&xr)[..dim],
                    1e-10,
                    &format!("{what}: down"),
                );
            }
        }
    }
    print_worst("attention+o");
}

/// The decode FFN in one dispatch (`ops::ffn`) against the matvecs it
/// replaces: gate/up (norm, SwiGLU) on x plus attention's partial vectors,
/// then down adding to that residual. [gate; up] and down share one store
/// (a weight at texel 0, one after it, as the loader places them). h and
/// the residual it writes must agree to NMSE <= 1e-12 (the same code and
/// order); the residual plus the partial down vectors to 1e-10 (down summed
/// in slices, another f32 order). Then the next QKV matvec, adding the
/// partial vectors to x and folding them into a buffer, against the same
/// matvec on the sum taken on the CPU.
#[test]
fn ffn_and_fold_match_matvecs() {
    let g = gpu();
    let mut rng = Rng::new(17);
    // (type, dim, ffn, attention parts, QKV rows)
    for (ty, dim, ffn, nparts, nq) in [
        (GgmlType::Q4_1, 576, 1536, 3, 960),
        (GgmlType::Q8_0, 128, 256, 2, 96),
        (GgmlType::F16, 192, 512, 1, 64),
        (GgmlType::Q4_0, 64, 256, 4, 48),
    ] {
        for tex in [false, true] {
            let what = format!("ffn {ty:?} {dim}x{ffn} texture {tex}");
            // One store: [gate; up] from texel 0, down after it.
            let gu_words = edge_llm::quant::repacked_words(ty, 2 * ffn, dim).unwrap();
            let base = gu_words.div_ceil(4);
            let total = base * 4 + edge_llm::quant::repacked_words(ty, dim, ffn).unwrap();
            let store = ops::WeightStore::new(g, "ffn", total as u64, tex).unwrap();
            let gub = rand_weight(&mut rng, ty, 2 * ffn, dim);
            let db = rand_weight(&mut rng, ty, dim, ffn);
            let gu = Weight::upload_at(g, "gate_up", ty, &gub, 2 * ffn, dim, &store, 0).unwrap();
            let down =
                Weight::upload_at(g, "down", ty, &db, dim, ffn, &store, base as u32).unwrap();
            let slices =
                ops::fuses_ffn(g, &gu, &down).unwrap_or_else(|| panic!("{what}: not fusable"));
            let x0 = rng.vec(dim, -1.0, 1.0);
            let ap = rng.vec(nparts * dim, -0.5, 0.5);
            let nw = upload(&rng.vec(dim, 0.5, 1.5));
            let st = step_tokens(1, 7);
            // x + ((p0 + p1) + p2): the order shaders/parts.wgsl adds them in.
            let resid: Vec<f32> = (0..dim)
                .map(|i| x0[i] + (0..nparts).fold(0.0f32, |a, h| a + ap[h * dim + i]))
                .collect();
            let decode = MatvecOpts {
                decode: true,
                ..Default::default()
            };
            // Separate: h = silu(gate) * up on the residual, then x += down · h.
            let xr = upload(&padded(&resid));
            let h1 = upload(&padded(&vec![0.0; ffn]));
            let act = MatvecOpts {
                norm: Some((&nw, EPS)),
                swiglu: true,
                ..decode
            };
            let a1 = ops::matvec(g, &st, &gu, &xr, &h1, act).unwrap();
            let d1 = ops::matvec(
                g,
                &st,
                &down,
                &h1,
                &xr,
                MatvecOpts {
                    residual: true,
                    ..decode
                },
            )
            .unwrap();
            // Fused.
            let xp = upload(&padded(&x0));
            let apb = upload(&padded(&ap));
            let h2 = upload(&padded(&vec![0.0; ffn]));
            let fparts = upload(&padded(&vec![f32::NAN; slices as usize * dim]));
            let xo = guarded(&vec![f32::NAN; dim]);
            let f = ops::ffn(
                g,
                &st,
                &gu,
                &down,
                (&nw, EPS),
                &xp,
                (&apb, nparts as u32),
                &h2,
                &fparts,
                &xo,
            )
            .unwrap();
            run(&[&a1, &d1, &f], 1);
            assert_close(
                &read_all(&h2)[..ffn],
                &read_all(&h1)[..ffn],
                1e-12,
                &format!("{what}: h"),
            );
            let xo_got = read_guarded(&xo, dim, &format!("{what}: residual out"));
            assert_close(&xo_got, &resid, 1e-12, &format!("{what}: residual out"));
            let fp = read_all(&fparts);
            let sum: Vec<f32> = (0..dim)
                .map(|i| resid[i] + (0..slices as usize).fold(0.0f32, |a, s| a + fp[s * dim + i]))
                .collect();
            let want = read_all(&xr)[..dim].to_vec();
            assert_close(&sum, &want, 1e-10, &format!("{what}: residual + parts"));

            // The next QKV matvec: x = xo's residual, parts = fparts.
            let qkv = Weight::upload_to(
                g,
                "qkv",
                ty,
                &rand_weight(&mut rng, ty, nq, dim),
                nq,
                dim,
                tex,
            )
            .unwrap();
            let norm = MatvecOpts {
                norm: Some((&nw, EPS)),
                ..decode
            };
            let full: Vec<f32> = (0..dim)
                .map(|i| resid[i] + (0..slices as usize).fold(0.0f32, |a, s| a + fp[s * dim + i]))
                .collect();
            let xf = upload(&padded(&full));
            let xq = upload(&padded(&resid));
            let (y1, y2) = (
                upload(&padded(&vec![0.0; nq])),
                upload(&padded(&vec![0.0; nq])),
            );
            let folded = guarded(&vec![f32::NAN; dim]);
            let q1 = ops::matvec(g, &st, &qkv, &xf, &y1, norm).unwrap();
            let q2 = ops::matvec(
                g,
                &st,
                &qkv,
                &xq,
                &y2,
                MatvecOpts {
                    parts: Some((&fparts, slices)),
                    fold: Some(&folded),
                    ..norm
                },
            )
            .unwrap();
            assert!(
                matches!(q2.kernel, Kernel::Matvec { fold: true, .. }),
                "{what}: fold"
            );
            run(&[&q1, &q2], 1);
            assert_close(
                &read_all(&y2)[..nq],
                &read_all(&y1)[..nq],
                1e-12,
                &format!("{what}: qkv"),
            );
            let got = read_guarded(&folded, dim, &format!("{what}: folded"));
            assert_close(&got, &full, 1e-12, &format!("{what}: folded"));
        }
    }
    print_worst("ffn");
}

/// A layer's attention half in one dispatch (`ops::qkv_attention_o`)
/// against the two it replaces, which the tests above hold to the
/// reference: the QKV matvec with RoPE, the KV append and (after the
/// first layer) the FFN's partial vectors folded into x, then attention
/// with its O share. [q; k; v] and Wo share a store, as the loader places
/// them. Attention's outputs, the partial vectors, the caches and the
/// folded residual must agree to NMSE <= 1e-12: the same row sums, the
/// same rotation and attention code, the same order.
#[test]
fn qkv_attention_o_matches_matvec_then_attention_o() {
    let g = gpu();
    let mut rng = Rng::new(19);
    // (type, heads, kv heads, dim); head_dim 64
    for (ty, nh, nkv, dim) in [
        (GgmlType::Q4_1, 9, 3, 576),
        (GgmlType::Q8_0, 8, 2, 128),
        (GgmlType::F16, 4, 4, 192),
        (GgmlType::Q4_0, 4, 1, 64),
    ] {
        for (pos0, nparts) in [(0, 0), (300, 4)] {
            let RopeSetup {
                s,
                rope,
                rows,
                wbytes,
                x,
                nw,
                kc0,
                vc0,
                st,
            } = rope_setup(&mut rng, ty, (nh, nkv, 64, 64), dim, pos0, 1);
            let qd = nh * 64;
            let ob = rand_weight(&mut rng, ty, dim, qd);
            let fp = upload(&padded(&rng.vec(nparts.max(1) * dim, -0.5, 0.5)));
            let scale = 0.125;
            for tex in [false, true] {
                let what =
                    format!("{ty:?} {nh}/{nkv} dim {dim} pos0 {pos0} parts {nparts} texture {tex}");
                // One store: [q; k; v] from texel 0, Wo after it.
                let qkv_words = edge_llm::quant::repacked_words(ty, rows, dim).unwrap();
                let base = qkv_words.div_ceil(4);
                let total = base * 4 + edge_llm::quant::repacked_words(ty, dim, qd).unwrap();
                let store = ops::WeightStore::new(g, "attn", total as u64, tex).unwrap();
                let qkv = Weight::upload_at(g, "qkv", ty, &wbytes, rows, dim, &store, 0).unwrap();
                let wo = Weight::upload_at(g, "wo", ty, &ob, dim, qd, &store, base as u32).unwrap();
                let fold = |xo| (nparts > 0).then_some((&fp, nparts as u32, xo));
                // Separate (the caches in buffers: the fused kernel's).
                let (y1, kv1) = (guarded(&vec![7.0; rows]), kv_cache(&kc0, &vc0, false));
                let xo1 = guarded(&vec![f32::NAN; dim]);
                let rf1 = ops::RopeFuse {
                    shape: s,
                    rope,
                    kv: &kv1,
                };
                assert!(
                    ops::fuses_qkv_attention_o(g, s, &qkv, &wo, rope, &kv1),
                    "{what}: not fusable"
                );
                let mv = ops::matvec(
                    g,
                    &st,
                    &qkv,
                    &x,
                    &y1,
                    MatvecOpts {
                        norm: Some((&nw, EPS)),
                        split: Some(2),
                        decode: true,
                        rope: Some(rf1),
                        parts: fold(&xo1).map(|(b, n, _)| (b, n)),
                        fold: fold(&xo1).map(|f| f.2),
                        ..Default::default()
                    },
                )
                .unwrap();
                let out1 = upload(&padded(&vec![0.0; qd]));
                let parts1 = upload(&padded(&vec![f32::NAN; nkv * dim]));
                let ao =
                    ops::attention_o(g, &st, s, scale, 0, &y1, &kv1, &out1, &wo, &parts1).unwrap();
                run(&[&mv, &ao], 1);
                // Fused.
                let kv2 = kv_cache(&kc0, &vc0, false);
                let xo2 = guarded(&vec![f32::NAN; dim]);
                let out2 = upload(&padded(&vec![0.0; qd]));
                let parts2 = upload(&padded(&vec![f32::NAN; nkv * dim]));
                let rf2 = ops::RopeFuse {
                    shape: s,
                    rope,
                    kv: &kv2,
                };
                let d = ops::qkv_attention_o(
                    g,
                    &st,
                    rf2,
                    scale,
                    &qkv,
                    (&nw, EPS),
                    &x,
                    fold(&xo2),
                    &out2,
                    &wo,
                    &parts2,
                )
                .unwrap();
                assert!(
                    matches!(d.kernel, Kernel::QkvAttnO { parts, .. } if parts == nparts as u32),
                    "{what}: {:?}",
                    d.kernel
                );
                run(&[&d], 1);
                for (name, a, b, n) in [
                    ("out", &out1, &out2, qd),
                    ("parts", &parts1, &parts2, nkv * dim),
                ] {
                    assert_close(
                        &read_all(b)[..n],
                        &read_all(a)[..n],
                        1e-12,
                        &format!("{what}: {name}"),
                    );
                }
                let ((wk, wv), (gk, gv)) = (
                    read_kv(&kv1, kc0.len(), &what),
                    read_kv(&kv2, kc0.len(), &what),
                );
                for (name, want, got) in [("k cache", wk, gk), ("v cache", wv, gv)] {
                    let (want, got) = (f16_values(&want), f16_values(&got));
                    assert_close(&got, &want, 1e-12, &format!("{what}: {name}"));
                }
                if nparts > 0 {
                    let want = read_guarded(&xo1, dim, &what);
                    let got = read_guarded(&xo2, dim, &what);
                    assert_close(&got, &want, 1e-12, &format!("{what}: folded"));
                }
            }
        }
    }
    print_worst("qkv+attention+o");
}

/// The row GEMM with RoPE and the KV append in its epilogue (and the
/// fused norm, as the prefill runs it) against the same GEMM then rope_kv:
/// q, k, v in qkv and both whole caches must agree (NMSE <= 1e-12: the
/// same sums and the same rotation code, shaders/rope.wgsl). x over 4 and
/// 8 lanes (the fusion needs subgroups) and both weight stores; token
/// counts across one and two token groups.
#[test]
fn gemm_with_rope_matches_gemm_then_rope_kv() {
    let g = gpu();
    let mut rng = Rng::new(13);
    for (ty, nh, nkv, hd, rope_dim, k) in [
        (GgmlType::Q4_1, 9, 3, 64, 64, 576),
        (GgmlType::Q8_0, 4, 2, 32, 16, 64),
    ] {
        for (pos0, n_tokens) in [(0, 5), (100, 19)] {
            let RopeSetup {
                s,
                rope,
                rows,
                wbytes,
                x,
                nw,
                kc0,
                vc0,
                st,
            } = rope_setup(&mut rng, ty, (nh, nkv, hd, rope_dim), k, pos0, n_tokens);
            for tex in [false, true] {
                let w = Weight::upload_to(g, "w", ty, &wbytes, rows, k, tex).unwrap();
                for sg in [4, 8].into_iter().filter(|&l| l <= ops::gemm_subgroup(g)) {
                    // The caches in the weights' kind of store, as the
                    // model keeps them (`GpuInfo::kv_textures`).
                    let what = format!(
                        "{ty:?} {nh}/{nkv}x{hd} rope_dim {rope_dim} pos0 {pos0} n_tokens {n_tokens} textures {tex} subgroup {sg}"
                    );
                    let opts = ops::GemmOpts {
                        norm: Some((&nw, EPS)),
                        ..Default::default()
                    };
                    let rows_layout = MatvecLayout::Rows;
                    let (y1, kv1) = (
                        guarded(&vec![7.0; n_tokens * rows]),
                        kv_cache(&kc0, &vc0, tex),
                    );
                    let mm =
                        ops::gemm_in_layout(g, &st, &w, &x, &y1, opts, n_tokens, rows_layout, sg)
                            .unwrap();
                    let rk = ops::rope_kv(g, &st, s, rope, &y1, &kv1, n_tokens).unwrap();
                    run(&[&mm, &rk], n_tokens as u32);
                    let (y2, kv2) = (
                        guarded(&vec![7.0; n_tokens * rows]),
                        kv_cache(&kc0, &vc0, tex),
                    );
                    let fused = ops::GemmOpts {
                        rope: Some(ops::RopeFuse {
                            shape: s,
                            rope,
                            kv: &kv2,
                        }),
                        ..opts
                    };
                    let d =
                        ops::gemm_in_layout(g, &st, &w, &x, &y2, fused, n_tokens, rows_layout, sg)
                            .unwrap();
                    assert_eq!(d.kernel.bindings().len(), 9);
                    run(&[&d], n_tokens as u32);
                    same_outputs(&what, (&y1, &y2, n_tokens * rows), (&kv1, &kv2, kc0.len()));
                }
            }
        }
    }
    print_worst("gemm+rope");
}

/// Attention over caches holding `pos0 + n_tokens` random positions; unused
/// positions (after the batch, and before the first window) hold NaN so
/// that reading them poisons the output.
#[allow(clippy::too_many_arguments)]
fn attn_case(
    rng: &mut Rng,
    nh: usize,
    nkv: usize,
    hd: usize,
    pos0: usize,
    n_tokens: usize,
    window: usize,
    pick: AttnKernel,
    tex: bool,
) {
    let g = gpu();
    let what = format!(
        "attention {nh}/{nkv}x{hd} pos0 {pos0} n_tokens {n_tokens} window {window} {pick:?} kv texture {tex}"
    );
    let ctx = pos0 + n_tokens + 4;
    let s = AttnShape {
        n_heads: nh,
        n_kv_heads: nkv,
        head_dim: hd,
        ctx,
    };
    let width = s.qkv_width();
    let first = if window > 0 {
        (pos0 + 1).saturating_sub(window)
    } else {
        0
    };
    let (mut kc, mut vc) = (
        vec![f32::NAN; s.cache_elems()],
        vec![f32::NAN; s.cache_elems()],
    );
    for h in 0..nkv {
        for p in first..pos0 + n_tokens {
            for d in 0..hd {
                kc[(h * ctx + p) * hd + d] = rng.range(-1.0, 1.0);
                vc[(h * ctx + p) * hd + d] = rng.range(-1.0, 1.0);
            }
        }
    }
    // Larger queries give peakier, more interesting softmaxes.
    let qkv = rng.vec(n_tokens * width, -3.0, 3.0);
    // The caches hold f16: the reference reads the same rounded values.
    let (kc, vc) = (f16_round(&kc), f16_round(&vc));
    let qb = upload(&qkv);
    let kv = kv_cache(&f16_words(&kc), &f16_words(&vc), tex);
    let ob = guarded(&vec![777.0; n_tokens * nh * hd]);
    let st = step_tokens(n_tokens as u32, pos0 as u32);
    let scale = 1.0 / (hd as f32).sqrt();
    let d = ops::attention_with(g, &st, s, scale, window, &qb, &kv, &ob, n_tokens, pick).unwrap();
    run(&[&d], n_tokens as u32);
    let got = read_guarded(&ob, n_tokens * nh * hd, &what);

    let q_of = |t: usize| &qkv[t * width..t * width + nh * hd];
    let want = if window == 0 {
        let q: Vec<f32> = (0..n_tokens).flat_map(|t| q_of(t).to_vec()).collect();
        let dims = AttnDims {
            n_heads: nh,
            n_kv_heads: nkv,
            head_dim: hd,
            ctx,
        };
        r::attention(&q, &kc, &vc, &dims, n_tokens, pos0).unwrap()
    } else {
        // The reference has no window: give it, per token, a cache sliced
        // to the window's positions.
        let mut out = Vec::new();
        for t in 0..n_tokens {
            let pos = pos0 + t;
            let lo = (pos + 1).saturating_sub(window);
            let len = pos + 1 - lo;
            let slice = |c: &[f32]| -> Vec<f32> {
                (0..nkv)
                    .flat_map(|h| c[(h * ctx + lo) * hd..(h * ctx + pos + 1) * hd].to_vec())
                    .collect()
            };
            let dims = AttnDims {
                n_heads: nh,
                n_kv_heads: nkv,
                head_dim: hd,
                ctx: len,
            };
            out.extend(r::attention(q_of(t), &slice(&kc), &slice(&vc), &dims, 1, len - 1).unwrap());
        }
        out
    };
    assert_close(&got, &want, 1e-8, &what);
}

/// Every attention kernel this adapter runs.
fn attn_kernels(g: &edge_llm::gpu::Gpu) -> Vec<AttnKernel> {
    let mut v = vec![AttnKernel::Portable];
    if g.info.subgroup_lanes.is_some() {
        v.push(AttnKernel::KeyLanes);
    }
    v
}

#[test]
fn attention_decode_prefill_windows() {
    let mut rng = Rng::new(7);
    let g = gpu();
    // (8, 1, 32): the largest query group the subgroup kernel takes;
    // (8, 2, 64) and (2, 2, 64): groups of 4 and 1 for lanes over tokens.
    for (nh, nkv, hd) in [(9, 3, 64), (4, 4, 32), (8, 1, 32), (8, 2, 64), (2, 2, 64)] {
        for pos0 in [0, 5, 300, 600] {
            for n_tokens in [1, 7, 20] {
                for window in [0, 100] {
                    let mut picks = attn_kernels(g);
                    // Lanes over dims where the shape allows it (not 8 heads
                    // per KV head).
                    if nh / nkv <= 4 && g.info.subgroup_lanes.is_some() {
                        picks.push(AttnKernel::DimLanes);
                    }
                    // Lanes over 8 tokens: head_dim 64 on 8-lane subgroups.
                    if nh / nkv <= 4 && hd == 64 && g.info.subgroup_lanes == Some(8) {
                        picks.push(AttnKernel::TokenLanes);
                    }
                    // Each kernel over caches in buffers and in textures.
                    for pick in picks {
                        for tex in [false, true] {
                            attn_case(&mut rng, nh, nkv, hd, pos0, n_tokens, window, pick, tex);
                        }
                    }
                }
            }
        }
    }
    // The largest supported head (Gemma): 4 output dims per thread; too
    // large for the subgroup kernel's registers, so portable either way.
    for pos0 in [0, 300] {
        for tex in [false, true] {
            attn_case(&mut rng, 2, 1, 256, pos0, 3, 0, AttnKernel::Auto, tex);
        }
    }
    print_worst("attention");
}

/// Attention at SmolLM2's whole context (8192 positions): decode at the
/// last position and a prefill tile ending there, every kernel, caches
/// in buffers and textures. Why: llvmpipe ends an invocation's loops
/// after 65535 iterations in all (`ops::cpu_sample_wg`), and attention's
/// loops grow with the context; past the limit it would read garbage
/// without an error.
#[test]
fn attention_at_the_whole_context() {
    let mut rng = Rng::new(8);
    let g = gpu();
    for n_tokens in [1, 16] {
        let mut picks = attn_kernels(g);
        if g.info.subgroup_lanes.is_some() {
            picks.push(AttnKernel::DimLanes);
        }
        if g.info.subgroup_lanes == Some(8) {
            picks.push(AttnKernel::TokenLanes);
        }
        for pick in picks {
            for tex in [false, true] {
                attn_case(
                    &mut rng,
                    9,
                    3,
                    64,
                    8192 - 4 - n_tokens,
                    n_tokens,
                    0,
                    pick,
                    tex,
                );
            }
        }
    }
    print_worst("attention, whole context");
}

#[test]
fn builders_reject_bad_shapes() {
    let g = gpu();
    let mut rng = Rng::new(8);
    let st = step_tokens(1, 0);
    let wbytes = rand_weight(&mut rng, GgmlType::Q8_0, 37, 64);
    let w = Weight::upload(g, "w", GgmlType::Q8_0, &wbytes, 37, 64).unwrap();
    let x = upload(&[0.0; 64]);
    let small = upload(&[0.0; 36]);
    let is_shape = |r: edge_llm::Result<ops::Dispatch>| matches!(r, Err(Error::Shape { .. }));
    assert!(
        is_shape(ops::matvec(g, &st, &w, &x, &small, MatvecOpts::default())),
        "matvec: small y"
    );
    assert!(
        is_shape(ops::matvec(g, &st, &w, &small, &x, MatvecOpts::default())),
        "matvec: small x"
    );
    let wide = MatvecOpts {
        lanes: Some(128),
        ..Default::default()
    };
    assert!(
        is_shape(ops::matvec(g, &st, &w, &x, &x, wide)) || g.info.subgroup_lanes.is_none(),
        "matvec: more lanes than the subgroup"
    );
    let odd = MatvecOpts {
        swiglu: true,
        ..Default::default()
    };
    assert!(
        is_shape(ops::matvec(g, &st, &w, &x, &x, odd)),
        "matvec: swiglu over odd rows"
    );
    assert!(
        is_shape(ops::gemm(g, &st, &w, &x, &x, Default::default(), 2)),
        "gemm: small y for 2 tokens"
    );
    // Partial O projections: in a buffer smaller than the uniform view.
    let parts = MatvecOpts {
        decode: true,
        residual: true,
        parts: Some((&x, 3)),
        ..Default::default()
    };
    assert!(
        is_shape(ops::matvec(g, &st, &w, &x, &x, parts)),
        "matvec: parts buffer smaller than 64 KiB"
    );
    // attention_o where the shape does not fuse (head_dim 32).
    let s32 = AttnShape {
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 32,
        ctx: 8,
    };
    let roomy = upload(&padded(&[0.0; 64]));
    let roomy_kv = ops::KvCache::from_buffers(roomy.clone(), roomy.clone());
    assert!(
        matches!(
            ops::attention_o(g, &st, s32, 1.0, 0, &roomy, &roomy_kv, &roomy, &w, &roomy),
            Err(Error::InvalidOption { .. })
        ),
        "attention_o: head_dim 32"
    );
    // The GEMM fusions: swiglu over odd rows, fusions on the tiled GEMM,
    // RoPE without subgroups or over a weight that is not [q; k; v].
    let big = upload(&vec![0.0; 64 * 37]);
    let big_kv = ops::KvCache::from_buffers(big.clone(), big.clone());
    let swiglu = ops::GemmOpts {
        swiglu: true,
        ..Default::default()
    };
    let rows = MatvecLayout::Rows;
    assert!(
        is_shape(ops::gemm_in_layout(
            g, &st, &w, &x, &big, swiglu, 1, rows, 0
        )),
        "gemm: swiglu over odd rows"
    );
    let is_option =
        |r: edge_llm::Result<ops::Dispatch>| matches!(r, Err(Error::InvalidOption { .. }));
    let norm = ops::GemmOpts {
        norm: Some((&x, EPS)),
        ..Default::default()
    };
    let tiled = MatvecLayout::Groups;
    assert!(
        is_option(ops::gemm_in_layout(g, &st, &w, &x, &big, norm, 1, tiled, 0)),
        "gemm: norm on the tiled GEMM"
    );
    let shape = AttnShape {
        n_heads: 2,
        n_kv_heads: 1,
        head_dim: 16,
        ctx: 4,
    };
    let rope = ops::GemmOpts {
        rope: Some(ops::RopeFuse {
            shape,
            rope: RopeOpts {
                rope_dim: 16,
                theta: THETA,
                neox: false,
            },
            kv: &big_kv,
        }),
        ..Default::default()
    };
    assert!(
        is_option(ops::gemm_in_layout(g, &st, &w, &x, &big, rope, 1, rows, 0)),
        "gemm: rope without subgroups"
    );
    assert!(
        is_shape(ops::gemm_in_layout(g, &st, &w, &x, &big, rope, 1, rows, 8)),
        "gemm: rope over 37 rows (q|k|v is 64)"
    );
    let w40 = Weight::upload(g, "w40", GgmlType::F32, &vec![0u8; 4 * 3 * 40], 3, 40).unwrap();
    assert!(
        is_shape(ops::gemm(g, &st, &w40, &x, &x, Default::default(), 1)),
        "gemm: k not a multiple of 32"
    );
    // Q8_1 x: Q4_1 weights on the row GEMM over 8 lanes only; k in 32s.
    let q8_1 = ops::GemmOpts {
        x_q8_1: true,
        ..Default::default()
    };
    assert!(
        is_option(ops::gemm_in_layout(
            g, &st, &w, &big, &big, q8_1, 1, rows, 8
        )),
        "gemm: Q8_1 x on Q8_0 weights"
    );
    assert!(
        is_shape(ops::quant_x(g, &st, &x, &big, None, 40, 1)),
        "quant_x: k not a multiple of 32"
    );
    let q40 = Weight::upload(g, "w", GgmlType::Q8_0, &wbytes[..34 * 2], 1, 40);
    assert!(
        matches!(q40, Err(Error::Shape { .. })),
        "upload: Q8_0 with 40 columns"
    );
    assert!(
        is_shape(ops::rmsnorm(g, &st, &x, &small, &x, 64, EPS, 1)),
        "rmsnorm: small y"
    );
    let s = AttnShape {
        n_heads: 4,
        n_kv_heads: 2,
        head_dim: 8,
        ctx: 16,
    };
    let qkv = upload(&vec![0.0; s.qkv_width()]);
    let rope = RopeOpts {
        rope_dim: 8,
        theta: THETA,
        neox: false,
    };
    let small_kv = ops::KvCache::from_buffers(small.clone(), small.clone());
    assert!(
        is_shape(ops::rope_kv(g, &st, s, rope, &qkv, &small_kv, 1)),
        "rope_kv: small cache"
    );
    let bad = RopeOpts {
        rope_dim: 10,
        ..rope
    };
    let cache = upload(&vec![0.0; s.cache_words()]);
    let kv = ops::KvCache::from_buffers(cache.clone(), cache.clone());
    assert!(
        is_shape(ops::rope_kv(g, &st, s, bad, &qkv, &kv, 1)),
        "rope_kv: rope_dim > head_dim"
    );
    let s3 = AttnShape { n_kv_heads: 3, ..s };
    assert!(
        is_shape(ops::attention(g, &st, s3, 1.0, 0, &qkv, &kv, &qkv, 1)),
        "attention: 4 heads over 3"
    );
    // Caches in textures too small for the shape, and K and V in
    // different kinds of store.
    let long = AttnShape { ctx: 1 << 16, ..s };
    let tex_kv = ops::KvCache::new(g, "small", s, true).unwrap();
    assert!(tex_kv.is_texture(), "KV textures on this adapter");
    assert!(
        is_shape(ops::attention(g, &st, long, 1.0, 0, &qkv, &tex_kv, &qkv, 1)),
        "attention: cache textures smaller than ctx"
    );
    let mixed = ops::KvCache {
        k: ops::KvStore::new(g, "k", s.cache_words() as u64, true).unwrap(),
        v: ops::KvStore::Buffer(cache.clone()),
    };
    assert!(
        is_shape(ops::rope_kv(g, &st, s, rope, &qkv, &mixed, 1)),
        "rope_kv: K in a texture, V in a buffer"
    );
    assert!(
        is_shape(ops::silu_mul(g, &st, 40, &small, &small, 1)),
        "silu_mul: small input"
    );
    assert!(
        is_shape(ops::sample(g, &st, 100, &small, &small)),
        "sample: small logits"
    );
    for wg in [0, 3, 512] {
        assert!(
            matches!(
                ops::sample_wg(g, &st, 4, &small, &small, wg),
                Err(Error::InvalidOption { .. })
            ),
            "sample: workgroup of {wg}"
        );
    }
}

#[path = "kernel_util/sample_tests.rs"]
mod sample_tests;

/// `Tuning::Race` runs every race there is on lavapipe, and the row GEMM
/// wins it by the margin `Tuning::Auto` relies on for CPU adapters, which
/// race nothing but the KV store (natively) once the adapter has subgroups.
#[test]
fn tuning_races_and_cpu_defaults() {
    use edge_llm::gpu::Gpu;
    use edge_llm::ops::Tuning;
    let mut raced = pollster::block_on(Gpu::new()).unwrap();
    assert!(
        raced.info.cpu && raced.info.subgroup_lanes.is_some(),
        "lavapipe expected"
    );
    pollster::block_on(ops::tune_with(&mut raced, Tuning::Race)).unwrap();
    let i = &raced.info;
    for (what, ms) in [
        ("matvec", i.matvec_tune_ms),
        ("split", i.split_tune_ms),
        ("texture", i.texture_tune_ms),
        ("gemm", i.gemm_tune_ms),
        ("kv", i.kv_tune_ms),
    ] {
        assert!(
            ms.iter().all(|&t| t > 0.0 && t.is_finite()),
            "{what} race: {ms:?}"
        );
    }
    assert_eq!(
        i.gemm_layout,
        MatvecLayout::Rows,
        "gemm race {:?}",
        i.gemm_tune_ms
    );

    let mut auto = pollster::block_on(Gpu::new()).unwrap();
    pollster::block_on(ops::tune(&mut auto)).unwrap();
    let a = &auto.info;
    assert_eq!(
        (a.matvec_split, a.weight_textures, a.gemm_layout),
        (2, true, MatvecLayout::Rows)
    );
    assert_eq!(
        (a.matvec_tune_ms, a.gemm_tune_ms),
        ([0.0; 2], [0.0; 2]),
        "CPU adapters race nothing but the KV store"
    );
    assert!(
        a.kv_tune_ms.iter().all(|&t| t > 0.0 && t.is_finite()),
        "kv race: {:?}",
        a.kv_tune_ms
    );
}

/// Weights asked for in a texture the adapter's textures cannot hold go to
/// a buffer, and the kernels read them there.
#[test]
fn weights_too_big_for_a_texture_fall_back_to_a_buffer() {
    let mut small = pollster::block_on(edge_llm::gpu::Gpu::new()).unwrap();
    small.info.max_texture_2d = 4096; // below the 8192-texel rows
    let mut rng = Rng::new(12);
    let (rows, k) = (64, 128);
    let bytes = rand_weight(&mut rng, GgmlType::Q4_1, rows, k);
    let w = Weight::upload_to(&small, "w", GgmlType::Q4_1, &bytes, rows, k, true).unwrap();
    assert!(!w.store.is_texture(), "a texture past the adapter's limit");
    let g = gpu();
    let t = Weight::upload_to(g, "w", GgmlType::Q4_1, &bytes, rows, k, true).unwrap();
    assert!(t.store.is_texture());
}
