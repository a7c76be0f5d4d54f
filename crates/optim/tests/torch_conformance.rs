//! Conformance with PyTorch: replays every optimizer trajectory and every
//! learning-rate schedule in `optim_torch.json` (format in the fixtures'
//! README) and checks each value to 1e-10 relative in f64.
//!
//! The folder comes from `TAPEGRAD_FIXTURES` when set, else the project's own
//! copy, and the test depends on no particular case: any file in the same
//! format must pass, and an unknown optimizer, schedule or hyper-parameter
//! fails loudly rather than being skipped.

use std::path::PathBuf;

use optim::{
    Adagrad, AdagradConfig, Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, Rmsprop, RmspropConfig,
    Schedule, Sgd, SgdConfig,
};
use serde::Deserialize;
use serde_json::{Map, Value};

/// Relative tolerance the issue asks for.
const RTOL: f64 = 1e-10;
/// Magnitudes below this count as this for the relative error, so an element
/// that PyTorch leaves at (or crossing) exactly 0 is compared absolutely.
const TINY: f64 = 1e-12;

#[derive(Deserialize)]
struct Fixture {
    optimizers: Vec<OptimizerCase>,
    schedules: Vec<ScheduleCase>,
}

#[derive(Deserialize)]
struct Tensor {
    shape: Vec<usize>,
    data: Vec<f64>,
}

#[derive(Deserialize)]
struct OptimizerCase {
    optimizer: String,
    hyper: Map<String, Value>,
    params0: Vec<Tensor>,
    grads: Vec<Vec<Tensor>>,
    params_after_each_step: Vec<Vec<Tensor>>,
}

#[derive(Deserialize)]
struct ScheduleCase {
    schedule: String,
    base_lr: f64,
    hyper: Map<String, Value>,
    lr_at_epoch: Vec<f64>,
}

fn fixtures_dir() -> PathBuf {
    match std::env::var_os("TAPEGRAD_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures")),
    }
}

fn load_fixture() -> Fixture {
    let path = fixtures_dir().join("optim_torch.json");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()))
}

/// Takes hyper-parameters out of a case's map, so that whatever is left over
/// at the end is a key this test does not understand — an error, never ignored.
struct Hyper<'a> {
    case: &'a str,
    map: Map<String, Value>,
}

impl<'a> Hyper<'a> {
    fn new(case: &'a str, map: &Map<String, Value>) -> Self {
        Hyper { case, map: map.clone() }
    }

    fn f64(&mut self, key: &str) -> Option<f64> {
        self.map.remove(key).map(|value| {
            value
                .as_f64()
                .unwrap_or_else(|| panic!("{}: hyper-parameter {key} = {value} is not a number", self.case))
        })
    }

    fn required_f64(&mut self, key: &str) -> f64 {
        self.f64(key).unwrap_or_else(|| panic!("{}: missing hyper-parameter {key}", self.case))
    }

    fn usize(&mut self, key: &str) -> usize {
        let value = self.required_f64(key);
        assert!(
            value >= 0.0 && value.fract() == 0.0,
            "{}: hyper-parameter {key} = {value} is not a count",
            self.case
        );
        value as usize
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        self.map.remove(key).map(|value| {
            value
                .as_bool()
                .unwrap_or_else(|| panic!("{}: hyper-parameter {key} = {value} is not a bool", self.case))
        })
    }

    /// PyTorch spells Adam's decays either as `beta1`/`beta2` or as `betas`.
    fn betas(&mut self, default: (f64, f64)) -> (f64, f64) {
        if let Some(pair) = self.map.remove("betas") {
            let pair: Vec<f64> = serde_json::from_value(pair.clone())
                .unwrap_or_else(|_| panic!("{}: betas = {pair} is not a pair of numbers", self.case));
            assert_eq!(pair.len(), 2, "{}: betas must hold two numbers", self.case);
            return (pair[0], pair[1]);
        }
        (self.f64("beta1").unwrap_or(default.0), self.f64("beta2").unwrap_or(default.1))
    }

    fn finish(self) {
        let unknown: Vec<&String> = self.map.keys().collect();
        assert!(unknown.is_empty(), "{}: hyper-parameters this test does not know: {unknown:?}", self.case);
    }
}

