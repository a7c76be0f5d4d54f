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
