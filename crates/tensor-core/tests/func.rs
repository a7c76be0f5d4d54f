//! The function transforms (`tensor_core::func`) against central differences and
//! against each other: jacrev = jacfwd, hessian·v = hvp, jvp = J·t, checkpointed =
//! plain gradients, on tall and wide functions with several inputs.

use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::{Error, Result, Tensor, func, inspect};

fn random(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_uniform(shape, -1.0, 1.0, &mut StdRng::seed_from_u64(seed)).expect("random tensor")
}

fn close(what: &str, got: &Tensor<f64>, want: &Tensor<f64>, tol: f64) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    for (i, (a, b)) in got.as_slice().iter().zip(want.as_slice()).enumerate() {
        assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{what}[{i}]: {a} vs {b}");
    }
}

/// Tall: R^(3) × R^(2) → R^(4×3).  Wide: R^(5×2) × R^(2) → R^(2).
fn tall(x: &[Tensor<f64>]) -> Result<Tensor<f64>> {
    let outer = x[0].reshape(&[3, 1])?.mul(&x[1].sum_all().add_scalar(0.5))?; // [3,1]
    let stacked = Tensor::concat(&[&outer.reshape(&[1, 3])?, &x[0].reshape(&[1, 3])?.tanh()], 0)?; // [2,3]
    Tensor::concat(&[&stacked, &stacked.mul(&stacked)?.sin_free()], 0)
}

trait SinFree {
    fn sin_free(&self) -> Tensor<f64>;
}
impl SinFree for Tensor<f64> {
    /// A smooth nonlinearity from the engine's ops: σ(x)·eˣ.
    fn sin_free(&self) -> Tensor<f64> {
        self.sigmoid().mul(&self.exp()).expect("same shapes")
    }
}

fn wide(x: &[Tensor<f64>]) -> Result<Tensor<f64>> {
    x[0].tanh().matmul(&x[1].reshape(&[2, 1])?)?.reshape(&[5])?.softmax(0)?.narrow(0, 1, 2)?.add(&x[1].exp())
}

/// Numeric Jacobian of input `i`, shape y ++ xᵢ, by central differences.
fn numeric_jacobian(
    f: fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
    xs: &[Tensor<f64>],
    i: usize,
) -> Tensor<f64> {
    let eps = 1e-6;
    let y = f(xs).expect("f");
    let (m, n) = (y.numel(), xs[i].numel());
    let mut jac = vec![0.0; m * n];
    for j in 0..n {
        let shifted = |delta: f64| {
            let mut v = xs[i].to_vec();
            v[j] += delta;
            let mut args = xs.to_vec();
            args[i] = Tensor::from_vec(v, xs[i].shape()).expect("shape");
            f(&args).expect("f").to_vec()
        };
        let (plus, minus) = (shifted(eps), shifted(-eps));
        for o in 0..m {
            jac[o * n + j] = (plus[o] - minus[o]) / (2.0 * eps);
        }
    }
    let mut shape = y.shape().to_vec();
    shape.extend_from_slice(xs[i].shape());
    Tensor::from_vec(jac, &shape).expect("jacobian shape")
}

#[test]
fn jacobians_reverse_and_forward_agree_with_central_differences() {
    for (name, f, xs) in [
        ("tall", tall as fn(&[Tensor<f64>]) -> Result<Tensor<f64>>, vec![random(&[3], 1), random(&[2], 2)]),
        ("wide", wide, vec![random(&[5, 2], 3), random(&[2], 4)]),
    ] {
        let rev = func::jacobian_rev(f, &xs).expect("jacrev");
        let fwd = func::jacobian_fwd(f, &xs).expect("jacfwd");
        for i in 0..xs.len() {
            let numeric = numeric_jacobian(f, &xs, i);
            close(&format!("{name} jacrev {i}"), &rev[i], &numeric, 1e-7);
            close(&format!("{name} jacfwd = jacrev {i}"), &fwd[i], &rev[i], 1e-12);
        }
    }
}

