//! Bad input gets a typed error naming what is wrong — never a panic, never a
//! silent NaN: hyper-parameters at construction, schedule parameters, clipping
//! arguments and saved states that do not fit.

use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, OptimError, Optimizer, OptimizerKind,
    Rmsprop, RmspropConfig, Schedule, Sgd, SgdConfig,
};

/// Asserts that building failed with `InvalidHyperParameter` for
/// (`optimizer`, `name`) and that the message names both and the value.
#[track_caller]
fn check_invalid<T: std::fmt::Debug>(built: optim::Result<T>, optimizer: &str, name: &str, value: f64) {
    let err = built.expect_err("a bad hyper-parameter must be refused");
    match &err {
        OptimError::InvalidHyperParameter { optimizer: o, name: n, value: v, .. } => {
            assert_eq!((*o, *n), (optimizer, name), "{err}");
            assert!(v.to_bits() == value.to_bits() || (v.is_nan() && value.is_nan()), "{err}");
        }
        other => panic!("expected InvalidHyperParameter for {optimizer}.{name}, got {other:?}"),
    }
    let message = err.to_string();
    for needle in [optimizer.to_string(), name.to_string(), value.to_string()] {
        assert!(message.contains(&needle), "{message:?} lacks {needle:?}");
    }
}

const NAN: f64 = f64::NAN;
const INF: f64 = f64::INFINITY;

#[test]
fn sgd_rejects_bad_hyper_parameters() {
    let cases: &[(SgdConfig, &str, f64)] = &[
        (SgdConfig::new(-0.1), "lr", -0.1),
        (SgdConfig::new(NAN), "lr", NAN),
        (SgdConfig::new(INF), "lr", INF),
        (SgdConfig::new(0.1).momentum(-0.5), "momentum", -0.5),
        (SgdConfig::new(0.1).momentum(NAN), "momentum", NAN),
        (SgdConfig::new(0.1).dampening(1.5), "dampening", 1.5),
        (SgdConfig::new(0.1).dampening(-0.1), "dampening", -0.1),
        (SgdConfig::new(0.1).weight_decay(-1e-4), "weight_decay", -1e-4),
        (SgdConfig::new(0.1).weight_decay(NAN), "weight_decay", NAN),
    ];
    for &(config, name, value) in cases {
        check_invalid(Sgd::<f32>::new(config), "SGD", name, value);
        check_invalid(Sgd::<f64>::new(config), "SGD", name, value);
    }
}

#[test]
fn sgd_rejects_nesterov_without_momentum_or_with_dampening() {
    for config in
        [SgdConfig::new(0.1).nesterov(true), SgdConfig::new(0.1).nesterov(true).momentum(0.9).dampening(0.1)]
    {
        let err = Sgd::<f64>::new(config).expect_err("invalid nesterov");
        assert!(
            matches!(err, OptimError::NesterovNeedsMomentum { optimizer: "SGD", .. }),
            "{config:?}: {err:?}"
        );
        assert!(err.to_string().contains("nesterov"), "{err}");
    }
}

#[test]
fn rmsprop_rejects_bad_hyper_parameters() {
    let cases: &[(RmspropConfig, &str, f64)] = &[
        (RmspropConfig::new(-1.0), "lr", -1.0),
        (RmspropConfig::new(0.01).alpha(1.0), "alpha", 1.0),
        (RmspropConfig::new(0.01).alpha(-0.1), "alpha", -0.1),
        (RmspropConfig::new(0.01).alpha(NAN), "alpha", NAN),
        (RmspropConfig::new(0.01).eps(-1e-8), "eps", -1e-8),
        (RmspropConfig::new(0.01).eps(NAN), "eps", NAN),
        (RmspropConfig::new(0.01).momentum(-0.9), "momentum", -0.9),
        (RmspropConfig::new(0.01).weight_decay(INF), "weight_decay", INF),
    ];
    for &(config, name, value) in cases {
        check_invalid(Rmsprop::<f32>::new(config), "RMSprop", name, value);
        check_invalid(Rmsprop::<f64>::new(config), "RMSprop", name, value);
    }
}

#[test]
fn adam_and_adamw_reject_bad_hyper_parameters() {
    let cases: &[(AdamConfig, &str, f64)] = &[
        (AdamConfig::new(-1e-3), "lr", -1e-3),
        (AdamConfig::new(NAN), "lr", NAN),
        (AdamConfig::new(1e-3).betas(1.0, 0.999), "beta1", 1.0),
        (AdamConfig::new(1e-3).betas(-0.1, 0.999), "beta1", -0.1),
        (AdamConfig::new(1e-3).betas(NAN, 0.999), "beta1", NAN),
        (AdamConfig::new(1e-3).betas(0.9, 1.0), "beta2", 1.0),
        (AdamConfig::new(1e-3).betas(0.9, 1.5), "beta2", 1.5),
        (AdamConfig::new(1e-3).eps(-1e-8), "eps", -1e-8),
        (AdamConfig::new(1e-3).eps(INF), "eps", INF),
        (AdamConfig::new(1e-3).weight_decay(-0.01), "weight_decay", -0.01),
    ];
    for &(config, name, value) in cases {
        check_invalid(Adam::<f32>::new(config), "Adam", name, value);
        check_invalid(Adam::<f64>::new(config), "Adam", name, value);
        check_invalid(AdamW::<f64>::new(AdamWConfig::from(config)), "AdamW", name, value);
    }
}

