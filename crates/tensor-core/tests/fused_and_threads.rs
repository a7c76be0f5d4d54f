//! The performance paths agree with the plain ones: fused `linear` equals
//! `matmul` + `add`, the fused cross-entropy equals `logsumexp − gather`, the tiled
//! convolution and max pooling equal direct loops, and large elementwise ops,
//! reductions, convolutions and pooling (which run on rayon) give bit-identical
//! results for 1, 2, 3 and 4 threads.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::functional::{Reduction, cross_entropy};
use tensor_core::{AttentionMask, BackwardOptions, ConvOptions, Error, Indices, Tensor};

fn close(a: &Tensor<f64>, b: &Tensor<f64>) -> bool {
    a.shape() == b.shape() && a.as_slice().iter().zip(b.as_slice()).all(|(x, y)| (x - y).abs() <= 1e-12)
}

#[test]
fn linear_matches_matmul_plus_bias_in_value_and_gradients() {
    let mut rng = StdRng::seed_from_u64(11);
    let x = Tensor::<f64>::rand_normal(&[2, 3, 5], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let w = Tensor::<f64>::rand_normal(&[5, 4], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let b = Tensor::<f64>::rand_normal(&[4], 0.0, 1.0, &mut rng).unwrap().requires_grad();
    let fused = x.linear(&w, &b).unwrap();
    let plain = x.matmul(&w).unwrap().add(&b).unwrap();
    assert!(close(&fused, &plain));
    let keep = || BackwardOptions { keep_graph: true, ..Default::default() };
    let gf = fused.tanh().sum_all().backward_with(keep()).unwrap();
    let gp = plain.tanh().sum_all().backward().unwrap();
    for t in [&x, &w, &b] {
        assert!(close(gf.wrt(t).unwrap(), gp.wrt(t).unwrap()));
    }
}

#[test]
fn linear_on_a_constant_input_gives_parameter_gradients_only() {
    let x = Tensor::<f64>::from_vec(vec![1.0, 2.0], &[2]).unwrap();
    let w = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3]).unwrap().requires_grad();
    let b = Tensor::<f64>::from_vec(vec![0.5, 0.5, 0.5], &[3]).unwrap().requires_grad();
    let y = x.linear(&w, &b).unwrap();
    // x·W = 1·[1, 0, 0] + 2·[1, 1, 1] = [3, 2, 2]; plus 0.5.
    assert_eq!(y.to_vec(), vec![3.5, 2.5, 2.5]);
    let g = y.sum_all().backward().unwrap();
    // d/dW Σ(x·W + b) = xᵀ·1 = [[1, 1, 1], [2, 2, 2]]; d/db = 1.
    assert_eq!(g.wrt(&w).unwrap().to_vec(), vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]);
    assert_eq!(g.wrt(&b).unwrap().to_vec(), vec![1.0; 3]);
}

#[test]
fn linear_shape_errors_name_the_op() {
    let x = Tensor::<f64>::ones(&[2, 3]).unwrap();
    let w = Tensor::<f64>::ones(&[3, 4]).unwrap();
    for (x, w, b) in [
        (&x, &w, Tensor::ones(&[3]).unwrap()),
        (&x, &Tensor::ones(&[4, 4]).unwrap(), Tensor::ones(&[4]).unwrap()),
        (&Tensor::scalar(1.0), &w, Tensor::ones(&[4]).unwrap()),
        (&x, &Tensor::ones(&[3]).unwrap(), Tensor::ones(&[4]).unwrap()),
    ] {
        assert!(matches!(x.linear(w, &b), Err(Error::ShapeMismatch { op: "linear", .. })));
    }
}