#[test]
fn vjp_and_jvp_are_the_jacobian_products() {
    let xs = vec![random(&[3], 5), random(&[2], 6)];
    let jac = func::jacobian_rev(tall, &xs).expect("jacrev");
    let u = random(&[4, 3], 7);
    let (y, vjps) = func::vjp(tall, &xs, &u).expect("vjp");
    close("vjp value", &y, &tall(&xs).expect("f"), 0.0);
    for (i, x) in xs.iter().enumerate() {
        let want = u.reshape(&[1, 12]).unwrap().matmul(&jac[i].reshape(&[12, x.numel()]).unwrap()).unwrap();
        close(&format!("vjp {i}"), &vjps[i], &want.reshape(x.shape()).unwrap(), 1e-12);
    }
    let ts = vec![random(&[3], 8), random(&[2], 9)];
    let (_, jt) = func::jvp(tall, &xs, &ts).expect("jvp");
    let mut want = Tensor::zeros(&[12, 1]).unwrap();
    for (i, t) in ts.iter().enumerate() {
        let part =
            jac[i].reshape(&[12, t.numel()]).unwrap().matmul(&t.reshape(&[t.numel(), 1]).unwrap()).unwrap();
        want = want.add(&part).unwrap();
    }
    close("jvp = J·t", &jt, &want.reshape(&[4, 3]).unwrap(), 1e-12);
}

fn rosenbrock_like(x: &[Tensor<f64>]) -> Result<Tensor<f64>> {
    let a = x[0].narrow(0, 0, 3)?;
    let b = x[0].narrow(0, 1, 3)?;
    let term = b.sub(&a.mul(&a)?)?;
    term.mul(&term)?.mul_scalar(10.0).add(&a.add_scalar(-1.0).powi(2))?.sum_all().add(&x[0].tanh().sum_all())
}

#[test]
fn hessian_times_v_is_hvp_and_symmetric() {
    let x = random(&[4], 10);
    let h = func::hessian(rosenbrock_like, &x).expect("hessian");
    assert_eq!(h.shape(), &[4, 4]);
    let hv = h.to_vec();
    for i in 0..4 {
        for j in 0..4 {
            assert!((hv[i * 4 + j] - hv[j * 4 + i]).abs() < 1e-12, "symmetric at {i},{j}");
        }
    }
    let v = random(&[4], 11);
    let (value, hvp) =
        func::hvp(rosenbrock_like, std::slice::from_ref(&x), std::slice::from_ref(&v)).expect("hvp");
    close("hvp value", &value, &rosenbrock_like(std::slice::from_ref(&x)).unwrap(), 0.0);
    let want = h.matmul(&v.reshape(&[4, 1]).unwrap()).unwrap().reshape(&[4]).unwrap();
    close("H·v = hvp", &hvp[0], &want, 1e-12);
    // The Hessian against central differences of the gradient.
    let grad_fn =
        |x: &[Tensor<f64>]| -> Result<Tensor<f64>> { Ok(func::grad(rosenbrock_like, x)?.remove(0)) };
    let eps = 1e-6;
    for j in 0..4 {
        let shifted = |d: f64| {
            let mut p = x.to_vec();
            p[j] += d;
            grad_fn(&[Tensor::from_vec(p, &[4]).unwrap()]).unwrap().to_vec()
        };
        let (plus, minus) = (shifted(eps), shifted(-eps));
        for i in 0..4 {
            let numeric = (plus[i] - minus[i]) / (2.0 * eps);
            assert!((hv[i * 4 + j] - numeric).abs() < 1e-6 * (1.0 + numeric.abs()), "H[{i},{j}]");
        }
    }
}

#[test]
fn transforms_nest_and_leave_plain_data_plain() {
    // d/dx of grad(Σ x⁴) = 12x², the Hessian's diagonal, through grad of grad.
    let x = random(&[3], 12);
    let f = |x: &[Tensor<f64>]| Ok(x[0].powi(4).sum_all());
    let g = func::grad(f, std::slice::from_ref(&x)).unwrap().remove(0);
    assert!(!g.is_recorded());
    let second = func::vjp(
        |xs| Ok(func::grad(f, xs)?.remove(0)),
        std::slice::from_ref(&x),
        &Tensor::ones(&[3]).unwrap(),
    )
    .unwrap();
    let want = x.mul(&x).unwrap().mul_scalar(12.0);
    close("grad of grad", &second.1[0], &want, 1e-12);
    // A recorded input is differentiated through: the gradient is recorded.
    let v = x.requires_grad();
    let g = func::grad(f, std::slice::from_ref(&v)).unwrap().remove(0);
    assert!(g.is_recorded());
    let gg = g.sum_all().backward().unwrap();
    close("through a recorded input", gg.wrt(&v).unwrap(), &want, 1e-12);
}

