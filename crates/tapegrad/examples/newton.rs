//! Gradients of gradients: Hessian-vector products by two backward passes, and
//! Newton's method on Rosenbrock's function f(x, y) = (1 − x)² + 100(y − x²)².
//! Each Hessian column is one HVP `H·e_i` — the gradient of `⟨∇f, e_i⟩`.
//!
//! Run: `cargo run -p tapegrad --example newton`

use tensor_core::{BackwardOptions, Result, Tensor};

fn rosenbrock(p: &Tensor<f64>) -> Result<Tensor<f64>> {
    let x = p.narrow(0, 0, 1)?;
    let y = p.narrow(0, 1, 1)?;
    let a = x.rsub_scalar(1.0).square();
    let b = y.sub(&x.square())?.square().mul_scalar(100.0);
    Ok(a.add(&b)?.sum_all())
}

/// The gradient at `p` and the Hessian-vector product with `v`.
fn gradient_and_hvp(p: &Tensor<f64>, v: &Tensor<f64>) -> Result<(Vec<f64>, Vec<f64>)> {
    let p = p.detach().requires_grad();
    let f = rosenbrock(&p)?;
    let g = f.backward_with(BackwardOptions { create_graph: true, ..Default::default() })?;
    let grad = g.wrt(&p)?.clone();
    let hvp = grad.mul(v)?.sum_all().backward()?; // ∇⟨∇f, v⟩ = H·v
    Ok((grad.to_vec(), hvp.wrt(&p)?.to_vec()))
}

fn main() -> Result<()> {
    let mut p = Tensor::from_vec(vec![-1.2, 1.0], &[2])?;
    for step in 0..8 {
        let e = |i: usize| Tensor::from_vec(if i == 0 { vec![1.0, 0.0] } else { vec![0.0, 1.0] }, &[2]);
        let (g, h0) = gradient_and_hvp(&p, &e(0)?)?;
        let (_, h1) = gradient_and_hvp(&p, &e(1)?)?;
        // Solve H·d = −g for the 2×2 Hessian [h0 h1] (columns).
        let det = h0[0] * h1[1] - h1[0] * h0[1];
        let d = [-(h1[1] * g[0] - h1[0] * g[1]) / det, -(-h0[1] * g[0] + h0[0] * g[1]) / det];
        let f = rosenbrock(&p)?.item()?;
        println!(
            "step {step}: p = ({:+.6}, {:+.6})  f = {f:.3e}  |∇f| = {:.3e}",
            p.to_vec()[0],
            p.to_vec()[1],
            g[0].hypot(g[1])
        );
        p = p.add(&Tensor::from_vec(d.to_vec(), &[2])?)?;
    }
    let end = p.to_vec();
    assert!((end[0] - 1.0).abs() < 1e-8 && (end[1] - 1.0).abs() < 1e-8, "Newton reaches the minimum (1, 1)");
    println!("minimum at ({:.6}, {:.6})", end[0], end[1]);
    Ok(())
}
