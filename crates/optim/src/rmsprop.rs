//! RMSprop (tutorial §7.5) in PyTorch's form: ε **outside** the square root.
//!
//! The tutorial's eq. (9), `Δw = −η·g/√(v + ε)`, puts ε inside the root; that is
//! TensorFlow's variant, and with ε = 1e-8 it caps the step for tiny gradients
//! very differently. This crate follows PyTorch (`torch.optim.RMSprop`),
//! `Δw = −η·g/(√v + ε)`, so trajectories match PyTorch's.

use num_traits::Float;
use serde::{Deserialize, Serialize};

use crate::error::{OptimError, Result};
use crate::optimizer::{Optimizer, check_non_negative, check_unit_open, lerp, slot_optimizer, with_fma};
use crate::state::{BufferSpec, HyperParams, OptimizerKind, OptimizerState, Slots, cast};

const NAME: &str = "RMSprop";

/// RMSprop's hyper-parameters, with PyTorch's defaults (`lr = 1e-2`,
/// `alpha = 0.99`, `eps = 1e-8`, no momentum, no weight decay, not centered).
///
/// The update for a parameter `θ` with gradient `g` (PyTorch's
/// `torch.optim.RMSprop`; all buffers start at 0):
/// ```text
/// g ← g + weight_decay·θ
/// v ← α·v + (1 − α)·g²
/// centered:  m ← α·m + (1 − α)·g,  d = √(v − m²) + ε      otherwise  d = √v + ε
/// momentum μ > 0:  b ← μ·b + g/d,  θ ← θ − lr·b             otherwise  θ ← θ − lr·g/d
/// ```
/// ε is added **outside** the root (PyTorch), not inside as in the tutorial's
/// eq. (9) (TensorFlow's variant). In the centered form, where rounding makes
/// `v − m²` slightly negative (it cannot be mathematically), it is taken as 0
/// instead of giving NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RmspropConfig {
    /// Learning rate η ≥ 0.
    pub lr: f64,
    /// Smoothing constant α of the squared-gradient average, in [0, 1).
    pub alpha: f64,
    /// ε ≥ 0 added to the root-mean-square; with ε = 0 a zero gradient gives 0/0 = NaN.
    pub eps: f64,
    /// Momentum factor μ ≥ 0 (0 turns momentum off).
    pub momentum: f64,
    /// L2 weight decay λ ≥ 0, added to the gradient as `λ·θ`.
    pub weight_decay: f64,
    /// Normalise by the estimated variance `v − m²` instead of the raw second moment.
    pub centered: bool,
}

impl Default for RmspropConfig {
    fn default() -> Self {
        RmspropConfig { lr: 1e-2, alpha: 0.99, eps: 1e-8, momentum: 0.0, weight_decay: 0.0, centered: false }
    }
}

impl RmspropConfig {
    /// PyTorch's defaults with learning rate `lr`.
    pub fn new(lr: f64) -> Self {
        RmspropConfig { lr, ..RmspropConfig::default() }
    }

    /// Sets the smoothing constant α.
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }

    /// Sets ε.
    pub fn eps(mut self, eps: f64) -> Self {
        self.eps = eps;
        self
    }

    /// Sets the momentum factor μ.
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the L2 weight decay λ.
    pub fn weight_decay(mut self, weight_decay: f64) -> Self {
        self.weight_decay = weight_decay;
        self
    }

    /// Turns the centered variant on or off.
    pub fn centered(mut self, centered: bool) -> Self {
        self.centered = centered;
        self
    }

    /// Checks every hyper-parameter.
    ///
    /// # Errors
    /// [`OptimError::InvalidHyperParameter`] for a NaN, infinite or negative
    /// `lr`, `eps`, `momentum` or `weight_decay`, or an `alpha` outside [0, 1)
    /// (PyTorch accepts α ≥ 1, but then the average never moves or goes negative).
    pub fn validate(&self) -> Result<()> {
        check_non_negative(NAME, "lr", self.lr)?;
        check_unit_open(NAME, "alpha", self.alpha)?;
        check_non_negative(NAME, "eps", self.eps)?;
        check_non_negative(NAME, "momentum", self.momentum)?;
        check_non_negative(NAME, "weight_decay", self.weight_decay)
    }

    fn buffers(&self) -> &'static [BufferSpec] {
        const SQUARE: BufferSpec = BufferSpec { name: "square_avg", init: 0.0 };
        const MOMENTUM: BufferSpec = BufferSpec { name: "momentum_buffer", init: 0.0 };
        const GRAD_AVG: BufferSpec = BufferSpec { name: "grad_avg", init: 0.0 };
        // The order is fixed so the update can destructure the buffers:
        // square_avg, then momentum_buffer, then grad_avg, each only when used.
        match (self.momentum > 0.0, self.centered) {
            (false, false) => &[SQUARE],
            (true, false) => &[SQUARE, MOMENTUM],
            (false, true) => &[SQUARE, GRAD_AVG],
            (true, true) => &[SQUARE, MOMENTUM, GRAD_AVG],
        }
    }
}

