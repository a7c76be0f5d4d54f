//! Public proptest strategies for property-testing ops (yours or ours): shapes with
//! size-1 and (optionally) empty dimensions, pairs of broadcast-compatible shapes,
//! and f64 tensors with values in a chosen domain. Enabled by the `proptest` feature
//! (on by default).
//!
//! ```
//! use proptest::prelude::*;
//! use tensor_core::strategies::{broadcast_pair, tensor_in};
//! proptest!(ProptestConfig::with_cases(8), |((a, b) in broadcast_pair(3, 3))| {
//!     let shape = tensor_core::shape::broadcast_shapes("test", &a, &b).unwrap();
//!     prop_assert!(shape.len() == a.len().max(b.len()));
//! });
//! let _values = tensor_in(vec![2, 3], -1.0..1.0);
//! ```

use crate::tensor::Tensor;
use proptest::prelude::*;

/// Shapes of rank `0..=max_rank` with dimensions `1..=max_dim` (size-1 dims common).
pub fn shape(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(prop_oneof![2 => Just(1usize), 5 => 1..=max_dim.max(1)], 0..=max_rank)
}

/// Like [`shape`] but a dimension may also be 0 (empty tensors).
pub fn shape_with_empty(max_rank: usize, max_dim: usize) -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(
        prop_oneof![1 => Just(0usize), 2 => Just(1usize), 5 => 1..=max_dim.max(1)],
        0..=max_rank,
    )
}

/// Two shapes that broadcast together: a common shape, then each side drops some
/// leading axes and sets some dimensions to 1.
pub fn broadcast_pair(max_rank: usize, max_dim: usize) -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape(max_rank, max_dim).prop_flat_map(|full| {
        let rank = full.len();
        let side = move |full: Vec<usize>| {
            (0..=rank, prop::collection::vec(any::<bool>(), rank)).prop_map(move |(drop, ones)| {
                full[drop..]
                    .iter()
                    .zip(&ones[drop..])
                    .map(|(&d, &one)| if one { 1 } else { d })
                    .collect::<Vec<_>>()
            })
        };
        (side(full.clone()), side(full))
    })
}

/// An f64 tensor of `shape` with values drawn from `range`.
pub fn tensor_in(shape: Vec<usize>, range: std::ops::Range<f64>) -> impl Strategy<Value = Tensor<f64>> {
    let n = shape.iter().product::<usize>();
    prop::collection::vec(range, n).prop_map(move |data| match Tensor::from_vec(data, &shape) {
        Ok(t) => t,
        Err(e) => unreachable!("strategy invariant: the vector has the shape's length: {e}"),
    })
}

/// An f64 tensor of a random shape (see [`shape`]) with values from `range`.
pub fn any_tensor(
    max_rank: usize,
    max_dim: usize,
    range: std::ops::Range<f64>,
) -> impl Strategy<Value = Tensor<f64>> {
    shape(max_rank, max_dim).prop_flat_map(move |s| tensor_in(s, range.clone()))
}
