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
    /// The other element type (`f64` for `f32`, `f32` for `f64`): what
    /// [`Tensor::cast`](crate::Tensor::cast) crosses to, and the dtype of the far side
    /// of a cast in a recorded graph.
    type Other: Element<Other = Self>;
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

    // Each arm calls its (`#[inline(always)]`) kernel directly inside the dispatched
    // closure, in an index loop: through a generic `impl Fn` parameter the larger
    // kernels (GELU, then with three exponentials) stayed an out-of-line scalar call per
    // element, and an iterator chain's `fold` was compiled out of line without the
    // dispatched target features (4 SSE lanes instead of 16).
    macro_rules! unary_loop {
        ($x:expr, $out:expr, $g:path) => {
            crate::vmath::dispatch(
                #[inline(always)]
                || {
                    let (x, out) = ($x, &mut $out[..$x.len()]);
                    for i in 0..x.len() {
                        out[i] = $g(x[i]);
                    }
                },
            )
        };
    }
    macro_rules! in_place_loop {
        ($x:expr, $g:path) => {
            crate::vmath::dispatch(
                #[inline(always)]
                || {
                    let x = $x;
                    for i in 0..x.len() {
                        x[i] = $g(x[i]);
                    }
                },
            )
        };
    }

    #[inline(always)]
    fn tanh_grad(d: f32, y: f32) -> f32 {
        d * (1.0 - y * y)
    }
    #[inline(always)]
    fn sigmoid_grad(d: f32, y: f32) -> f32 {
        d * (y * (1.0 - y))
    }
    #[inline(always)]
    fn gelu_grad(d: f32, x: f32) -> f32 {
        d * crate::vmath::gelu_slope_f32(x)
    }
    macro_rules! binary_loop {
        ($dy:expr, $v:expr, $out:expr, $g:path) => {
            crate::vmath::dispatch(
                #[inline(always)]
                || {
                    let (dy, out) = ($dy, &mut $out[..$dy.len()]);
                    let v = &$v[..dy.len()];
                    for i in 0..dy.len() {
                        out[i] = $g(dy[i], v[i]);
                    }
                },
            )
        };
    }

    impl Kernels for f32 {
        fn unary(f: Unary, x: &[f32], out: &mut [f32]) {
            use crate::vmath::*;
            match f {
                Unary::Exp => unary_loop!(x, out, exp_f32),
                Unary::Tanh => unary_loop!(x, out, tanh_f32),
                Unary::Sigmoid => unary_loop!(x, out, sigmoid_f32),
                Unary::Gelu => unary_loop!(x, out, gelu_f32),
            }
        }
        fn unary_in_place(f: Unary, x: &mut [f32]) {
            use crate::vmath::*;
            match f {
                Unary::Exp => in_place_loop!(x, exp_f32),
                Unary::Tanh => in_place_loop!(x, tanh_f32),
                Unary::Sigmoid => in_place_loop!(x, sigmoid_f32),
                Unary::Gelu => in_place_loop!(x, gelu_f32),
            }
        }
        fn binary(f: Binary, dy: &[f32], v: &[f32], out: &mut [f32]) {
            match f {
                Binary::Tanh => binary_loop!(dy, v, out, tanh_grad),
                Binary::Sigmoid => binary_loop!(dy, v, out, sigmoid_grad),
                Binary::Gelu => binary_loop!(dy, v, out, gelu_grad),
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
    type Other = f64;
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Element for f64 {
    const DTYPE: &'static str = "F64";
    type Other = f32;
    fn from_f64(x: f64) -> Self {
        x
    }
    fn as_f64(self) -> f64 {
        self
    }
}
