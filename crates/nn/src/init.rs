//! Seeded weight initialisers with PyTorch's formulas (`torch.nn.init`): Xavier/Glorot and
//! He/Kaiming, uniform and normal, plus constants and plain uniform/normal draws.
//!
//! # Fans
//! A weight here has shape (inputs × outputs) — rows are inputs, because a layer computes
//! `x·W` with samples as rows (tutorial §2) — so `fan_in` is the number of **rows** and `fan_out`
//! the number of columns. (PyTorch stores `W` as (outputs × inputs) and reads them the other
//! way round; the numbers are the same for the same layer.) For rank > 2 both fans are
//! multiplied by the product of the trailing dimensions, as PyTorch's receptive field.
//!
//! # Formulas
//! | initialiser | distribution |
//! |---|---|
//! | Xavier uniform | `U(−a, a)`, `a = gain·√(6/(fan_in + fan_out))` |
//! | Xavier normal | `N(0, σ²)`, `σ = gain·√(2/(fan_in + fan_out))` |
//! | Kaiming uniform | `U(−b, b)`, `b = gain·√(3/fan)` |
//! | Kaiming normal | `N(0, σ²)`, `σ = gain/√fan` |
//!
//! `fan` is `fan_in` (the default, preserving the forward variance) or `fan_out` (preserving
//! the backward variance). Gains per activation are [`Activation::gain`](crate::Activation::gain)
//! (√2 for ReLU, 5/3 for tanh, ...).
//!
//! ```
//! use nn::Init;
//! use rand::{SeedableRng, rngs::StdRng};
//! let mut rng = StdRng::seed_from_u64(7);
//! let w = Init::kaiming_uniform().tensor::<f64>(&[100, 50], &mut rng)?;
//! let bound = 2f64.sqrt() * (3.0 / 100.0f64).sqrt(); // gain √2 (ReLU), fan_in = 100 rows
//! assert!(w.as_slice().iter().all(|v| v.abs() <= bound));
//! # Ok::<(), nn::NnError>(())
//! ```

use crate::activation::Activation;
use crate::error::{Result, invalid};
use rand::Rng;
use tensor_core::{Element, Tensor};

/// Which fan the Kaiming initialisers scale by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FanMode {
    /// Number of inputs (rows of `W`): keeps the variance of the forward pass.
    #[default]
    FanIn,
    /// Number of outputs (columns of `W`): keeps the variance of the backward pass.
    FanOut,
}

/// How to fill a new parameter. See the [module docs](self) for the formulas.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Init {
    /// All zeros (the default for biases).
    Zeros,
    /// Every element the same value.
    Constant(f64),
    /// Uniform on `[low, high)`.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound (exclusive), above `low`.
        high: f64,
    },
    /// Normal with a mean and a standard deviation.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation, at least 0.
        std: f64,
    },
    /// Xavier/Glorot uniform: `U(−a, a)`, `a = gain·√(6/(fan_in + fan_out))`.
    XavierUniform {
        /// Gain (1 for identity/sigmoid, 5/3 for tanh).
        gain: f64,
    },
    /// Xavier/Glorot normal: `σ = gain·√(2/(fan_in + fan_out))`.
    XavierNormal {
        /// Gain.
        gain: f64,
    },
    /// He/Kaiming uniform: `U(−b, b)`, `b = gain·√(3/fan)`.
    KaimingUniform {
        /// Gain (√2 for ReLU).
        gain: f64,
        /// Which fan.
        mode: FanMode,
    },
    /// He/Kaiming normal: `σ = gain/√fan`.
    KaimingNormal {
        /// Gain (√2 for ReLU).
        gain: f64,
        /// Which fan.
        mode: FanMode,
    },
}

impl Init {
    /// Xavier uniform with gain 1.
    pub fn xavier_uniform() -> Self {
        Init::XavierUniform { gain: 1.0 }
    }

    /// Xavier normal with gain 1.
    pub fn xavier_normal() -> Self {
        Init::XavierNormal { gain: 1.0 }
    }

    /// He/Kaiming uniform for ReLU: gain √2, fan_in (PyTorch's `kaiming_uniform_` defaults).
    pub fn kaiming_uniform() -> Self {
        Init::KaimingUniform { gain: std::f64::consts::SQRT_2, mode: FanMode::FanIn }
    }

    /// He/Kaiming normal for ReLU: gain √2, fan_in.
    pub fn kaiming_normal() -> Self {
        Init::KaimingNormal { gain: std::f64::consts::SQRT_2, mode: FanMode::FanIn }
    }

    /// The usual choice before `activation`: Kaiming uniform (fan_in) for the ReLU family
    /// (ReLU, leaky ReLU, GELU, softplus), Xavier uniform for the rest, each with the activation's
    /// [gain](Activation::gain).
    pub fn for_activation(activation: Activation) -> Self {
        let gain = activation.gain();
        match activation {
            Activation::Relu
            | Activation::LeakyRelu(_)
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Softplus => Init::KaimingUniform { gain, mode: FanMode::FanIn },
            _ => Init::XavierUniform { gain },
        }
    }

