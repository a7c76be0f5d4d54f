//! The optimizer invariants of TESTING.md, in f32 and f64: Adam's and
//! RMSprop's first steps, PyTorch-form momentum after two steps, no NaN after
//! many zero gradients; plus the documented handling of a parameter without a
//! gradient and the all-or-nothing checks of `step_slices`.

use num_traits::Float;
use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, OptimError, Optimizer, Rmsprop,
    RmspropConfig, Sgd, SgdConfig,
};

fn cast<T: Float>(x: f64) -> T {
    T::from(x).expect("f64 converts to any float")
}

/// The change of a weight starting at 0 after one step with gradient `g`.
fn first_step<T: Float>(optimizer: &mut dyn Optimizer<T>, g: f64) -> f64 {
    let mut theta = [T::zero()];
    optimizer.step_slices(&mut [&mut theta], &[Some(&[cast::<T>(g)])]).expect("valid step");
    theta[0].to_f64().expect("float converts to f64")
}

/// `|actual − expected| ≤ rtol·|expected|`, with the case in the message.
#[track_caller]
fn check_close(actual: f64, expected: f64, rtol: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= rtol * expected.abs(),
        "{what}: got {actual:e}, expected {expected:e} (rtol {rtol:e})"
    );
}

/// Tolerance for an exact formula evaluated in `T`.
fn rtol<T: Float>() -> f64 {
    if std::mem::size_of::<T>() == 4 { 1e-6 } else { 1e-14 }
}

/// Adam's first step is `−lr·g/(|g| + ε)` ≈ `−lr·sign(g)` whatever |g|: a
/// missing bias correction would give `−lr·0.1/√0.001·sign(g)` ≈ 3.2·lr, and
/// ε inside the root would shrink the step for g = 1e-6 to ≈ 0.01·lr.
fn adam_first_step_is_lr_times_sign<T: Float + 'static>() {
    let lr = 1e-3;
    for (g, expected) in [(1e-6, -9.9e-4), (3.0, -1e-3), (-50.0, 1e-3)] {
        let mut adam = Adam::<T>::new(AdamConfig::new(lr)).expect("valid config");
        let delta = first_step(&mut adam, g);
        check_close(delta, -lr * g / (g.abs() + 1e-8), rtol::<T>(), &format!("Adam g = {g}"));
        check_close(delta, expected, 2e-3, &format!("Adam ≈ lr·sign(g), g = {g}"));
        let mut adamw = AdamW::<T>::new(AdamWConfig::new(lr).weight_decay(0.0)).expect("valid config");
        check_close(first_step(&mut adamw, g), delta, rtol::<T>(), &format!("AdamW g = {g}"));
    }
}

#[test]
fn adam_first_step_is_lr_times_sign_f32() {
    adam_first_step_is_lr_times_sign::<f32>();
}

#[test]
fn adam_first_step_is_lr_times_sign_f64() {
    adam_first_step_is_lr_times_sign::<f64>();
}

/// RMSprop's first step with α = 0.99: `v = 0.01·g²`, so the step is
/// `−lr·g/(0.1·|g| + ε)` ≈ `−10·lr·sign(g)`. The tutorial's ε inside the root
/// would give ≈ 0.1·lr for g = 1e-5 instead of ≈ 10·lr.
fn rmsprop_first_step_is_ten_lr_times_sign<T: Float + 'static>() {
    let lr = 1e-2;
    for g in [1e-5, 1e-3, 3.0, -50.0] {
        let mut rmsprop = Rmsprop::<T>::new(RmspropConfig::new(lr).alpha(0.99)).expect("valid config");
        let delta = first_step(&mut rmsprop, g);
        check_close(delta, -10.0 * lr * g.signum(), 1e-2, &format!("RMSprop g = {g}"));
    }
}

#[test]
fn rmsprop_first_step_is_ten_lr_times_sign_f32() {
    rmsprop_first_step_is_ten_lr_times_sign::<f32>();
}

#[test]
fn rmsprop_first_step_is_ten_lr_times_sign_f64() {
    rmsprop_first_step_is_ten_lr_times_sign::<f64>();
}

