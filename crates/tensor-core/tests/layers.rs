//! Semantics of the layer ops beyond their gradchecks: convolution against a direct
//! loop, PyTorch's conventions (first maximum on ties, padding counted in averages,
//! padding index without gradient, running statistics), exactly-zero gradients of
//! masked attention scores, seeded sampling, determinism across thread counts, and a
//! typed error for every kind of bad input.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::strategies::tensor_in;
use tensor_core::{AttentionMask, ConvOptions, Error, Indices, RunningStats, Tensor};

type R = Result<(), Error>;

fn zeros(shape: &[usize]) -> Tensor<f64> {
    Tensor::zeros(shape).expect("test shape")
}

fn ones(shape: &[usize]) -> Tensor<f64> {
    Tensor::ones(shape).expect("test shape")
}

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    Tensor::from_vec(data.to_vec(), shape).expect("test tensor")
}

/// The textbook definition, one output element at a time:
/// `y[n, o, i, j] = b[o] + Σ_{c ∈ group(o), p, q} x[n, c, i·s − pad + p·d, j·s − pad + q·d] · w[o, c, p, q]`.
fn conv2d_reference(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: Option<&Tensor<f64>>,
    o: &ConvOptions<2>,
) -> Vec<f64> {
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]);
    let (out, cg, kh, kw) = (ws[0], ws[1], ws[2], ws[3]);
    let size = |a: usize, len: usize, k: usize| {
        (len + 2 * o.padding[a] - o.dilation[a] * (k - 1) - 1) / o.stride[a] + 1
    };
    let (oh, ow) = (size(0, h, kh), size(1, wd, kw));
    let (xv, wv) = (x.as_slice(), w.as_slice());
    let per_group = out / o.groups;
    let mut y = Vec::new();
    for b_ in 0..n {
        for oc in 0..out {
            let group = oc / per_group;
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b.as_slice()[oc]);
                    for cc in 0..cg {
                        let ic = group * cg + cc;
                        for p in 0..kh {
                            for q in 0..kw {
                                let yy =
                                    (i * o.stride[0] + p * o.dilation[0]) as isize - o.padding[0] as isize;
                                let xx =
                                    (j * o.stride[1] + q * o.dilation[1]) as isize - o.padding[1] as isize;
                                if yy < 0 || xx < 0 || yy >= h as isize || xx >= wd as isize {
                                    continue;
                                }
                                let xi = ((b_ * c + ic) * h + yy as usize) * wd + xx as usize;
                                acc += xv[xi] * wv[((oc * cg + cc) * kh + p) * kw + q];
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
    }
    let _ = c;
    y
}

prop_compose! {
    fn conv_problem()(n in 1usize..=2, groups in 1usize..=3, cg in 1usize..=2, og in 1usize..=2,
                      k in prop::array::uniform2(1usize..=3), s in prop::array::uniform2(1usize..=3),
                      p in prop::array::uniform2(0usize..=2), d in prop::array::uniform2(1usize..=2),
                      extra in prop::array::uniform2(0usize..=3), bias in any::<bool>())
        (x in tensor_in(vec![n, groups * cg,
                             (d[0] * (k[0] - 1) + 1).saturating_sub(2 * p[0]).max(1) + extra[0],
                             (d[1] * (k[1] - 1) + 1).saturating_sub(2 * p[1]).max(1) + extra[1]], -2.0..2.0),
         w in tensor_in(vec![groups * og, cg, k[0], k[1]], -2.0..2.0),
         b in tensor_in(vec![groups * og], -2.0..2.0),
         groups in Just(groups), s in Just(s), p in Just(p), d in Just(d), bias in Just(bias))
        -> (Tensor<f64>, Tensor<f64>, Option<Tensor<f64>>, ConvOptions<2>) {
        (x, w, bias.then_some(b), ConvOptions { stride: s, padding: p, dilation: d, groups })
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// The im2col + GEMM lowering equals the direct definition for every setting.
    #[test]
    fn conv2d_matches_the_direct_loop((x, w, b, opts) in conv_problem()) {
        let y = x.conv2d(&w, b.as_ref(), &opts).expect("valid settings");
        let want = conv2d_reference(&x, &w, b.as_ref(), &opts);
        prop_assert_eq!(y.numel(), want.len());
        for (a, e) in y.as_slice().iter().zip(&want) {
            prop_assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()), "{} vs {}", a, e);
        }
    }

    /// conv1d is conv2d of height 1.
    #[test]
    fn conv1d_is_conv2d_of_height_one((x, w, b, opts) in conv_problem()) {
        let (x1, w1) = (x.narrow(2, 0, 1).expect("row"), w.narrow(2, 0, 1).expect("row"));
        let flat = ConvOptions { stride: [1, opts.stride[1]], padding: [0, opts.padding[1]],
                                 dilation: [1, opts.dilation[1]], groups: opts.groups };
        let two = x1.conv2d(&w1, b.as_ref(), &flat).expect("conv2d").squeeze(2).expect("height 1");
        let one_d = ConvOptions { stride: [opts.stride[1]], padding: [opts.padding[1]],
                                  dilation: [opts.dilation[1]], groups: opts.groups };
        let one = x1.squeeze(2).expect("3-D").conv1d(&w1.squeeze(2).expect("3-D"), b.as_ref(), &one_d)
            .expect("conv1d");
        prop_assert!(one.data_eq(&two));
    }
}

#[test]
fn conv2d_gradients_by_hand() -> R {
    // x = [[1, 2], [3, 4]], a 1×1 kernel w = 2 with bias 1: y = 2x + 1.
    // L = Σ y²: dL/dw = Σ 2y·x = 2(3·1 + 5·2 + 7·3 + 9·4) = 140, dL/db = Σ 2y = 48,
    // dL/dx = 2y·w = 4y.
    let x = t(&[1., 2., 3., 4.], &[1, 1, 2, 2]).requires_grad();
    let w = t(&[2.], &[1, 1, 1, 1]).requires_grad();
    let b = t(&[1.], &[1]).requires_grad();
    let y = x.conv2d(&w, Some(&b), &ConvOptions::default())?;
    assert_eq!(y.to_vec(), vec![3., 5., 7., 9.]);
    let g = y.square().sum_all().backward()?;
    assert_eq!(g.wrt(&w)?.to_vec(), vec![140.]);
    assert_eq!(g.wrt(&b)?.to_vec(), vec![48.]);
    assert_eq!(g.wrt(&x)?.to_vec(), vec![12., 20., 28., 36.]);
    Ok(())
}

#[test]
fn conv_f32_gradients_match_f64() -> R {
    let mut rng = StdRng::seed_from_u64(3);
    let x = Tensor::<f64>::rand_normal(&[2, 4, 6, 5], 0.0, 1.0, &mut rng)?;
    let w = Tensor::<f64>::rand_normal(&[6, 2, 3, 2], 0.0, 1.0, &mut rng)?;
    let opts = ConvOptions { stride: [2, 1], padding: [1, 1], dilation: [1, 2], groups: 2 };
    let grads64 = {
        let (x, w) = (x.requires_grad(), w.requires_grad());
        let g = x.conv2d(&w, None, &opts)?.tanh().sum_all().backward()?;
        [g.wrt(&x)?.to_vec(), g.wrt(&w)?.to_vec()]
    };
    let cast = |t: &Tensor<f64>| {
        Tensor::<f32>::from_vec(t.as_slice().iter().map(|&v| v as f32).collect(), t.shape()).expect("cast")
    };
    let (x32, w32) = (cast(&x).requires_grad(), cast(&w).requires_grad());
    let g = x32.conv2d(&w32, None, &opts)?.tanh().sum_all().backward()?;
    for (got, want) in [g.wrt(&x32)?.to_vec(), g.wrt(&w32)?.to_vec()].iter().zip(&grads64) {
        for (a, b) in got.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() <= 1e-5 + 1e-4 * b.abs() * 4.0, "{a} vs {b}");
        }
    }
    Ok(())
}

