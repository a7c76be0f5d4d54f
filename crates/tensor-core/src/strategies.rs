//! Public proptest strategies for property-testing ops (yours or ours): shapes with
//! size-1 and (optionally) empty dimensions, pairs of broadcast-compatible shapes,
//! f64 tensors with values in a [`Domain`] — special values mixed in, avoid-zones left
//! out, shrinking that stays inside the domain — tensors with a valid axis, broadcast
//! pairs of tensors, and [`check`] / [`prop_assert_gradcheck!`](crate::prop_assert_gradcheck)
//! to turn a gradcheck report into a proptest failure. Enabled by the `proptest`
//! feature (on by default).
//!
//! ```
//! use proptest::prelude::*;
//! use tensor_core::gradcheck::{gradcheck, GradcheckOptions};
//! use tensor_core::strategies::{tensor_with_axis, Domain};
//! // ln on (0, 3], never within 0.05 of its singularity; shrinks toward 1.
//! let positive = Domain::new(-3.0, 3.0).avoid_below(0.05).special(1.0).anchor(1.0);
//! proptest!(ProptestConfig::with_cases(8), |((x, axis) in tensor_with_axis(3, 3, positive))| {
//!     let f = |xs: &[tensor_core::Tensor<f64>]| xs[0].ln().sum(&[axis][..], false);
//!     tensor_core::prop_assert_gradcheck!(gradcheck(f, &[x], &GradcheckOptions::default()));
//! });
//! ```

use crate::gradcheck::GradcheckReport;
use crate::{Result, Tensor};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

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
    prop::collection::vec(range, n).prop_map(move |data| from_data(data, &shape))
}

/// An f64 tensor of a random shape (see [`shape`]) with values from `range`.
pub fn any_tensor(
    max_rank: usize,
    max_dim: usize,
    range: std::ops::Range<f64>,
) -> impl Strategy<Value = Tensor<f64>> {
    shape(max_rank, max_dim).prop_flat_map(move |s| tensor_in(s, range.clone()))
}

fn from_data(data: Vec<f64>, shape: &[usize]) -> Tensor<f64> {
    match Tensor::from_vec(data, shape) {
        Ok(t) => t,
        Err(e) => unreachable!("strategy invariant: the vector has the shape's length: {e}"),
    }
}

/// Where an op's values live: a range, special values to mix in, and zones to keep
/// out (singularities, kinks, the edge of the domain).
///
/// - Random values come from `[low, high]` **outside every avoid-zone**; a value that
///   falls in a zone is moved to the zone's nearest edge, so the distribution is
///   uniform elsewhere with a little extra mass at the edges.
/// - **Special values** (`special`, e.g. 0, ±1, a kink) are drawn with probability
///   about 1/4 per element, and are used even inside an avoid-zone: name a value
///   special only where the check is valid exactly at it (`|x|` at 0: central
///   differences give 0, the declared subgradient; `relu` at 0 is not: they give ½).
///   Specials outside `[low, high]` are ignored.
/// - **Shrinking** moves random values toward the **anchor** (default: the allowed point
///   nearest 0), never into a zone, so a minimal failing case is still in the domain;
///   it does not move toward 0 unless 0 is allowed.
///
/// ```
/// use tensor_core::strategies::Domain;
/// // Away from 0 by at least 0.1 (e.g. 1/x), with ±1 mixed in.
/// let d = Domain::new(-2.0, 2.0).avoid_near(0.0, 0.1).special(1.0).special(-1.0);
/// assert!(d.allows(0.5) && !d.allows(0.05) && d.allows(1.0));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Domain {
    low: f64,
    high: f64,
    specials: Vec<f64>,
    /// Open intervals `(a, b)` to keep out.
    zones: Vec<(f64, f64)>,
    anchor: Option<f64>,
}

impl Domain {
    /// Values in `[low, high]` (swapped if given the other way round).
    pub fn new(low: f64, high: f64) -> Self {
        let (low, high) = if low <= high { (low, high) } else { (high, low) };
        Domain { low, high, specials: Vec::new(), zones: Vec::new(), anchor: None }
    }