#[test]
fn fused_cross_entropy_matches_the_composite_form() {
    let mut rng = StdRng::seed_from_u64(12);
    let z = Tensor::<f64>::rand_normal(&[6, 5], 0.0, 3.0, &mut rng).unwrap().requires_grad();
    let labels = [0, 4, 2, 2, 1, 3];
    let fused = cross_entropy(&z, &labels, Reduction::Mean).unwrap();
    let index = Indices::new(labels.to_vec(), &[6, 1]).unwrap();
    let composite =
        z.logsumexp(1, false).unwrap().sub(&z.gather(1, &index).unwrap().reshape(&[6]).unwrap()).unwrap();
    let composite = composite.mean_all().unwrap();
    assert!((fused.item().unwrap() - composite.item().unwrap()).abs() < 1e-12);
    let gf = fused.backward_with(BackwardOptions { keep_graph: true, ..Default::default() }).unwrap();
    let gc = composite.backward().unwrap();
    assert!(close(gf.wrt(&z).unwrap(), gc.wrt(&z).unwrap()));
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}

/// Runs `run` on a pool of 1 and of 2 threads and asserts every result tensor is the
/// same, bit for bit (`to_bits` of each element).
fn assert_same_bits_on_one_and_two_threads<T: tensor_core::Element>(
    run: impl Fn() -> Vec<Tensor<T>> + Send + Sync + Copy,
    to_bits: fn(T) -> u64,
) {
    let one = in_pool(1, run);
    let two = in_pool(2, run);
    for (i, (a, b)) in one.iter().zip(&two).enumerate() {
        assert_eq!(a.shape(), b.shape());
        let differ =
            a.as_slice().iter().zip(b.as_slice()).filter(|(p, q)| to_bits(**p) != to_bits(**q)).count();
        assert_eq!(differ, 0, "{} result {i} differs between 1 and 2 threads in {differ} elements", T::DTYPE);
    }
}

#[test]
fn large_kernels_give_the_same_bits_for_one_to_four_threads() {
    let mut rng = StdRng::seed_from_u64(13);
    let a = Tensor::<f32>::rand_normal(&[400, 700], 0.0, 1.0, &mut rng).unwrap();
    let b = Tensor::<f32>::rand_normal(&[400, 700], 0.0, 1.0, &mut rng).unwrap();
    let row = Tensor::<f32>::rand_normal(&[700], 0.0, 1.0, &mut rng).unwrap();
    let wide = Tensor::<f32>::rand_normal(&[64, 700], 0.0, 1.0, &mut rng).unwrap();
    let narrow = Tensor::<f32>::rand_normal(&[40, 700], 0.0, 1.0, &mut rng).unwrap();
    let tall = Tensor::<f32>::rand_normal(&[700, 400], 0.0, 1.0, &mut rng).unwrap();
    // The products of `train --dataset digits --hidden 1000,64 --batch-size 100`: 100
    // rows is no multiple of a per-thread block, which is where thread counts differed.
    let x = Tensor::<f32>::rand_normal(&[100, 64], 0.0, 1.0, &mut rng).unwrap();
    let w1 = Tensor::<f32>::rand_normal(&[1000, 64], 0.0, 1.0, &mut rng).unwrap();
    let h = Tensor::<f32>::rand_normal(&[100, 1000], 0.0, 1.0, &mut rng).unwrap();
    let w2 = Tensor::<f32>::rand_normal(&[64, 1000], 0.0, 1.0, &mut rng).unwrap();
    let run = || {
        vec![
            a.mul(&b).unwrap(),
            a.add(&row).unwrap(),
            a.exp(),
            a.sum_all(),
            a.sum(0, false).unwrap(),
            a.sum(1, false).unwrap(),
            a.max(1, false).unwrap(),
            a.logsumexp(0, false).unwrap(),
            // Output cut by rows (m ≥ n) on 2 threads, and by columns (m < n), with
            // each operand transposed once: every element must keep its k order.
            a.matmul_t(&b, false, true).unwrap(),
            wide.matmul(&tall).unwrap(),
            a.matmul_t(&b, true, false).unwrap(),
            wide.matmul_t(&a, false, true).unwrap().linear(&a, &row).unwrap(),
            narrow.matmul(&tall).unwrap(),
            narrow.matmul(&a.t().unwrap()).unwrap(),
            x.matmul_t(&w1, false, true).unwrap(),
            h.matmul_t(&w2, false, true).unwrap(),
            h.matmul_t(&x, true, false).unwrap(),
            h.matmul(&w1).unwrap(),
        ]
    };
    let one = in_pool(1, run);
    for threads in 2..=4 {
        let many = in_pool(threads, run);
        for (i, (x, y)) in one.iter().zip(&many).enumerate() {
            assert_eq!(x.shape(), y.shape());
            let differ =
                x.as_slice().iter().zip(y.as_slice()).filter(|(p, q)| p.to_bits() != q.to_bits()).count();
            assert_eq!(differ, 0, "result {i} differs between 1 and {threads} threads in {differ} elements");
        }
    }
}

