//! Elementwise unary ops. Each rule is one line in terms of other ops; conventions at
//! kinks are stated in the op's doc (ReLU and |x| have gradient 0 at 0).

use super::zero_safe_mul;
use crate::element::Element;
use crate::element::fast::{Binary, Unary};
use crate::error::Result;
use crate::graph::{Save, is_grad_enabled};
use crate::kernels;
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
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "gelu",
    "gelu_backward",
    "relu",
    "leaky_relu",
    "softplus",
    "clamp",
];

/// 1/√(2π), for the normal density in GELU's second derivative.
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

impl<T: Element> Tensor<T> {
    /// `f(x)` elementwise with a slice kernel (vectorised for f32), not recorded.
    fn map_fast(&self, f: Unary) -> Tensor<T> {
        Tensor::from_parts(kernels::map_fast(&self.data, f), self.shape.clone())
    }

    /// `f(dy, v)` elementwise, broadcasting, not recorded: the fused slice kernel when
    /// the shapes agree (always, from a rule), else `plain` through the broadcast loop.
    fn zip_fast(
        dy: &Tensor<T>,
        v: &Tensor<T>,
        op: &'static str,
        f: Binary,
        plain: impl Fn(T, T) -> T + Sync + Send,
    ) -> Result<Tensor<T>> {
        if dy.shape == v.shape {
            return Ok(Tensor::from_parts(kernels::zip_fast(&dy.data, &v.data, f), dy.shape.clone()));
        }
        dy.zip_with(v, op, plain)
    }

    /// `−x`. Gradient: `−dy`.
    pub fn neg(&self) -> Tensor<T> {
        let y = self.map(|a| -a);
        self.record_unary("neg", y, Save::NOTHING, |dy, _| Ok(dy.neg()))
    }

    /// `eˣ`. Gradient: `dy·y` (0 where `dy` is 0, even where `eˣ` overflowed).
    pub fn exp(&self) -> Tensor<T> {
        let y = self.map_fast(Unary::Exp);
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
    /// 1 or 0). Gradient: `dy·y·(1−y)`, one fused op ([`sigmoid_backward`](Self::sigmoid_backward)).
    pub fn sigmoid(&self) -> Tensor<T> {
        let y = self.map_fast(Unary::Sigmoid);
        self.record_unary("sigmoid", y, Save::OUTPUT, |dy, s| Tensor::sigmoid_backward(dy, s.output()?))
    }

    /// The sigmoid's gradient from its output, `dy·y·(1 − y)`, as one fused kernel
    /// (where `mul`, `rsub_scalar` and `mul` would write three buffers). Recorded,
    /// with its own rule written with ops so the sigmoid stays twice differentiable:
    /// `d/d(dy) = g·y·(1−y)` (this op again), `d/dy = g·dy·(1 − 2y)`.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // σ'(0) = σ(0)·(1 − σ(0)) = 0.25.
    /// let g = Tensor::sigmoid_backward(&Tensor::<f64>::scalar(2.0), &Tensor::scalar(0.5))?;
    /// assert_eq!(g.item()?, 0.5);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn sigmoid_backward(dy: &Tensor<T>, y: &Tensor<T>) -> Result<Tensor<T>> {
        let op = "sigmoid_backward";
        let out = Tensor::zip_fast(dy, y, op, Binary::Sigmoid, |d, y| d * (y * (T::one() - y)))?;
        Ok(Tensor::record_builtin(op, &[dy, y], out, Save::INPUTS, |g, s| {
            let (dy, y) = (s.input(0)?, s.input(1)?);
            let d_dy = if s.needs_grad(0) { Some(Tensor::sigmoid_backward(g, y)?) } else { None };
            let d_y = if s.needs_grad(1) {
                Some(g.mul(dy)?.mul(&y.mul_scalar(T::from_f64(-2.0)).add_scalar(T::one()))?)
            } else {
                None
            };
            Ok(smallvec::smallvec![d_dy, d_y])
        }))
    }

    /// Hyperbolic tangent. Gradient: `dy·(1−y²)`, one fused op
    /// ([`tanh_backward`](Self::tanh_backward)).
    pub fn tanh(&self) -> Tensor<T> {
        let y = self.map_fast(Unary::Tanh);
        self.record_unary("tanh", y, Save::OUTPUT, |dy, s| Tensor::tanh_backward(dy, s.output()?))
    }