    /// Mixes `value` into the samples (see the type's docs).
    pub fn special(mut self, value: f64) -> Self {
        if value.is_finite() && value >= self.low && value <= self.high && !self.specials.contains(&value) {
            self.specials.push(value);
        }
        self
    }

    /// Mixes every value of `values` into the samples.
    pub fn specials(self, values: &[f64]) -> Self {
        values.iter().fold(self, |d, &v| d.special(v))
    }

    /// Keeps random values out of `|x − center| < delta` (a singularity or kink).
    pub fn avoid_near(mut self, center: f64, delta: f64) -> Self {
        let delta = delta.abs();
        self.zones.push((center - delta, center + delta));
        self
    }

    /// Keeps random values out of `x < bound` (e.g. `avoid_below(0.05)` for `ln`).
    pub fn avoid_below(mut self, bound: f64) -> Self {
        self.zones.push((f64::NEG_INFINITY, bound));
        self
    }

    /// Keeps random values out of `x > bound`.
    pub fn avoid_above(mut self, bound: f64) -> Self {
        self.zones.push((bound, f64::INFINITY));
        self
    }

    /// The value shrinking moves toward (moved into the allowed set if it is not in it).
    pub fn anchor(mut self, value: f64) -> Self {
        self.anchor = Some(value);
        self
    }

    /// The allowed set for random values: closed intervals, sorted.
    fn allowed(&self) -> Vec<(f64, f64)> {
        let mut pieces = vec![(self.low, self.high)];
        for &(a, b) in &self.zones {
            pieces = pieces
                .into_iter()
                .flat_map(|(lo, hi)| {
                    let mut out = Vec::new();
                    if b <= lo || a >= hi {
                        out.push((lo, hi));
                    } else {
                        if a >= lo {
                            out.push((lo, a));
                        }
                        if b <= hi {
                            out.push((b, hi));
                        }
                    }
                    out
                })
                .collect();
        }
        pieces.retain(|(lo, hi)| lo <= hi && lo.is_finite() && hi.is_finite());
        pieces.sort_by(|x, y| x.0.total_cmp(&y.0));
        pieces
    }

    /// Whether a random value could be `x` (in range and in no zone), or `x` is special.
    pub fn allows(&self, x: f64) -> bool {
        self.specials.contains(&x) || self.allowed().iter().any(|&(lo, hi)| x >= lo && x <= hi)
    }

    /// The allowed point nearest to `x`.
    fn snap(pieces: &[(f64, f64)], x: f64) -> f64 {
        let mut best = x;
        let mut dist = f64::INFINITY;
        for &(lo, hi) in pieces {
            let c = x.clamp(lo, hi);
            if (c - x).abs() < dist {
                dist = (c - x).abs();
                best = c;
            }
        }
        best
    }

    /// A strategy for one value of this domain. An empty domain (every value avoided,
    /// no special) gives a strategy that rejects every case, so proptest fails with
    /// the reason "Domain: no allowed value".
    pub fn value(&self) -> BoxedStrategy<f64> {
        let pieces = self.allowed();
        if pieces.is_empty() {
            if self.specials.is_empty() {
                return Just(f64::NAN).prop_filter("Domain: no allowed value", |_| false).boxed();
            }
            return prop::sample::select(self.specials.clone()).boxed();
        }
        let anchor = Self::snap(&pieces, self.anchor.unwrap_or(0.0));
        // Offsets from the anchor: proptest shrinks a float range toward 0, so toward
        // the anchor, and `snap` keeps every intermediate value in the domain.
        let (lo, hi) = (pieces[0].0 - anchor, pieces[pieces.len() - 1].1 - anchor);
        let random = if lo < hi {
            (lo..=hi).prop_map(move |offset| Self::snap(&pieces, anchor + offset)).boxed()
        } else {
            Just(anchor).boxed()
        };
        if self.specials.is_empty() {
            return random;
        }
        // The random branch first: shrinking a union moves toward its first branch.
        prop_oneof![3 => random, 1 => prop::sample::select(self.specials.clone())].boxed()
    }