/// The elementwise and row kernels of issue 16, forward and backward, at the GPT's
/// shapes (above the rayon threshold): the same bits for 1 and 2 threads, in f32 and
/// f64.
#[test]
fn fused_kernels_give_the_same_bits_for_one_and_two_threads() {
    fn check<T: tensor_core::Element>(to_bits: fn(T) -> u64) {
        let mut rng = StdRng::seed_from_u64(16);
        let x = Tensor::<T>::rand_normal(&[32, 64, 64], T::zero(), T::one(), &mut rng).unwrap();
        let dy = Tensor::<T>::rand_normal(&[32, 64, 64], T::zero(), T::one(), &mut rng).unwrap();
        let scores = Tensor::<T>::rand_normal(&[32, 4, 64, 64], T::zero(), T::one(), &mut rng).unwrap();
        let dscores = Tensor::<T>::rand_normal(&[32, 4, 64, 64], T::zero(), T::one(), &mut rng).unwrap();
        let gamma = Tensor::<T>::rand_normal(&[64], T::one(), T::one(), &mut rng).unwrap();
        let causal: Vec<T> =
            (0..64 * 64).map(|i| if i % 64 > i / 64 { T::one() } else { T::zero() }).collect();
        let causal = Tensor::from_vec(causal, &[64, 64]).unwrap();
        let normal = |shape: &[usize], rng: &mut StdRng| {
            Tensor::<T>::rand_normal(shape, T::zero(), T::from_f64(0.5), rng).unwrap()
        };
        let (xg, w_hh) = (normal(&[32, 32, 512], &mut rng), normal(&[512, 128], &mut rng));
        let (h0, c0, dseq) =
            (normal(&[32, 128], &mut rng), normal(&[32, 128], &mut rng), normal(&[2, 32, 32, 128], &mut rng));
        let qkv = normal(&[32, 64, 192], &mut rng);
        let heads: Vec<Tensor<T>> = (0..3).map(|_| normal(&[32, 4, 64, 16], &mut rng)).collect();
        let dheads = normal(&[32, 4, 64, 16], &mut rng);
        let logits = normal(&[2048, 65], &mut rng).mul_scalar(T::from_f64(6.0));
        let char_labels: Vec<usize> = (0..2048).map(|i| (i * 37) % 65).collect();
        let char_labels = &char_labels;
        let grad = |y: Tensor<T>, x: &Tensor<T>, dy: &Tensor<T>| {
            let g =
                y.backward_with(BackwardOptions { seed: Some(dy.clone()), ..Default::default() }).unwrap();
            vec![y.detach(), g.wrt(x).unwrap().clone()]
        };
        let run = || {
            let xv = x.requires_grad();
            let sv = scores.requires_grad();
            let gv = gamma.requires_grad();
            let mut out = Vec::new();
            out.extend(grad(xv.tanh(), &xv, &dy));
            out.extend(grad(xv.sigmoid(), &xv, &dy));
            out.extend(grad(xv.exp(), &xv, &dy));
            out.extend(grad(xv.gelu(), &xv, &dy));
            out.extend(grad(xv.square(), &xv, &dy));
            out.extend(grad(sv.softmax(-1).unwrap(), &sv, &dscores));
            out.extend(grad(sv.log_softmax(-1).unwrap(), &sv, &dscores));
            out.extend(grad(sv.masked_fill(&causal, T::neg_infinity()).unwrap(), &sv, &dscores));
            let bv = gamma.mul_scalar(T::from_f64(0.5)).requires_grad();
            let y = xv.layer_norm(&[64], Some(&gv), Some(&bv), T::from_f64(1e-5)).unwrap();
            let g =
                y.backward_with(BackwardOptions { seed: Some(dy.clone()), ..Default::default() }).unwrap();
            out.extend([y.detach(), g.wrt(&xv).unwrap().clone(), g.wrt(&gv).unwrap().clone()]);
            out.push(g.wrt(&bv).unwrap().clone());
            // The fused LSTM layer at lstm-char's shapes (T 32, N 32, H 128): its
            // per-step GEMMs and the one dW_hh GEMM (large enough to run in parallel).
            let (xgv, wv, h0v, c0v) =
                (xg.requires_grad(), w_hh.requires_grad(), h0.requires_grad(), c0.requires_grad());
            let y = Tensor::lstm_sequence(&xgv, &wv, &h0v, &c0v).unwrap();
            let g =
                y.backward_with(BackwardOptions { seed: Some(dseq.clone()), ..Default::default() }).unwrap();
            out.push(y.detach());
            out.extend([&xgv, &wv, &h0v, &c0v].map(|v| g.wrt(v).unwrap().clone()));
            // The fused attention at gpt-char's shapes (N 32, T 64, 4 heads of 16),
            // packed and unpacked, causal: its (batch, head) pairs run in parallel.
            let qkvv = qkv.requires_grad();
            let y = qkvv.multi_head_self_attention(4, AttentionMask::Causal).unwrap();
            out.extend(grad(y, &qkvv, &dy));
            let (qv, kv, vv) = (heads[0].requires_grad(), heads[1].requires_grad(), heads[2].requires_grad());
            let y = Tensor::scaled_dot_product_attention(&qv, &kv, &vv, AttentionMask::Causal).unwrap();
            let g = y
                .backward_with(BackwardOptions { seed: Some(dheads.clone()), ..Default::default() })
                .unwrap();
            out.push(y.detach());
            out.extend([&qv, &kv, &vv].map(|v| g.wrt(v).unwrap().clone()));
            // Cross-entropy at gpt-char's head (2048 rows of 65 logits): rows in
            // parallel blocks, forward and backward.
            let zv = logits.requires_grad();
            let loss = cross_entropy(&zv, char_labels, Reduction::Mean).unwrap();
            let g = loss.backward().unwrap();
            out.extend([loss.detach(), g.wrt(&zv).unwrap().clone()]);
            out
        };
        assert_same_bits_on_one_and_two_threads(run, to_bits);
    }
    check::<f32>(|v| v.to_bits() as u64);
    check::<f64>(f64::to_bits);
}

