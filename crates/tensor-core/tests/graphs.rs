//! The graph design's invariants, each as a test: independent graphs on one thread,
//! graphs freed with their tensors, exact gradients across threads, any depth,
//! released graphs named, rules checked, gradcheck leaving graphs alone, sizes
//! checked, NaN propagation, and gradients of chosen inputs only.

use std::sync::{Arc, Barrier};
use tensor_core::gradcheck::{GradcheckOptions, gradcheck};
use tensor_core::{BackwardOptions, Error, GradVec, Parameter, Tensor, enable_grad, live_nodes};

type R = tensor_core::Result<()>;

fn vector(values: &[f64]) -> Tensor<f64> {
    Tensor::from_slice(values, &[values.len()]).unwrap()
}

fn keep() -> BackwardOptions<f64> {
    BackwardOptions { keep_graph: true, ..Default::default() }
}

// 1. Two losses on one thread are two graphs.

#[test]
fn two_independent_losses_backward_in_either_order() -> R {
    let x = vector(&[0.5, -1.0, 2.0]).requires_grad();
    for a_first in [true, false] {
        let a = x.exp().sum_all(); // d/dx Σeˣ = eˣ
        let b = x.mul(&x)?.sum_all(); // d/dx Σx² = 2x
        let (ga, gb) = if a_first {
            let ga = a.backward()?;
            (ga, b.backward()?)
        } else {
            let gb = b.backward()?;
            (a.backward()?, gb)
        };
        let expect_a: Vec<f64> = x.as_slice().iter().map(|v| v.exp()).collect();
        let expect_b: Vec<f64> = x.as_slice().iter().map(|v| 2.0 * v).collect();
        assert_eq!(ga.wrt(&x)?.to_vec(), expect_a);
        assert_eq!(gb.wrt(&x)?.to_vec(), expect_b);
    }
    Ok(())
}

#[test]
fn a_loss_sharing_a_subgraph_needs_keep_graph_only_on_the_first_walk() -> R {
    let x = vector(&[0.3, -0.7]).requires_grad();
    let h = x.tanh();
    let first = h.sum_all();
    let third = h.mul(&h)?.sum_all();
    // The shared `tanh` node is walked twice, so the first walk keeps it.
    let g1 = first.backward_with(keep())?;
    let g3 = third.backward()?;
    for (i, &v) in x.as_slice().iter().enumerate() {
        let t = v.tanh();
        assert!((g1.wrt(&x)?.as_slice()[i] - (1.0 - t * t)).abs() < 1e-15);
        // d/dx tanh² = 2·tanh·(1 − tanh²)
        assert!((g3.wrt(&x)?.as_slice()[i] - 2.0 * t * (1.0 - t * t)).abs() < 1e-15);
    }
    // Without keep_graph the shared node is released, and the error names it.
    let h = x.tanh();
    let (first, third) = (h.sum_all(), h.mul(&h)?.sum_all());
    first.backward()?;
    let err = third.backward().err();
    assert!(matches!(err, Some(Error::GraphFreed { op: "tanh", carried_over: true })), "{err:?}");
    Ok(())
}

// 2. A graph lives as long as its tensors.

fn rss_kib() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn forwards_without_no_grad_free_their_graphs() -> R {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let w1 = Parameter::new("w1", &Tensor::<f32>::rand_normal(&[64, 64], 0.0, 0.1, &mut rng)?);
    let b1 = Parameter::new("b1", &Tensor::<f32>::zeros(&[64])?);
    let w2 = Parameter::new("w2", &Tensor::<f32>::rand_normal(&[64, 10], 0.0, 0.1, &mut rng)?);
    let b2 = Parameter::new("b2", &Tensor::<f32>::zeros(&[10])?);
    let x = Tensor::<f32>::rand_normal(&[32, 64], 0.0, 1.0, &mut rng)?;
    let baseline = live_nodes();
    let forward = || -> tensor_core::Result<Tensor<f32>> {
        let h = x.linear(&w1.tensor(), &b1.tensor())?.relu();
        Ok(h.linear(&w2.tensor(), &b2.tensor())?.softmax(-1)?.sum_all())
    };
    let mut rss_after_warmup = None;
    for i in 0..10_000 {
        let y = forward()?;
        assert!(live_nodes() >= baseline + 4);
        drop(y);
        assert_eq!(live_nodes(), baseline, "iteration {i}: the dropped output's graph is gone");
        if i == 1_000 {
            rss_after_warmup = rss_kib();
        }
    }
    if let (Some(before), Some(after)) = (rss_after_warmup, rss_kib()) {
        // The old per-thread tape grew by ~50 KiB per forward here (~450 MiB).
        assert!(after < before + 16 * 1024, "RSS grew from {before} KiB to {after} KiB");
    }
    Ok(())
}

