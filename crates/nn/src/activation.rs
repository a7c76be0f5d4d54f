//! Activation functions (tutorial §5) as plain functions on tensors and as a module-valued enum
//! [`Activation`] that a command line can parse (`"relu".parse()`).
//!
//! Most are tensor-core's ops, exact GELU included ([`gelu`] is [`Tensor::gelu`], a fused,
//! vectorised op with a fused backward). Two are added here as custom ops (forward by any
//! code, gradient rule written with differentiable tensor ops, recorded with
//! [`Tensor::record`]), so second derivatives work too:
//! - [`normal_cdf`] — `Φ(x) = ½(1 + erf(x/√2))` with `erf` from `libm`, gradient `φ(x)`, the
//!   standard normal density.
//! - [`gelu_tanh`] — the tanh approximation `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`
//!   (PyTorch's `approximate="tanh"`); within 1e-3 of the exact form.
//!
//! Conventions at kinks: ReLU's gradient at 0 is 0; leaky ReLU's is the slope.

use crate::error::{NnError, Result, invalid};
use crate::module::Module;
use std::fmt;
use std::str::FromStr;
use tensor_core::{Element, GradVec, Tensor};

/// `x` unchanged (the "linear" activation).
pub fn identity<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.clone()
}

/// Logistic sigmoid `1/(1 + e^−x)`, stable for any `x`.
pub fn sigmoid<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.sigmoid()
}

/// Hyperbolic tangent.
pub fn tanh<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.tanh()
}

/// `max(x, 0)`; gradient 1 for x > 0, 0 for x ≤ 0 (0 at the kink, as PyTorch).
pub fn relu<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.relu()
}

/// `x` for x > 0, `slope·x` otherwise (PyTorch's default slope is 0.01).
pub fn leaky_relu<T: Element>(x: &Tensor<T>, slope: T) -> Tensor<T> {
    x.leaky_relu(slope)
}

/// `ln(1 + eˣ)`, computed without overflow.
pub fn softplus<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.softplus()
}

/// Softmax along `axis` (negative counts from the end), stable for large inputs.
///
/// # Errors
/// An axis out of range.
pub fn softmax<T: Element>(x: &Tensor<T>, axis: isize) -> Result<Tensor<T>> {
    Ok(x.softmax(axis)?)
}

/// Log-softmax along `axis`, stable for large inputs.
///
/// # Errors
/// An axis out of range.
pub fn log_softmax<T: Element>(x: &Tensor<T>, axis: isize) -> Result<Tensor<T>> {
    Ok(x.log_softmax(axis)?)
}

const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// The standard normal density `φ(x) = e^(−x²/2)/√(2π)`, built from recorded ops.
fn normal_pdf<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.square().mul_scalar(T::from_f64(-0.5)).exp().mul_scalar(T::from_f64(FRAC_1_SQRT_2PI))
}

/// The standard normal distribution function `Φ(x) = ½(1 + erf(x/√2))`, a custom op (erf from
/// `libm`, evaluated in f64). Gradient: `dy·φ(x)`.
///
/// ```
/// use tensor_core::Tensor;
/// let x = Tensor::<f64>::scalar(0.0).requires_grad();
/// let p = nn::activation::normal_cdf(&x);
/// assert_eq!(p.item()?, 0.5);
/// let g = p.backward()?;
/// assert!((g.wrt(&x)?.item()? - 0.398_942_280_401_432_7).abs() < 1e-15); // φ(0) = 1/√(2π)
/// # Ok::<(), nn::NnError>(())
/// ```
pub fn normal_cdf<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let y = x.map(|v| T::from_f64(0.5 * (1.0 + libm::erf(v.as_f64() * std::f64::consts::FRAC_1_SQRT_2))));
    Tensor::record("normal_cdf", &[x], y, |dy, inputs, _| {
        Ok(GradVec::from_iter([Some(dy.mul(&normal_pdf(&inputs[0]))?)]))
    })
}

