//! TESTING.md for tensor-core: broadcasting against a reference, metamorphic
//! identities, extreme values, faults, bad inputs (each its error variant), f32 vs
//! f64, determinism, linearity in the seed, threads.

use proptest::prelude::*;
use tensor_core::functional::{self, Reduction};
use tensor_core::strategies::{broadcast_pair, shape, tensor_in};
use tensor_core::{Axes, BackwardOptions, Error, Indices, Parameter, Phase, Tensor};

/// Broadcasting by NumPy's rules, written independently of the engine's version.
fn reference_broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let pad = |s: &[usize]| -> Vec<usize> {
        std::iter::repeat_n(1, n - s.len()).chain(s.iter().copied()).collect()
    };
    let (a, b) = (pad(a), pad(b));
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| {
            if x == y || y == 1 {
                Some(x)
            } else if x == 1 {
                Some(y)
            } else {
                None
            }
        })
        .collect()
}

#[track_caller]
fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn broadcasting_matches_reference(a in shape(4, 3), b in shape(4, 3)) {
        let x = Tensor::<f64>::ones(&a).unwrap().requires_grad();
        let y = Tensor::<f64>::ones(&b).unwrap().requires_grad();
        match (reference_broadcast(&a, &b), x.add(&y)) {
            (None, Err(Error::Broadcast { .. })) => {}
            (Some(shape), Ok(z)) => {
                prop_assert_eq!(z.shape(), shape.as_slice());
                let g = z.sum_all().backward().unwrap();
                prop_assert_eq!(g.wrt(&x).unwrap().shape(), a.as_slice());
                prop_assert_eq!(g.wrt(&y).unwrap().shape(), b.as_slice());
            }
            (expected, got) => prop_assert!(false, "reference {:?}, engine {:?}", expected, got.map(|t| t.shape().to_vec())),
        }
    }

    #[test]
    fn softmax_is_shift_invariant_and_sums_to_one(x in tensor_in(vec![3, 4], -5.0..5.0), c in -50.0f64..50.0) {
        let s = x.softmax(-1).unwrap();
        close(&s.to_vec(), &x.add_scalar(c).softmax(-1).unwrap().to_vec(), 1e-12);
        close(&s.sum(-1, false).unwrap().to_vec(), &[1.0; 3], 1e-12);
        close(&x.log_softmax(-1).unwrap().exp().to_vec(), &s.to_vec(), 1e-12);
        let lse = x.logsumexp(-1, false).unwrap();
        close(&x.add_scalar(c).logsumexp(-1, false).unwrap().to_vec(), &lse.add_scalar(c).to_vec(), 1e-12);
    }

    #[test]
    fn bce_with_logits_equals_bce_of_sigmoid(z in tensor_in(vec![6], -9.9..9.9), t in tensor_in(vec![6], 0.0..1.0)) {
        let a = functional::bce_with_logits(&z, &t, Reduction::None).unwrap();
        let b = functional::bce(&z.sigmoid(), &t, Reduction::None).unwrap();
        close(&a.to_vec(), &b.to_vec(), 1e-9);
    }

    #[test]
    fn cross_entropy_is_nll_of_log_softmax(z in tensor_in(vec![4, 3], -5.0..5.0), labels in prop::collection::vec(0usize..3, 4)) {
        let ce = functional::cross_entropy(&z, &labels, Reduction::None).unwrap();
        let nll = functional::nll(&z.log_softmax(-1).unwrap(), &labels, Reduction::None).unwrap();
        close(&ce.to_vec(), &nll.to_vec(), 1e-12);
    }

    #[test]
    fn transpose_of_product(a in tensor_in(vec![2, 3], -2.0..2.0), b in tensor_in(vec![3, 4], -2.0..2.0)) {
        let left = a.matmul(&b).unwrap().t().unwrap();
        let right = b.t().unwrap().matmul(&a.t().unwrap()).unwrap();
        close(&left.to_vec(), &right.to_vec(), 1e-12);
    }

    #[test]
    fn per_sample_gradients_add_up(x in tensor_in(vec![5, 3], -2.0..2.0), w in tensor_in(vec![3, 2], -1.0..1.0)) {
        let w = w.requires_grad();
        let full = x.matmul(&w).unwrap().tanh().sum_all().backward().unwrap().wrt(&w).unwrap().clone();
        let mut acc = Tensor::zeros(&[3, 2]).unwrap();
        for i in 0..5 {
            let row = x.narrow(0, i, 1).unwrap();
            let g = row.matmul(&w).unwrap().tanh().sum_all().backward().unwrap();
            acc = acc.add(g.wrt(&w).unwrap()).unwrap();
        }
        close(&acc.to_vec(), &full.to_vec(), 1e-12);
    }

    #[test]
    fn gradient_is_linear_in_the_seed(x in tensor_in(vec![2, 3], -2.0..2.0), c in -3.0f64..3.0) {
        let v = x.requires_grad();
        let seeded = |s: f64| {
            let y = v.sigmoid().mul(&v).unwrap();
            let seed = Tensor::full(&[2, 3], s).unwrap();
            y.backward_with(BackwardOptions { seed: Some(seed), ..Default::default() }).unwrap().wrt(&v).unwrap().to_vec()
        };
        prop_assert!(seeded(0.0).iter().all(|&g| g == 0.0));
        let base: Vec<f64> = seeded(1.0).iter().map(|g| g * c).collect();
        close(&seeded(c), &base, 1e-12);
    }

    #[test]
    fn f32_gradients_match_f64((a, b) in broadcast_pair(3, 3)) {
        let a64 = Tensor::<f64>::full(&a, 0.7).unwrap().requires_grad();
        let b64 = Tensor::<f64>::full(&b, -0.4).unwrap().requires_grad();
        let a32 = Tensor::<f32>::full(&a, 0.7).unwrap().requires_grad();
        let b32 = Tensor::<f32>::full(&b, -0.4).unwrap().requires_grad();
        let g64 = a64.mul(&b64).unwrap().tanh().exp().sum_all().backward().unwrap();
        let g32 = a32.mul(&b32).unwrap().tanh().exp().sum_all().backward().unwrap();
        let n = (a.iter().chain(&b).product::<usize>() as f64).sqrt().max(1.0);
        for (x64, x32) in [(&a64, &a32), (&b64, &b32)] {
            let want = g64.wrt(x64).unwrap().to_vec();
            let got: Vec<f64> = g32.wrt(x32).unwrap().to_vec().iter().map(|&v| v as f64).collect();
            for (g, w) in got.iter().zip(&want) {
                prop_assert!((g - w).abs() <= 1e-5 * n + 1e-4 * w.abs(), "f32 {} vs f64 {}", g, w);
            }
        }
    }
}

