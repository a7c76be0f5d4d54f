//! The "before" column of docs/gradcheck.md: the planted bugs of
//! crates/tensor-core/tests/gradcheck_checker.rs run through the gradcheck of commit
//! 546c2be (before issue 12), with the strategies a user had then (`any_tensor`,
//! `tensor_in` over a range, `broadcast_pair`). Not compiled here; to reproduce:
//!
//! ```text
//! git worktree add /tmp/before 546c2be
//! cp scripts/gradcheck_before.rs /tmp/before/crates/tensor-core/tests/
//! cd /tmp/before && CARGO_TARGET_DIR=/tmp/before-target \
//!     cargo test -p tensor-core --test gradcheck_before -- --nocapture | grep -E '^(OLD|----)'
//! ```
//!
//! (A separate target directory: a shared one would hand the old tensor-core to other
//! checkouts of the same workspace layout.)

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use tensor_core::gradcheck::{GradcheckOptions, gradcheck, gradgradcheck};
use tensor_core::strategies::{any_tensor, broadcast_pair, tensor_in};
use tensor_core::{Element, GradVec, Result, Tensor};
/// `Σx²` (a scalar). Bug: the rule returns `2x`, ignoring `dy`.
fn sum_sq(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = Tensor::scalar(x.as_slice().iter().map(|v| v * v).sum::<f64>());
    Ok(Tensor::record("sum_sq", &[x], y, move |dy, inputs, _| {
        let two_x = inputs[0].mul_scalar(2.0);
        Ok(GradVec::from_iter([Some(if bug { two_x } else { two_x.mul(dy)? })]))
    }))
}

/// `x²` elementwise. Bug: the rule uses `dy²` (right only for one-hot cotangents).
fn square(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(|v| v * v);
    Ok(Tensor::record("square", &[x], y, move |dy, inputs, _| {
        let dy = if bug { dy.mul(dy)? } else { dy.clone() };
        Ok(GradVec::from_iter([Some(dy.mul(&inputs[0].mul_scalar(2.0))?)]))
    }))
}

/// `1/x`. Bug: the rule is `−dy/x` (the square is missing).
fn recip(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(|v| 1.0 / v);
    Ok(Tensor::record("recip", &[x], y, move |dy, inputs, _| {
        let x = &inputs[0];
        let denominator = if bug { x.clone() } else { x.mul(x)? };
        Ok(GradVec::from_iter([Some(dy.div(&denominator)?.neg())]))
    }))
}

/// `x²` elementwise. Bug: the rule is off by `0.005·dy` (0.5 %) at one element only.
fn square_one_wrong(x: &Tensor<f64>, wrong: Option<usize>) -> Result<Tensor<f64>> {
    let y = x.map(|v| v * v);
    Ok(Tensor::record("square_one_wrong", &[x], y, move |dy, inputs, _| {
        let g = dy.mul(&inputs[0].mul_scalar(2.0))?;
        Ok(GradVec::from_iter([Some(match wrong {
            Some(at) => {
                let mut bump = vec![0.0; g.numel()];
                bump[at] = 0.005;
                g.add(&dy.mul(&Tensor::from_vec(bump, g.shape())?)?)?
            }
            None => g,
        })]))
    }))
}

/// `x³`. Bug: the rule computes `3x²` with `map`, a constant, so its own derivative
/// with respect to `x` is lost (first order is right, second order is wrong).
fn cube(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(|v| v * v * v);
    Ok(Tensor::record("cube", &[x], y, move |dy, inputs, _| {
        let x = &inputs[0];
        let local = if bug { x.map(|v| 3.0 * v * v) } else { x.mul(x)?.mul_scalar(3.0) };
        Ok(GradVec::from_iter([Some(dy.mul(&local)?)]))
    }))
}

/// Softsign `x / (1 + |x|)`, for any element type (used in f32). Gradient
/// `1 / (1 + |x|)²`. Bug: the square is missing.
fn softsign<T: Element>(x: &Tensor<T>, bug: bool) -> Result<Tensor<T>> {
    let y = x.map(|v| v / (T::one() + v.abs()));
    Ok(Tensor::record("softsign", &[x], y, move |dy, inputs, _| {
        let d = inputs[0].abs().add_scalar(T::one());
        let d = if bug { d } else { d.mul(&d)? };
        Ok(GradVec::from_iter([Some(dy.div(&d)?)]))
    }))
}

/// `tanh` whose forward runs in f32 internally (an f64 op that is "really" f32).
fn tanh_via_f32(x: &Tensor<f64>) -> Result<Tensor<f64>> {
    let y = x.map(|v| f64::from((v as f32).tanh()));
    Ok(Tensor::record("tanh_via_f32", &[x], y, |dy, _, y| {
        Ok(GradVec::from_iter([Some(dy.mul(&y.mul(y)?.rsub_scalar(1.0))?)]))
    }))
}