/// PyTorch-form momentum with constant g: step 1 moves `−lr·g` (b = g), step
/// 2 moves `−lr·(μ·g + g)`, so two steps move `−lr·g·(2 + μ)`. Nesterov adds
/// `μ·b` to each step: `−lr·g·(1 + μ) − lr·g·(1 + μ + μ²)`.
fn momentum_after_two_steps<T: Float + 'static>() {
    let (lr, mu, g) = (0.1, 0.9, 2.0);
    for nesterov in [false, true] {
        let mut sgd =
            Sgd::<T>::new(SgdConfig::new(lr).momentum(mu).nesterov(nesterov)).expect("valid config");
        let mut theta = [T::zero()];
        let grad = [cast::<T>(g)];
        for _ in 0..2 {
            sgd.step_slices(&mut [&mut theta], &[Some(&grad)]).expect("valid step");
        }
        let expected = if nesterov {
            -lr * g * (1.0 + mu) - lr * g * (1.0 + mu + mu * mu)
        } else {
            -lr * g * (2.0 + mu)
        };
        let moved = theta[0].to_f64().expect("float converts to f64");
        check_close(moved, expected, rtol::<T>() * 10.0, &format!("momentum, nesterov = {nesterov}"));
    }
}

#[test]
fn momentum_after_two_steps_f32() {
    momentum_after_two_steps::<f32>();
}

#[test]
fn momentum_after_two_steps_f64() {
    momentum_after_two_steps::<f64>();
}

/// One of each optimizer and variant, for the tests that run them all.
fn every_variant<T: Float + 'static>() -> Vec<(&'static str, Box<dyn Optimizer<T>>)> {
    fn boxed<T: Float, O: Optimizer<T> + 'static>(o: optim::Result<O>) -> Box<dyn Optimizer<T>> {
        Box::new(o.expect("valid config"))
    }
    vec![
        ("sgd", boxed(Sgd::new(SgdConfig::new(0.1)))),
        (
            "sgd momentum",
            boxed(Sgd::new(SgdConfig::new(0.1).momentum(0.9).dampening(0.1).weight_decay(1e-2))),
        ),
        ("sgd nesterov", boxed(Sgd::new(SgdConfig::new(0.1).momentum(0.9).nesterov(true)))),
        ("rmsprop", boxed(Rmsprop::new(RmspropConfig::new(0.01)))),
        (
            "rmsprop centered momentum",
            boxed(Rmsprop::new(RmspropConfig::new(0.01).centered(true).momentum(0.9).weight_decay(1e-2))),
        ),
        ("adam", boxed(Adam::new(AdamConfig::new(1e-3)))),
        ("adam amsgrad l2", boxed(Adam::new(AdamConfig::new(1e-3).amsgrad(true).weight_decay(1e-2)))),
        ("adamw", boxed(AdamW::new(AdamWConfig::new(1e-3)))),
        ("adamw amsgrad", boxed(AdamW::new(AdamWConfig::new(1e-3).amsgrad(true)))),
        ("adagrad", boxed(Adagrad::new(AdagradConfig::new(0.01)))),
        ("adagrad decay", boxed(Adagrad::new(AdagradConfig::new(0.01).lr_decay(0.1).weight_decay(1e-2)))),
    ]
}

/// Thousands of all-zero gradients — from the very first step, and after a
/// few real ones — never produce NaN or infinity (ε keeps every 0/0 away).
fn zero_gradients_never_give_nan<T: Float + 'static>() {
    for warm_up_steps in [0, 3] {
        for (name, mut optimizer) in every_variant::<T>() {
            let mut theta = vec![cast::<T>(0.5), cast::<T>(-2.0), T::zero()];
            let real = vec![cast::<T>(1.0), cast::<T>(-3.0), cast::<T>(1e-3)];
            let zero = vec![T::zero(); 3];
            for step in 0..5000 {
                let grad = if step < warm_up_steps { &real } else { &zero };
                optimizer.step_slices(&mut [&mut theta], &[Some(grad)]).expect("valid step");
            }
            assert!(
                theta.iter().all(|x| x.is_finite()),
                "{name} after {warm_up_steps} real and many zero gradients: {:?}",
                theta.iter().map(|x| x.to_f64()).collect::<Vec<_>>()
            );
        }
    }
}

#[test]
fn zero_gradients_never_give_nan_f32() {
    zero_gradients_never_give_nan::<f32>();
}

#[test]
fn zero_gradients_never_give_nan_f64() {
    zero_gradients_never_give_nan::<f64>();
}

/// Centered RMSprop with a constant gradient for thousands of steps: `v − m²`
/// shrinks to rounding noise and can round below 0; it must not become NaN.
#[test]
fn centered_rmsprop_survives_a_constant_gradient() {
    let mut rmsprop = Rmsprop::<f64>::new(RmspropConfig::new(1e-3).centered(true)).expect("valid config");
    let mut theta = [0.0; 3];
    let grad = [0.3, -7.0, 1e-4];
    for _ in 0..20_000 {
        rmsprop.step_slices(&mut [&mut theta], &[Some(&grad)]).expect("valid step");
    }
    assert!(theta.iter().all(|x| x.is_finite()), "{theta:?}");
}