#[test]
fn adagrad_rejects_bad_hyper_parameters() {
    let cases: &[(AdagradConfig, &str, f64)] = &[
        (AdagradConfig::new(-0.01), "lr", -0.01),
        (AdagradConfig::new(0.01).lr_decay(-1.0), "lr_decay", -1.0),
        (AdagradConfig::new(0.01).weight_decay(NAN), "weight_decay", NAN),
        (AdagradConfig::new(0.01).initial_accumulator_value(-0.1), "initial_accumulator_value", -0.1),
        (AdagradConfig::new(0.01).eps(-1e-10), "eps", -1e-10),
    ];
    for &(config, name, value) in cases {
        check_invalid(Adagrad::<f32>::new(config), "Adagrad", name, value);
        check_invalid(Adagrad::<f64>::new(config), "Adagrad", name, value);
    }
}

/// The edges of each allowed range are accepted.
#[test]
fn boundary_hyper_parameters_are_accepted() {
    Sgd::<f64>::new(SgdConfig::new(0.0).dampening(1.0)).expect("lr = 0 and dampening = 1 are allowed");
    Rmsprop::<f64>::new(RmspropConfig::new(0.0).alpha(0.0).eps(0.0)).expect("α = 0, ε = 0 allowed");
    Adam::<f64>::new(AdamConfig::new(1e-3).betas(0.0, 0.0).eps(0.0)).expect("β = 0, ε = 0 allowed");
    Adagrad::<f64>::new(AdagradConfig::new(1e-3).eps(0.0)).expect("ε = 0 allowed");
}

#[track_caller]
fn check_schedule(built: optim::Result<Schedule>, schedule: &str, name: &str) {
    match built {
        Err(OptimError::InvalidSchedule { schedule: s, name: n, .. }) => assert_eq!((s, n), (schedule, name)),
        other => panic!("expected InvalidSchedule for {schedule}.{name}, got {other:?}"),
    }
}

#[test]
fn schedules_reject_bad_parameters() {
    check_schedule(Schedule::constant(-1.0), "constant", "lr");
    check_schedule(Schedule::step(NAN, 5, 0.5), "step", "base_lr");
    check_schedule(Schedule::step(0.1, 0, 0.5), "step", "step_size");
    check_schedule(Schedule::step(0.1, 5, -0.5), "step", "gamma");
    check_schedule(Schedule::multi_step(0.1, vec![10, 5], 0.5), "multi_step", "milestones");
    check_schedule(Schedule::exponential(0.1, NAN), "exponential", "gamma");
    check_schedule(Schedule::exponential(INF, 0.9), "exponential", "base_lr");
    check_schedule(Schedule::cosine(0.1, 0, 0.0), "cosine", "t_max");
    check_schedule(Schedule::cosine(0.1, 10, -1e-3), "cosine", "eta_min");
    check_schedule(Schedule::linear_warmup(0.1, 0.0, 1.0, 5), "linear_warmup", "start_factor");
    check_schedule(Schedule::linear_warmup(0.1, 1.5, 1.0, 5), "linear_warmup", "start_factor");
    check_schedule(Schedule::linear_warmup(0.1, 0.1, 1.1, 5), "linear_warmup", "end_factor");
    check_schedule(Schedule::linear_warmup(0.1, 0.1, NAN, 5), "linear_warmup", "end_factor");
    check_schedule(Schedule::linear_warmup(0.1, 0.1, 1.0, 0), "linear_warmup", "total_iters");
    let part = || Schedule::constant(0.1).expect("valid");
    check_schedule(Schedule::sequential(vec![], vec![]), "sequential", "parts");
    check_schedule(Schedule::sequential(vec![part(), part()], vec![]), "sequential", "milestones");
    check_schedule(Schedule::sequential(vec![part(), part()], vec![0]), "sequential", "milestones");
    check_schedule(
        Schedule::sequential(vec![part(), part(), part()], vec![5, 5]),
        "sequential",
        "milestones",
    );
}

