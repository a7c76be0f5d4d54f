//! micrograd's README example, line for line, with rank-0 tensors: the same numbers
//! (g = 24.7041, dg/da = 138.8338, dg/db = 645.5773) come out of a tensor engine.
//!
//! Run: `cargo run -p tapegrad --example micrograd`

use tensor_core::{Result, Tensor};

fn main() -> Result<()> {
    let s = |v: f64| Tensor::scalar(v);
    let a = s(-4.0).requires_grad_named("a");
    let b = s(2.0).requires_grad_named("b");
    let mut c = a.add(&b)?;
    let mut d = a.mul(&b)?.add(&b.powi(3))?;
    c = c.add(&c.add_scalar(1.0))?; // c += c + 1
    c = c.add(&c.add_scalar(1.0).add(&a.neg())?)?; // c += 1 + c + (-a)
    d = d.add(&d.mul_scalar(2.0).add(&b.add(&a)?.relu())?)?; // d += d * 2 + (b + a).relu()
    d = d.add(&d.mul_scalar(3.0).add(&b.sub(&a)?.relu())?)?; // d += 3 * d + (b - a).relu()
    let e = c.sub(&d)?;
    let f = e.powi(2);
    let mut g = f.div_scalar(2.0);
    g = g.add(&f.powi(-1).mul_scalar(10.0))?; // g += 10.0 / f
    println!("g     = {:.4}", g.item()?);
    let grads = g.backward()?;
    let (da, db) = (grads.wrt(&a)?.item()?, grads.wrt(&b)?.item()?);
    println!("dg/da = {da:.4}");
    println!("dg/db = {db:.4}");
    // The numbers micrograd's README prints.
    assert_eq!(format!("{:.4} {da:.4} {db:.4}", g.item()?), "24.7041 138.8338 645.5773");
    Ok(())
}
