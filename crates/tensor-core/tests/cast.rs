//! `cast` (f32 ↔ f64) makes one graph across both element types: backward walks
//! both sides in one pass with consumer counts on either side, collects both types'
//! gradients, releases each node once, records the casts back under `create_graph`,
//! and frees a graph that alternates types any number of times without recursion.

use tensor_core::gradcheck::{GradcheckOptions, gradcheck_f32, gradcheck_f32_with_reference};
use tensor_core::{BackwardOptions, Error, Parameter, Tensor, live_nodes};

type R = tensor_core::Result<()>;

fn f32s(values: &[f32], shape: &[usize]) -> Tensor<f32> {
    Tensor::from_slice(values, shape).unwrap()
}

fn f64s(values: &[f64]) -> Tensor<f64> {
    Tensor::from_slice(values, &[values.len()]).unwrap()
}

#[test]
fn values_round_to_nearest_and_keep_nan_and_infinity() {
    let x = f64s(&[0.1, 1e40, -1e40, f64::NAN, 1.0 + 1e-12, 0.0]);
    let y = x.cast::<f32>().to_vec();
    assert_eq!(y[0], 0.1f32);
    assert_eq!(y[1], f32::INFINITY);
    assert_eq!(y[2], f32::NEG_INFINITY);
    assert!(y[3].is_nan());
    assert_eq!(y[4], 1.0);
    assert_eq!(y[5], 0.0);
    // f32 → f64 is exact.
    let z = f32s(&[0.1, f32::MAX, f32::MIN_POSITIVE], &[3]).cast::<f64>().to_vec();
    assert_eq!(z, vec![f64::from(0.1f32), f64::from(f32::MAX), f64::from(f32::MIN_POSITIVE)]);
}

#[test]
fn casting_to_the_same_type_is_the_tensor_itself() -> R {
    let x = f64s(&[1.0, 2.0]).requires_grad();
    let y = x.cast::<f64>();
    assert!(y.is_recorded());
    assert_eq!(
        y.backward_with(BackwardOptions { seed: Some(f64s(&[3.0, 4.0])), ..Default::default() })?
            .wrt(&x)?
            .to_vec(),
        vec![3.0, 4.0]
    );
    Ok(())
}

