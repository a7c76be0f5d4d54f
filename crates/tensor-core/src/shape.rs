//! Shapes, axes and NumPy broadcasting: the bookkeeping every op shares.

use crate::error::{Error, Result};
use smallvec::SmallVec;

/// A tensor's dimensions, row-major. Rank ≤ 4 lives inline (no allocation).
pub type Shape = SmallVec<[usize; 4]>;

/// Builds a [`Shape`] from anything that lists dimensions.
pub fn shape_of(dims: &[usize]) -> Shape {
    Shape::from_slice(dims)
}

/// Number of elements of a shape (1 for a scalar, 0 if any dimension is 0), for a
/// shape that already exists; user-given shapes go through [`checked_numel`].
pub fn numel(shape: &[usize]) -> usize {
    // Saturating, so that even an error message about an impossible shape cannot
    // overflow; a zero anywhere means no elements, whatever the other dimensions.
    if shape.contains(&0) {
        return 0;
    }
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).unwrap_or(usize::MAX)
}

/// Number of elements of a user-given shape: an error when the product overflows or
/// exceeds what one tensor can hold (so `[2³², 2³²]` is an error, not 0 elements).
pub fn checked_numel(op: &'static str, shape: &[usize]) -> Result<usize> {
    if shape.contains(&0) {
        return Ok(0);
    }
    let n = shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    match n {
        Some(n) if n <= crate::tensor::MAX_ELEMENTS => Ok(n),
        _ => Err(Error::TooLarge {
            op,
            reason: format!("shape {shape:?} has more elements than a tensor can hold"),
        }),
    }
}

/// Row-major (C-order) strides of a contiguous tensor of this shape.
pub fn contiguous_strides(shape: &[usize]) -> Shape {
    let mut strides: Shape = smallvec::smallvec![0; shape.len()];
    let mut acc = 1;
    for d in (0..shape.len()).rev() {
        strides[d] = acc;
        acc *= shape[d];
    }
    strides
}

/// Whether two shapes are equal, compared inline: slice `==` on `usize` calls
/// `memcmp`, whose call costs more than the two to four compares of a typical shape,
/// and shapes are compared on every op and every gradient delivery.
#[inline]
pub(crate) fn same_shape(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// The shape two operands broadcast to, by NumPy's rules: align the shapes on the
/// right; each pair of dimensions must be equal or one of them 1.
///
/// ```
/// use tensor_core::shape::broadcast_shapes;
/// assert_eq!(broadcast_shapes("add", &[3, 1, 4], &[2, 4]).unwrap().as_slice(), &[3, 2, 4]);
/// assert!(broadcast_shapes("add", &[3], &[4]).is_err());
/// ```
pub fn broadcast_shapes(op: &'static str, lhs: &[usize], rhs: &[usize]) -> Result<Shape> {
    // Equal shapes are the common case (every rule's `dy · saved`): one compare and a
    // copy, instead of the per-dimension walk below.
    if same_shape(lhs, rhs) {
        return Ok(Shape::from_slice(lhs));
    }
    let rank = lhs.len().max(rhs.len());
    let mut out = Shape::new();
    for i in 0..rank {
        let l = if i < rank - lhs.len() { 1 } else { lhs[i - (rank - lhs.len())] };
        let r = if i < rank - rhs.len() { 1 } else { rhs[i - (rank - rhs.len())] };
        let size = if l == r || r == 1 {
            l
        } else if l == 1 {
            r
        } else {
            return Err(Error::Broadcast { op, lhs: shape_of(lhs), rhs: shape_of(rhs) });
        };
        out.push(size);
    }
    Ok(out)
}

/// Strides for reading a tensor of shape `from` as if it had the broadcast shape `to`
/// (stride 0 along broadcast dimensions). `from` must broadcast to `to`.
pub(crate) fn broadcast_strides(from: &[usize], to: &[usize]) -> Shape {
    let own = contiguous_strides(from);
    let offset = to.len() - from.len();
    (0..to.len())
        .map(|i| if i < offset || from[i - offset] == 1 && to[i] != 1 { 0 } else { own[i - offset] })
        .collect()
}

/// Resolves a possibly negative axis (`-1` is the last) against a rank.
pub fn normalize_axis(op: &'static str, axis: isize, shape: &[usize]) -> Result<usize> {
    let rank = shape.len() as isize;
    let resolved = if axis < 0 { axis + rank } else { axis };
    if resolved < 0 || resolved >= rank {
        return Err(Error::AxisOutOfRange { op, axis, shape: shape_of(shape) });
    }
    Ok(resolved as usize)
}

/// Which axes a reduction runs over.
///
/// Converts from one axis (`-1`), an array or slice of axes (`[0, 2]`), or [`Axes::All`].
/// Negative axes count from the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Axes {
    /// Every axis: the result is a scalar (or all-ones shape with keep-dims).
    All,
    /// The listed axes.
    These(SmallVec<[isize; 4]>),
}