#[test]
fn conv_gradients_are_identical_for_any_thread_count() -> R {
    // Large enough that im2col, col2im and the GEMM take their parallel paths.
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::<f64>::rand_normal(&[8, 8, 24, 24], 0.0, 1.0, &mut rng)?;
    let w = Tensor::<f64>::rand_normal(&[16, 8, 3, 3], 0.0, 1.0, &mut rng)?;
    let opts = ConvOptions { padding: [1, 1], ..ConvOptions::default() };
    let run = |threads: usize| -> Result<Vec<Vec<f64>>, Error> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        pool.install(|| {
            let (x, w) = (x.requires_grad(), w.requires_grad());
            let g = x.conv2d(&w, None, &opts)?.square().sum_all().backward()?;
            Ok(vec![g.wrt(&x)?.to_vec(), g.wrt(&w)?.to_vec()])
        })
    };
    assert!(run(1)? == run(2)?, "gradients differ between 1 and 2 threads");
    Ok(())
}

#[test]
fn max_pool_ties_go_to_the_first_maximum() -> R {
    // A 2×3 image of equal values, 2×2 windows at stride 1: window 0 covers columns
    // 0–1 and picks (0, 0); window 1 covers columns 1–2 and picks (0, 1).
    let x = ones(&[1, 1, 2, 3]).requires_grad();
    let y = x.max_pool2d([2, 2], Some([1, 1]), [0, 0])?;
    let g = y.sum_all().backward()?;
    assert_eq!(g.wrt(&x)?.to_vec(), vec![1., 1., 0., 0., 0., 0.]);
    Ok(())
}

