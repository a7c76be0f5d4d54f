//! Learning-rate schedules at hand-computed epochs (PyTorch's conventions:
//! epoch 0 is the base rate), chaining, and gradient clipping by norm and value.

use optim::{Optimizer, Schedule, Sgd, SgdConfig};

/// `(epoch, expected lr)` pairs checked to 1e-15 relative.
#[track_caller]
fn check(schedule: &Schedule, expected: &[(usize, f64)]) {
    for &(epoch, lr) in expected {
        let got = schedule.lr_at(epoch);
        assert!(
            (got - lr).abs() <= 1e-15 * lr.abs().max(1e-300),
            "epoch {epoch}: got {got:e}, expected {lr:e}"
        );
    }
}

#[test]
fn step_and_multi_step() {
    // 0.1 for epochs 0–2, 0.05 for 3–5, 0.025 from 6.
    check(&Schedule::step(0.1, 3, 0.5).unwrap(), &[(0, 0.1), (2, 0.1), (3, 0.05), (5, 0.05), (6, 0.025)]);
    // Milestones 2 and 5, a repeated 5 multiplies twice.
    let multi = Schedule::multi_step(1.0, vec![2, 5, 5], 0.1).unwrap();
    check(&multi, &[(0, 1.0), (1, 1.0), (2, 0.1), (4, 0.1), (5, 0.001), (100, 0.001)]);
}

#[test]
fn exponential_and_constant() {
    check(&Schedule::exponential(0.2, 0.5).unwrap(), &[(0, 0.2), (1, 0.1), (3, 0.025)]);
    check(&Schedule::constant(0.3).unwrap(), &[(0, 0.3), (1_000_000, 0.3)]);
}

#[test]
fn cosine_annealing() {
    let cosine = Schedule::cosine(0.1, 10, 0.0).unwrap();
    // Half way, cos(π/2) = 0: the mean of base and eta_min; at t_max, eta_min.
    check(&cosine, &[(0, 0.1), (5, 0.05)]);
    assert!(cosine.lr_at(10).abs() < 1e-17);
    // Past t_max the formula climbs back, symmetric about t_max (as PyTorch's).
    assert!((cosine.lr_at(15) - cosine.lr_at(5)).abs() < 1e-16);
    let with_floor = Schedule::cosine(1.0, 4, 0.2).unwrap();
    check(&with_floor, &[(0, 1.0), (2, 0.6), (4, 0.2)]);
}

#[test]
fn linear_warmup_ramps_then_holds() {
    let warmup = Schedule::linear_warmup(1.0, 0.25, 1.0, 3).unwrap();
    check(&warmup, &[(0, 0.25), (1, 0.5), (2, 0.75), (3, 1.0), (50, 1.0)]);
    // Also a linear decay, as PyTorch's LinearLR allows.
    check(&Schedule::linear_warmup(1.0, 1.0, 0.5, 2).unwrap(), &[(0, 1.0), (1, 0.75), (2, 0.5), (9, 0.5)]);
}

#[test]
fn sequential_warmup_then_step_decay() {
    let schedule = Schedule::sequential(
        vec![
            Schedule::linear_warmup(0.1, 0.5, 1.0, 2).unwrap(),
            Schedule::step(0.1, 3, 0.1).unwrap(),
            Schedule::constant(1e-4).unwrap(),
        ],
        vec![2, 8],
    )
    .unwrap();
    // Warm-up 0.05, 0.075; the step decay restarts at its own epoch 0 at
    // epoch 2 (0.1 for three epochs, then 0.01); the constant from epoch 8.
    check(
        &schedule,
        &[(0, 0.05), (1, 0.075), (2, 0.1), (4, 0.1), (5, 0.01), (7, 0.01), (8, 1e-4), (1000, 1e-4)],
    );
}

#[test]
fn apply_sets_the_optimizers_learning_rate() {
    let schedule = Schedule::exponential(0.1, 0.5).unwrap();
    let mut sgd = Sgd::<f32>::new(SgdConfig::new(1.0)).unwrap();
    schedule.apply(2, &mut sgd).unwrap();
    assert_eq!(sgd.lr(), 0.025);
    // Through a trait object too.
    let mut boxed: Box<dyn Optimizer<f32>> = Box::new(sgd);
    schedule.apply(0, boxed.as_mut()).unwrap();
    assert_eq!(boxed.lr(), 0.1);
    // An lr that overflowed to infinity is refused.
    let runaway = Schedule::exponential(1.0, 10.0).unwrap();
    assert!(runaway.apply(400, boxed.as_mut()).is_err());
    assert_eq!(boxed.lr(), 0.1);
}