/// A parameter whose gradient is `None` is skipped: its value and its state
/// (including Adam's per-parameter step count) stay as they were, so its first
/// real update later is exactly a fresh optimizer's first step.
fn none_gradient_skips_parameter_and_state<T: Float + std::fmt::Debug + 'static>() {
    for (name, mut optimizer) in every_variant::<T>() {
        let mut active = vec![cast::<T>(1.0), cast::<T>(2.0)];
        let mut skipped = vec![cast::<T>(-1.0), cast::<T>(0.5), cast::<T>(3.0)];
        let grad_active = vec![cast::<T>(0.3), cast::<T>(-0.7)];
        let grad_skipped = vec![cast::<T>(2.0), cast::<T>(-1.0), cast::<T>(0.25)];
        for _ in 0..4 {
            optimizer
                .step_slices(&mut [&mut active, &mut skipped], &[Some(&grad_active), None])
                .expect("valid step");
        }
        assert_eq!(
            skipped,
            [cast::<T>(-1.0), cast::<T>(0.5), cast::<T>(3.0)],
            "{name}: skipped parameter moved"
        );
        let state = optimizer.state();
        assert_eq!(state.params.len(), 2, "{name}");
        assert_eq!(state.params[0].as_ref().map(|p| p.step), Some(4), "{name}");
        assert!(state.params[1].is_none(), "{name}: a never-updated parameter has no state");

        optimizer
            .step_slices(&mut [&mut active, &mut skipped], &[None, Some(&grad_skipped)])
            .expect("valid step");
        let (_, mut fresh) = every_variant::<T>().into_iter().find(|(n, _)| *n == name).expect("same list");
        let mut expected = vec![cast::<T>(-1.0), cast::<T>(0.5), cast::<T>(3.0)];
        fresh.step_slices(&mut [&mut expected], &[Some(&grad_skipped)]).expect("valid step");
        assert_eq!(skipped, expected, "{name}: first update after skipping differs from a fresh first step");
    }
}

#[test]
fn none_gradient_skips_parameter_and_state_f32() {
    none_gradient_skips_parameter_and_state::<f32>();
}

#[test]
fn none_gradient_skips_parameter_and_state_f64() {
    none_gradient_skips_parameter_and_state::<f64>();
}

/// Bad calls are errors, and nothing — no parameter, no state — changes.
#[test]
fn step_slices_checks_everything_before_changing_anything() {
    for (name, mut optimizer) in every_variant::<f64>() {
        let mut a = vec![1.0, 2.0];
        let mut b = vec![3.0];
        let ga = [0.5, 0.5];
        let gb = [0.5];
        optimizer.step_slices(&mut [&mut a, &mut b], &[Some(&ga), Some(&gb)]).expect("valid step");
        let (a0, b0, state0) = (a.clone(), b.clone(), optimizer.state());

        let err = optimizer.step_slices(&mut [&mut a, &mut b], &[Some(&ga)]).unwrap_err();
        assert!(
            matches!(err, OptimError::ParamGradCountMismatch { params: 2, grads: 1, .. }),
            "{name}: {err}"
        );

        let err = optimizer.step_slices(&mut [&mut a], &[Some(&ga)]).unwrap_err();
        assert!(matches!(err, OptimError::ParamCountChanged { expected: 2, got: 1, .. }), "{name}: {err}");

        // The first parameter is fine, the second is not: the first must not move either.
        let err = optimizer.step_slices(&mut [&mut a, &mut b], &[Some(&ga), Some(&[1.0, 2.0])]).unwrap_err();
        assert!(
            matches!(err, OptimError::ParamGradLengthMismatch { index: 1, param_len: 1, grad_len: 2, .. }),
            "{name}: {err}"
        );

        let mut longer = vec![3.0, 4.0];
        let err =
            optimizer.step_slices(&mut [&mut a, &mut longer], &[Some(&ga), Some(&[1.0, 1.0])]).unwrap_err();
        assert!(
            matches!(err, OptimError::StateLengthMismatch { index: 1, param_len: 2, state_len: 1, .. }),
            "{name}: {err}"
        );

        assert_eq!((a, b), (a0, b0), "{name}: a failed step changed parameters");
        assert_eq!(optimizer.state(), state0, "{name}: a failed step changed the state");
    }
}

/// Every error message names the operation and the offending sizes.
#[test]
fn step_errors_name_optimizer_and_sizes() {
    let mut adam = Adam::<f32>::new(AdamConfig::default()).expect("valid config");
    let mut p = [0.0_f32; 3];
    let err = adam.step_slices(&mut [&mut p], &[Some(&[1.0, 2.0])]).unwrap_err();
    let message = err.to_string();
    for needle in ["Adam", "parameter 0", "3 elements", "gradient has 2"] {
        assert!(message.contains(needle), "{message:?} lacks {needle:?}");
    }
}