/// Exact GELU, `x·Φ(x)` (PyTorch's default `approximate="none"`): tensor-core's
/// [`Tensor::gelu`], one fused op whose gradient `dy·(Φ(x) + x·φ(x))` is again a recorded op,
/// so it can be differentiated again.
///
/// ```
/// use tensor_core::Tensor;
/// // GELU(1) = Φ(1) = 0.841344746…; GELU'(1) = Φ(1) + φ(1) = 1.0833154705876…
/// let x = Tensor::<f64>::scalar(1.0).requires_grad();
/// let y = nn::activation::gelu(&x);
/// assert!((y.item()? - 0.841_344_746_068_543).abs() < 1e-12);
/// let g = y.backward()?;
/// assert!((g.wrt(&x)?.item()? - 1.083_315_470_587_686).abs() < 1e-12);
/// # Ok::<(), nn::NnError>(())
/// ```
pub fn gelu<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    x.gelu()
}

const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_CUBIC: f64 = 0.044_715;

/// GELU's tanh approximation, `½x(1 + tanh(u))` with `u = √(2/π)(x + 0.044715x³)`
/// (PyTorch's `approximate="tanh"`), a custom op. Gradient:
/// `dy·(½(1 + t) + ½x(1 − t²)·√(2/π)(1 + 3·0.044715x²))`, `t = tanh(u)`, written with
/// recorded ops.
pub fn gelu_tanh<T: Element>(x: &Tensor<T>) -> Tensor<T> {
    let y = x.map(|v| {
        let v = v.as_f64();
        T::from_f64(0.5 * v * (1.0 + (SQRT_2_OVER_PI * (v + GELU_CUBIC * v * v * v)).tanh()))
    });
    Tensor::record("gelu_tanh", &[x], y, |dy, inputs, _| {
        let x = &inputs[0];
        let c = |v: f64| T::from_f64(v);
        let u = x.powi(3).mul_scalar(c(GELU_CUBIC)).add(x)?.mul_scalar(c(SQRT_2_OVER_PI));
        let t = u.tanh();
        let du = x.square().mul_scalar(c(3.0 * GELU_CUBIC)).add_scalar(c(1.0)).mul_scalar(c(SQRT_2_OVER_PI));
        let left = t.add_scalar(c(1.0)).mul_scalar(c(0.5));
        let right = x.mul(&t.square().rsub_scalar(c(1.0)))?.mul(&du)?.mul_scalar(c(0.5));
        Ok(GradVec::from_iter([Some(dy.mul(&left.add(&right)?)?)]))
    })
}

/// An activation function, usable as a [`Module`] (no parameters) and parsable from a name.
///
/// Names (case-insensitive, `-` same as `_`): `identity` (or `linear`, `none`), `sigmoid`,
/// `tanh`, `relu`, `leaky_relu` (slope 0.01) or `leaky_relu:0.2`, `softmax`, `log_softmax`,
/// `gelu` (exact), `gelu_tanh`, `softplus`. Softmax and log-softmax act on the last axis (the
/// classes, with samples as rows); use [`softmax`] / [`log_softmax`] for another axis.
///
/// ```
/// use nn::{Activation, Module};
/// use tensor_core::Tensor;
/// let act: Activation = "Leaky-ReLU:0.1".parse()?;
/// assert_eq!(act, Activation::LeakyRelu(0.1));
/// assert_eq!(act.to_string(), "leaky_relu:0.1");
/// let y = act.forward(&Tensor::<f64>::from_vec(vec![-2.0, 3.0], &[2])?)?;
/// assert_eq!(y.to_vec(), vec![-0.2, 3.0]);
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Activation {
    /// `x` (linear).
    #[default]
    Identity,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// `max(x, 0)`.
    Relu,
    /// Leaky ReLU with this negative slope.
    LeakyRelu(f64),
    /// Softmax over the last axis.
    Softmax,
    /// Log-softmax over the last axis.
    LogSoftmax,
    /// Exact GELU `x·Φ(x)`.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
    /// `ln(1 + eˣ)`.
    Softplus,
}

