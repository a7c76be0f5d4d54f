//! Learning-rate schedules (tutorial §7.2: "slowly reduce the learning rate") as
//! pure functions of the epoch (or step): no hidden counter, so resuming a run
//! at epoch `e` needs only `e`, and a schedule can be plotted or tested alone.
//!
//! Each matches the PyTorch scheduler of the same name in closed form:
//! `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`, `LinearLR`
//! and `SequentialLR` (warm-up, then decay).

use num_traits::Float;

use crate::error::{OptimError, Result};
use crate::optimizer::Optimizer;

/// A learning-rate schedule: [`lr_at`](Schedule::lr_at) gives the learning
/// rate in force during an epoch (epochs count from 0, like PyTorch's
/// `last_epoch` after that many `scheduler.step()` calls).
///
/// Built only through its validating constructors, so every schedule gives a
/// finite, non-negative learning rate (for `gamma ≤ 1`).
///
/// # Example: five epochs of linear warm-up, then cosine decay
/// ```
/// use optim::Schedule;
///
/// let warmup = Schedule::linear_warmup(0.1, 0.1, 1.0, 5)?;
/// let decay = Schedule::cosine(0.1, 20, 0.0)?;
/// let schedule = Schedule::sequential(vec![warmup, decay], vec![5])?;
/// assert!((schedule.lr_at(0) - 0.01).abs() < 1e-15);
/// assert!((schedule.lr_at(5) - 0.1).abs() < 1e-15); // decay starts from its own epoch 0
/// assert!(schedule.lr_at(25).abs() < 1e-15);
/// # Ok::<(), optim::OptimError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Constant { lr: f64 },
    Step { base_lr: f64, step_size: usize, gamma: f64 },
    MultiStep { base_lr: f64, milestones: Vec<usize>, gamma: f64 },
    Exponential { base_lr: f64, gamma: f64 },
    Cosine { base_lr: f64, t_max: usize, eta_min: f64 },
    LinearWarmup { base_lr: f64, start_factor: f64, end_factor: f64, total_iters: usize },
    Sequential { parts: Vec<Schedule>, milestones: Vec<usize> },
}

fn invalid(schedule: &'static str, name: &'static str, value: f64, expected: &'static str) -> OptimError {
    OptimError::InvalidSchedule { schedule, name, value, expected }
}

fn check_non_negative(schedule: &'static str, name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(invalid(schedule, name, value, "finite and >= 0"))
    }
}

fn check_positive_count(schedule: &'static str, name: &'static str, value: usize) -> Result<()> {
    if value >= 1 { Ok(()) } else { Err(invalid(schedule, name, value as f64, ">= 1")) }
}

impl Schedule {
    /// The same learning rate `lr` in every epoch.
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `lr` is negative or not finite.
    pub fn constant(lr: f64) -> Result<Self> {
        check_non_negative("constant", "lr", lr)?;
        Ok(Schedule { kind: Kind::Constant { lr } })
    }

    /// `base_lr·gamma^⌊epoch/step_size⌋` (PyTorch's `StepLR`).
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `base_lr` or `gamma` is negative
    /// or not finite, or `step_size` is 0.
    pub fn step(base_lr: f64, step_size: usize, gamma: f64) -> Result<Self> {
        check_non_negative("step", "base_lr", base_lr)?;
        check_positive_count("step", "step_size", step_size)?;
        check_non_negative("step", "gamma", gamma)?;
        Ok(Schedule { kind: Kind::Step { base_lr, step_size, gamma } })
    }

    /// `base_lr·gamma^k`, `k` the number of milestones ≤ epoch (PyTorch's
    /// `MultiStepLR`; a repeated milestone multiplies by `gamma` twice).
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `base_lr` or `gamma` is negative
    /// or not finite, or the milestones are not sorted.
    pub fn multi_step(base_lr: f64, milestones: Vec<usize>, gamma: f64) -> Result<Self> {
        check_non_negative("multi_step", "base_lr", base_lr)?;
        check_non_negative("multi_step", "gamma", gamma)?;
        if let Some(pair) = milestones.windows(2).find(|pair| pair[1] < pair[0]) {
            return Err(invalid("multi_step", "milestones", pair[1] as f64, "sorted in increasing order"));
        }
        Ok(Schedule { kind: Kind::MultiStep { base_lr, milestones, gamma } })
    }

    /// `base_lr·gamma^epoch` (PyTorch's `ExponentialLR`).
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `base_lr` or `gamma` is negative or not finite.
    pub fn exponential(base_lr: f64, gamma: f64) -> Result<Self> {
        check_non_negative("exponential", "base_lr", base_lr)?;
        check_non_negative("exponential", "gamma", gamma)?;
        Ok(Schedule { kind: Kind::Exponential { base_lr, gamma } })
    }