// 3. Threads: exact gradients with a shared parameter; graphs move between threads.

#[test]
fn two_threads_sharing_parameters_each_get_exactly_their_gradient() {
    const STEPS: usize = 10_000;
    let w = Parameter::new("w", &vector(&[0.5, -0.25, 2.0]));
    let b = Parameter::new("b", &vector(&[0.1]));
    let scale = |thread: usize, step: usize| 1.0 + (thread * 7 + step % 13) as f64 * 0.125;
    // loss = Σ (c·w + b)² + 2·Σw: every thread has its own c each step.
    let step_grads = |c: f64| -> (Vec<f64>, Vec<f64>) {
        let (wt, bt) = (w.tensor(), b.tensor());
        let z = wt.mul_scalar(c).add(&bt).unwrap();
        let loss = z.mul(&z).unwrap().sum_all().add(&wt.mul_scalar(2.0).sum_all()).unwrap();
        let g = loss.backward().unwrap();
        (g.get_param(&w).unwrap().to_vec(), g.get_param(&b).unwrap().to_vec())
    };
    let expected: Vec<Vec<(Vec<f64>, Vec<f64>)>> =
        (0..2).map(|t| (0..13).map(|s| step_grads(scale(t, s))).collect()).collect();
    let expected = Arc::new(expected);
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|thread| {
            let (w, b, barrier, expected) = (w.clone(), b.clone(), barrier.clone(), expected.clone());
            std::thread::spawn(move || {
                let mut wrong = 0;
                for step in 0..STEPS {
                    let c = 1.0 + (thread * 7 + step % 13) as f64 * 0.125;
                    let (wt, bt) = (w.tensor(), b.tensor());
                    let z = wt.mul_scalar(c).add(&bt).unwrap();
                    // Both threads have recorded with w and b before either walks back.
                    barrier.wait();
                    let loss = z.mul(&z).unwrap().sum_all().add(&wt.mul_scalar(2.0).sum_all()).unwrap();
                    let g = loss.backward().unwrap();
                    let got = (g.get_param(&w).unwrap().to_vec(), g.get_param(&b).unwrap().to_vec());
                    if got != expected[thread][step % 13] {
                        wrong += 1;
                    }
                }
                wrong
            })
        })
        .collect();
    let wrong: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(wrong, vec![0, 0], "steps with a gradient other than the single-threaded one");
}

#[test]
fn a_graph_built_on_one_thread_is_walked_on_another() -> R {
    let x = vector(&[1.0, 2.0]).requires_grad();
    let x2 = x.clone();
    let loss = std::thread::spawn(move || x2.powi(3).sum_all()).join().unwrap();
    let g = std::thread::spawn(move || loss.backward()).join().unwrap()?;
    assert_eq!(g.wrt(&x)?.to_vec(), vec![3.0, 12.0]); // d/dx x³ = 3x²
    Ok(())
}

// 4. Depth.

#[test]
fn a_million_chained_ops_backward_and_drop_on_a_small_stack() {
    const DEPTH: usize = 1_000_000;
    let run = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| -> tensor_core::Result<(f32, usize)> {
            let baseline = live_nodes();
            let x = Tensor::<f32>::scalar(1.0).requires_grad();
            let mut y = x.clone();
            for _ in 0..DEPTH {
                y = y.add_scalar(0.0);
            }
            let g = y.backward()?.wrt(&x)?.item()?;
            drop(y);
            // An unused graph of the same depth, dropped without a backward.
            let mut unused = x.clone();
            for _ in 0..DEPTH {
                unused = unused.neg();
            }
            assert_eq!(live_nodes(), baseline + DEPTH);
            drop(unused);
            Ok((g, live_nodes() - baseline))
        })
        .unwrap();
    let (g, left) = run.join().expect("no stack overflow").unwrap();
    assert_eq!((g, left), (1.0, 0));
}