#[test]
fn max_pool_padding_is_minus_infinity_and_avg_pool_counts_it() -> R {
    // One pixel −1 with padding 1 and a 3×3 kernel: the max ignores the padding
    // (−1, not 0); the average divides by 9 (−1/9).
    let x = t(&[-1.], &[1, 1, 1, 1]);
    assert_eq!(x.max_pool2d([3, 3], None, [1, 1])?.to_vec(), vec![-1.]);
    assert_eq!(x.avg_pool2d([3, 3], None, [1, 1])?.to_vec(), vec![-1. / 9.]);
    assert_eq!(x.global_avg_pool()?.shape(), &[1, 1]);
    Ok(())
}

#[test]
fn embedding_sums_repeats_and_skips_the_padding_row() -> R {
    let table = t(&[1., 2., 3., 4., 5., 6.], &[3, 2]).requires_grad();
    let idx = Indices::new(vec![2, 0, 2, 1], &[2, 2])?;
    let y = table.embedding(&idx, Some(1))?;
    assert_eq!(y.shape(), &[2, 2, 2]);
    assert_eq!(y.to_vec(), vec![5., 6., 1., 2., 5., 6., 3., 4.]); // the padding row is still read
    let g = y.sum_all().backward()?;
    // Row 2 used twice → 2, row 0 once → 1, row 1 is the padding index → 0.
    assert_eq!(g.wrt(&table)?.to_vec(), vec![1., 1., 0., 0., 2., 2.]);
    Ok(())
}

#[test]
fn batch_norm_running_statistics_and_eval() -> R {
    // Channel 0 holds [1, 3, 5, 7] over (N = 2, L = 2): mean 4, biased variance 5,
    // unbiased 20/3. From (0, 1) with momentum 0.1: mean 0.4, var 0.9 + 2/3.
    let x = t(&[1., 3., 10., 10., 5., 7., 10., 10.], &[2, 2, 2]);
    let (y, stats) = x.batch_norm_train(None, None, &RunningStats::new(2), 0.1, 0.0)?;
    let m = stats.mean.to_vec();
    let v = stats.var.to_vec();
    assert!((m[0] - 0.4).abs() < 1e-15 && (m[1] - 1.0).abs() < 1e-15, "{m:?}");
    assert!((v[0] - (0.9 + 2.0 / 3.0)).abs() < 1e-15 && (v[1] - 0.9).abs() < 1e-15, "{v:?}");
    let want = [-3., -1., 1., 3.].map(|d: f64| d / 5f64.sqrt());
    for (a, b) in [y.to_vec()[0], y.to_vec()[1], y.to_vec()[4], y.to_vec()[5]].iter().zip(want) {
        assert!((a - b).abs() < 1e-14, "{a} vs {b}");
    }
    // Evaluation uses the running statistics: (1 − 0.4)/√(0.9 + 2/3).
    let e = x.batch_norm_eval(None, None, &stats, 0.0)?;
    assert!((e.to_vec()[0] - 0.6 / (0.9f64 + 2.0 / 3.0).sqrt()).abs() < 1e-14);
    Ok(())
}