/// Builds the optimizer a case names, for element type `T`.
fn build_optimizer<T: num_traits::Float + 'static>(
    kind: &str,
    hyper: &Map<String, Value>,
) -> Box<dyn Optimizer<T>> {
    let mut h = Hyper::new(kind, hyper);
    let built: Result<Box<dyn Optimizer<T>>, optim::OptimError> = match kind {
        "sgd" => {
            let d = SgdConfig::default();
            let config = SgdConfig {
                lr: h.required_f64("lr"),
                momentum: h.f64("momentum").unwrap_or(d.momentum),
                dampening: h.f64("dampening").unwrap_or(d.dampening),
                nesterov: h.bool("nesterov").unwrap_or(d.nesterov),
                weight_decay: h.f64("weight_decay").unwrap_or(d.weight_decay),
            };
            Sgd::new(config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "rmsprop" => {
            let d = RmspropConfig::default();
            let config = RmspropConfig {
                lr: h.required_f64("lr"),
                alpha: h.f64("alpha").unwrap_or(d.alpha),
                eps: h.f64("eps").unwrap_or(d.eps),
                momentum: h.f64("momentum").unwrap_or(d.momentum),
                weight_decay: h.f64("weight_decay").unwrap_or(d.weight_decay),
                centered: h.bool("centered").unwrap_or(d.centered),
            };
            Rmsprop::new(config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "adam" => {
            let d = AdamConfig::default();
            let (beta1, beta2) = h.betas((d.beta1, d.beta2));
            let config = AdamConfig {
                lr: h.required_f64("lr"),
                beta1,
                beta2,
                eps: h.f64("eps").unwrap_or(d.eps),
                weight_decay: h.f64("weight_decay").unwrap_or(d.weight_decay),
                amsgrad: h.bool("amsgrad").unwrap_or(d.amsgrad),
            };
            Adam::new(config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "adamw" => {
            let d = AdamWConfig::default();
            let (beta1, beta2) = h.betas((d.beta1, d.beta2));
            let config = AdamWConfig {
                lr: h.required_f64("lr"),
                beta1,
                beta2,
                eps: h.f64("eps").unwrap_or(d.eps),
                weight_decay: h.f64("weight_decay").unwrap_or(d.weight_decay),
                amsgrad: h.bool("amsgrad").unwrap_or(d.amsgrad),
            };
            AdamW::new(config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        "adagrad" => {
            let d = AdagradConfig::default();
            let config = AdagradConfig {
                lr: h.required_f64("lr"),
                lr_decay: h.f64("lr_decay").unwrap_or(d.lr_decay),
                weight_decay: h.f64("weight_decay").unwrap_or(d.weight_decay),
                initial_accumulator_value: h
                    .f64("initial_accumulator_value")
                    .unwrap_or(d.initial_accumulator_value),
                eps: h.f64("eps").unwrap_or(d.eps),
            };
            Adagrad::new(config).map(|o| Box::new(o) as Box<dyn Optimizer<T>>)
        }
        other => {
            panic!("unknown optimizer kind {other:?} in the fixture: teach this test and the crate about it")
        }
    };
    h.finish();
    built.unwrap_or_else(|e| panic!("{kind} with {hyper:?}: {e}"))
}

fn build_schedule(case: &ScheduleCase) -> Schedule {
    let mut h = Hyper::new(&case.schedule, &case.hyper);
    let base = case.base_lr;
    let built = match case.schedule.as_str() {
        "step" => {
            let step_size = h.usize("step_size");
            Schedule::step(base, step_size, h.required_f64("gamma"))
        }
        "exponential" => Schedule::exponential(base, h.required_f64("gamma")),
        "cosine" => {
            let t_max = h.usize("t_max");
            Schedule::cosine(base, t_max, h.f64("eta_min").unwrap_or(0.0))
        }
        "linear_warmup" => {
            let start = h.required_f64("start_factor");
            let end = h.required_f64("end_factor");
            Schedule::linear_warmup(base, start, end, h.usize("total_iters"))
        }
        other => {
            panic!("unknown schedule kind {other:?} in the fixture: teach this test and the crate about it")
        }
    };
    h.finish();
    built.unwrap_or_else(|e| panic!("{} with {:?}: {e}", case.schedule, case.hyper))
}

/// Largest deviation seen, in the units the tolerance is checked in.
#[derive(Default)]
struct Worst {
    relative: f64,
    where_: String,
    compared: usize,
    bit_identical: usize,
}

impl Worst {
    /// Checks `actual` against `expected` with `|a − b| ≤ rtol·max(|b|, tiny)`
    /// and keeps the largest `|a − b| / max(|b|, tiny)`.
    #[track_caller]
    fn check(&mut self, actual: f64, expected: f64, rtol: f64, tiny: f64, place: impl FnOnce() -> String) {
        let scale = expected.abs().max(tiny);
        let relative = (actual - expected).abs() / scale;
        let ok = relative <= rtol || actual == expected;
        self.compared += 1;
        self.bit_identical += usize::from(actual.to_bits() == expected.to_bits());
        if !ok || relative > self.relative {
            let place = place();
            assert!(
                ok,
                "{place}: got {actual:e}, PyTorch {expected:e} (relative deviation {relative:e} > {rtol:e})"
            );
            self.relative = relative;
            self.where_ = place;
        }
    }
}

/// Replays one trajectory in element type `T`, checking every parameter after
/// every step against PyTorch's (read in f64) to `rtol` relative; magnitudes
/// below `tiny` — or, with `tensor_scale`, below the largest magnitude in the
/// same tensor — count as that floor.
fn replay<T: num_traits::Float + 'static>(
    index: usize,
    case: &OptimizerCase,
    rtol: f64,
    tiny: f64,
    tensor_scale: bool,
    worst: &mut Worst,
) {
    let label = format!("optimizers[{index}] ({} {:?})", case.optimizer, case.hyper);
    assert_eq!(
        case.grads.len(),
        case.params_after_each_step.len(),
        "{label}: one expected parameter set per gradient step"
    );
    let mut optimizer = build_optimizer::<T>(&case.optimizer, &case.hyper);
    let mut params: Vec<Vec<T>> = case
        .params0
        .iter()
        .map(|t| {
            assert_eq!(t.shape.iter().product::<usize>(), t.data.len(), "{label}: params0 shape/data");
            t.data.iter().map(|&x| T::from(x).expect("f64 converts to any float")).collect()
        })
        .collect();
    for (step, (grads, expected)) in case.grads.iter().zip(&case.params_after_each_step).enumerate() {
        assert_eq!(grads.len(), params.len(), "{label} step {step}: one gradient per parameter");
        assert_eq!(expected.len(), params.len(), "{label} step {step}: one result per parameter");
        let grads: Vec<Vec<T>> = grads
            .iter()
            .map(|t| t.data.iter().map(|&x| T::from(x).expect("f64 converts to any float")).collect())
            .collect();
        let grad_slots: Vec<Option<&[T]>> = grads.iter().map(|g| Some(g.as_slice())).collect();
        let mut views: Vec<&mut [T]> = params.iter_mut().map(Vec::as_mut_slice).collect();
        optimizer.step_slices(&mut views, &grad_slots).unwrap_or_else(|e| panic!("{label} step {step}: {e}"));
        for (p, (actual, expected)) in params.iter().zip(expected).enumerate() {
            assert_eq!(actual.len(), expected.data.len(), "{label} step {step} param {p}: length");
            let floor =
                if tensor_scale { expected.data.iter().fold(tiny, |m, x| m.max(x.abs())) } else { tiny };
            for (i, (&a, &b)) in actual.iter().zip(&expected.data).enumerate() {
                let a = a.to_f64().expect("float converts to f64");
                worst.check(a, b, rtol, floor, || format!("{label} step {step} param {p}[{i}]"));
            }
        }
    }
}

#[test]
fn every_optimizer_trajectory_matches_pytorch_in_f64() {
    let fixture = load_fixture();
    assert!(!fixture.optimizers.is_empty(), "the fixture holds no optimizer trajectories");
    let mut worst = Worst::default();
    for (index, case) in fixture.optimizers.iter().enumerate() {
        replay::<f64>(index, case, RTOL, TINY, false, &mut worst);
    }
    println!(
        "optimizers (f64): largest relative deviation from PyTorch {:.3e} at {}; {} of {} values bit-identical",
        worst.relative, worst.where_, worst.bit_identical, worst.compared
    );
}

/// f32 follows the same trajectories to f32 precision: 1e-5 relative to the
/// largest magnitude in each tensor, since f32 rounding of a large update that
/// nearly cancels a weight leaves an error relative to the update, not to the
/// small result.
#[test]
fn every_optimizer_trajectory_matches_pytorch_in_f32_precision() {
    let fixture = load_fixture();
    let mut worst = Worst::default();
    for (index, case) in fixture.optimizers.iter().enumerate() {
        replay::<f32>(index, case, 1e-5, 1e-3, true, &mut worst);
    }
    println!(
        "optimizers (f32): largest relative deviation from PyTorch {:.3e} at {}",
        worst.relative, worst.where_
    );
}

#[test]
fn every_schedule_matches_pytorch() {
    let fixture = load_fixture();
    assert!(!fixture.schedules.is_empty(), "the fixture holds no schedules");
    let mut worst = Worst::default();
    for (index, case) in fixture.schedules.iter().enumerate() {
        let schedule = build_schedule(case);
        for (epoch, &expected) in case.lr_at_epoch.iter().enumerate() {
            worst.check(schedule.lr_at(epoch), expected, RTOL, TINY, || {
                format!("schedules[{index}] ({} {:?}) epoch {epoch}", case.schedule, case.hyper)
            });
        }
    }
    println!("schedules: largest relative deviation from PyTorch {:.3e} at {}", worst.relative, worst.where_);
}

/// A fixture naming an optimizer this crate does not know must fail, not be skipped.
#[test]
#[should_panic(expected = "unknown optimizer kind")]
fn unknown_optimizer_kind_fails_loudly() {
    build_optimizer::<f64>("lamb", &Map::new());
}

/// A hyper-parameter this test does not map (e.g. PyTorch's `maximize`) must
/// fail rather than be silently ignored.
#[test]
#[should_panic(expected = "does not know")]
fn unknown_hyper_parameter_fails_loudly() {
    let hyper: Map<String, Value> =
        serde_json::from_str(r#"{"lr": 0.1, "maximize": true}"#).expect("valid JSON");
    build_optimizer::<f64>("sgd", &hyper);
}

/// Likewise for a schedule kind.
#[test]
#[should_panic(expected = "unknown schedule kind")]
fn unknown_schedule_kind_fails_loudly() {
    let case = ScheduleCase {
        schedule: "one_cycle".into(),
        base_lr: 0.1,
        hyper: Map::new(),
        lr_at_epoch: vec![0.1],
    };
    build_schedule(&case);
}