    /// A tensor of `shape` drawn from this initialiser, with fans from the shape (see the
    /// [module docs](self)). Fan-based initialisers need rank ≥ 2; an empty shape gives an
    /// empty tensor.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`](crate::NnError::InvalidArgument) for a bad
    /// hyper-parameter (a NaN or negative gain or std, `low ≥ high`), or a fan-based
    /// initialiser on a tensor of rank < 2.
    pub fn tensor<T: Element>(&self, shape: &[usize], rng: &mut impl Rng) -> Result<Tensor<T>> {
        let (fan_in, fan_out) = if self.needs_fans() { fans(shape)? } else { (0, 0) };
        self.tensor_with_fans(shape, fan_in, fan_out, rng)
    }

    /// Like [`tensor`](Self::tensor) with the fans given, for a tensor whose own shape does
    /// not carry them (a bias drawn with its layer's fans).
    ///
    /// # Errors
    /// As [`tensor`](Self::tensor); also a fan of 0 for a fan-based initialiser of a
    /// non-empty tensor.
    pub fn tensor_with_fans<T: Element>(
        &self,
        shape: &[usize],
        fan_in: usize,
        fan_out: usize,
        rng: &mut impl Rng,
    ) -> Result<Tensor<T>> {
        self.validate()?;
        let numel: usize = shape.iter().product();
        if numel == 0 {
            return Ok(Tensor::zeros(shape)?);
        }
        let fan = |mode: FanMode| match mode {
            FanMode::FanIn => fan_in,
            FanMode::FanOut => fan_out,
        };
        let spread = match *self {
            Init::Zeros => return Ok(Tensor::zeros(shape)?),
            Init::Constant(c) => return Ok(Tensor::full(shape, T::from_f64(c))?),
            Init::Uniform { low, high } => Spread::Uniform(low, high),
            Init::Normal { mean, std } => Spread::Normal(mean, std),
            Init::XavierUniform { gain } => {
                let a = gain * (6.0 / positive_fan(self, fan_in + fan_out)?).sqrt();
                Spread::Uniform(-a, a)
            }
            Init::XavierNormal { gain } => {
                Spread::Normal(0.0, gain * (2.0 / positive_fan(self, fan_in + fan_out)?).sqrt())
            }
            Init::KaimingUniform { gain, mode } => {
                let b = gain * (3.0 / positive_fan(self, fan(mode))?).sqrt();
                Spread::Uniform(-b, b)
            }
            Init::KaimingNormal { gain, mode } => {
                Spread::Normal(0.0, gain / positive_fan(self, fan(mode))?.sqrt())
            }
        };
        match spread {
            // A zero gain gives a zero-width interval, which the uniform sampler rejects.
            Spread::Uniform(low, high) if low == high => Ok(Tensor::full(shape, T::from_f64(low))?),
            Spread::Uniform(low, high) => {
                Ok(Tensor::rand_uniform(shape, T::from_f64(low), T::from_f64(high), rng)?)
            }
            Spread::Normal(mean, std) => {
                Ok(Tensor::rand_normal(shape, T::from_f64(mean), T::from_f64(std), rng)?)
            }
        }
    }

    fn needs_fans(&self) -> bool {
        !matches!(self, Init::Zeros | Init::Constant(_) | Init::Uniform { .. } | Init::Normal { .. })
    }

    fn validate(&self) -> Result<()> {
        let bad = |reason: String| Err(invalid("Init", reason));
        match *self {
            Init::Zeros => Ok(()),
            Init::Constant(c) if !c.is_finite() => bad(format!("constant {c} is not finite")),
            Init::Uniform { low, high } if !(low.is_finite() && high.is_finite() && low < high) => {
                bad(format!("uniform bounds [{low}, {high}) must be finite with low < high"))
            }
            Init::Normal { mean, std } if !(mean.is_finite() && std.is_finite() && std >= 0.0) => {
                bad(format!("normal mean {mean} and std {std} must be finite with std ≥ 0"))
            }
            Init::XavierUniform { gain }
            | Init::XavierNormal { gain }
            | Init::KaimingUniform { gain, .. }
            | Init::KaimingNormal { gain, .. }
                if !(gain.is_finite() && gain >= 0.0) =>
            {
                bad(format!("gain {gain} must be finite and at least 0"))
            }
            _ => Ok(()),
        }
    }
}

enum Spread {
    Uniform(f64, f64),
    Normal(f64, f64),
}

fn positive_fan(init: &Init, fan: usize) -> Result<f64> {
    if fan == 0 {
        return Err(invalid("Init", format!("{init:?} needs a fan above 0 for a non-empty tensor")));
    }
    Ok(fan as f64)
}

/// `(fan_in, fan_out)` of a weight of `shape` laid out (inputs × outputs × receptive field...):
/// rows and columns, each times the product of the remaining dimensions.
///
/// # Errors
/// [`NnError::InvalidArgument`](crate::NnError::InvalidArgument) for rank < 2, where fans are
/// not defined.
pub fn fans(shape: &[usize]) -> Result<(usize, usize)> {
    if shape.len() < 2 {
        return Err(invalid(
            "fans",
            format!("fan in and fan out need a weight of rank ≥ 2 (inputs × outputs), got shape {shape:?}"),
        ));
    }
    let receptive: usize = shape[2..].iter().product();
    Ok((shape[0] * receptive, shape[1] * receptive))
}