#[test]
fn masked_attention_scores_get_exactly_zero_gradient() -> R {
    // Causal: query 0 sees only key 0, so its output depends on neither k[1] nor v[1].
    let mut rng = StdRng::seed_from_u64(5);
    let q = Tensor::<f64>::rand_normal(&[2, 3], 0.0, 1.0, &mut rng)?.requires_grad();
    let k = Tensor::<f64>::rand_normal(&[2, 3], 0.0, 1.0, &mut rng)?.requires_grad();
    let v = Tensor::<f64>::rand_normal(&[2, 2], 0.0, 1.0, &mut rng)?.requires_grad();
    let y = Tensor::scaled_dot_product_attention(&q, &k, &v, AttentionMask::Causal)?;
    assert_eq!(y.narrow(0, 0, 1)?.to_vec(), v.narrow(0, 0, 1)?.to_vec());
    let g = y.narrow(0, 0, 1)?.sum_all().backward()?;
    assert_eq!(g.get_or_zeros(&k).to_vec(), vec![0.0; 6]);
    assert_eq!(g.get_or_zeros(&v).to_vec(), vec![1., 1., 0., 0.]);
    // The same with an explicit allow-mask.
    let allow = t(&[1., 0., 1., 1.], &[2, 2]);
    let y2 = Tensor::scaled_dot_product_attention(&q, &k, &v, AttentionMask::Allow(&allow))?;
    assert_eq!(y2.to_vec(), y.to_vec());
    Ok(())
}

#[test]
fn sampling_is_seeded_and_follows_the_probabilities() -> R {
    let p = t(&[0.2, 0.0, 0.8], &[1, 3]).broadcast_to(&[20000, 3])?;
    let draw = |seed| p.sample_categorical(&mut StdRng::seed_from_u64(seed));
    let a = draw(1)?;
    assert_eq!(a, draw(1)?, "the same seed gives the same draws");
    assert_eq!(a.shape(), &[20000]);
    let count = |c| a.as_slice().iter().filter(|&&i| i == c).count() as f64 / 20000.0;
    assert_eq!(count(1), 0.0, "a class of probability 0 is never drawn");
    assert!((count(2) - 0.8).abs() < 0.02, "frequency of class 2: {}", count(2));
    // Unnormalised rows are fine (as torch.multinomial).
    assert_eq!(t(&[0., 5.], &[2]).sample_categorical(&mut StdRng::seed_from_u64(0))?.as_slice(), &[1]);
    Ok(())
}