/// RMSprop, PyTorch's `torch.optim.RMSprop`; see [`RmspropConfig`] for the update.
#[derive(Debug, Clone)]
pub struct Rmsprop<T> {
    config: RmspropConfig,
    slots: Slots<T>,
}

impl<T: Float> Rmsprop<T> {
    /// One update of every parameter; shape checks and lazy state live in `Slots::step`.
    fn update(&mut self, params: &mut [&mut [T]], grads: &[Option<&[T]>]) -> Result<()> {
        let c = self.config;
        let neg_lr = cast::<T>(-c.lr);
        let alpha = cast::<T>(c.alpha);
        let one_minus_alpha = cast::<T>(1.0 - c.alpha);
        let eps = cast::<T>(c.eps);
        let momentum = cast::<T>(c.momentum);
        let weight_decay = cast::<T>(c.weight_decay);
        let use_momentum = c.momentum > 0.0;
        self.slots.step(NAME, c.buffers(), params, grads, |_step, buffers, param, grad| {
            let (square_avg, rest) = buffers.split_at_mut(1);
            let square_avg = &mut square_avg[0];
            let (momentum_buffer, grad_avg) = match (use_momentum, c.centered, rest) {
                (true, true, [b, m]) => (Some(&mut **b), Some(&mut **m)),
                (true, false, [b]) => (Some(&mut **b), None),
                (false, true, [m]) => (None, Some(&mut **m)),
                _ => (None, None),
            };
            let step = RmspropStep { neg_lr, alpha, one_minus_alpha, eps, momentum };
            let buffers = (&mut **square_avg, momentum_buffer, grad_avg);
            // Mirrors torch's `_single_tensor_rmsprop` operation by operation,
            // fusing multiply-adds where its CPU kernels do (see the crate docs).
            with_fma(
                #[inline(always)]
                || match c.weight_decay != 0.0 {
                    true => step.rows(param, grad, buffers, |theta, g| theta.mul_add(weight_decay, g)),
                    false => step.rows(param, grad, buffers, |_, g| g),
                },
            );
        })
    }
}

/// One RMSprop step's coefficients, for the update loop.
#[derive(Clone, Copy)]
struct RmspropStep<T> {
    neg_lr: T,
    alpha: T,
    one_minus_alpha: T,
    eps: T,
    momentum: T,
}

impl<T: Float> RmspropStep<T> {
    /// Updates one parameter and its buffers (square average; momentum buffer and
    /// gradient average when used); `decayed(θ, g)` gives the gradient after weight
    /// decay. One zipped loop per form, so the loop vectorises (as Adam's: SIMD
    /// `sqrt`, division and FMA round as the scalar ones).
    #[inline(always)]
    fn rows(
        self,
        param: &mut [T],
        grad: &[T],
        (square_avg, momentum_buffer, grad_avg): (&mut [T], Option<&mut [T]>, Option<&mut [T]>),
        decayed: impl Fn(T, T) -> T,
    ) {
        let square = |d: T, v: &mut T| *v = (self.one_minus_alpha * d).mul_add(d, *v * self.alpha);
        let centered_root = |d: T, v: T, m: &mut T| {
            *m = lerp(*m, d, self.one_minus_alpha);
            let variance = (-*m).mul_add(*m, v);
            // Not `max`, which would turn a NaN into 0 and hide it.
            let variance = if variance < T::zero() { T::zero() } else { variance };
            variance.sqrt()
        };
        let with_momentum = |theta: &mut T, d: T, denom: T, b: &mut T| {
            *b = *b * self.momentum + d / denom;
            *theta = b.mul_add(self.neg_lr, *theta);
        };
        let rows = param.iter_mut().zip(grad).zip(square_avg.iter_mut());
        match (momentum_buffer, grad_avg) {
            (None, None) => {
                for ((theta, &g), v) in rows {
                    let d = decayed(*theta, g);
                    square(d, v);
                    *theta = *theta + self.neg_lr * d / (v.sqrt() + self.eps);
                }
            }
            (None, Some(grad_avg)) => {
                for (((theta, &g), v), m) in rows.zip(grad_avg.iter_mut()) {
                    let d = decayed(*theta, g);
                    square(d, v);
                    let denom = centered_root(d, *v, m) + self.eps;
                    *theta = *theta + self.neg_lr * d / denom;
                }
            }
            (Some(buffer), None) => {
                for (((theta, &g), v), b) in rows.zip(buffer.iter_mut()) {
                    let d = decayed(*theta, g);
                    square(d, v);
                    with_momentum(theta, d, v.sqrt() + self.eps, b);
                }
            }
            (Some(buffer), Some(grad_avg)) => {
                for ((((theta, &g), v), b), m) in rows.zip(buffer.iter_mut()).zip(grad_avg.iter_mut()) {
                    let d = decayed(*theta, g);
                    square(d, v);
                    let denom = centered_root(d, *v, m) + self.eps;
                    with_momentum(theta, d, denom, b);
                }
            }
        }
    }
}

slot_optimizer!(Rmsprop, RmspropConfig, Rmsprop, NAME);
