//! Hand-derived examples: each op family once, with the derivation in a comment.

use tensor_core::{BackwardOptions, Error, Tensor};

type R = Result<(), Error>;

#[track_caller]
fn close(a: &[f64], b: &[f64]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-12 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

#[test]
fn cube_first_and_second_derivative() -> R {
    // d/dx x³ = 3x² = 12 at x = 2; d²/dx² = 6x = 12.
    let x = Tensor::<f64>::scalar(2.0).requires_grad();
    let g = x.powi(3).backward_with(BackwardOptions { create_graph: true, ..Default::default() })?;
    let dx = g.wrt(&x)?.clone();
    assert_eq!(dx.item()?, 12.0);
    assert_eq!(dx.backward()?.wrt(&x)?.item()?, 12.0);
    Ok(())
}

#[test]
fn broadcast_add_sums_gradient_back() -> R {
    // y = a + b with a (2,3), b (3): db = column sums of ones = 2 each.
    let a = Tensor::<f64>::ones(&[2, 3]).unwrap().requires_grad();
    let b = Tensor::<f64>::zeros(&[3]).unwrap().requires_grad();
    let g = a.add(&b)?.sum_all().backward()?;
    assert_eq!(g.wrt(&b)?.shape(), &[3]);
    close(&g.wrt(&b)?.to_vec(), &[2.0, 2.0, 2.0]);
    Ok(())
}

#[test]
fn matmul_gradients() -> R {
    // L = Σ A·B: dA = 1·Bᵀ (row sums of B), dB = Aᵀ·1 (column sums of A).
    let a = Tensor::<f64>::from_vec(vec![1., 2., 3., 4., 5., 6.], &[2, 3])?.requires_grad();
    let b = Tensor::<f64>::from_vec(vec![1., 0., 0., 1., 1., 1.], &[3, 2])?.requires_grad();
    let y = a.matmul(&b)?;
    close(&y.to_vec(), &[4., 5., 10., 11.]);
    let g = y.sum_all().backward()?;
    close(&g.wrt(&a)?.to_vec(), &[1., 1., 2., 1., 1., 2.]);
    close(&g.wrt(&b)?.to_vec(), &[5., 5., 7., 7., 9., 9.]);
    Ok(())
}

#[test]
fn fan_out_accumulates() -> R {
    // y = x·x + x: dy/dx = 2x + 1 = 7 at x = 3.
    let x = Tensor::<f64>::scalar(3.0).requires_grad();
    let g = x.mul(&x)?.add(&x)?.backward()?;
    assert_eq!(g.wrt(&x)?.item()?, 7.0);
    Ok(())
}

#[test]
fn backward_twice_needs_keep_graph() -> R {
    let x = Tensor::<f64>::scalar(1.5).requires_grad();
    let y = x.exp();
    y.backward()?;
    assert!(matches!(y.backward(), Err(Error::GraphFreed { op: "exp", carried_over: false })));
    let y = x.exp();
    let keep = BackwardOptions { keep_graph: true, ..Default::default() };
    let g1 = y.backward_with(keep.clone())?.wrt(&x)?.item()?;
    let g2 = y.backward_with(keep)?.wrt(&x)?.item()?;
    assert_eq!(g1, g2, "a kept graph gives the same gradient twice, not a sum");
    Ok(())
}

#[test]
fn deep_chain_does_not_recurse() -> R {
    // 100k ops in a chain: reverse tape order needs no recursion.
    let x = Tensor::<f32>::scalar(1.0).requires_grad();
    let mut y = x.clone();
    for _ in 0..100_000 {
        y = y.add_scalar(0.0);
    }
    assert_eq!(y.backward()?.wrt(&x)?.item()?, 1.0);
    Ok(())
}