/// `exp`, but the correct twin records it and the bug forgets `Tensor::record`.
fn exp_op(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(f64::exp);
    if bug {
        return Ok(y);
    }
    Ok(Tensor::record("exp_op", &[x], y, |dy, _, y| Ok(GradVec::from_iter([Some(dy.mul(y)?)]))))
}

/// The L2 norm `‖x‖`. Bug: the rule is `dy·x/‖x‖²` (right only where ‖x‖ = 1).
fn l2_norm(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = Tensor::scalar(x.as_slice().iter().map(|v| v * v).sum::<f64>().sqrt());
    Ok(Tensor::record("l2_norm", &[x], y, move |dy, inputs, y| {
        let denominator = if bug { y.mul(y)? } else { y.clone() };
        Ok(GradVec::from_iter([Some(inputs[0].mul(&dy.div(&denominator)?)?)]))
    }))
}

/// `x − mean(x, axis)`. Bug: the rule centres `dy` along the last axis, whatever `axis`.
fn center(x: &Tensor<f64>, axis: isize, bug: bool) -> Result<Tensor<f64>> {
    let y = x.detach().sub(&x.detach().mean(&[axis][..], true)?)?;
    Ok(Tensor::record("center", &[x], y, move |dy, _, _| {
        let along = if bug { -1 } else { axis };
        Ok(GradVec::from_iter([Some(dy.sub(&dy.mean(&[along][..], true)?)?)]))
    }))
}

/// `x · w` with `w` broadcast. The rule reduces `w`'s gradient itself over the axes
/// where `w` was broadcast. Bug: it takes the mean there instead of the sum — wrong
/// only when a dimension of `w` is 1 and `x`'s is not.
fn scale(x: &Tensor<f64>, w: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.detach().mul(&w.detach())?;
    Ok(Tensor::record("scale", &[x, w], y, move |dy, inputs, y| {
        let (x, w) = (&inputs[0], &inputs[1]);
        let mut gw = dy.mul(x)?;
        // Align w's shape with the output's (leading 1s), then reduce where it was 1.
        let lead = y.ndim() - w.ndim();
        for d in 0..y.ndim() {
            let wd = if d < lead { 1 } else { w.shape()[d - lead] };
            if wd == 1 && y.shape()[d] != 1 {
                gw = if bug { gw.mean(&[d as isize][..], true)? } else { gw.sum(&[d as isize][..], true)? };
            }
        }
        Ok(GradVec::from_iter([Some(dy.mul(w)?), Some(gw)]))
    }))
}

/// `|x|`, declared subgradient 0 at 0. Bug: the rule uses `x ≥ 0 → 1`, so `|x|'(0) = 1`.
fn abs_op(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(f64::abs);
    Ok(Tensor::record("abs_op", &[x], y, move |dy, inputs, _| {
        let sign = inputs[0].map(move |v| {
            if v > 0.0 || (bug && v == 0.0) {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                0.0
            }
        });
        Ok(GradVec::from_iter([Some(dy.mul(&sign)?)]))
    }))
}

/// `tanh` with a plainly wrong rule in the bug: `1 − y` instead of `1 − y²`.
fn tanh_op(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    let y = x.map(f64::tanh);
    Ok(Tensor::record("tanh_op", &[x], y, move |dy, _, y| {
        let y2 = if bug { y.clone() } else { y.mul(y)? };
        Ok(GradVec::from_iter([Some(dy.mul(&y2.rsub_scalar(1.0))?)]))
    }))
}