impl From<isize> for Axes {
    fn from(axis: isize) -> Self {
        Axes::These(smallvec::smallvec![axis])
    }
}
impl From<i32> for Axes {
    fn from(axis: i32) -> Self {
        Axes::These(smallvec::smallvec![axis as isize])
    }
}
impl From<&[isize]> for Axes {
    fn from(axes: &[isize]) -> Self {
        Axes::These(SmallVec::from_slice(axes))
    }
}
impl<const N: usize> From<[isize; N]> for Axes {
    fn from(axes: [isize; N]) -> Self {
        Axes::These(SmallVec::from_slice(&axes))
    }
}
impl<const N: usize> From<[i32; N]> for Axes {
    fn from(axes: [i32; N]) -> Self {
        Axes::These(axes.iter().map(|&a| a as isize).collect())
    }
}

impl Axes {
    /// A per-axis mask: `true` where the axis is reduced. Errors on an axis out of range
    /// or one listed twice.
    pub(crate) fn mask(&self, op: &'static str, shape: &[usize]) -> Result<SmallVec<[bool; 4]>> {
        let mut mask: SmallVec<[bool; 4]> = smallvec::smallvec![false; shape.len()];
        match self {
            Axes::All => mask.iter_mut().for_each(|m| *m = true),
            Axes::These(axes) => {
                for &a in axes {
                    let ax = normalize_axis(op, a, shape)?;
                    if mask[ax] {
                        return Err(Error::InvalidArgument {
                            op,
                            reason: format!("axis {a} is listed twice for shape {shape:?}"),
                        });
                    }
                    mask[ax] = true;
                }
            }
        }
        Ok(mask)
    }
}

/// Calls `f(offset_a, offset_b)` for every element of `shape` in row-major order, where
/// each offset advances by its own strides (0 for a broadcast dimension). The one loop
/// that binary broadcasting, permutes, broadcasts and reductions are built on.
pub(crate) fn walk2(shape: &[usize], sa: &[usize], sb: &[usize], mut f: impl FnMut(usize, usize)) {
    if shape.contains(&0) {
        return;
    }
    let nd = shape.len();
    if nd == 0 {
        f(0, 0);
        return;
    }
    let inner = shape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    let mut index: SmallVec<[usize; 4]> = smallvec::smallvec![0; nd - 1];
    let (mut oa, mut ob) = (0usize, 0usize);
    loop {
        for k in 0..inner {
            f(oa + k * ia, ob + k * ib);
        }
        // Advance the odometer over the outer dimensions.
        let mut d = nd - 1;
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            index[d] += 1;
            oa += sa[d];
            ob += sb[d];
            if index[d] < shape[d] {
                break;
            }
            oa -= sa[d] * shape[d];
            ob -= sb[d] * shape[d];
            index[d] = 0;
        }
    }
}
