//! The gradient checker, checked: custom ops with planted bugs in their gradient rules
//! (each kind from issue 12), each a test that expects the checker to fail, and each
//! op's correct twin a test that expects it to pass — over three proptest seeds, at
//! random shapes and values. `docs/gradcheck.md` compares the same bugs under PyTorch's
//! and JAX's checkers (`scripts/gradcheck_compare.py`).

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use tensor_core::gradcheck::{
    Check, GradcheckOptions, GradcheckReport, Mode, NonFiniteKind, Order, gradcheck, gradcheck_f32,
    gradcheck_f32_with_reference, gradgradcheck,
};
use tensor_core::strategies::{Domain, broadcast_tensors, check, tensor_of, tensor_with_axis};
use tensor_core::{Element, GradVec, Result, Tensor};

// ---------------------------------------------------------------------------------
// The custom ops. `bug = false` is the correct twin; `bug = true` plants the bug.
// ---------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------
// Running a property over three seeds.
// ---------------------------------------------------------------------------------

/// A property's outcome.
type Case = std::result::Result<(), TestCaseError>;

const SEEDS: [u8; 3] = [11, 22, 33];
const CASES: u32 = 16;

fn runner(seed: u8) -> TestRunner {
    let config = Config { cases: CASES, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]))
}

/// Each seed must find a failing case; returns, per seed, the minimal case and the
/// failure message.
#[track_caller]
fn expect_caught<S: Strategy>(strategy: S, property: impl Fn(S::Value) -> Case) -> Vec<(S::Value, String)>
where
    S::Value: Clone + std::fmt::Debug,
{
    SEEDS
        .iter()
        .map(|&seed| match runner(seed).run(&strategy, &property) {
            Err(TestError::Fail(why, minimal)) => (minimal, why.to_string()),
            Err(other) => panic!("seed {seed}: the run aborted: {other}"),
            Ok(()) => panic!("seed {seed}: the planted bug got through {CASES} cases"),
        })
        .collect()
}

/// Each seed must pass every case.
#[track_caller]
fn expect_clean<S: Strategy>(strategy: S, property: impl Fn(S::Value) -> Case)
where
    S::Value: std::fmt::Debug,
{
    for seed in SEEDS {
        if let Err(e) = runner(seed).run(&strategy, &property) {
            panic!("seed {seed}: false positive on a correct rule: {e}");
        }
    }
}

fn opts() -> GradcheckOptions {
    GradcheckOptions::default()
}

fn first(f: impl Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>, xs: &[Tensor<f64>]) -> Case {
    check(gradcheck(f, xs, &opts())).map(drop)
}

fn second(f: impl Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>, xs: &[Tensor<f64>]) -> Case {
    check(gradgradcheck(f, xs, &opts())).map(drop)
}

fn any() -> Domain {
    Domain::new(-2.0, 2.0)
}

fn away_from_zero() -> Domain {
    Domain::new(-2.0, 2.0).avoid_near(0.0, 0.2).specials(&[1.0, -1.0]).anchor(1.0)
}

// ---------------------------------------------------------------------------------
// 1. A rule that ignores dy (scalar output): only a random cotangent catches it.
// ---------------------------------------------------------------------------------

#[test]
fn ignores_dy_is_caught() {
    let found = expect_caught(tensor_of(3, 3, any()), |x| first(|xs| sum_sq(&xs[0], true), &[x]));
    for (_, why) in found {
        assert!(why.contains("random cotangent") && why.contains("not linear in dy"), "{why}");
    }
}

#[test]
fn ignores_dy_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| {
        first(|xs| sum_sq(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| sum_sq(&xs[0], false), &[x])
    });
}

// 1b. A rule that uses dy² (non-scalar output): one-hot cotangents cannot see it.
#[test]
fn nonlinear_in_dy_is_caught() {
    expect_caught(tensor_of(3, 3, any()).prop_filter("some elements", |x| x.numel() > 0), |x| {
        first(|xs| square(&xs[0], true), &[x])
    });
}

#[test]
fn nonlinear_in_dy_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| {
        first(|xs| square(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| square(&xs[0], false), &[x])
    });
}

// ---------------------------------------------------------------------------------
// 2. Infinite numeric derivative: a failure with its own message, never a pass.
// ---------------------------------------------------------------------------------