#[track_caller]
fn invalid<T: std::fmt::Debug>(r: Result<T, Error>, op: &str) {
    match r {
        Err(
            e @ (Error::InvalidArgument { .. }
            | Error::ShapeMismatch { .. }
            | Error::IndexOutOfRange { .. }
            | Error::Broadcast { .. }
            | Error::Domain { .. }
            | Error::AxisOutOfRange { .. }),
        ) => assert!(e.to_string().starts_with(op), "{e} should name {op}"),
        other => panic!("expected a typed error from {op}, got {other:?}"),
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let x = zeros(&[1, 4, 5, 5]);
    let w = zeros(&[6, 2, 3, 3]);
    let d = ConvOptions::<2>::default();
    invalid(x.conv2d(&w, None, &d), "conv2d"); // 4 channels but the weight wants 2 (groups 1)
    invalid(x.conv2d(&w, None, &ConvOptions { groups: 3, ..d }), "conv2d"); // 3 ∤ 4
    invalid(x.conv2d(&w, None, &ConvOptions { groups: 0, ..d }), "conv2d");
    let ok = ConvOptions { groups: 2, ..d };
    assert!(x.conv2d(&w, None, &ok).is_ok());
    invalid(x.conv2d(&w, Some(&zeros(&[5])), &ok), "conv2d");
    invalid(x.conv2d(&w, None, &ConvOptions { stride: [0, 1], ..ok }), "conv2d");
    invalid(x.conv2d(&w, None, &ConvOptions { dilation: [3, 1], ..ok }), "conv2d"); // empty output
    invalid(x.conv2d(&zeros(&[6, 2, 3]), None, &ok), "conv2d");
    invalid(x.conv1d(&w, None, &ConvOptions::default()), "conv1d");
    invalid(zeros(&[1, 2, 3]).conv1d(&zeros(&[1, 2, 4]), None, &ConvOptions::default()), "conv1d");
    invalid(x.max_pool2d([2, 2], None, [2, 0]), "max_pool2d"); // padding above half the kernel
    invalid(x.max_pool2d([6, 1], None, [0, 0]), "max_pool2d");
    invalid(zeros(&[4, 5, 5]).avg_pool2d([2, 2], None, [0, 0]), "avg_pool2d");
    invalid(zeros(&[4, 5]).global_avg_pool(), "global_avg_pool");
    let stats = RunningStats::new(4);
    invalid(zeros(&[1, 4]).batch_norm_train(None, None, &stats, 0.1, 1e-5), "batch_norm");
    invalid(x.batch_norm_train(None, None, &RunningStats::new(3), 0.1, 1e-5), "batch_norm");
    invalid(x.batch_norm_train(None, None, &stats, 1.5, 1e-5), "batch_norm");
    invalid(x.batch_norm_eval(Some(&zeros(&[5])), None, &stats, 1e-5), "batch_norm");
    invalid(x.layer_norm(&[4, 5], None, None, 1e-5), "layer_norm");
    invalid(x.layer_norm(&[5], Some(&zeros(&[4])), None, 1e-5), "layer_norm");
    invalid(x.layer_norm(&[], None, None, 1e-5), "layer_norm");
    let table = zeros(&[3, 2]);
    invalid(table.embedding(&Indices::from_vec(vec![0, 3]), None), "embedding");
    invalid(table.embedding(&Indices::from_vec(vec![0]), Some(3)), "embedding");
    invalid(x.embedding(&Indices::from_vec(vec![0]), None), "embedding");
    invalid(x.split(&[2, 1], 1), "split");
    invalid(x.split(&[4], 7), "split");
    invalid(x.chunk(0, 1), "chunk");
    invalid(x.masked_fill(&zeros(&[2, 1, 1, 1]), 0.0), "masked_fill");
    let q = zeros(&[2, 3]);
    let attend = |k: &Tensor<f64>, v: &Tensor<f64>, m| Tensor::scaled_dot_product_attention(&q, k, v, m);
    invalid(attend(&zeros(&[2, 4]), &zeros(&[2, 1]), AttentionMask::None), "scaled_dot_product_attention");
    invalid(attend(&q, &zeros(&[3, 1]), AttentionMask::None), "scaled_dot_product_attention");
    let shut = t(&[1., 1., 0., 0.], &[2, 2]); // the second query may attend nothing
    invalid(attend(&q, &zeros(&[2, 1]), AttentionMask::Allow(&shut)), "scaled_dot_product_attention");
    invalid(attend(&q, &zeros(&[2, 1]), AttentionMask::Allow(&ones(&[3]))), "scaled_dot_product_attention");
    let mut rng = StdRng::seed_from_u64(0);
    for bad in [vec![0.5, -0.1], vec![f64::NAN, 1.0], vec![0.0, 0.0], vec![f64::INFINITY, 1.0]] {
        invalid(t(&bad, &[1, 2]).sample_categorical(&mut rng), "sample_categorical");
    }
    invalid(zeros(&[2, 0]).sample_categorical(&mut rng), "sample_categorical");
    invalid(Tensor::<f64>::scalar(1.0).sample_categorical(&mut rng), "sample_categorical");
}

#[test]
fn empty_batches_give_empty_outputs_and_gradients() -> R {
    let x = zeros(&[0, 2, 5, 5]).requires_grad();
    let w = ones(&[3, 2, 3, 3]).requires_grad();
    let y = x.conv2d(&w, None, &ConvOptions::default())?;
    assert_eq!(y.shape(), &[0, 3, 3, 3]);
    assert_eq!(x.max_pool2d([2, 2], None, [0, 0])?.shape(), &[0, 2, 2, 2]);
    assert_eq!(x.avg_pool2d([2, 2], None, [0, 0])?.shape(), &[0, 2, 2, 2]);
    let g = y.sum_all().backward()?;
    assert_eq!(g.get_or_zeros(&w).to_vec(), vec![0.0; 54]);
    Ok(())
}