    /// Cosine annealing from `base_lr` down to `eta_min` over `t_max` epochs:
    /// `eta_min + (base_lr − eta_min)·(1 + cos(π·epoch/t_max))/2`
    /// (PyTorch's `CosineAnnealingLR`). Past `t_max` the formula — and PyTorch —
    /// climbs back up, with period `2·t_max`; chain a [`Schedule::constant`]
    /// with [`Schedule::sequential`] to hold `eta_min` instead.
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `base_lr` or `eta_min` is negative
    /// or not finite, or `t_max` is 0.
    pub fn cosine(base_lr: f64, t_max: usize, eta_min: f64) -> Result<Self> {
        check_non_negative("cosine", "base_lr", base_lr)?;
        check_positive_count("cosine", "t_max", t_max)?;
        check_non_negative("cosine", "eta_min", eta_min)?;
        Ok(Schedule { kind: Kind::Cosine { base_lr, t_max, eta_min } })
    }

    /// Linear warm-up (PyTorch's `LinearLR`): the factor on `base_lr` moves
    /// linearly from `start_factor` at epoch 0 to `end_factor` at epoch
    /// `total_iters`, and stays there:
    /// `base_lr·(start + (end − start)·min(epoch, total_iters)/total_iters)`.
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `base_lr` is negative or not
    /// finite, `start_factor` is outside (0, 1], `end_factor` outside [0, 1]
    /// (PyTorch's ranges), or `total_iters` is 0.
    pub fn linear_warmup(
        base_lr: f64,
        start_factor: f64,
        end_factor: f64,
        total_iters: usize,
    ) -> Result<Self> {
        const NAME: &str = "linear_warmup";
        check_non_negative(NAME, "base_lr", base_lr)?;
        if !(start_factor > 0.0 && start_factor <= 1.0) {
            return Err(invalid(NAME, "start_factor", start_factor, "in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&end_factor) {
            return Err(invalid(NAME, "end_factor", end_factor, "in [0, 1]"));
        }
        check_positive_count(NAME, "total_iters", total_iters)?;
        Ok(Schedule { kind: Kind::LinearWarmup { base_lr, start_factor, end_factor, total_iters } })
    }

    /// Chains schedules (PyTorch's `SequentialLR`): `parts[0]` until epoch
    /// `milestones[0]`, then `parts[1]` restarted from its own epoch 0, and so
    /// on — e.g. a linear warm-up, then a decay.
    ///
    /// # Errors
    /// [`OptimError::InvalidSchedule`] when `parts` is empty, there is not
    /// exactly one milestone fewer than parts, or the milestones are not
    /// strictly increasing from at least 1 (a part would never run).
    pub fn sequential(parts: Vec<Schedule>, milestones: Vec<usize>) -> Result<Self> {
        const NAME: &str = "sequential";
        if parts.is_empty() {
            return Err(invalid(NAME, "parts", 0.0, "at least one schedule"));
        }
        if milestones.len() + 1 != parts.len() {
            return Err(invalid(
                NAME,
                "milestones",
                milestones.len() as f64,
                "one fewer milestone than schedules",
            ));
        }
        let mut previous = 0;
        for &milestone in &milestones {
            if milestone <= previous {
                return Err(invalid(NAME, "milestones", milestone as f64, "strictly increasing and >= 1"));
            }
            previous = milestone;
        }
        Ok(Schedule { kind: Kind::Sequential { parts, milestones } })
    }

    /// The learning rate in force during `epoch` (from 0).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match &self.kind {
            Kind::Constant { lr } => *lr,
            Kind::Step { base_lr, step_size, gamma } => base_lr * gamma.powf((epoch / step_size) as f64),
            Kind::MultiStep { base_lr, milestones, gamma } => {
                let passed = milestones.partition_point(|&milestone| milestone <= epoch);
                base_lr * gamma.powf(passed as f64)
            }
            Kind::Exponential { base_lr, gamma } => base_lr * gamma.powf(epoch as f64),
            Kind::Cosine { base_lr, t_max, eta_min } => {
                let phase = std::f64::consts::PI * epoch as f64 / *t_max as f64;
                eta_min + (base_lr - eta_min) * (1.0 + phase.cos()) / 2.0
            }
            Kind::LinearWarmup { base_lr, start_factor, end_factor, total_iters } => {
                let progress = epoch.min(*total_iters) as f64 / *total_iters as f64;
                base_lr * (start_factor + (end_factor - start_factor) * progress)
            }
            Kind::Sequential { parts, milestones } => {
                let index = milestones.partition_point(|&milestone| milestone <= epoch);
                let start = if index == 0 { 0 } else { milestones[index - 1] };
                parts[index].lr_at(epoch - start)
            }
        }
    }

    /// Sets `optimizer`'s learning rate to [`lr_at(epoch)`](Schedule::lr_at);
    /// call it at the start of each epoch.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperParameter`] when the learning rate has
    /// overflowed to infinity (a `gamma > 1` run for very many epochs).
    pub fn apply<T: Float, O: Optimizer<T> + ?Sized>(&self, epoch: usize, optimizer: &mut O) -> Result<()> {
        optimizer.set_lr(self.lr_at(epoch))
    }
}