// 5. Released graphs are named, and carried-over graphs point at detach().

#[test]
fn backward_twice_names_the_op_and_says_keep_graph() -> R {
    let x = Tensor::<f64>::scalar(0.5).requires_grad();
    let y = x.sigmoid();
    y.backward()?;
    let err = y.backward().unwrap_err();
    assert!(matches!(err, Error::GraphFreed { op: "sigmoid", carried_over: false }));
    assert!(err.to_string().contains("`sigmoid`") && err.to_string().contains("keep_graph"), "{err}");
    Ok(())
}

#[test]
fn truncated_bptt_without_detach_says_detach() -> R {
    let w = Parameter::new("w", &vector(&[0.9, -0.4]));
    let mut h = vector(&[0.1, 0.2]);
    let mut outcome = Vec::new();
    for _ in 0..3 {
        h = h.mul(&w.tensor())?.tanh(); // the hidden state, carried over without detach()
        outcome.push(h.sum_all().backward().map(|_| ()));
    }
    assert!(outcome[0].is_ok());
    let err = outcome[1].clone().unwrap_err();
    assert!(matches!(err, Error::GraphFreed { op: "tanh", carried_over: true }), "{err:?}");
    assert!(err.to_string().contains("detach()"), "{err}");
    // With detach() at the boundary every iteration works.
    let mut h = vector(&[0.1, 0.2]);
    for _ in 0..3 {
        h = h.detach().mul(&w.tensor())?.tanh();
        h.sum_all().backward()?;
    }
    Ok(())
}

#[test]
fn an_unrelated_backward_never_releases_another_graph() -> R {
    let x = Tensor::<f64>::scalar(2.0).requires_grad();
    let kept = x.exp();
    for _ in 0..3 {
        x.ln().backward()?;
    }
    assert_eq!(kept.backward()?.wrt(&x)?.item()?, 2f64.exp());
    Ok(())
}

// 6. Rules are checked.

fn custom(x: &Tensor<f64>, grads: usize, shape: &'static [usize]) -> Tensor<f64> {
    Tensor::record("custom", &[x], x.map(|v| 2.0 * v), move |dy, _, _| {
        let g = Tensor::full(shape, 2.0)?.mul(&dy.sum_all())?;
        Ok((0..grads).map(|_| Some(g.clone())).collect::<GradVec<f64>>())
    })
}

#[test]
fn rules_returning_the_wrong_number_of_gradients_are_errors() {
    let x = vector(&[1.0, 2.0]).requires_grad();
    for (count, got) in [(0, 0), (2, 2)] {
        let err = custom(&x, count, &[2]).sum_all().backward().unwrap_err();
        assert_eq!(err, Error::RuleArity { op: "custom", expected: 1, got });
        assert!(err.to_string().contains("`custom`"));
    }
    assert!(custom(&x, 1, &[2]).sum_all().backward().is_ok());
}

#[test]
fn rules_returning_an_irreducible_shape_are_errors_naming_both_shapes() {
    let x = vector(&[1.0, 2.0]).requires_grad();
    let err = custom(&x, 1, &[3]).sum_all().backward().unwrap_err();
    assert!(
        matches!(&err, Error::RuleGradientShape { op: "custom", input: 0, input_shape, gradient_shape }
            if input_shape.as_slice() == [2] && gradient_shape.as_slice() == [3]),
        "{err:?}"
    );
    // A broadcast shape is fine: the engine sums it back. Each of the 4 rows holds
    // 2·Σdy = 4, so the summed gradient is 16.
    let g = custom(&x, 1, &[4, 2]).sum_all().backward().unwrap();
    assert_eq!(g.wrt(&x).unwrap().to_vec(), vec![16.0, 16.0]);
}

