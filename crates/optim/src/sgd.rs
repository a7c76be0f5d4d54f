//! Stochastic gradient descent with optional momentum, dampening, Nesterov
//! momentum and L2 weight decay, in PyTorch's form (tutorial §7.1–7.4).
//!
//! Batch, mini-batch and stochastic gradient descent (tutorial §7.1–7.3) are all
//! this one update: only the number of samples averaged into the gradient
//! (N, B or 1) differs, and that is the data loader's choice.

use num_traits::Float;
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};
use crate::optimizer::{Optimizer, check_non_negative, check_unit_closed, slot_optimizer};
use crate::state::{BufferSpec, HyperParams, OptimizerKind, OptimizerState, Slots, cast};

const NAME: &str = "SGD";

/// SGD's hyper-parameters, with PyTorch's defaults (`lr = 1e-3`, everything else 0 / off).
///
/// The update for a parameter `θ` with gradient `g`, step `t` from 1 (PyTorch's
/// `torch.optim.SGD`):
/// ```text
/// g ← g + weight_decay·θ
/// with momentum μ ≠ 0:  b ← g at t = 1, else b ← μ·b + (1 − dampening)·g
///                       g ← g + μ·b  (Nesterov)   or   g ← b
/// θ ← θ − lr·g
/// ```
/// This is PyTorch's momentum form (the learning rate multiplies the buffer,
/// not each gradient as it enters it), so changing the learning rate mid-run
/// rescales the whole accumulated step.
///
/// ```
/// use optim::SgdConfig;
/// let config = SgdConfig::new(0.01).momentum(0.9).nesterov(true).weight_decay(1e-4);
/// assert_eq!(config.momentum, 0.9);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SgdConfig {
    /// Learning rate η ≥ 0.
    pub lr: f64,
    /// Momentum factor μ ≥ 0 (0 turns momentum off).
    pub momentum: f64,
    /// Dampening of the gradient entering the momentum buffer, in [0, 1].
    pub dampening: f64,
    /// Nesterov momentum; needs `momentum > 0` and `dampening = 0`.
    pub nesterov: bool,
    /// L2 weight decay λ ≥ 0, added to the gradient as `λ·θ`.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 1e-3, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

impl SgdConfig {
    /// PyTorch's defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        SgdConfig { lr, ..SgdConfig::default() }
    }

    /// Sets the momentum factor μ.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the dampening.
    pub fn dampening(mut self, dampening: f64) -> Self {
        self.dampening = dampening;
        self
    }

    /// Turns Nesterov momentum on or off.
    pub fn nesterov(mut self, nesterov: bool) -> Self {
        self.nesterov = nesterov;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperParameter`] for a NaN, infinite or negative
    /// `lr`, `momentum` or `weight_decay`, or a `dampening` outside [0, 1];
    /// [`OptimError::NesterovNeedsMomentum`] for Nesterov without momentum or
    /// with dampening.
    pub fn validate(&self) -> Result<()> {
        check_non_negative(NAME, "lr", self.lr)?;
        check_non_negative(NAME, "momentum", self.momentum)?;
        check_unit_closed(NAME, "dampening", self.dampening)?;
        check_non_negative(NAME, "weight_decay", self.weight_decay)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::NesterovNeedsMomentum {
                optimizer: NAME,
                momentum: self.momentum,
                dampening: self.dampening,
            });
        }
        Ok(())
    }

    fn buffers(&self) -> &'static [BufferSpec] {
        const MOMENTUM: &[BufferSpec] = &[BufferSpec { name: "momentum_buffer", init: 0.0 }];
        if self.momentum != 0.0 { MOMENTUM } else { &[] }
    }
}

/// Stochastic gradient descent (with momentum / Nesterov), PyTorch's
/// `torch.optim.SGD`; see [`SgdConfig`] for the update.
#[derive(Debug, Clone)]
pub struct Sgd<T> {
    config: SgdConfig,
    slots: Slots<T>,
}

impl<T: Float> Sgd<T> {
    /// One update of every parameter; shape checks and lazy state live in `Slots::step`.
    fn update(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()> {
        let c = self.config;
        let neg_lr = cast::<T>(-c.lr);
        let weight_decay = cast::<T>(c.weight_decay);
        let momentum = cast::<T>(c.momentum);
        let keep = cast::<T>(1.0 - c.dampening);
        self.slots.step(NAME, c.buffers(), params, grads, |step, buffers, param, grad| {
            // Mirrors torch's `_single_tensor_sgd` operation by operation, with a
            // fused multiply-add wherever its CPU kernels compute `a + α·b`
            // (see the crate docs): the f64 trajectories then match bit for bit.
            let mut momentum_buffer = buffers.first_mut();
            for (i, (theta, &g)) in param.iter_mut().zip(grad).enumerate() {
                let mut d = g;
                if c.weight_decay != 0.0 {
                    d = theta.mul_add(weight_decay, d);
                }
                if let Some(buffer) = momentum_buffer.as_deref_mut() {
                    let b = &mut buffer[i];
                    *b = if step == 1 { d } else { d.mul_add(keep, *b * momentum) };
                    d = if c.nesterov { b.mul_add(momentum, d) } else { *b };
                }
                *theta = d.mul_add(neg_lr, *theta);
            }
        })
    }
}

slot_optimizer!(Sgd, SgdConfig, Sgd, NAME);