fn drifting(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let y = x.map(|v| v * v);
    Ok(Tensor::record("drifting", &[x], y, move |dy, inputs, _| {
        let drift = if bug { 1.0 + 1e-9 * f64::from(CALLS.fetch_add(1, Ordering::Relaxed)) } else { 1.0 };
        Ok(GradVec::from_iter([Some(dy.mul(&inputs[0].mul_scalar(2.0 * drift))?)]))
    }))
}
fn nan_rule(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    Ok(Tensor::record("nan_rule", &[x], x.map(|v| 2.0 * v), move |dy, inputs, _| {
        Ok(GradVec::from_iter([Some(if bug { dy.div(&inputs[0].sub(&inputs[0])?)? } else { dy.mul_scalar(2.0) })]))
    }))
}
type Case = std::result::Result<(), TestCaseError>;
fn runner(seed: u8) -> TestRunner {
    TestRunner::new_with_rng(Config { cases: 16, failure_persistence: None, ..Config::default() }, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]))
}
fn outcome<S: Strategy>(name: &str, s: S, p: impl Fn(S::Value) -> Case) where S::Value: std::fmt::Debug {
    let mut caught = 0;
    let mut example = String::new();
    for seed in [11u8, 22, 33] {
        tensor_core::reset_tape::<f64>();
        match runner(seed).run(&s, &p) {
            Err(TestError::Fail(why, v)) => { caught += 1; example = format!("{v:?} :: {why}"); }
            Err(e) => { example = format!("abort {e}"); }
            Ok(()) => {}
        }
    }
    println!("OLD | {name} | caught in {caught}/3 seeds | {}", example.replace('\n', " ").chars().take(400).collect::<String>());
}
fn g1(f: impl Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>, xs: &[Tensor<f64>]) -> Case {
    let r = gradcheck(&f, xs, &GradcheckOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    tensor_core::reset_tape::<f64>();
    prop_assert!(r.passed, "{}", r);
    let r = gradgradcheck(&f, xs, &GradcheckOptions::default()).map_err(|e| TestCaseError::fail(e.to_string()))?;
    tensor_core::reset_tape::<f64>();
    prop_assert!(r.passed, "second: {}", r);
    Ok(())
}
fn some() -> impl Strategy<Value = Tensor<f64>> { any_tensor(3, 3, -2.0..2.0).prop_filter("some", |x| x.numel() > 0) }
#[test]
fn old_table() {
    for bug in [true, false] {
        println!("---- bug = {bug}");
        outcome("ignores dy", some(), |x| g1(|xs| sum_sq(&xs[0], bug), &[x]));
        outcome("dy squared", some(), |x| g1(|xs| square(&xs[0], bug), &[x]));
        outcome("recip away", any_tensor(3, 3, 0.2..2.0), |x| g1(|xs| recip(&xs[0], bug), &[x]));
        outcome("recip tiny", Just(Tensor::from_vec(vec![1e-6], &[1]).unwrap()), |x| g1(|xs| recip(&xs[0], bug), &[x]));
        outcome("cube", some(), |x| g1(|xs| cube(&xs[0], bug), &[x]));
        outcome("forgot record", some(), |x| g1(|xs| exp_op(&xs[0], bug), &[x]));
        outcome("l2", some(), |x| g1(|xs| l2_norm(&xs[0], bug), &[x]));
        outcome("axis", any_tensor(3, 3, -2.0..2.0).prop_filter("r", |x| x.ndim() > 0).prop_flat_map(|x| { let r = x.ndim() as isize; (Just(x), -r..r) }), |(x, a)| g1(|xs| center(&xs[0], a, bug), &[x]));
        outcome("broadcast", broadcast_pair(3, 3).prop_flat_map(|(a, b)| (tensor_in(a, -2.0..2.0), tensor_in(b, -2.0..2.0))), |(x, w)| {
            let y = tensor_core::shape::broadcast_shapes("s", x.shape(), w.shape()).unwrap();
            prop_assume!(y.as_slice() == x.shape());
            g1(|xs| scale(&xs[0], &xs[1], bug), &[x, w])
        });
        outcome("abs kink", any_tensor(3, 3, -2.0..2.0), |x| g1(|xs| abs_op(&xs[0], bug), &[x]));
        outcome("tanh", some(), |x| g1(|xs| tanh_op(&xs[0], bug), &[x]));
        outcome("drifting", some(), |x| g1(|xs| drifting(&xs[0], bug), &[x]));
        outcome("nan rule", some(), |x| g1(|xs| nan_rule(&xs[0], bug), &[x]));
        use rand::SeedableRng;
        let mut caught = 0;
        for seed in [11u64, 22, 33] {
            let x = Tensor::rand_uniform(&[40, 40], -1.0, 1.0, &mut rand::rngs::StdRng::seed_from_u64(seed)).unwrap();
            let r = gradcheck(|xs| square_one_wrong(&xs[0], if bug { Some(17 * 40 + 23) } else { None }), &[x], &GradcheckOptions::default()).unwrap();
            if !r.passed { caught += 1; }
            println!("   40x40: {r}");
        }
        println!("OLD | 40x40 | caught in {caught}/3 seeds");
        let x = Tensor::from_vec(vec![0.3, -1.1, 0.7], &[3]).unwrap();
        let r = gradcheck(|xs| tanh_via_f32(&xs[0]), &[x], &GradcheckOptions::default()).unwrap();
        println!("OLD | f64 op computing in f32 (correct) | passed={} {r}", r.passed);
        let _ = softsign::<f32>;
    }
}
