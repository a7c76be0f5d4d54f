//! The element trait: what f32 and f64 share, and where each keeps its tape.

use crate::tape::Tape;
use std::cell::RefCell;
use std::fmt::{Debug, Display};

/// A floating-point element type of a tensor: `f32` or `f64`.
///
/// One trait, so every op is written once. Each element type has its own
/// per-thread tape, reached through [`Element::with_tape`].
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
    /// Runs `f` with this thread's tape for this element type.
    ///
    /// # Panics
    /// If called re-entrantly from inside `f` (a tape invariant: tape methods never
    /// call back into ops).
    fn with_tape<R>(f: impl FnOnce(&mut Tape<Self>) -> R) -> R;
}

thread_local! {
    static TAPE_F32: RefCell<Tape<f32>> = RefCell::new(Tape::new());
    static TAPE_F64: RefCell<Tape<f64>> = RefCell::new(Tape::new());
}

impl Element for f32 {
    const DTYPE: &'static str = "F32";
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    fn as_f64(self) -> f64 {
        self as f64
    }
    fn with_tape<R>(f: impl FnOnce(&mut Tape<Self>) -> R) -> R {
        TAPE_F32.with(|t| f(&mut t.borrow_mut()))
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
    fn with_tape<R>(f: impl FnOnce(&mut Tape<Self>) -> R) -> R {
        TAPE_F64.with(|t| f(&mut t.borrow_mut()))
    }
}