#[test]
fn clipping_rejects_bad_arguments() {
    let mut grads = vec![vec![1.0_f64, 2.0]];
    for (result, name) in [
        (optim::clip_grad_norm(&mut grads, -1.0).map(|_| ()), "max_norm"),
        (optim::clip_grad_norm(&mut grads, NAN).map(|_| ()), "max_norm"),
        (optim::clip_grad_norm_with(&mut grads, 1.0, 0.0).map(|_| ()), "norm_type"),
        (optim::clip_grad_norm_with(&mut grads, 1.0, NAN).map(|_| ()), "norm_type"),
        (optim::grad_norm(&grads, -2.0).map(|_| ()), "norm_type"),
        (optim::clip_grad_value(&mut grads, -0.5), "clip_value"),
        (optim::clip_grad_value(&mut grads, NAN), "clip_value"),
    ] {
        match result {
            Err(OptimError::InvalidClip { name: n, .. }) => assert_eq!(n, name),
            other => panic!("expected InvalidClip for {name}, got {other:?}"),
        }
    }
    assert_eq!(grads, [vec![1.0, 2.0]], "a refused call changed the gradients");
}

/// A non-finite norm cannot be fixed by scaling: an error, gradients untouched.
#[test]
fn clip_grad_norm_refuses_non_finite_gradients() {
    for bad in [NAN, INF, -INF] {
        let mut grads = vec![vec![1.0_f32, 2.0], vec![bad as f32]];
        let err = optim::clip_grad_norm(&mut grads, 1.0).expect_err("non-finite norm");
        assert!(matches!(err, OptimError::NonFiniteGradNorm { .. }), "{err:?}");
        assert!(err.to_string().contains("non-finite"), "{err}");
        assert_eq!(grads[0], [1.0, 2.0]);
    }
}

/// Adam's state with one momentum-style buffer per parameter, to corrupt below.
fn trained_adam_state(amsgrad: bool) -> optim::OptimizerState {
    let mut adam = Adam::<f64>::new(AdamConfig::new(1e-3).amsgrad(amsgrad)).expect("valid config");
    let mut theta = vec![1.0, 2.0];
    adam.step_slices(&mut [&mut theta], &[Some(&[0.1, 0.2])]).expect("valid step");
    adam.state()
}

#[test]
fn load_state_rejects_states_that_do_not_fit() {
    let good = trained_adam_state(false);
    let fresh = || Adam::<f64>::new(AdamConfig::default()).expect("valid config");

    let mut sgd = Sgd::<f64>::new(SgdConfig::default()).expect("valid config");
    let err = sgd.load_state(&good).unwrap_err();
    assert!(
        matches!(
            err,
            OptimError::StateKindMismatch { expected: OptimizerKind::Sgd, found: OptimizerKind::Adam, .. }
        ),
        "{err:?}"
    );

    let mut missing = good.clone();
    missing.params[0].as_mut().expect("stepped").buffers.remove("exp_avg_sq");
    let err = fresh().load_state(&missing).unwrap_err();
    assert!(
        matches!(&err, OptimError::InvalidState { index: 0, reason, .. } if reason.contains("exp_avg_sq")),
        "{err:?}"
    );

    // A state saved without AMSGrad lacks `max_exp_avg_sq`; one with it, loaded
    // with its hyper-parameters switched off, has a buffer too many.
    let mut ams_off = trained_adam_state(true);
    if let optim::HyperParams::Adam(config) = &mut ams_off.hyper {
        config.amsgrad = false;
    }
    let err = fresh().load_state(&ams_off).unwrap_err();
    assert!(
        matches!(&err, OptimError::InvalidState { reason, .. } if reason.contains("max_exp_avg_sq")),
        "{err:?}"
    );

    let mut short = good.clone();
    short.params[0].as_mut().expect("stepped").buffers.get_mut("exp_avg").expect("present").pop();
    let err = fresh().load_state(&short).unwrap_err();
    assert!(
        matches!(&err, OptimError::InvalidState { reason, .. } if reason.contains("1 elements")),
        "{err:?}"
    );

    let mut step_zero = good.clone();
    step_zero.params[0].as_mut().expect("stepped").step = 0;
    assert!(matches!(fresh().load_state(&step_zero), Err(OptimError::InvalidState { .. })));

    let mut bad_hyper = good.clone();
    if let optim::HyperParams::Adam(config) = &mut bad_hyper.hyper {
        config.beta2 = 1.0;
    }
    let err = fresh().load_state(&bad_hyper).unwrap_err();
    assert!(matches!(err, OptimError::InvalidHyperParameter { name: "beta2", .. }), "{err:?}");

    // A refused state leaves the optimizer as it was.
    let mut adam = fresh();
    adam.load_state(&good).expect("a matching state loads");
    assert!(adam.load_state(&short).is_err());
    assert_eq!(adam.state(), good);

    // A loaded state whose parameter length differs from the real parameter's
    // is caught on the next step.
    let mut theta = vec![1.0, 2.0, 3.0];
    let err = adam.step_slices(&mut [&mut theta], &[Some(&[0.0; 3])]).unwrap_err();
    assert!(matches!(err, OptimError::StateLengthMismatch { param_len: 3, state_len: 2, .. }), "{err:?}");
}