/// The fused forms agree with the composite ones they replaced: softmax and
/// log-softmax along the last axis against `exp(x − logsumexp)`, layer norm against
/// its formula, masked_fill against where_cond, in f64 (values and gradients).
#[test]
fn fused_row_kernels_match_their_composite_forms() {
    let mut rng = StdRng::seed_from_u64(17);
    let x = Tensor::<f64>::rand_normal(&[3, 5, 7], 0.0, 2.0, &mut rng).unwrap();
    let dy = Tensor::<f64>::rand_normal(&[3, 5, 7], 0.0, 1.0, &mut rng).unwrap();
    let seed = || BackwardOptions { seed: Some(dy.clone()), ..Default::default() };
    let xv = x.requires_grad();
    let lse = xv.logsumexp(-1, true).unwrap();
    let pairs = [
        (xv.softmax(-1).unwrap(), xv.sub(&lse).unwrap().exp()),
        (xv.log_softmax(-1).unwrap(), xv.sub(&lse).unwrap()),
        (xv.layer_norm(&[7], None, None, 1e-5).unwrap(), {
            let c = xv.sub(&xv.mean(-1, true).unwrap()).unwrap();
            c.mul(&c.square().mean(-1, true).unwrap().add_scalar(1e-5).powf(-0.5)).unwrap()
        }),
    ];
    for (i, (fused, composite)) in pairs.iter().enumerate() {
        assert!(close(fused, composite), "value {i}");
        let gf = fused.backward_with(seed()).unwrap();
        let gc = composite.backward_with(BackwardOptions { keep_graph: true, ..seed() }).unwrap();
        assert!(close(gf.wrt(&xv).unwrap(), gc.wrt(&xv).unwrap()), "gradient {i}");
    }
    let mask = Tensor::<f64>::from_vec(vec![1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0], &[7]).unwrap();
    let filled = x.masked_fill(&mask, -3.0).unwrap();
    let picked = Tensor::where_cond(&mask, &Tensor::scalar(-3.0), &x).unwrap();
    assert_eq!(filled.to_vec(), picked.to_vec());
}