#[test]
fn non_finite_numeric_is_a_failure() {
    // 1/x at x = 1e-6: x − ε = 0, so the central difference is −inf.
    let x = Tensor::from_vec(vec![1e-6], &[1]).unwrap();
    for bug in [true, false] {
        let report = gradcheck(|xs| recip(&xs[0], bug), std::slice::from_ref(&x), &opts()).unwrap();
        assert!(!report.passed, "{report}");
        let nf = report.non_finite.as_ref().expect("a non-finite value");
        assert_eq!(nf.kind, NonFiniteKind::Numeric);
        assert_eq!(nf.at.index.as_deref(), Some(&[0][..]));
        assert!(report.to_string().contains("non-finite numeric derivative"), "{report}");
    }
}

#[test]
fn wrong_rule_near_a_singularity_is_caught() {
    expect_caught(tensor_of(3, 3, away_from_zero()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| recip(&xs[0], true), &[x])
    });
}

#[test]
fn recip_twin_passes_away_from_its_singularity() {
    expect_clean(tensor_of(3, 3, away_from_zero()), |x| {
        first(|xs| recip(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| recip(&xs[0], false), &[x])
    });
}

#[test]
fn non_finite_analytic_is_a_failure() {
    // A rule dividing by x − x: NaN/inf where f is perfectly smooth.
    let f = |xs: &[Tensor<f64>]| {
        let x = &xs[0];
        Ok(Tensor::record("broken", &[x], x.map(|v| 2.0 * v), |dy, inputs, _| {
            Ok(GradVec::from_iter([Some(dy.div(&inputs[0].sub(&inputs[0])?)?)]))
        }))
    };
    let report = gradcheck(f, &[Tensor::from_vec(vec![0.5, 1.5], &[2]).unwrap()], &opts()).unwrap();
    assert!(!report.passed);
    assert_eq!(report.non_finite.as_ref().map(|n| n.kind), Some(NonFiniteKind::Analytic), "{report}");
}

// ---------------------------------------------------------------------------------
// 3. One wrong element in a 40×40 input: the full check (the default) catches it.
// ---------------------------------------------------------------------------------

fn forty_by_forty(seed: u64) -> Tensor<f64> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    Tensor::rand_uniform(&[40, 40], -1.0, 1.0, &mut rng).unwrap()
}

#[test]
fn one_wrong_element_in_40x40_is_caught() {
    for seed in SEEDS {
        let x = forty_by_forty(u64::from(seed));
        let at = 17 * 40 + 23;
        let report = gradcheck(|xs| square_one_wrong(&xs[0], Some(at)), &[x], &opts()).unwrap();
        assert!(!report.passed, "{report}");
        assert_eq!(report.mode, Mode::Full);
        let w = report.worst.as_ref().unwrap();
        assert_eq!(w.index.as_deref(), Some(&[17, 23][..]), "{report}");
        assert!(report.to_string().contains("x0[17, 23]"), "{report}");
    }
}

#[test]
fn one_wrong_element_twin_passes_and_projections_are_only_on_request() {
    for seed in SEEDS {
        let x = forty_by_forty(u64::from(seed));
        let report =
            gradcheck(|xs| square_one_wrong(&xs[0], None), std::slice::from_ref(&x), &opts()).unwrap();
        assert!(report.passed, "{report}");
        assert_eq!(report.compared, 1600 * 1600 + 1600);
        // Asked for, projections say what they are (and may miss the bad element).
        let projected =
            gradcheck(|xs| square_one_wrong(&xs[0], Some(17 * 40 + 23)), &[x], &opts().projections(3))
                .unwrap();
        assert_eq!(projected.mode, Mode::Projections(3));
        assert!(projected.to_string().contains("3 random projections wᵀJu only"), "{projected}");
    }
}

#[test]
fn an_oversized_full_jacobian_is_an_error_not_a_silent_projection() {
    let options = GradcheckOptions { full_jacobian_limit: 100, ..opts() };
    let err = gradcheck(|xs| Ok(xs[0].exp()), &[forty_by_forty(1)], &options).unwrap_err();
    assert!(err.to_string().contains("projections"), "{err}");
}

// ---------------------------------------------------------------------------------
// 4. A second-order bug: the report says second-order, with real indices.
// ---------------------------------------------------------------------------------

#[test]
fn second_order_bug_is_caught_and_reported_as_such() {
    let found = expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| cube(&xs[0], true), std::slice::from_ref(&x))?; // first order is right
        second(|xs| cube(&xs[0], true), &[x])
    });
    for (x, why) in found {
        assert!(why.starts_with("second-order gradcheck FAILED"), "{why}");
        assert!(why.contains("∂L/∂x0") && why.contains(" where x0["), "{why}");
        // Shrunk to one element (x³ at a scalar or [1]-like shape).
        assert_eq!(x.numel(), 1, "{x:?}");
    }
}

