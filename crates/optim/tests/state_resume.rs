//! Saving and restoring optimizer state resumes training exactly: N steps,
//! save (through JSON, as a checkpoint would), restore into a fresh optimizer,
//! continue — bit for bit the trajectory of a run that never stopped, in f32
//! and f64, for every optimizer and variant.

use num_traits::Float;
use optim::{
    AdagradConfig, AdamConfig, AdamWConfig, HyperParams, Optimizer, OptimizerState, RmspropConfig, Schedule,
    SgdConfig,
};

const TOTAL_STEPS: usize = 30;
const SAVE_AFTER: usize = 11;

fn every_config() -> Vec<HyperParams> {
    vec![
        HyperParams::Sgd(SgdConfig::new(0.05)),
        HyperParams::Sgd(SgdConfig::new(0.05).momentum(0.9).dampening(0.2).weight_decay(1e-3)),
        HyperParams::Sgd(SgdConfig::new(0.05).momentum(0.8).nesterov(true)),
        HyperParams::Rmsprop(RmspropConfig::new(0.01)),
        HyperParams::Rmsprop(
            RmspropConfig::new(0.01).alpha(0.9).momentum(0.5).centered(true).weight_decay(1e-2),
        ),
        HyperParams::Adam(AdamConfig::new(0.01)),
        HyperParams::Adam(AdamConfig::new(0.01).amsgrad(true).weight_decay(1e-2).betas(0.8, 0.99)),
        HyperParams::AdamW(AdamWConfig::new(0.01).weight_decay(0.1)),
        HyperParams::AdamW(AdamWConfig::new(0.01).amsgrad(true)),
        HyperParams::Adagrad(AdagradConfig::new(0.1)),
        HyperParams::Adagrad(AdagradConfig::new(0.1).lr_decay(0.05).initial_accumulator_value(0.1)),
    ]
}

/// A deterministic, irregular gradient: varied signs and magnitudes, an
/// all-zero step, and a parameter that gets no gradient every third step.
fn gradient<T: Float>(step: usize, param: usize, len: usize) -> Option<Vec<T>> {
    if param == 1 && step.is_multiple_of(3) {
        return None;
    }
    if step == 7 {
        return Some(vec![T::zero(); len]);
    }
    Some(
        (0..len)
            .map(|i| {
                let x = ((step * 31 + param * 17 + i * 7) as f64 * 0.618_033_988_749).sin();
                let scale = [1e-3, 1.0, 40.0][(step + i) % 3];
                T::from(x * scale).expect("f64 converts to any float")
            })
            .collect(),
    )
}

/// Runs `steps` steps from `from_step` at the optimizer's current learning rate.
fn run<T: Float>(optimizer: &mut dyn Optimizer<T>, params: &mut [Vec<T>], from_step: usize, steps: usize) {
    for step in from_step..from_step + steps {
        let grads: Vec<Option<Vec<T>>> =
            params.iter().enumerate().map(|(p, v)| gradient::<T>(step, p, v.len())).collect();
        let grad_slots: Vec<Option<&[T]>> = grads.iter().map(|g| g.as_deref()).collect();
        let mut views: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.step_slices(&mut views, &grad_slots).expect("valid step");
    }
}

fn initial_params<T: Float>() -> Vec<Vec<T>> {
    let cast = |x: f64| T::from(x).expect("f64 converts to any float");
    vec![vec![cast(0.5), cast(-1.25), cast(2.0), cast(0.0)], vec![cast(-0.75), cast(3.5)], vec![cast(1e-3)]]
}

/// Applies a schedule's learning rate before each step, as a training loop
/// would, so the resumed run must recover the lr from the saved state.
fn run_scheduled<T: Float>(
    optimizer: &mut dyn Optimizer<T>,
    schedule: &Schedule,
    params: &mut [Vec<T>],
    from_step: usize,
    steps: usize,
) {
    for step in from_step..from_step + steps {
        optimizer.set_lr(schedule.lr_at(step)).expect("schedules give valid rates");
        run(optimizer, params, step, 1);
    }
}

fn resume_is_bitwise<T: Float + std::fmt::Debug + 'static>() {
    for hyper in every_config() {
        let schedule = Schedule::sequential(
            vec![
                Schedule::linear_warmup(hyper.lr(), 0.2, 1.0, 4).expect("valid"),
                Schedule::cosine(hyper.lr(), 20, 1e-4).expect("valid"),
            ],
            vec![4],
        )
        .expect("valid");

        let mut uninterrupted = optim::build::<T>(hyper).expect("valid config");
        let mut expected = initial_params::<T>();
        run_scheduled(uninterrupted.as_mut(), &schedule, &mut expected, 0, TOTAL_STEPS);

        let mut first = optim::build::<T>(hyper).expect("valid config");
        let mut params = initial_params::<T>();
        run_scheduled(first.as_mut(), &schedule, &mut params, 0, SAVE_AFTER);
        let saved = first.state();
        assert_eq!(saved.steps, SAVE_AFTER as u64, "{hyper:?}");
        drop(first);

        let json = serde_json::to_string(&saved).expect("the state serializes");
        let restored: OptimizerState = serde_json::from_str(&json).expect("and deserializes");
        assert_eq!(restored, saved, "{hyper:?}: JSON round trip changed the state");

        // The check has teeth: continuing without the state (only the lr)
        // leaves the trajectory of every optimizer that keeps buffers.
        let keeps_buffers = saved.params.iter().flatten().any(|p| !p.buffers.is_empty());
        if keeps_buffers {
            let mut amnesiac = optim::build::<T>(saved.hyper).expect("valid config");
            let mut wrong = params.clone();
            run_scheduled(amnesiac.as_mut(), &schedule, &mut wrong, SAVE_AFTER, TOTAL_STEPS - SAVE_AFTER);
            assert_ne!(wrong, expected, "{hyper:?}: state made no difference");
        }

        let mut resumed = optim::from_state::<T>(&restored).expect("the state loads");
        assert_eq!(resumed.lr(), schedule.lr_at(SAVE_AFTER - 1), "{hyper:?}: the lr in force was saved");
        assert_eq!(resumed.state(), saved, "{hyper:?}: loading then saving is the identity");
        run_scheduled(resumed.as_mut(), &schedule, &mut params, SAVE_AFTER, TOTAL_STEPS - SAVE_AFTER);

        assert_eq!(params, expected, "{hyper:?}: resumed trajectory differs");
        assert_eq!(resumed.state(), uninterrupted.state(), "{hyper:?}: final states differ");
    }
}

#[test]
fn resume_is_bitwise_f32() {
    resume_is_bitwise::<f32>();
}

#[test]
fn resume_is_bitwise_f64() {
    resume_is_bitwise::<f64>();
}

/// `reset_state` forgets the buffers but keeps the hyper-parameters: the next
/// step is a first step again.
#[test]
fn reset_state_restarts_from_a_first_step() {
    for hyper in every_config() {
        let mut optimizer = optim::build::<f64>(hyper).expect("valid config");
        let mut params = initial_params::<f64>();
        run(optimizer.as_mut(), &mut params, 0, 5);
        optimizer.reset_state();
        let state = optimizer.state();
        assert!(state.params.is_empty() && state.steps == 0, "{hyper:?}");
        assert_eq!(state.hyper, hyper, "{hyper:?}");

        let start = params.clone();
        run(optimizer.as_mut(), &mut params, 5, 1);
        let mut fresh = optim::build::<f64>(hyper).expect("valid config");
        let mut expected = start;
        run(fresh.as_mut(), &mut expected, 5, 1);
        assert_eq!(params, expected, "{hyper:?}");
    }
}