/// A direct (loop) convolution of x (N, C, H, W) with w (O, C/G, kh, kw) and bias b,
/// and the gradients of `Σ r·y` for a given `r` (N, O, oh, ow): (y, dx, dw, db).
// Index loops on purpose: the reference spells out the definition.
#[allow(clippy::type_complexity, clippy::needless_range_loop)]
fn direct_conv(
    x: &Tensor<f64>,
    w: &Tensor<f64>,
    b: &Tensor<f64>,
    r: &Tensor<f64>,
    opts: &ConvOptions<2>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let ([n, c, h, wd], [o, cg, kh, kw]) = (dims(x), dims(w));
    let [_, _, oh, ow] = dims(r);
    let og = o / opts.groups;
    let (xs, ws, rs) = (x.as_slice(), w.as_slice(), r.as_slice());
    let (mut y, mut dx, mut dw, mut db) =
        (Vec::new(), vec![0.0; xs.len()], vec![0.0; ws.len()], vec![0.0; o]);
    for bi in 0..n {
        for oc in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let out = ((bi * o + oc) * oh + oy) * ow + ox;
                    let (mut acc, g) = (b.as_slice()[oc], oc / og);
                    db[oc] += rs[out];
                    for ci in 0..cg {
                        let ch = g * cg + ci;
                        for i in 0..kh {
                            for j in 0..kw {
                                let iy = (oy * opts.stride[0] + i * opts.dilation[0]) as isize
                                    - opts.padding[0] as isize;
                                let ix = (ox * opts.stride[1] + j * opts.dilation[1]) as isize
                                    - opts.padding[1] as isize;
                                if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= wd {
                                    continue;
                                }
                                let at = ((bi * c + ch) * h + iy as usize) * wd + ix as usize;
                                let wi = ((oc * cg + ci) * kh + i) * kw + j;
                                acc += ws[wi] * xs[at];
                                dw[wi] += rs[out] * xs[at];
                                dx[at] += rs[out] * ws[wi];
                            }
                        }
                    }
                    y.push(acc);
                }
            }
        }
    }
    (y, dx, dw, db)
}

fn dims(t: &Tensor<f64>) -> [usize; 4] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3]]
}

fn all_close(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-10 * (1.0 + y.abs()))
}