#[test]
fn second_order_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| {
        first(|xs| cube(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| cube(&xs[0], false), &[x])
    });
}

#[test]
fn reports_name_order_input_multi_index_and_value() {
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.25, 1.5, -0.75], &[2, 3]).unwrap();
    let w = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    // Wrong only in the gradient of the second input.
    let report = gradcheck(|xs| scale(&xs[0], &xs[1], true), &[x, w], &opts()).unwrap();
    let text = report.to_string();
    assert!(text.starts_with("first-order gradcheck FAILED"), "{text}");
    let worst = report.worst.as_ref().unwrap();
    assert_eq!(worst.input, Some(1));
    assert!(text.contains("/∂x1[") && text.contains(" where x1["), "{text}");
    assert!(text.contains("output: Tensor<F64>(shape [2, 3]"), "{text}");
}

// ---------------------------------------------------------------------------------
// 5. Mixed precision: f32 ops are checkable, at tolerances from f32's epsilon.
// ---------------------------------------------------------------------------------

fn to_f32(x: &Tensor<f64>) -> Tensor<f32> {
    Tensor::from_vec(x.as_slice().iter().map(|&v| v as f32).collect(), x.shape()).unwrap()
}

#[test]
fn f32_op_bug_is_caught() {
    expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        let x = to_f32(&x);
        check(gradcheck_f32(|xs| softsign(&xs[0], true), &[x], &GradcheckOptions::f32())).map(drop)
    });
    expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        let x = to_f32(&x);
        let options = GradcheckOptions::f32_with_reference();
        check(gradcheck_f32_with_reference(
            |xs| softsign(&xs[0], true),
            |xs| softsign(&xs[0], false),
            &[x],
            &options,
        ))
        .map(drop)
    });
}

#[test]
fn f32_op_twin_passes_both_references() {
    expect_clean(tensor_of(4, 3, Domain::new(-4.0, 4.0)), |x| {
        let x = to_f32(&x);
        check(gradcheck_f32(
            |xs| softsign(&xs[0], false),
            std::slice::from_ref(&x),
            &GradcheckOptions::f32(),
        ))?;
        // A reduction too: rounding in the f32 sum stays inside the derived tolerance.
        check(gradcheck_f32(
            |xs| Ok(softsign(&xs[0], false)?.mul(&xs[0])?.sum_all()),
            std::slice::from_ref(&x),
            &GradcheckOptions::f32(),
        ))?;
        let options = GradcheckOptions::f32_with_reference();
        check(gradcheck_f32_with_reference(
            |xs| softsign(&xs[0], false),
            |xs| softsign(&xs[0], false),
            &[x],
            &options,
        ))
        .map(drop)
    });
}

#[test]
fn an_f64_op_computing_in_f32_fails_in_f64_but_checks_as_f32() {
    let x = Tensor::from_vec(vec![0.3, -1.1, 0.7], &[3]).unwrap();
    let as_f64 = gradcheck(|xs| tanh_via_f32(&xs[0]), std::slice::from_ref(&x), &opts()).unwrap();
    assert!(!as_f64.passed, "f32 rounding swamps an f64 central difference: {as_f64}");
    let report = gradcheck_f32(|xs| Ok(xs[0].tanh()), &[to_f32(&x)], &GradcheckOptions::f32()).unwrap();
    assert!(report.passed && report.precision.starts_with("f32"), "{report}");
}

// ---------------------------------------------------------------------------------
// 6. A forgotten `record`: caught, and the report says so.
// ---------------------------------------------------------------------------------

#[test]
fn forgotten_record_is_caught_with_a_hint() {
    let found = expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| exp_op(&xs[0], true), &[x])
    });
    for (_, why) in found {
        assert!(why.contains("NOT recorded") && why.contains("Tensor::record"), "{why}");
    }
}

#[test]
fn forgotten_record_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| {
        first(|xs| exp_op(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| exp_op(&xs[0], false), &[x])
    });
}

// ---------------------------------------------------------------------------------
// 7. Shrinking stays in the domain: the minimal case is a real witness of the bug.
// ---------------------------------------------------------------------------------

#[test]
fn l2_norm_bug_shrinks_to_a_witness_inside_the_domain() {
    let domain = Domain::new(-2.0, 2.0).avoid_near(0.0, 0.25).anchor(1.0);
    let found = expect_caught(tensor_of(3, 3, domain.clone()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| l2_norm(&xs[0], true), &[x])
    });
    for (x, why) in found {
        assert!(x.as_slice().iter().all(|&v| domain.allows(v)), "{x:?}");
        // The correct rule passes at the minimal case: it shows the bug, not a singularity.
        let twin = gradcheck(|xs| l2_norm(&xs[0], false), std::slice::from_ref(&x), &opts()).unwrap();
        assert!(twin.passed, "minimal case {x:?} is not a witness: {twin}\n(bug: {why})");
    }
}