/// The names [`Activation::from_str`] accepts, for error messages and help texts.
pub const ACTIVATION_NAMES: &str =
    "identity, sigmoid, tanh, relu, leaky_relu[:slope], softmax, log_softmax, gelu, gelu_tanh, softplus";

impl Activation {
    /// Applies the activation.
    ///
    /// # Errors
    /// A non-finite leaky-ReLU slope; softmax of a rank-0 tensor (it has no last axis).
    pub fn apply<T: Element>(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        Ok(match *self {
            Activation::Identity => identity(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => tanh(x),
            Activation::Relu => relu(x),
            Activation::LeakyRelu(slope) => {
                if !slope.is_finite() {
                    return Err(invalid("leaky_relu", format!("slope {slope} is not finite")));
                }
                leaky_relu(x, T::from_f64(slope))
            }
            Activation::Softmax => softmax(x, -1)?,
            Activation::LogSoftmax => log_softmax(x, -1)?,
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_tanh(x),
            Activation::Softplus => softplus(x),
        })
    }

    /// The recommended initialisation gain before this activation, PyTorch's
    /// `calculate_gain`: 1 for identity, sigmoid, softmax and log-softmax; 5/3 for tanh; √2 for
    /// ReLU; `√(2/(1 + slope²))` for leaky ReLU. PyTorch defines none for GELU and softplus;
    /// they are ReLU-like for large inputs, so they get ReLU's √2.
    pub fn gain(&self) -> f64 {
        match *self {
            Activation::Identity | Activation::Sigmoid | Activation::Softmax | Activation::LogSoftmax => 1.0,
            Activation::Tanh => 5.0 / 3.0,
            Activation::Relu | Activation::Gelu | Activation::GeluTanh | Activation::Softplus => {
                std::f64::consts::SQRT_2
            }
            Activation::LeakyRelu(slope) => (2.0 / (1.0 + slope * slope)).sqrt(),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Identity => f.write_str("identity"),
            Activation::Sigmoid => f.write_str("sigmoid"),
            Activation::Tanh => f.write_str("tanh"),
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu(slope) => write!(f, "leaky_relu:{slope}"),
            Activation::Softmax => f.write_str("softmax"),
            Activation::LogSoftmax => f.write_str("log_softmax"),
            Activation::Gelu => f.write_str("gelu"),
            Activation::GeluTanh => f.write_str("gelu_tanh"),
            Activation::Softplus => f.write_str("softplus"),
        }
    }
}

impl FromStr for Activation {
    type Err = NnError;

    fn from_str(s: &str) -> Result<Self> {
        let name = s.trim().to_ascii_lowercase().replace('-', "_");
        let unknown = || NnError::UnknownActivation { name: s.to_string(), known: ACTIVATION_NAMES };
        let (base, slope) = match name.split_once(':') {
            Some((base, slope)) => (base.to_string(), Some(slope.trim().to_string())),
            None => (name, None),
        };
        let act = match base.trim() {
            "identity" | "linear" | "none" => Activation::Identity,
            "sigmoid" | "logistic" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "relu" => Activation::Relu,
            "leaky_relu" | "leakyrelu" => {
                let slope = match slope.as_deref() {
                    None => 0.01,
                    Some(text) => match text.parse::<f64>() {
                        Ok(v) if v.is_finite() => v,
                        _ => return Err(unknown()),
                    },
                };
                return Ok(Activation::LeakyRelu(slope));
            }
            "softmax" => Activation::Softmax,
            "log_softmax" | "logsoftmax" => Activation::LogSoftmax,
            "gelu" => Activation::Gelu,
            "gelu_tanh" => Activation::GeluTanh,
            "softplus" => Activation::Softplus,
            _ => return Err(unknown()),
        };
        // Only leaky ReLU takes a parameter.
        if slope.is_some() {
            return Err(unknown());
        }
        Ok(act)
    }
}

impl<T: Element> Module<T> for Activation {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.apply(x)
    }
}