#[test]
fn an_f64_loss_over_an_f32_model_matches_the_same_model_in_f64() -> R {
    // A linear layer + tanh in f32, the loss accumulated in f64.
    let x = f32s(&[0.3, -1.2, 0.8, 2.0, -0.5, 0.1], &[2, 3]);
    let w = Parameter::new("w", &f32s(&[0.5, -0.25, 1.0, 0.75, -1.5, 0.2], &[3, 2]));
    let target = Tensor::<f64>::from_slice(&[0.1, -0.2, 0.3, 0.4], &[2, 2])?;
    let loss = |x: &Tensor<f64>, w: &Tensor<f64>| -> tensor_core::Result<Tensor<f64>> {
        x.matmul(w)?.tanh().sub(&target)?.powi(2).mean_all()
    };
    let mixed = x.matmul(&w.tensor())?.tanh().cast::<f64>().sub(&target)?.powi(2).mean_all()?;
    let grads = mixed.backward()?;
    let g32 = grads.get_param(&w).expect("the f32 parameter's gradient is in the f64 backward's store");
    assert_eq!(grads.len(), 1);

    let w64 = w.tensor().cast::<f64>().detach().requires_grad();
    let reference = loss(&x.cast::<f64>(), &w64)?;
    let g64 = reference.backward()?.wrt(&w64)?.to_vec();
    assert!((mixed.item()? - reference.item()?).abs() < 1e-6);
    for (a, b) in g32.to_vec().iter().zip(&g64) {
        assert!((f64::from(*a) - b).abs() < 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }
    Ok(())
}

#[test]
fn a_node_consumed_on_both_sides_runs_once_with_both_gradients() -> R {
    // h is an f64 node consumed by an f64 add and by a cast into an f32 sub-graph:
    // its rule must wait for both, and (without keep_graph) run exactly once.
    let x = f64s(&[0.5, -1.5, 2.0]).requires_grad();
    let h = x.mul(&x)?; // dh/dx = 2x
    let loss = h.cast::<f32>().mul_scalar(2.0).cast::<f64>().add(&h)?.sum_all(); // d/dh = 3
    let grads = loss.backward()?;
    assert_eq!(grads.wrt(&x)?.to_vec(), vec![3.0, -9.0, 12.0]); // 6x, exactly
    // The graph was walked once and released: a second walk is GraphFreed.
    assert!(matches!(loss.backward(), Err(Error::GraphFreed { .. })));
    Ok(())
}

#[test]
fn a_graph_crossing_back_and_forth_gives_both_types_gradients() -> R {
    // f64 → f32 → f64 → f32 → f64 with residual paths at every level, and a leaf
    // of each type.
    let a = f64s(&[1.0, 2.0]).requires_grad();
    let b = f32s(&[3.0, -1.0], &[2]).requires_grad();
    let s1 = a.cast::<f32>().mul(&b)?; // f32: a·b
    let s2 = s1.cast::<f64>().add(&a)?; // f64: a·b + a
    let s3 = s2.cast::<f32>().add(&b)?.add(&s1)?; // f32: 2ab + a + b
    let loss = s3.cast::<f64>().mul(&a)?.sum_all(); // Σ a·(2ab + a + b)
    let grads = loss.backward()?;
    // ∂/∂a = 4ab + 2a + b = (17, −5), ∂/∂b = 2a² + a = (3, 10).
    assert_eq!(grads.wrt(&a)?.to_vec(), vec![17.0, -5.0]);
    assert_eq!(grads.wrt(&b)?.to_vec(), vec![3.0f32, 10.0]);
    assert_eq!(grads.len(), 2);
    Ok(())
}

#[test]
fn chosen_inputs_of_either_type() -> R {
    let a = f64s(&[1.0, 2.0]).requires_grad();
    let b = f32s(&[3.0, -1.0], &[2]).requires_grad();
    let loss = || a.cast::<f32>().mul(&b).map(|p| p.cast::<f64>().mul(&a).unwrap().sum_all()); // Σ a²b
    let only_b =
        loss()?.backward_with(BackwardOptions { other_inputs: vec![b.clone()], ..Default::default() })?;
    assert_eq!(only_b.wrt(&b)?.to_vec(), vec![1.0f32, 4.0]); // a²
    assert!(only_b.get(&a).is_none());
    let only_a = loss()?.backward_with(BackwardOptions { inputs: vec![a.clone()], ..Default::default() })?;
    assert_eq!(only_a.wrt(&a)?.to_vec(), vec![6.0, -4.0]); // 2ab
    assert!(only_a.get(&b).is_none());
    Ok(())
}

#[test]
fn second_derivatives_cross_the_cast() -> R {
    // f(x) = Σ (x³ in f32) as f64; g = 3x² (recorded, f32); Σg differentiates to 6x.
    let x = f32s(&[1.0, -2.0, 0.5], &[3]).requires_grad();
    let f = x.powi(3).cast::<f64>().sum_all();
    let g = f.backward_with(BackwardOptions { create_graph: true, ..Default::default() })?;
    let gx = g.wrt(&x)?;
    assert!(gx.is_recorded(), "the gradient across the cast is recorded under create_graph");
    assert_eq!(gx.to_vec(), vec![3.0f32, 12.0, 0.75]);
    let h = gx.cast::<f64>().sum_all().backward()?;
    assert_eq!(h.wrt(&x)?.to_vec(), vec![6.0f32, -12.0, 3.0]);
    Ok(())
}

#[test]
fn f32_gradchecks_through_an_f64_interior() -> R {
    // An f32 op computed in f64 inside (the usual mixed-precision pattern, reversed).
    let f = |x: &[Tensor<f32>]| -> tensor_core::Result<Tensor<f32>> {
        Ok(x[0].cast::<f64>().exp().mul(&x[1].cast::<f64>())?.cast::<f32>())
    };
    let inputs = [f32s(&[0.3, -0.7, 1.1], &[3]), f32s(&[0.5, 2.0, -1.0], &[3])];
    let report = gradcheck_f32(f, &inputs, &GradcheckOptions::f32())?;
    assert!(report.passed, "{report}");
    let reference = |x: &[Tensor<f64>]| -> tensor_core::Result<Tensor<f64>> { x[0].exp().mul(&x[1]) };
    let report =
        gradcheck_f32_with_reference(f, reference, &inputs, &GradcheckOptions::f32_with_reference())?;
    assert!(report.passed, "{report}");
    Ok(())
}

#[test]
fn mixed_graphs_are_freed_with_their_tensors() -> R {
    let baseline = live_nodes();
    let w = f32s(&[0.5; 16], &[4, 4]).requires_grad();
    for _ in 0..1000 {
        let x = Tensor::<f64>::full(&[2, 4], 0.25)?;
        let y = x.cast::<f32>().matmul(&w)?.tanh().cast::<f64>().sum_all();
        assert!(live_nodes() > baseline);
        drop(y);
        assert_eq!(live_nodes(), baseline);
    }
    Ok(())
}

#[test]
fn a_mixed_graph_built_on_one_thread_is_walked_on_another() -> R {
    let w = f32s(&[1.0, 2.0], &[2]).requires_grad();
    let loss = w.mul(&w)?.cast::<f64>().sum_all();
    let grads = std::thread::spawn(move || loss.backward()).join().expect("no panic")?;
    assert_eq!(grads.wrt(&w)?.to_vec(), vec![2.0f32, 4.0]);
    Ok(())
}

#[test]
fn a_long_alternating_chain_backwards_and_drops_on_a_small_stack() {
    const CASTS: usize = 200_000;
    let run = || -> R {
        let x = f64s(&[1.0]).requires_grad();
        let mut y = x.clone();
        for _ in 0..CASTS / 2 {
            y = y.cast::<f32>().cast::<f64>();
        }
        assert_eq!(y.sum_all().backward()?.wrt(&x)?.to_vec(), vec![1.0]);
        // And an unwalked one, dropped.
        let mut z = x.cast::<f32>();
        for _ in 0..CASTS / 2 {
            z = z.cast::<f64>().cast::<f32>();
        }
        drop(z);
        Ok(())
    };
    let handle = std::thread::Builder::new().stack_size(256 * 1024).spawn(run).expect("spawn");
    handle.join().expect("no stack overflow").expect("backward");
}