#[test]
fn clip_grad_norm_scales_to_max_norm_and_returns_the_norm_before() {
    // Global norm of [3, 0, 4] is 5 across the two buffers.
    let mut grads = vec![vec![3.0_f64], vec![0.0, 4.0]];
    let before = optim::clip_grad_norm(&mut grads, 2.5).unwrap();
    assert_eq!(before, 5.0);
    // PyTorch's coefficient: max_norm / (norm + 1e-6).
    let coefficient = 2.5 / (5.0 + 1e-6);
    assert_eq!(grads, [vec![3.0 * coefficient], vec![0.0, 4.0 * coefficient]]);

    // Below the limit nothing changes, not even by rounding.
    let mut small = vec![vec![0.1_f32, -0.2]];
    let norm = optim::clip_grad_norm(&mut small, 1.0).unwrap();
    assert!((norm - 0.05_f64.sqrt()).abs() < 1e-7);
    assert_eq!(small, [vec![0.1_f32, -0.2]]);

    // max_norm = infinity never clips; an empty list has norm 0.
    let mut big = vec![vec![1e30_f32]];
    assert_eq!(optim::clip_grad_norm(&mut big, f64::INFINITY).unwrap(), 1e30_f32 as f64);
    assert_eq!(big, [vec![1e30_f32]]);
    let mut none: Vec<Vec<f64>> = Vec::new();
    assert_eq!(optim::clip_grad_norm(&mut none, 1.0).unwrap(), 0.0);

    // Works on slices borrowed from elsewhere, as an adapter would pass them.
    let (mut a, mut b) = ([6.0_f64, 8.0], [0.0_f64]);
    let mut views: Vec<&mut [f64]> = vec![&mut a, &mut b];
    assert_eq!(optim::clip_grad_norm(&mut views, 1.0).unwrap(), 10.0);
    assert!((optim::grad_norm(&views, 2.0).unwrap() - 1.0).abs() < 1e-6);
}

/// The norm is computed scaled, so values whose squares overflow (or
/// underflow) still give the right norm rather than infinity (or 0).
#[test]
fn grad_norm_survives_extreme_magnitudes() {
    let huge = vec![vec![3e200_f64, 4e200]];
    assert!((optim::grad_norm(&huge, 2.0).unwrap() / 5e200 - 1.0).abs() < 1e-15);
    let tiny = vec![vec![3e-200_f64], vec![4e-200]];
    assert!((optim::grad_norm(&tiny, 2.0).unwrap() / 5e-200 - 1.0).abs() < 1e-15);
    let f32_huge = vec![vec![3e30_f32, 4e30]];
    assert!((optim::grad_norm(&f32_huge, 2.0).unwrap() / 5e30 - 1.0).abs() < 1e-6);
    let mut clipped = huge.clone();
    assert!(optim::clip_grad_norm(&mut clipped, 1.0).is_ok());
    assert!((optim::grad_norm(&clipped, 2.0).unwrap() - 1.0).abs() < 1e-6);
}

#[test]
fn other_norms() {
    let grads = vec![vec![1.0_f64, -2.0], vec![2.0]];
    assert_eq!(optim::grad_norm(&grads, f64::INFINITY).unwrap(), 2.0);
    assert!((optim::grad_norm(&grads, 1.0).unwrap() - 5.0).abs() < 1e-15);
    assert!((optim::grad_norm(&grads, 3.0).unwrap() - 17.0_f64.cbrt()).abs() < 1e-15);
    let mut clipped = grads.clone();
    assert_eq!(optim::clip_grad_norm_with(&mut clipped, 1.0, f64::INFINITY).unwrap(), 2.0);
    assert!((optim::grad_norm(&clipped, f64::INFINITY).unwrap() - 1.0).abs() < 1e-6);
    // NaN anywhere gives NaN, never a silently smaller norm.
    assert!(optim::grad_norm(&[vec![f64::NAN, 1e300]], f64::INFINITY).unwrap().is_nan());
}

#[test]
fn clip_grad_value_clamps_each_element() {
    let mut grads = vec![vec![-5.0_f64, -0.5, 0.0], vec![0.75, 9.0, f64::NAN]];
    optim::clip_grad_value(&mut grads, 0.75).unwrap();
    assert_eq!(grads[0], [-0.75, -0.5, 0.0]);
    assert_eq!(&grads[1][..2], &[0.75, 0.75]);
    assert!(grads[1][2].is_nan(), "NaN passes through for the caller to see");
}
