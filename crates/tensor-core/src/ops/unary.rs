//! Elementwise unary ops. Each rule is one line in terms of other ops; conventions at
//! kinks are stated in the op's doc (ReLU and |x| have gradient 0 at 0).

use super::zero_safe_mul;
use crate::element::Element;
use crate::graph::Save;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &[
    "neg",
    "exp",
    "ln",
    "sqrt",
    "abs",
    "powf",
    "powi",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softplus",
    "clamp",
];

/// σ(x) computed without overflow: for x ≥ 0 as 1/(1+e^−x), else e^x/(1+e^x).
fn stable_sigmoid<T: Element>(x: T) -> T {
    if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    }
}

impl<T: Element> Tensor<T> {
    /// `−x`. Gradient: `−dy`.
    pub fn neg(&self) -> Tensor<T> {
        let y = self.map(|a| -a);
        self.record_unary("neg", y, Save::NOTHING, |dy, _| Ok(dy.neg()))
    }

    /// `eˣ`. Gradient: `dy·y` (0 where `dy` is 0, even where `eˣ` overflowed).
    pub fn exp(&self) -> Tensor<T> {
        let y = self.map(T::exp);
        self.record_unary("exp", y, Save::OUTPUT, |dy, s| zero_safe_mul(dy, s.output()?))
    }

    /// Natural logarithm. Gradient: `dy/x` (0 where `dy` is 0, even at x = 0).
    pub fn ln(&self) -> Tensor<T> {
        let y = self.map(T::ln);
        self.record_unary("ln", y, Save::INPUTS, |dy, s| zero_safe_mul(dy, &s.input(0)?.powi(-1)))
    }

    /// Square root. Gradient: `dy/(2y)`, and 0 where `dy` is 0 (even at x = 0 or for
    /// a negative x masked out by `where_cond`).
    pub fn sqrt(&self) -> Tensor<T> {
        let y = self.map(T::sqrt);
        self.record_unary("sqrt", y, Save::OUTPUT, |dy, s| {
            zero_safe_mul(dy, &s.output()?.mul_scalar(T::from_f64(2.0)).powi(-1))
        })
    }

    /// `|x|`. Gradient: `dy·sign(x)`, which is 0 at x = 0.
    pub fn abs(&self) -> Tensor<T> {
        let y = self.map(T::abs);
        self.record_unary("abs", y, Save::INPUTS, |dy, s| dy.mul(&s.input(0)?.sign()))
    }

    /// `xᵖ` for a real exponent. Gradient: `dy·p·x^(p−1)`.
    pub fn powf(&self, p: T) -> Tensor<T> {
        let y = self.map(move |a| a.powf(p));
        self.record_unary("powf", y, Save::INPUTS, move |dy, s| {
            zero_safe_mul(dy, &s.input(0)?.powf(p - T::one()).mul_scalar(p))
        })
    }

    /// `xⁿ` for an integer exponent (exact for negative bases). Gradient: `dy·n·x^(n−1)`,
    /// and 0 where `dy` is 0 (even at a pole, e.g. `powi(-1)` at 0).
    pub fn powi(&self, n: i32) -> Tensor<T> {
        let y = self.map(move |a| a.powi(n));
        self.record_unary("powi", y, Save::INPUTS, move |dy, s| {
            if n == 0 {
                return Ok(dy.mul_scalar(T::zero()));
            }
            zero_safe_mul(dy, &s.input(0)?.powi(n - 1).mul_scalar(T::from_f64(n as f64)))
        })
    }

    /// Logistic sigmoid σ(x) = 1/(1+e^−x), stable for any |x| (σ(±1000) is exactly
    /// 1 or 0). Gradient: `dy·y·(1−y)`.
    pub fn sigmoid(&self) -> Tensor<T> {
        let y = self.map(stable_sigmoid);
        self.record_unary("sigmoid", y, Save::OUTPUT, |dy, s| {
            let y = s.output()?;
            dy.mul(&y.mul(&y.rsub_scalar(T::one()))?)
        })
    }

    /// Hyperbolic tangent. Gradient: `dy·(1−y²)`.
    pub fn tanh(&self) -> Tensor<T> {
        let y = self.map(T::tanh);
        self.record_unary("tanh", y, Save::OUTPUT, |dy, s| {
            dy.mul(&s.output()?.square().rsub_scalar(T::one()))
        })
    }

    /// `max(x, 0)`; NaN stays NaN (as PyTorch). Gradient: `dy` where x > 0, and 0
    /// elsewhere (0 at x = 0, as PyTorch). Keeps its output, which is > 0 exactly
    /// where the input is.
    pub fn relu(&self) -> Tensor<T> {
        let y = self.map(|a| if a <= T::zero() { T::zero() } else { a });
        self.record_unary("relu", y, Save::OUTPUT, |dy, s| dy.mul(&s.output()?.gt_scalar(T::zero())))
    }

    /// `x` where x > 0, else `slope·x`. Gradient: 1 or `slope` (slope at x = 0).
    pub fn leaky_relu(&self, slope: T) -> Tensor<T> {
        let y = self.map(move |a| if a > T::zero() { a } else { a * slope });
        self.record_unary("leaky_relu", y, Save::INPUTS, move |dy, s| {
            dy.mul(&s.input(0)?.map(move |a| if a > T::zero() { T::one() } else { slope }))
        })
    }

    /// `ln(1 + eˣ)`, computed as `max(x, 0) + ln(1 + e^−|x|)` so it never overflows
    /// (softplus(89) ≈ 89 in f32). Gradient: `dy·σ(x)`.
    pub fn softplus(&self) -> Tensor<T> {
        let y = self.map(|a| a.max(T::zero()) + (-a.abs()).exp().ln_1p());
        self.record_unary("softplus", y, Save::INPUTS, |dy, s| dy.mul(&s.input(0)?.sigmoid()))
    }

    /// Clamps into `[low, high]`; NaN stays NaN (as PyTorch). Gradient: `dy` where
    /// `low ≤ x ≤ high`, else 0.
    pub fn clamp(&self, low: T, high: T) -> Tensor<T> {
        let y = self.map(move |a| if a.is_nan() { a } else { a.max(low).min(high) });
        self.record_unary("clamp", y, Save::INPUTS, move |dy, s| {
            dy.mul(&s.input(0)?.map(move |a| if a >= low && a <= high { T::one() } else { T::zero() }))
        })
    }

    /// The sign: −1, 0 or 1 (a constant; not differentiable).
    pub fn sign(&self) -> Tensor<T> {
        self.map(|a| {
            if a > T::zero() {
                T::one()
            } else if a < T::zero() {
                -T::one()
            } else {
                T::zero()
            }
        })
    }
}