#[test]
fn extreme_values_stay_finite_and_right() {
    let x = Tensor::<f32>::from_vec(vec![1e4, 0.0], &[2]).unwrap();
    assert_eq!(x.softmax(0).unwrap().to_vec(), vec![1.0, 0.0]);
    assert_eq!(x.log_softmax(0).unwrap().to_vec(), vec![0.0, -1e4]);
    let inf = Tensor::<f32>::from_vec(vec![1.0, f32::INFINITY], &[2]).unwrap();
    assert_eq!(inf.logsumexp(0, false).unwrap().item().unwrap(), f32::INFINITY);
    let ninf = Tensor::<f32>::full(&[3], f32::NEG_INFINITY).unwrap();
    assert_eq!(ninf.logsumexp(0, false).unwrap().item().unwrap(), f32::NEG_INFINITY);

    // Cross-entropy from ±1e4 logits: finite, gradient softmax − onehot.
    let z = Tensor::<f32>::from_vec(vec![1e4, -1e4, 0.0, -1e4, 1e4, 0.0], &[2, 3]).unwrap().requires_grad();
    let loss = functional::cross_entropy(&z, &[1, 1], Reduction::Sum).unwrap();
    assert_eq!(loss.item().unwrap(), 2e4);
    let g = loss.backward().unwrap().wrt(&z).unwrap().to_vec();
    assert_eq!(g, vec![1.0, -1.0, 0.0, 0.0, 0.0, 0.0]);

    // BCE with logits at ±100: loss 0 or 100, gradient σ(z) − t.
    let z = Tensor::<f32>::from_vec(vec![100.0, -100.0, 100.0], &[3]).unwrap().requires_grad();
    let t = Tensor::<f32>::from_vec(vec![1.0, 0.0, 0.0], &[3]).unwrap();
    let l = functional::bce_with_logits(&z, &t, Reduction::None).unwrap();
    let l_values = l.to_vec();
    // ln(1 + e^-100) ≈ 3.7e-44: zero to f32 precision (PyTorch gives the same).
    assert!(l_values[0] < 1e-40 && l_values[1] < 1e-40 && l_values[2] == 100.0, "{l_values:?}");
    let g = l.sum_all().backward().unwrap().wrt(&z).unwrap().to_vec();
    let want = [0.0, 0.0, 1.0];
    assert!(g.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-40), "σ(z) − t: {g:?}");

    // BCE on probabilities 0 and 1: each log clamped at −100.
    let p = Tensor::<f32>::from_vec(vec![0.0, 1.0], &[2]).unwrap();
    let t = Tensor::<f32>::from_vec(vec![1.0, 0.0], &[2]).unwrap();
    assert_eq!(functional::bce(&p, &t, Reduction::None).unwrap().to_vec(), vec![100.0, 100.0]);

    // σ(±1000) is exactly 1 and 0 with gradient 0; tanh(±100) = ±1; softplus(89) ≈ 89.
    let x = Tensor::<f32>::from_vec(vec![1000.0, -1000.0], &[2]).unwrap().requires_grad();
    let s = x.sigmoid();
    assert_eq!(s.to_vec(), vec![1.0, 0.0]);
    assert_eq!(s.sum_all().backward().unwrap().wrt(&x).unwrap().to_vec(), vec![0.0, 0.0]);
    assert_eq!(Tensor::<f32>::from_vec(vec![100.0, -100.0], &[2]).unwrap().tanh().to_vec(), vec![1.0, -1.0]);
    let sp = Tensor::<f32>::scalar(89.0).softplus().item().unwrap();
    assert!((sp - 89.0).abs() < 1e-4 && sp.is_finite());

    // A masked-out branch holding NaN does not leak into the gradient.
    let x = Tensor::<f64>::from_vec(vec![-1.0, 4.0], &[2]).unwrap().requires_grad();
    let mask = x.gt_scalar(0.0);
    let y = Tensor::where_cond(&mask, &x.sqrt(), &x.mul_scalar(0.0)).unwrap();
    assert!(y.to_vec().iter().all(|v| v.is_finite()));
    let g = y.sum_all().backward().unwrap().wrt(&x).unwrap().to_vec();
    assert!(g.iter().all(|v| v.is_finite()), "{g:?}");
    assert_eq!(g[1], 0.25);
}