#[test]
fn backward_inside_a_rule_works_or_is_an_error_never_a_panic() -> R {
    let x = Tensor::<f64>::scalar(1.5).requires_grad();
    // A rule that runs an independent backward (as a checkpointing rule would).
    let y = Tensor::record("nested", &[&x], x.map(|v| v * v), |dy, inputs, _| {
        let fresh = inputs[0].detach().requires_grad();
        let inner = enable_grad(|| fresh.mul(&fresh))?.backward()?.wrt(&fresh)?.clone();
        Ok(GradVec::from_iter([Some(dy.mul(&inner)?)]))
    });
    assert_eq!(y.backward()?.wrt(&x)?.item()?, 3.0);
    // A rule that walks back through its own node: an error, even under create_graph.
    // (Without create_graph a rule's saved tensors are constants, so there is no graph
    // to walk back into: `NotRecorded`.)
    for create_graph in [false, true] {
        let y = Tensor::record("reentrant", &[&x], x.map(|v| v * v), |dy, _, y| {
            y.backward_with(BackwardOptions { keep_graph: true, ..Default::default() })?;
            Ok(GradVec::from_iter([Some(dy.clone())]))
        });
        let err = y.backward_with(BackwardOptions { create_graph, ..Default::default() }).unwrap_err();
        assert!(
            matches!(err, Error::ReentrantBackward { op: "reentrant" } | Error::GraphFreed { .. })
                || !create_graph && matches!(err, Error::NotRecorded),
            "{err:?}"
        );
    }
    Ok(())
}

// 7. gradcheck leaves the caller's graphs alone.

#[test]
fn gradcheck_leaves_the_callers_graph_untouched() -> R {
    let x = Tensor::<f64>::scalar(0.7).requires_grad();
    let y = x.powi(3);
    let nodes = live_nodes();
    let report =
        gradcheck(|xs| Ok(xs[0].tanh().sum_all()), &[vector(&[0.1, 0.2])], &GradcheckOptions::default())?;
    assert!(report.passed, "{report}");
    assert_eq!(live_nodes(), nodes);
    assert_eq!(y.backward()?.wrt(&x)?.item()?, 3.0 * 0.7 * 0.7); // d/dx x³
    Ok(())
}

// 8. Sizes are checked before anything is allocated.

#[test]
fn impossible_sizes_are_errors() {
    let huge = 1usize << 32;
    assert!(matches!(Tensor::<f32>::from_vec(vec![], &[huge, huge]), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f32>::zeros(&[huge, huge]), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::zeros(&[1 << 40]), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::ones(&[usize::MAX]), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::full(&[3, usize::MAX], 1.0), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::eye(1 << 31), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::arange(0.0, 1e30, 1.0), Err(Error::TooLarge { .. })));
    assert!(matches!(Tensor::<f64>::one_hot(&[0], usize::MAX), Err(Error::TooLarge { .. })));
    let x = Tensor::<f64>::ones(&[2, 3]).unwrap();
    assert!(matches!(x.pad_axis(1, usize::MAX, 1), Err(Error::TooLarge { .. })));
    assert!(matches!(x.pad_axis(0, 1 << 40, 0), Err(Error::TooLarge { .. })));
    assert!(matches!(x.index_add(1, &[0, 1, 2], 1 << 40), Err(Error::TooLarge { .. })));
    let index = tensor_core::Indices::new(vec![0; 6], &[2, 3]).unwrap();
    assert!(matches!(x.scatter_add(0, &index, usize::MAX / 2), Err(Error::TooLarge { .. })));
    assert!(matches!(x.reshape(&[huge, huge, 0, 1]), Err(Error::ElementCount { .. })));
    assert!(matches!(tensor_core::Indices::new(vec![], &[huge, huge]), Err(Error::TooLarge { .. })));
}

// 9. NaN propagates as in PyTorch; masked-out branches stay clean.

#[test]
fn nan_propagates_through_relu_clamp_maximum_and_minimum() -> R {
    let nan = Tensor::<f64>::scalar(f64::NAN);
    let one = Tensor::<f64>::scalar(1.0);
    assert!(nan.relu().item()?.is_nan());
    assert!(nan.clamp(-1.0, 1.0).item()?.is_nan());
    for (a, b) in [(&nan, &one), (&one, &nan)] {
        assert!(a.maximum(b)?.item()?.is_nan());
        assert!(a.minimum(b)?.item()?.is_nan());
    }
    Ok(())
}