#[test]
fn l2_norm_twin_passes() {
    let domain = Domain::new(-2.0, 2.0).avoid_near(0.0, 0.25).anchor(1.0);
    expect_clean(tensor_of(3, 3, domain), |x| first(|xs| l2_norm(&xs[0], false), &[x]));
}

// ---------------------------------------------------------------------------------
// Shape-dependent bugs: random axes and broadcast pairs find them.
// ---------------------------------------------------------------------------------

#[test]
fn axis_bug_is_caught() {
    expect_caught(tensor_with_axis(3, 3, any()), |(x, axis)| first(|xs| center(&xs[0], axis, true), &[x]));
}

#[test]
fn axis_twin_passes() {
    expect_clean(tensor_with_axis(3, 3, any()), |(x, axis)| {
        first(|xs| center(&xs[0], axis, false), std::slice::from_ref(&x))?;
        second(|xs| center(&xs[0], axis, false), &[x])
    });
}

#[test]
fn broadcast_bug_is_caught() {
    expect_caught(broadcast_tensors(3, 3, any(), any()), |(x, w)| {
        // Only pairs where w broadcasts to x's shape (the op's domain).
        let y_shape = tensor_core::shape::broadcast_shapes("scale", x.shape(), w.shape()).unwrap();
        prop_assume!(y_shape.as_slice() == x.shape());
        first(|xs| scale(&xs[0], &xs[1], true), &[x, w])
    });
}

#[test]
fn broadcast_twin_passes() {
    expect_clean(broadcast_tensors(3, 3, any(), any()), |(x, w)| {
        let y_shape = tensor_core::shape::broadcast_shapes("scale", x.shape(), w.shape()).unwrap();
        prop_assume!(y_shape.as_slice() == x.shape());
        first(|xs| scale(&xs[0], &xs[1], false), &[x, w])
    });
}

// ---------------------------------------------------------------------------------
// Special values: a wrong subgradient at a kink is found only if the kink is drawn.
// ---------------------------------------------------------------------------------

fn abs_domain() -> Domain {
    // 0 itself is special (central differences there give 0, the declared
    // subgradient); values within 1e-3 of it are avoided (the difference straddles).
    Domain::new(-2.0, 2.0).avoid_near(0.0, 1e-3).specials(&[0.0, 1.0, -1.0])
}

#[test]
fn kink_bug_is_caught_with_special_values() {
    let found = expect_caught(tensor_of(3, 3, abs_domain()), |x| first(|xs| abs_op(&xs[0], true), &[x]));
    for (x, _) in found {
        assert!(x.as_slice().contains(&0.0), "{x:?}");
    }
}

#[test]
fn kink_twin_passes() {
    expect_clean(tensor_of(3, 3, abs_domain()), |x| first(|xs| abs_op(&xs[0], false), &[x]));
}

// A rule that keeps state between calls: tiny drift, caught by the reentrancy check.
fn drifting(x: &Tensor<f64>, bug: bool) -> Result<Tensor<f64>> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CALLS: AtomicU32 = AtomicU32::new(0);
    let y = x.map(|v| v * v);
    Ok(Tensor::record("drifting", &[x], y, move |dy, inputs, _| {
        let drift = if bug { 1.0 + 1e-9 * f64::from(CALLS.fetch_add(1, Ordering::Relaxed)) } else { 1.0 };
        Ok(GradVec::from_iter([Some(dy.mul(&inputs[0].mul_scalar(2.0 * drift))?)]))
    }))
}

#[test]
fn non_reproducible_rule_is_caught() {
    let found = expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| drifting(&xs[0], true), &[x])
    });
    for (_, why) in found {
        assert!(why.contains("non-deterministic backward"), "{why}");
    }
}

#[test]
fn non_reproducible_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| first(|xs| drifting(&xs[0], false), &[x]));
}

// A plainly wrong rule: the baseline every checker catches.
#[test]
fn wrong_rule_is_caught() {
    expect_caught(tensor_of(3, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        first(|xs| tanh_op(&xs[0], true), &[x])
    });
}

#[test]
fn wrong_rule_twin_passes() {
    expect_clean(tensor_of(3, 3, any()), |x| {
        first(|xs| tanh_op(&xs[0], false), std::slice::from_ref(&x))?;
        second(|xs| tanh_op(&xs[0], false), &[x])
    });
}