/// Empty parameter lists and empty parameters are fine.
#[test]
fn empty_inputs_are_no_ops() {
    for (name, mut optimizer) in every_variant::<f64>() {
        optimizer.step_slices(&mut [], &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut empty: Vec<f64> = Vec::new();
        optimizer.reset_state();
        optimizer.step_slices(&mut [&mut empty], &[Some(&[])]).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

/// `set_lr` changes the next step; a bad learning rate is refused and the old one kept.
#[test]
fn set_lr_takes_effect_and_is_validated() {
    for (name, mut optimizer) in every_variant::<f64>() {
        optimizer.set_lr(0.25).expect("valid lr");
        assert_eq!(optimizer.lr(), 0.25, "{name}");
        for bad in [-1e-3, f64::NAN, f64::INFINITY] {
            let err = optimizer.set_lr(bad).unwrap_err();
            assert!(matches!(err, OptimError::InvalidHyperParameter { name: "lr", .. }), "{name}: {err}");
        }
        assert_eq!(optimizer.lr(), 0.25, "{name}");
        assert_eq!(optimizer.state().hyper.lr(), 0.25, "{name}: the state records the current lr");
    }
    let mut sgd = Sgd::<f64>::new(SgdConfig::new(1.0)).expect("valid config");
    let mut theta = [0.0];
    sgd.set_lr(0.5).expect("valid lr");
    sgd.step_slices(&mut [&mut theta], &[Some(&[2.0])]).expect("valid step");
    assert_eq!(theta, [-1.0]);
}

/// Adam's L2 decay goes through the moments, AdamW's does not: with a zero
/// gradient, AdamW shrinks θ by exactly `(1 − lr·λ)` and takes no Adam step,
/// while Adam takes a full normalised step of ≈ lr against θ.
#[test]
fn adam_l2_and_adamw_decoupled_decay_differ_as_documented() {
    let (lr, wd) = (0.1, 0.5);
    let mut adamw = AdamW::<f64>::new(AdamWConfig::new(lr).weight_decay(wd)).expect("valid config");
    let mut theta = [2.0];
    adamw.step_slices(&mut [&mut theta], &[Some(&[0.0])]).expect("valid step");
    assert_eq!(theta, [2.0 * (1.0 - lr * wd)]);

    let mut adam = Adam::<f64>::new(AdamConfig::new(lr).weight_decay(wd)).expect("valid config");
    let mut theta = [2.0];
    adam.step_slices(&mut [&mut theta], &[Some(&[0.0])]).expect("valid step");
    check_close(theta[0], 2.0 - lr, 1e-7, "Adam L2 first step");
}

/// Adagrad: `s = initial + g²` after one step, and `lr_decay` divides the
/// learning rate of step t by `1 + (t − 1)·lr_decay`.
#[test]
fn adagrad_accumulator_and_lr_decay() {
    let config = AdagradConfig::new(0.1).initial_accumulator_value(0.5).lr_decay(1.0).eps(0.0);
    let mut adagrad = Adagrad::<f64>::new(config).expect("valid config");
    let mut theta = [0.0];
    adagrad.step_slices(&mut [&mut theta], &[Some(&[2.0])]).expect("valid step");
    // s = 0.5 + 4 = 4.5, step 1 uses lr = 0.1.
    check_close(theta[0], -0.1 * 2.0 / 4.5_f64.sqrt(), 1e-15, "Adagrad step 1");
    adagrad.step_slices(&mut [&mut theta], &[Some(&[2.0])]).expect("valid step");
    // s = 8.5, step 2 uses lr = 0.1 / 2.
    check_close(theta[0], -0.1 * 2.0 / 4.5_f64.sqrt() - 0.05 * 2.0 / 8.5_f64.sqrt(), 1e-15, "Adagrad step 2");
}

/// The optimizers are usable as trait objects chosen at run time.
#[test]
fn build_gives_the_requested_kind() {
    use optim::{HyperParams, OptimizerKind};
    let cases = [
        (HyperParams::Sgd(SgdConfig::default()), OptimizerKind::Sgd),
        (HyperParams::Rmsprop(RmspropConfig::default()), OptimizerKind::Rmsprop),
        (HyperParams::Adam(AdamConfig::default()), OptimizerKind::Adam),
        (HyperParams::AdamW(AdamWConfig::default()), OptimizerKind::AdamW),
        (HyperParams::Adagrad(AdagradConfig::default()), OptimizerKind::Adagrad),
    ];
    for (hyper, kind) in cases {
        let optimizer = optim::build::<f32>(hyper).expect("defaults are valid");
        assert_eq!(optimizer.kind(), kind);
        assert_eq!(optimizer.lr(), hyper.lr());
    }
}