#[test]
fn subgradients_are_as_documented() {
    // relu'(0) = 0, |x|'(0) = 0, ties in max split evenly, maximum ties split evenly.
    let x = Tensor::<f64>::from_vec(vec![0.0, 0.0, 2.0, 2.0], &[4]).unwrap().requires_grad();
    assert_eq!(x.relu().sum_all().backward().unwrap().wrt(&x).unwrap().to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(x.abs().sum_all().backward().unwrap().wrt(&x).unwrap().to_vec(), vec![0.0, 0.0, 1.0, 1.0]);
    assert_eq!(
        x.max(0, false).unwrap().backward().unwrap().wrt(&x).unwrap().to_vec(),
        vec![0.0, 0.0, 0.5, 0.5]
    );
    let y = Tensor::<f64>::from_vec(vec![0.0, 1.0, 2.0, 3.0], &[4]).unwrap().requires_grad();
    let g = x.maximum(&y).unwrap().sum_all().backward().unwrap();
    assert_eq!(g.wrt(&x).unwrap().to_vec(), vec![0.5, 0.0, 0.5, 0.0]);
    assert_eq!(g.wrt(&y).unwrap().to_vec(), vec![0.5, 1.0, 0.5, 1.0]);
}

#[test]
fn faults_give_clear_errors() {
    // Non-scalar backward without a seed, and a seed of the wrong shape.
    let x = Tensor::<f64>::ones(&[2, 2]).unwrap().requires_grad();
    let y = x.exp();
    assert!(matches!(y.backward(), Err(Error::NonScalarBackward { .. })));
    let y = x.exp();
    let bad = BackwardOptions { seed: Some(Tensor::ones(&[3]).unwrap()), ..Default::default() };
    assert!(matches!(y.backward_with(bad), Err(Error::SeedShape { .. })));
    // A constant or detached output.
    assert_eq!(Tensor::<f64>::ones(&[1]).unwrap().exp().backward().err(), Some(Error::NotRecorded));
    assert_eq!(x.exp().detach().sum_all().backward().err(), Some(Error::NotRecorded));
    let z = tensor_core::no_grad(|| x.exp().sum_all());
    assert_eq!(z.backward().err(), Some(Error::NotRecorded));
    // Asking for the gradient of something detached says why.
    let d = x.detach();
    let g = x.exp().sum_all().backward().unwrap();
    assert!(matches!(g.wrt(&d), Err(Error::NoGradient { .. })));
    // Zero-size matmul: zero gradients of the right shape; softmax of empty is empty.
    let a = Tensor::<f64>::zeros(&[2, 0]).unwrap().requires_grad();
    let b = Tensor::<f64>::zeros(&[0, 3]).unwrap().requires_grad();
    let p = a.matmul(&b).unwrap();
    assert_eq!(p.to_vec(), vec![0.0; 6]);
    let g = p.sum_all().backward().unwrap();
    assert_eq!(g.wrt(&a).unwrap().shape(), &[2, 0]);
    assert_eq!(g.wrt(&b).unwrap().shape(), &[0, 3]);
    assert_eq!(Tensor::<f64>::zeros(&[0, 4]).unwrap().softmax(-1).unwrap().shape(), &[0, 4]);
}

#[test]
fn anomaly_mode_names_the_op() {
    tensor_core::set_detect_anomaly(true);
    let x = Tensor::<f64>::from_vec(vec![-1.0, 1.0], &[2]).unwrap().requires_grad();
    let y = x.ln().sum_all();
    match y.backward() {
        Err(Error::Anomaly { op: "ln", phase: Phase::Forward, index: 0, .. }) => {}
        other => panic!("expected a forward anomaly in ln, got {:?}", other.err()),
    }
    let x = Tensor::<f64>::from_vec(vec![0.0, 1.0], &[2]).unwrap().requires_grad();
    match x.sqrt().sum_all().backward() {
        Err(Error::Anomaly { op: "sqrt", phase: Phase::Backward, .. }) => {}
        other => panic!("expected a backward anomaly in sqrt, got {:?}", other.err()),
    }
    tensor_core::set_detect_anomaly(false);
}

#[test]
fn bad_inputs_get_their_error_variant() {
    let a = Tensor::<f64>::ones(&[2, 3]).unwrap();
    assert!(matches!(a.add(&Tensor::ones(&[4]).unwrap()), Err(Error::Broadcast { .. })));
    assert!(matches!(a.matmul(&Tensor::ones(&[2, 3]).unwrap()), Err(Error::Matmul { .. })));
    assert!(matches!(a.sum(2, false), Err(Error::AxisOutOfRange { .. })));
    assert!(matches!(a.softmax(-3), Err(Error::AxisOutOfRange { .. })));
    assert!(matches!(a.reshape(&[4]), Err(Error::ElementCount { .. })));
    assert!(matches!(Tensor::<f64>::from_vec(vec![1.0; 5], &[2, 3]), Err(Error::ElementCount { .. })));
    assert!(matches!(a.index_select(1, &[3]), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(
        a.gather(1, &Indices::new(vec![0, 9], &[2, 1]).unwrap()),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(Tensor::<f64>::one_hot(&[0, 5], 3), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(
        functional::cross_entropy(&a, &[0, 3], Reduction::Mean),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(functional::cross_entropy(&a, &[0], Reduction::Mean), Err(Error::ShapeMismatch { .. })));
    assert!(matches!(
        functional::mse(&a, &Tensor::ones(&[3, 2]).unwrap(), Reduction::Mean),
        Err(Error::ShapeMismatch { .. })
    ));
    let p = Tensor::<f64>::from_vec(vec![0.5, 1.5], &[2]).unwrap();
    assert!(matches!(
        functional::bce(&p, &Tensor::zeros(&[2]).unwrap(), Reduction::Mean),
        Err(Error::Domain { .. })
    ));
    let nan = Tensor::<f64>::from_vec(vec![0.5, f64::NAN], &[2]).unwrap();
    assert!(matches!(
        functional::bce(&nan, &Tensor::zeros(&[2]).unwrap(), Reduction::Mean),
        Err(Error::Domain { .. })
    ));
    let empty = Tensor::<f64>::zeros(&[0, 3]).unwrap();
    assert!(matches!(empty.max(Axes::All, false), Err(Error::Empty { .. })));
    assert!(matches!(empty.argmax(0), Err(Error::Empty { .. })));
    assert!(matches!(empty.mean_all(), Err(Error::Empty { .. })));
    assert!(matches!(a.permute(&[0, 0]), Err(Error::InvalidArgument { .. })));
    assert!(matches!(a.narrow(1, 2, 2), Err(Error::IndexOutOfRange { .. })));
    assert!(matches!(
        Tensor::concat(&[&a, &Tensor::ones(&[3, 3]).unwrap()], 1),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(a.item(), Err(Error::InvalidArgument { .. })));
    assert!(matches!(Tensor::<f64>::arange(0.0, 1.0, 0.0), Err(Error::InvalidArgument { .. })));
    let p = Parameter::new("w", &a);
    assert!(matches!(p.set(&Tensor::ones(&[3]).unwrap()), Err(Error::ShapeMismatch { .. })));
}

#[test]
fn gradients_are_deterministic() {
    let run = || {
        let w = Tensor::<f32>::from_vec((0..64 * 64).map(|i| (i as f32 * 0.37).sin()).collect(), &[64, 64])
            .unwrap()
            .requires_grad();
        let x = Tensor::<f32>::from_vec((0..512 * 64).map(|i| (i as f32 * 0.11).cos()).collect(), &[512, 64])
            .unwrap();
        let g = x.matmul(&w).unwrap().tanh().sum_all().backward().unwrap();
        g.wrt(&w).unwrap().to_vec()
    };
    let first = run();
    assert_eq!(first, run());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    assert_eq!(first, pool.install(run), "one thread and many give bit-identical gradients");
}

#[test]
fn parameters_move_between_threads() {
    fn assert_send_sync<X: Send + Sync>() {}
    assert_send_sync::<Tensor<f32>>();
    assert_send_sync::<Parameter<f64>>();
    let p = Parameter::new("w", &Tensor::<f64>::full(&[2], 3.0).unwrap());
    let q = p.clone();
    let out = std::thread::spawn(move || {
        let g = q.tensor().square().sum_all().backward().unwrap();
        g.get_param(&q).unwrap().to_vec()
    })
    .join()
    .unwrap();
    assert_eq!(out, vec![6.0, 6.0]);
    p.update(|v| v.iter_mut().for_each(|x| *x -= 1.0));
    assert_eq!(p.value().to_vec(), vec![2.0, 2.0]);
}

#[test]
fn graph_printing_and_dot() {
    let w = Tensor::<f64>::ones(&[3, 2]).unwrap().requires_grad_named("W");
    let x = Tensor::<f64>::ones(&[4, 3]).unwrap();
    let y = x.matmul(&w).unwrap().relu().sum_all();
    let text = tensor_core::inspect::graph_string(&y);
    assert!(text.contains("#0 leaf \"W\" [3, 2]"), "{text}");
    assert!(text.contains("matmul [4, 2] <- const[4, 3], #0"), "{text}");
    let dot = tensor_core::inspect::forward_dot(&y);
    assert!(dot.starts_with("digraph forward") && dot.contains("n0 -> n1"), "{dot}");
    // The recorded backward of tanh(x·W): the rule's matmul, fed by the saved tanh output.
    let y2 = x.matmul(&w).unwrap().tanh().sum_all();
    let backward = tensor_core::inspect::backward_dot(&y2).expect("backward graph");
    assert!(backward.contains("matmul") && backward.contains("forward tanh"), "{backward}");
    assert!(backward.contains("d y / d 'W'"), "{backward}");
    drop(y);
}