// ---------------------------------------------------------------------------------
// The checker's other promises.
// ---------------------------------------------------------------------------------

/// `x[floor(i)]` for a float index `i`: not differentiable in `i`.
fn take(x: &Tensor<f64>, index: &Tensor<f64>) -> Result<Tensor<f64>> {
    let picks: Vec<usize> = index.as_slice().iter().map(|&i| i.floor().max(0.0) as usize).collect();
    x.index_select(0, &picks)
}

#[test]
fn skipped_inputs_are_not_checked() {
    let x = Tensor::from_vec(vec![1.0, 2.0, 3.0], &[3]).unwrap();
    // An index exactly on an integer: perturbing it jumps to another element.
    let index = Tensor::from_vec(vec![2.0, 0.0], &[2]).unwrap();
    let f = |xs: &[Tensor<f64>]| take(&xs[0], &xs[1]);
    let unmasked = gradcheck(f, &[x.clone(), index.clone()], &opts()).unwrap();
    assert!(!unmasked.passed, "{unmasked}");
    let masked = gradcheck(f, &[x.clone(), index.clone()], &opts().skip(&[1])).unwrap();
    assert!(masked.passed, "{masked}");
    assert_eq!(masked.compared, 2 * 3 + 3);
    assert!(gradcheck(f, &[x, index], &opts().skip(&[2])).is_err());
}

#[test]
fn the_callers_graph_is_left_untouched() {
    let w = Tensor::from_vec(vec![0.5, -1.0], &[2]).unwrap().requires_grad();
    let loss = w.exp().sum_all();
    for order in [Order::First, Order::Second] {
        let x = Tensor::from_vec(vec![0.1, 0.2, 0.3], &[3]).unwrap();
        let report = match order {
            Order::First => gradcheck(|xs| Ok(xs[0].tanh()), &[x], &opts()),
            Order::Second => gradgradcheck(|xs| Ok(xs[0].tanh()), &[x], &opts()),
        }
        .unwrap();
        assert!(report.passed, "{report}");
    }
    let g = loss.backward().expect("the caller's graph survives gradcheck");
    let expected: Vec<f64> = [0.5f64, -1.0].iter().map(|v| v.exp()).collect();
    assert_eq!(g.wrt(&w).unwrap().to_vec(), expected);
}

#[test]
fn proptest_macro_reports_the_report() {
    let result = runner(1).run(&tensor_of(2, 3, any()).prop_filter("some", |x| x.numel() > 0), |x| {
        let report: GradcheckReport =
            tensor_core::prop_assert_gradcheck!(gradcheck(|xs| tanh_op(&xs[0], true), &[x], &opts()));
        assert!(report.passed);
        Ok(())
    });
    let Err(TestError::Fail(why, _)) = result else { panic!("expected a failure") };
    assert!(why.to_string().contains("first-order gradcheck FAILED"), "{why}");
}

#[test]
fn vjp_is_part_of_every_full_check() {
    let x = Tensor::from_vec(vec![0.5, 1.5], &[2]).unwrap();
    let report = gradcheck(|xs| sum_sq(&xs[0], true), &[x], &opts()).unwrap();
    assert_eq!(report.worst.as_ref().map(|w| w.check), Some(Check::RandomCotangent), "{report}");
}

#[test]
fn f32_steps_scale_with_large_values() {
    // At |x| = 3000 an absolute step of 4.9e-3 is below half an f32 ulp (1.2e-4 … 2.4e-4
    // apart), so x ± ε would round back to x; the step scales with |x| instead.
    let x = Tensor::<f32>::from_vec(vec![3000.0, -2500.0, 0.5], &[3]).unwrap();
    let report =
        gradcheck_f32(|xs| Ok(xs[0].mul_scalar(2.0).sum_all()), &[x], &GradcheckOptions::f32()).unwrap();
    assert!(report.passed, "{report}");
}

#[test]
fn meaningless_options_are_errors() {
    let x = [Tensor::from_vec(vec![0.5], &[1]).unwrap()];
    let f = |xs: &[Tensor<f64>]| Ok(xs[0].exp());
    for bad in [
        GradcheckOptions { eps: 0.0, ..opts() },
        GradcheckOptions { eps: f64::NAN, ..opts() },
        GradcheckOptions { rtol: -1.0, ..opts() },
        opts().projections(0),
    ] {
        assert!(gradcheck(f, &x, &bad).is_err(), "{bad:?}");
    }
}
