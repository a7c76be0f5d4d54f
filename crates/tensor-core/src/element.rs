//! The element trait: what f32 and f64 share.

use std::fmt::{Debug, Display};

/// A floating-point element type of a tensor: `f32` or `f64`.
///
/// One trait, so every op is written once. It is sealed: tensors exist for f32 and
/// f64 only.
pub trait Element:
    num_traits::Float
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::MulAssign
    + sealed::Sealed
    + fast::Kernels
{
    /// Name of the type as in file formats (`"F32"`, `"F64"`).
    const DTYPE: &'static str;
    /// Converts from f64 (rounding for f32).
    fn from_f64(x: f64) -> Self;
    /// Converts to f64 (exact).
    fn as_f64(self) -> f64;
    /// Converts from usize (for counts in means).
    fn from_usize(n: usize) -> Self {
        Self::from_f64(n as f64)
    }
}

/// Elementwise kernels with a fast f32 form ([`crate::vmath`], vectorised) and a
/// plain f64 one (std's functions).
pub(crate) mod fast {
    /// The function a slice kernel applies to each element.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Unary {
        /// `eˣ`.
        Exp,
        /// `tanh x`.
        Tanh,
        /// σ(x), computed without overflow.
        Sigmoid,
        /// GELU, `x·Φ(x)`.
        Gelu,
    }

    /// The function a two-slice kernel applies to each pair `(dy, v)`: an op's
    /// gradient from its saved output or input.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Binary {
        /// `dy·(1 − y²)`, tanh's gradient from its output `y`.
        Tanh,
        /// `dy·y·(1 − y)`, the sigmoid's gradient from its output `y`.
        Sigmoid,
        /// `dy·(Φ(x) + x·φ(x))`, GELU's gradient from its input `x`.
        Gelu,
    }

    /// Slice kernels, one implementation per element type. Public only in name: this
    /// module is private, so no other crate can call or implement it.
    pub trait Kernels: Sized {
        /// `out[i] = f(x[i])`; `x` and `out` have the same length.
        fn unary(f: Unary, x: &[Self], out: &mut [Self]);
        /// `x[i] = f(x[i])`.
        fn unary_in_place(f: Unary, x: &mut [Self]);
        /// `out[i] = f(dy[i], v[i])`; all three have the same length.
        fn binary(f: Binary, dy: &[Self], v: &[Self], out: &mut [Self]);
    }

    fn stable_sigmoid(x: f64) -> f64 {
        if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let e = x.exp();
            e / (1.0 + e)
        }
    }

    fn normal_cdf(x: f64) -> f64 {
        0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
    }

    fn gelu_slope(x: f64) -> f64 {
        if x.is_infinite() {
            return normal_cdf(x);
        }
        const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
        normal_cdf(x) + x * (-0.5 * x * x).exp() * FRAC_1_SQRT_2PI
    }

    fn f64_fn(f: Unary) -> fn(f64) -> f64 {
        match f {
            Unary::Exp => f64::exp,
            Unary::Tanh => f64::tanh,
            Unary::Sigmoid => stable_sigmoid,
            Unary::Gelu => |v| if v == f64::NEG_INFINITY { -0.0 } else { v * normal_cdf(v) },
        }
    }

    impl Kernels for f64 {
        fn unary(f: Unary, x: &[f64], out: &mut [f64]) {
            let g = f64_fn(f);
            out.iter_mut().zip(x).for_each(|(o, &v)| *o = g(v));
        }
        fn unary_in_place(f: Unary, x: &mut [f64]) {
            let g = f64_fn(f);
            x.iter_mut().for_each(|v| *v = g(*v));
        }
        fn binary(f: Binary, dy: &[f64], v: &[f64], out: &mut [f64]) {
            let g: fn(f64, f64) -> f64 = match f {
                Binary::Tanh => |d, y| d * (1.0 - y * y),
                Binary::Sigmoid => |d, y| d * (y * (1.0 - y)),
                Binary::Gelu => |d, x| d * gelu_slope(x),
            };
            out.iter_mut().zip(dy.iter().zip(v)).for_each(|(o, (&d, &v))| *o = g(d, v));
        }
    }

    impl Kernels for f32 {
        fn unary(f: Unary, x: &[f32], out: &mut [f32]) {
            use crate::vmath::*;
            // One loop per function, each inside the dispatch, so each compiles to
            // SIMD with the CPU's widest instruction set.
            fn run(x: &[f32], out: &mut [f32], g: impl Fn(f32) -> f32) {
                dispatch(
                    #[inline(always)]
                    || out.iter_mut().zip(x).for_each(|(o, &v)| *o = g(v)),
                )
            }
            match f {
                Unary::Exp => run(x, out, exp_f32),
                Unary::Tanh => run(x, out, tanh_f32),
                Unary::Sigmoid => run(x, out, sigmoid_f32),
                Unary::Gelu => run(x, out, gelu_f32),
            }
        }
        fn unary_in_place(f: Unary, x: &mut [f32]) {
            use crate::vmath::*;
            fn run(x: &mut [f32], g: impl Fn(f32) -> f32) {
                dispatch(
                    #[inline(always)]
                    || x.iter_mut().for_each(|v| *v = g(*v)),
                )
            }
            match f {
                Unary::Exp => run(x, exp_f32),
                Unary::Tanh => run(x, tanh_f32),
                Unary::Sigmoid => run(x, sigmoid_f32),
                Unary::Gelu => run(x, gelu_f32),
            }
        }
        fn binary(f: Binary, dy: &[f32], v: &[f32], out: &mut [f32]) {
            use crate::vmath::*;
            fn run(dy: &[f32], v: &[f32], out: &mut [f32], g: impl Fn(f32, f32) -> f32) {
                dispatch(
                    #[inline(always)]
                    || out.iter_mut().zip(dy.iter().zip(v)).for_each(|(o, (&d, &v))| *o = g(d, v)),
                )
            }
            match f {
                Binary::Tanh => run(dy, v, out, |d, y| d * (1.0 - y * y)),
                Binary::Sigmoid => run(dy, v, out, |d, y| d * (y * (1.0 - y))),
                Binary::Gelu => run(dy, v, out, |d, x| d * gelu_slope_f32(x)),
            }
        }
    }
}

mod sealed {
    /// Only this crate's element types implement [`Element`](super::Element).
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

impl Element for f32 {
    const DTYPE: &'static str = "F32";
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Element for f64 {
    const DTYPE: &'static str = "F64";
    fn from_f64(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
}