#[test]
fn a_masked_out_branch_never_leaks_nan_into_the_gradient() -> R {
    let x = vector(&[0.0, 1000.0, 2.0]).requires_grad();
    let take = vector(&[0.0, 0.0, 1.0]); // only the last element is taken
    type Branch = fn(&Tensor<f64>) -> tensor_core::Result<Tensor<f64>>;
    let branches: [(&str, Branch); 3] = [
        ("powi(-1) at 0", |x| Ok(x.powi(-1))),
        ("exp overflow", |x| Ok(x.exp())),
        ("logsumexp overflow", |x| {
            x.unsqueeze(-1)?.mul_scalar(1e306).concat_with_self()?.logsumexp(-1, false)
        }),
    ];
    for (name, branch) in branches {
        let picked = Tensor::where_cond(&take, &branch(&x)?, &x)?;
        let g = picked.sum_all().backward()?;
        let g = g.wrt(&x)?.to_vec();
        assert!(g.iter().all(|v| v.is_finite()), "{name}: {g:?}");
    }
    Ok(())
}

trait ConcatSelf: Sized {
    fn concat_with_self(&self) -> tensor_core::Result<Self>;
}

impl ConcatSelf for Tensor<f64> {
    fn concat_with_self(&self) -> tensor_core::Result<Self> {
        Tensor::concat(&[self, self], -1)
    }
}

// 10. Gradients of chosen inputs only.

#[test]
fn backward_for_chosen_inputs_returns_only_those_and_matches_the_full_backward() -> R {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let x = Tensor::<f64>::rand_normal(&[4, 3], 0.0, 1.0, &mut rng)?.requires_grad();
    let w = Tensor::<f64>::rand_normal(&[3, 2], 0.0, 1.0, &mut rng)?.requires_grad();
    let b = Tensor::<f64>::rand_normal(&[2], 0.0, 1.0, &mut rng)?.requires_grad();
    let h = x.linear(&w, &b)?;
    let loss = h.tanh().sum_all();
    let full = loss.backward_with(keep())?;
    let only_x =
        loss.backward_with(BackwardOptions { inputs: vec![x.clone(), h.clone()], ..Default::default() })?;
    assert_eq!(only_x.wrt(&x)?.to_vec(), full.wrt(&x)?.to_vec());
    assert!(only_x.get(&w).is_none() && only_x.get(&b).is_none());
    assert_eq!(only_x.len(), 1);
    // An intermediate tensor can be asked for too.
    assert_eq!(only_x.wrt(&h)?.shape(), &[4, 2]);
    Ok(())
}

#[test]
fn a_gradient_penalty_differentiates_the_input_gradient_with_respect_to_the_weights() -> R {
    // D(x) = Σ tanh(x·w); penalty = Σ (∂D/∂x)², differentiated with respect to w.
    let x = Tensor::<f64>::from_vec(vec![0.2, -0.4, 0.6, 0.1], &[2, 2])?.requires_grad();
    let w = Tensor::<f64>::from_vec(vec![0.5, -1.0, 0.3, 0.8], &[2, 2])?.requires_grad();
    let penalty_grad = |w: &Tensor<f64>| -> tensor_core::Result<(f64, Tensor<f64>)> {
        let d = x.matmul(w)?.tanh().sum_all();
        let opts = BackwardOptions { inputs: vec![x.clone()], create_graph: true, ..Default::default() };
        let dx = d.backward_with(opts)?.wrt(&x)?.clone();
        let penalty = dx.mul(&dx)?.sum_all();
        let value = penalty.item()?;
        let g = penalty.backward_with(BackwardOptions { inputs: vec![w.clone()], ..Default::default() })?;
        Ok((value, g.wrt(w)?.clone()))
    };
    let (_, analytic) = penalty_grad(&w)?;
    // Central differences of the penalty in each weight.
    for e in 0..4 {
        let shifted = |delta: f64| -> tensor_core::Result<f64> {
            let mut v = w.to_vec();
            v[e] += delta;
            let w = Tensor::from_vec(v, &[2, 2])?.requires_grad();
            penalty_grad(&w).map(|(p, _)| p)
        };
        let numeric = (shifted(1e-6)? - shifted(-1e-6)?) / 2e-6;
        assert!((analytic.as_slice()[e] - numeric).abs() < 1e-6, "element {e}: {analytic:?} vs {numeric}");
    }
    Ok(())
}