#[test]
fn transforms_report_bad_arguments() {
    let x = random(&[3], 13);
    let f = |x: &[Tensor<f64>]| Ok(x[0].exp());
    assert!(matches!(func::grad(f, std::slice::from_ref(&x)), Err(Error::NonScalarBackward { .. })));
    assert!(matches!(
        func::jvp(f, std::slice::from_ref(&x), &[random(&[4], 1)]),
        Err(Error::ShapeMismatch { op: "jvp", .. })
    ));
    assert!(matches!(
        func::jvp(f, std::slice::from_ref(&x), &[]),
        Err(Error::InvalidArgument { op: "jvp", .. })
    ));
    assert!(matches!(func::vjp(f, std::slice::from_ref(&x), &random(&[2], 1)), Err(Error::SeedShape { .. })));
    let s = |x: &[Tensor<f64>]| Ok(x[0].sum_all());
    assert!(matches!(
        func::hvp(s, std::slice::from_ref(&x), &[random(&[2], 1)]),
        Err(Error::ShapeMismatch { op: "hvp", .. })
    ));
    // A function that ignores its input: zero gradient and Jacobian, not an error.
    let constant = |_: &[Tensor<f64>]| Ok(Tensor::scalar(2.0));
    assert_eq!(func::grad(constant, std::slice::from_ref(&x)).unwrap()[0].to_vec(), vec![0.0; 3]);
    assert_eq!(func::jacobian_fwd(constant, std::slice::from_ref(&x)).unwrap()[0].shape(), &[3]);
}

/// A deep tanh MLP block: layer weights are inputs, as `checkpoint` requires.
fn block(xs: &[Tensor<f64>]) -> Result<Tensor<f64>> {
    let mut h = xs[0].clone();
    for w in &xs[1..] {
        h = h.matmul(w)?.tanh();
    }
    Ok(h)
}

#[test]
fn checkpointed_gradients_equal_plain_ones_and_hold_less() {
    let x = random(&[64, 32], 20);
    let weights: Vec<Tensor<f64>> =
        (0..8).map(|i| random(&[32, 32], 21 + i).mul_scalar(0.3).requires_grad()).collect();
    let mut inputs = vec![x.clone()];
    inputs.extend(weights.iter().cloned());
    let plain = {
        let h = block(&inputs).unwrap();
        h.mul(&h).unwrap().sum_all()
    };
    let checkpointed = {
        let h = func::checkpoint(block, &inputs).unwrap();
        h.mul(&h).unwrap().sum_all()
    };
    let (plain_mem, ckpt_mem) = (inspect::graph_memory(&plain), inspect::graph_memory(&checkpointed));
    // Plain: the input and 8 tanh outputs (each also the next matmul's input);
    // checkpointed: the block's input and output only.
    assert!(
        ckpt_mem.saved_bytes - ckpt_mem.leaf_bytes < (plain_mem.saved_bytes - plain_mem.leaf_bytes) / 3,
        "checkpoint holds {ckpt_mem:?}, plain {plain_mem:?}"
    );
    eprintln!(
        "saved activations: plain {} bytes, checkpointed {} bytes",
        plain_mem.saved_bytes - plain_mem.leaf_bytes,
        ckpt_mem.saved_bytes - ckpt_mem.leaf_bytes
    );
    let (gp, gc) = (plain.backward().unwrap(), checkpointed.backward().unwrap());
    for w in &weights {
        close("checkpointed gradient", gc.wrt(w).unwrap(), gp.wrt(w).unwrap(), 1e-13);
    }
}

#[test]
fn checkpoint_is_twice_differentiable_and_catches_hidden_variables() {
    let x = random(&[3], 30).requires_grad();
    let w = random(&[3], 31).requires_grad();
    let f = |xs: &[Tensor<f64>]| Ok(xs[0].mul(&xs[1])?.tanh().exp());
    let through = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> { Ok(func::checkpoint(f, xs)?.sum_all()) };
    let v = random(&[3], 32);
    let plain =
        func::hvp(|xs| Ok(f(xs)?.sum_all()), &[x.detach(), w.detach()], &[v.clone(), v.clone()]).unwrap();
    let ckpt = func::hvp(through, &[x.detach(), w.detach()], &[v.clone(), v]).unwrap();
    for i in 0..2 {
        close("hvp through checkpoint", &ckpt.1[i], &plain.1[i], 1e-13);
    }
    // A variable used inside but not passed as an input: an error, not a lost gradient.
    let hidden = w.clone();
    let leaky = move |xs: &[Tensor<f64>]| xs[0].mul(&hidden);
    let y = func::checkpoint(leaky, std::slice::from_ref(&x)).unwrap().sum_all();
    assert!(matches!(y.backward(), Err(Error::InvalidArgument { op: "checkpoint", .. })));
}