/// The tiled convolution against direct loops, in value and in the gradients of
/// input, weight and bias: stride, padding, dilation and groups, and images wide
/// enough that one sample is cut into several tiles (one output row each).
#[test]
fn tiled_conv2d_matches_a_direct_convolution() {
    let mut rng = StdRng::seed_from_u64(18);
    let cases: [([usize; 4], [usize; 4], ConvOptions<2>); 5] = [
        ([2, 3, 5, 6], [4, 3, 3, 3], ConvOptions { padding: [1, 1], ..ConvOptions::default() }),
        (
            [1, 4, 7, 5],
            [6, 2, 2, 3],
            ConvOptions { stride: [2, 1], padding: [1, 2], groups: 2, ..ConvOptions::default() },
        ),
        (
            [2, 2, 6, 6],
            [3, 2, 3, 2],
            ConvOptions { dilation: [2, 1], stride: [1, 3], ..ConvOptions::default() },
        ),
        // 8 channels · 9 taps · 1000 columns per output row: one row per tile.
        ([2, 8, 4, 1000], [5, 8, 3, 3], ConvOptions { padding: [1, 1], ..ConvOptions::default() }),
        (
            [1, 6, 5, 900],
            [6, 2, 3, 1],
            ConvOptions { padding: [2, 0], stride: [2, 1], groups: 3, ..ConvOptions::default() },
        ),
    ];
    for (xs, ws, opts) in cases {
        let x = Tensor::<f64>::rand_normal(&xs, 0.0, 1.0, &mut rng).unwrap().requires_grad();
        let w = Tensor::<f64>::rand_normal(&ws, 0.0, 1.0, &mut rng).unwrap().requires_grad();
        let b = Tensor::<f64>::rand_normal(&[ws[0]], 0.0, 1.0, &mut rng).unwrap().requires_grad();
        let y = x.conv2d(&w, Some(&b), &opts).unwrap();
        let r = Tensor::<f64>::rand_normal(y.shape(), 0.0, 1.0, &mut rng).unwrap();
        let (want_y, want_dx, want_dw, want_db) = direct_conv(&x, &w, &b, &r, &opts);
        assert!(all_close(y.as_slice(), &want_y), "value, case {xs:?} {ws:?} {opts:?}");
        let g = y.backward_with(BackwardOptions { seed: Some(r), ..Default::default() }).unwrap();
        assert!(all_close(g.wrt(&x).unwrap().as_slice(), &want_dx), "dx, case {xs:?} {ws:?}");
        assert!(all_close(g.wrt(&w).unwrap().as_slice(), &want_dw), "dw, case {xs:?} {ws:?}");
        assert!(all_close(g.wrt(&b).unwrap().as_slice(), &want_db), "db, case {xs:?} {ws:?}");
    }
}

/// The tiled kernels (forward, recorded-free backward) and the max-pool kernels at
/// the benchmark's shapes, above their parallel thresholds: the same bits for 1 and
/// 2 threads, in f32 and f64.
#[test]
fn conv_and_pool_kernels_give_the_same_bits_for_one_and_two_threads() {
    fn check<T: tensor_core::Element>(to_bits: fn(T) -> u64) {
        let mut rng = StdRng::seed_from_u64(19);
        let normal = |shape: &[usize], rng: &mut StdRng| {
            Tensor::<T>::rand_normal(shape, T::zero(), T::one(), rng).unwrap()
        };
        // cnn-mnist's second convolution and conv2d-320's (several tiles per sample).
        let (x1, w1, b1) =
            (normal(&[16, 32, 14, 14], &mut rng), normal(&[64, 32, 3, 3], &mut rng), normal(&[64], &mut rng));
        let (x2, w2, b2) =
            (normal(&[2, 3, 96, 320], &mut rng), normal(&[16, 3, 3, 3], &mut rng), normal(&[16], &mut rng));
        let pool_x = normal(&[16, 32, 28, 28], &mut rng);
        let pad = ConvOptions { padding: [1, 1], ..ConvOptions::default() };
        let grouped = ConvOptions { padding: [1, 1], stride: [2, 2], groups: 4, ..ConvOptions::default() };
        let w3 = normal(&[64, 8, 3, 3], &mut rng);
        let run = || {
            let mut out = Vec::new();
            for (x, w, b, opts) in [(&x1, &w1, &b1, &pad), (&x2, &w2, &b2, &pad), (&x1, &w3, &b1, &grouped)] {
                let (x, w, b) = (x.requires_grad(), w.requires_grad(), b.requires_grad());
                let y = x.conv2d(&w, Some(&b), opts).unwrap();
                let seed = y.map(|v| v.sin());
                let g = y.backward_with(BackwardOptions { seed: Some(seed), ..Default::default() }).unwrap();
                out.extend([
                    y.detach(),
                    g.wrt(&x).unwrap().clone(),
                    g.wrt(&w).unwrap().clone(),
                    g.wrt(&b).unwrap().clone(),
                ]);
            }
            for (kernel, stride, padding) in [([2, 2], None, [0, 0]), ([3, 3], Some([2, 2]), [1, 1])] {
                let x = pool_x.requires_grad();
                let y = x.max_pool2d(kernel, stride, padding).unwrap();
                let seed = y.map(|v| v.cos());
                let g = y.backward_with(BackwardOptions { seed: Some(seed), ..Default::default() }).unwrap();
                out.extend([y.detach(), g.wrt(&x).unwrap().clone()]);
            }
            out
        };
        assert_same_bits_on_one_and_two_threads(run, to_bits);
    }
    check::<f32>(|v| v.to_bits() as u64);
    check::<f64>(f64::to_bits);
}