    /// tanh's gradient from its output, `dy·(1 − y²)`, as one fused kernel. Recorded,
    /// with its own rule written with ops: `d/d(dy) = g·(1 − y²)` (this op again),
    /// `d/dy = −2·g·dy·y`.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // 3·(1 − 0.5²) = 2.25.
    /// let g = Tensor::tanh_backward(&Tensor::<f64>::scalar(3.0), &Tensor::scalar(0.5))?;
    /// assert_eq!(g.item()?, 2.25);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn tanh_backward(dy: &Tensor<T>, y: &Tensor<T>) -> Result<Tensor<T>> {
        let op = "tanh_backward";
        let out = Tensor::zip_fast(dy, y, op, Binary::Tanh, |d, y| d * (T::one() - y * y))?;
        Ok(Tensor::record_builtin(op, &[dy, y], out, Save::INPUTS, |g, s| {
            let (dy, y) = (s.input(0)?, s.input(1)?);
            let d_dy = if s.needs_grad(0) { Some(Tensor::tanh_backward(g, y)?) } else { None };
            let d_y =
                if s.needs_grad(1) { Some(g.mul(dy)?.mul(y)?.mul_scalar(T::from_f64(-2.0))) } else { None };
            Ok(smallvec::smallvec![d_dy, d_y])
        }))
    }

    /// Exact GELU, `x·Φ(x)` with Φ the standard normal distribution (PyTorch's
    /// `gelu`, `approximate="none"`); GELU(−∞) = −0. Gradient:
    /// `dy·(Φ(x) + x·φ(x))`, one fused op ([`gelu_backward`](Self::gelu_backward)).
    /// f32 uses the vectorised kernel (≤ 4 ulp, see `vmath`), f64 `libm`'s `erfc`.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // GELU(1) = Φ(1) = 0.841344746…; GELU'(1) = Φ(1) + φ(1) = 1.0833154705876…
    /// let x = Tensor::<f64>::scalar(1.0).requires_grad();
    /// let y = x.gelu();
    /// assert!((y.item()? - 0.841_344_746_068_543).abs() < 1e-12);
    /// let g = y.backward()?;
    /// assert!((g.wrt(&x)?.item()? - 1.083_315_470_587_686).abs() < 1e-12);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn gelu(&self) -> Tensor<T> {
        let y = self.map_fast(Unary::Gelu);
        self.record_unary("gelu", y, Save::INPUTS, |dy, s| Tensor::gelu_backward(dy, s.input(0)?))
    }

    /// GELU's gradient from its input, `dy·(Φ(x) + x·φ(x))`, as one fused kernel.
    /// Recorded, with its own rule written with ops: `d/d(dy) = g·(Φ(x) + x·φ(x))`
    /// (this op again), `d/dx = g·dy·φ(x)·(2 − x²)`.
    pub fn gelu_backward(dy: &Tensor<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        let op = "gelu_backward";
        let out = Tensor::zip_fast(dy, x, op, Binary::Gelu, |d, x| {
            let mut slope = [T::zero()];
            T::binary(Binary::Gelu, &[d], &[x], &mut slope);
            slope[0]
        })?;
        Ok(Tensor::record_builtin(op, &[dy, x], out, Save::INPUTS, |g, s| {
            let (dy, x) = (s.input(0)?, s.input(1)?);
            let d_dy = if s.needs_grad(0) { Some(Tensor::gelu_backward(g, x)?) } else { None };
            let d_x = if s.needs_grad(1) {
                let x2 = x.square();
                let pdf = x2.mul_scalar(T::from_f64(-0.5)).exp().mul_scalar(T::from_f64(FRAC_1_SQRT_2PI));
                Some(g.mul(dy)?.mul(&pdf)?.mul(&x2.rsub_scalar(T::from_f64(2.0)))?)
            } else {
                None
            };
            Ok(smallvec::smallvec![d_dy, d_x])
        }))
    }

    /// `max(x, 0)`; NaN stays NaN (as PyTorch). Gradient: `dy` where x > 0, and 0
    /// elsewhere (0 at x = 0, as PyTorch). Keeps its output, which is > 0 exactly
    /// where the input is.
    pub fn relu(&self) -> Tensor<T> {
        let y = self.map(|a| if a <= T::zero() { T::zero() } else { a });
        self.record_unary("relu", y, Save::OUTPUT, |dy, s| {
            let y = s.output()?;
            if !is_grad_enabled() {
                // One pass, no mask tensor: dy·[y > 0], as the op form below.
                let step = |d: T, y: T| d * if y > T::zero() { T::one() } else { T::zero() };
                return dy.zip_with(y, "relu", step);
            }
            dy.mul(&y.gt_scalar(T::zero()))
        })
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