    /// A tensor of `shape` with values from this domain.
    pub fn tensor(&self, shape: Vec<usize>) -> BoxedStrategy<Tensor<f64>> {
        let n = shape.iter().product::<usize>();
        prop::collection::vec(self.value(), n).prop_map(move |data| from_data(data, &shape)).boxed()
    }
}

/// A tensor of a random shape (see [`shape`]) with values from `domain`.
pub fn tensor_of(max_rank: usize, max_dim: usize, domain: Domain) -> impl Strategy<Value = Tensor<f64>> {
    shape(max_rank, max_dim).prop_flat_map(move |s| domain.tensor(s))
}

/// A tensor of rank `1..=max_rank` (values from `domain`) and a valid axis for it, in
/// `-rank..rank` (negative counts from the end).
pub fn tensor_with_axis(
    max_rank: usize,
    max_dim: usize,
    domain: Domain,
) -> impl Strategy<Value = (Tensor<f64>, isize)> {
    let dims = prop_oneof![2 => Just(1usize), 5 => 1..=max_dim.max(1)];
    prop::collection::vec(dims, 1..=max_rank.max(1)).prop_flat_map(move |s| {
        let rank = s.len() as isize;
        (domain.tensor(s), -rank..rank)
    })
}

/// Two tensors whose shapes broadcast together (see [`broadcast_pair`]), with values
/// from `a` and `b`.
pub fn broadcast_tensors(
    max_rank: usize,
    max_dim: usize,
    a: Domain,
    b: Domain,
) -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>)> {
    broadcast_pair(max_rank, max_dim).prop_flat_map(move |(sa, sb)| (a.tensor(sa), b.tensor(sb)))
}

/// Turns a gradcheck's outcome into a proptest result: `Ok` when it ran and passed;
/// otherwise a test-case failure whose message is the whole report (or the error), so
/// proptest shrinks the case and prints why. See [`prop_assert_gradcheck!`](crate::prop_assert_gradcheck).
///
/// ```
/// use proptest::prelude::*;
/// use tensor_core::gradcheck::{gradcheck, GradcheckOptions};
/// use tensor_core::strategies::{check, any_tensor};
/// proptest!(ProptestConfig::with_cases(4), |(x in any_tensor(2, 3, -1.0..1.0))| {
///     check(gradcheck(|xs| Ok(xs[0].exp()), &[x], &GradcheckOptions::default()))?;
/// });
/// ```
///
/// # Errors
/// The failure described above.
pub fn check(outcome: Result<GradcheckReport>) -> std::result::Result<GradcheckReport, TestCaseError> {
    match outcome {
        Ok(report) if report.passed => Ok(report),
        Ok(report) => Err(TestCaseError::fail(report.to_string())),
        Err(e) => Err(TestCaseError::fail(format!("gradcheck could not run: {e}"))),
    }
}

/// Inside a proptest body, fails the case (with the report as the message) unless the
/// gradcheck outcome `$outcome` (a `Result<GradcheckReport>`) ran and passed:
/// `prop_assert_gradcheck!(gradcheck(f, &xs, &opts));`. One line for
/// [`check`]`(outcome)?`.
#[macro_export]
macro_rules! prop_assert_gradcheck {
    ($outcome:expr) => {
        $crate::strategies::check($outcome)?
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_split_the_range() {
        let d = Domain::new(-1.0, 1.0).avoid_near(0.0, 0.25).avoid_below(0.1);
        assert_eq!(d.allowed(), vec![(0.25, 1.0)]);
        assert_eq!(Domain::snap(&d.allowed(), -3.0), 0.25);
        assert!(!d.allows(0.0));
        assert!(d.clone().special(0.0).allows(0.0));
    }
}