/// Max pooling against direct loops: overlapping windows, padding, ties (the first
/// maximum in window order takes the gradient) and a NaN (it is the maximum).
#[test]
fn max_pool2d_matches_direct_loops() {
    let mut rng = StdRng::seed_from_u64(20);
    // Values rounded to halves, so windows hold ties.
    let x: Vec<f64> = Tensor::<f64>::rand_normal(&[2, 3, 7, 8], 0.0, 2.0, &mut rng)
        .unwrap()
        .as_slice()
        .iter()
        .map(|v| (v * 2.0).round() / 2.0)
        .collect();
    let mut x = x;
    x[17] = f64::NAN;
    let x = Tensor::from_vec(x, &[2, 3, 7, 8]).unwrap();
    for (kernel, stride, padding) in
        [([2, 2], [2, 2], [0, 0]), ([3, 2], [1, 2], [1, 1]), ([3, 3], [2, 1], [1, 0])]
    {
        let xv = x.requires_grad();
        let y = xv.max_pool2d(kernel, Some(stride), padding).unwrap();
        let [n, c, h, w] = dims(&x);
        let [_, _, oh, ow] = dims(&y);
        let seed = Tensor::<f64>::rand_normal(y.shape(), 0.0, 1.0, &mut rng).unwrap();
        let (mut want_y, mut want_dx) = (Vec::new(), vec![0.0; x.numel()]);
        for plane in 0..n * c {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut best: Option<(f64, usize)> = None;
                    for i in 0..kernel[0] {
                        for j in 0..kernel[1] {
                            let iy = (oy * stride[0] + i) as isize - padding[0] as isize;
                            let ix = (ox * stride[1] + j) as isize - padding[1] as isize;
                            if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                                continue;
                            }
                            let at = (plane * h + iy as usize) * w + ix as usize;
                            let v = x.as_slice()[at];
                            if best.is_none_or(|(b, _)| v > b || v.is_nan()) {
                                best = Some((v, at));
                            }
                        }
                    }
                    let (v, at) = best.unwrap();
                    want_y.push(v);
                    want_dx[at] += seed.as_slice()[(plane * oh + oy) * ow + ox];
                }
            }
        }
        let same = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| p.to_bits() == q.to_bits());
        assert!(same(y.as_slice(), &want_y), "values, kernel {kernel:?} stride {stride:?}");
        let g = y.backward_with(BackwardOptions { seed: Some(seed), ..Default::default() }).unwrap();
        assert!(same(g.wrt(&xv).unwrap().as_slice(), &want_dx), "dx, kernel {kernel:?} stride {stride:?}");
    }
}
