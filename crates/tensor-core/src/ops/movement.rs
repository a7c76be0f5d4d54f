//! Movement ops: reshape, permute/transpose, broadcast and its inverse sum_to,
//! narrow and pad, concat and stack. Each rule moves the gradient back the other way.

use super::one;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{GradVec, Save};
use crate::kernels;
use crate::shape::{Shape, broadcast_shapes, checked_numel, normalize_axis, numel, shape_of};
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] =
    &["reshape", "permute", "broadcast_to", "sum_to", "narrow", "pad_axis", "concat"];

impl<T: Element> Tensor<T> {
    /// The same elements with a new shape of the same size (no copy).
    /// Gradient: `dy` reshaped back.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor<T>> {
        if checked_numel("reshape", shape)? != self.numel() {
            return Err(Error::ElementCount {
                op: "reshape",
                shape: shape_of(shape),
                len: self.numel(),
                expected: numel(shape),
            });
        }
        if shape == self.shape.as_slice() {
            return Ok(self.clone());
        }
        let y = Tensor {
            data: self.data.clone(),
            shape: shape_of(shape),
            origin: crate::tensor::Origin::Constant,
        };
        let back = self.shape.clone();
        Ok(Tensor::record_builtin("reshape", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.reshape(&back)?))
        }))
    }

    /// All elements as a 1-D tensor.
    pub fn flatten(&self) -> Tensor<T> {
        match self.reshape(&[self.numel()]) {
            Ok(t) => t,
            Err(e) => unreachable!("tensor invariant: flattening keeps the element count: {e}"),
        }
    }

    /// Inserts a size-1 axis at `axis` (which may equal the rank; negative counts from
    /// the end of the new shape).
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor<T>> {
        let mut new: Shape = self.shape.clone();
        new.push(1);
        let ax = normalize_axis("unsqueeze", axis, &new)?;
        let mut shape = self.shape.clone();
        shape.insert(ax, 1);
        self.reshape(&shape)
    }

    /// Removes the size-1 axis at `axis`.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor<T>> {
        let ax = normalize_axis("squeeze", axis, &self.shape)?;
        if self.shape[ax] != 1 {
            return Err(Error::InvalidArgument {
                op: "squeeze",
                reason: format!("axis {axis} of shape {:?} has size {}, not 1", self.shape, self.shape[ax]),
            });
        }
        let mut shape = self.shape.clone();
        shape.remove(ax);
        self.reshape(&shape)
    }

    /// Reorders axes: output axis `i` is input axis `perm[i]` (copies).
    /// Gradient: `dy` permuted by the inverse permutation.
    pub fn permute(&self, perm: &[usize]) -> Result<Tensor<T>> {
        let n = self.ndim();
        let mut seen = vec![false; n];
        if perm.len() != n || perm.iter().any(|&p| p >= n || std::mem::replace(&mut seen[p], true)) {
            return Err(Error::InvalidArgument {
                op: "permute",
                reason: format!("{perm:?} is not a permutation of the {n} axes of shape {:?}", self.shape),
            });
        }
        let shape: Shape = perm.iter().map(|&p| self.shape[p]).collect();
        let y = Tensor::from_parts(kernels::permute(&self.data, &self.shape, perm), shape);
        let mut inverse = vec![0; n];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        Ok(Tensor::record_builtin("permute", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.permute(&inverse)?))
        }))
    }

    /// Swaps two axes.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor<T>> {
        let a = normalize_axis("transpose", a, &self.shape)?;
        let b = normalize_axis("transpose", b, &self.shape)?;
        let mut perm: Vec<usize> = (0..self.ndim()).collect();
        perm.swap(a, b);
        self.permute(&perm)
    }

    /// Swaps the last two axes (the matrix transpose). Errors below rank 2.
    pub fn t(&self) -> Result<Tensor<T>> {
        self.transpose(-2, -1)
    }

    /// Repeats along size-1 (and new leading) axes to `shape`, by NumPy's rules.
    /// Gradient: `dy`, which the engine sums back to this tensor's shape.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        let target = broadcast_shapes("broadcast_to", &self.shape, shape)?;
        if target.as_slice() != shape {
            return Err(Error::Broadcast {
                op: "broadcast_to",
                lhs: self.shape.clone(),
                rhs: shape_of(shape),
            });
        }
        if target == self.shape {
            return Ok(self.clone());
        }
        let y = Tensor::from_parts(kernels::broadcast_copy(&self.data, &self.shape, shape), target);
        Ok(Tensor::record_builtin("broadcast_to", &[self], y, Save::NOTHING, |dy, _| Ok(one(dy.clone()))))
    }

    /// Sums over the axes along which `shape` was broadcast to this tensor's shape: the
    /// inverse of [`broadcast_to`](Self::broadcast_to), and how backward undoes
    /// broadcasting. Gradient: `dy` broadcast back.
    pub fn sum_to(&self, shape: &[usize]) -> Result<Tensor<T>> {
        let target = broadcast_shapes("sum_to", shape, &self.shape)?;
        if target != self.shape {
            return Err(Error::Broadcast { op: "sum_to", lhs: self.shape.clone(), rhs: shape_of(shape) });
        }
        if shape == self.shape.as_slice() {
            return Ok(self.clone());
        }
        let lead = self.ndim() - shape.len();
        let mask: Vec<bool> =
            (0..self.ndim()).map(|d| d < lead || shape[d - lead] == 1 && self.shape[d] != 1).collect();
        let data = kernels::reduce(&self.data, &self.shape, &mask, T::zero(), |a, b| a + b);
        let y = Tensor::from_parts(data, shape_of(shape));
        let back = self.shape.clone();
        Ok(Tensor::record_builtin("sum_to", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.broadcast_to(&back)?))
        }))
    }

    /// Elements `start..start + len` along `axis` (copies). Gradient: `dy` padded with
    /// zeros back to the full axis.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor<T>> {
        let ax = normalize_axis("narrow", axis, &self.shape)?;
        let dim = self.shape[ax];
        if start.checked_add(len).is_none_or(|end| end > dim) {
            return Err(Error::IndexOutOfRange {
                op: "narrow",
                index: start.saturating_add(len),
                axis: ax,
                size: dim,
                shape: self.shape.clone(),
            });
        }
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut data = Vec::with_capacity(outer * len * inner);
        for o in 0..outer {
            let base = (o * dim + start) * inner;
            data.extend_from_slice(&self.data[base..base + len * inner]);
        }
        let mut shape = self.shape.clone();
        shape[ax] = len;
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record_builtin("narrow", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.pad_axis(ax as isize, start, dim - start - len)?))
        }))
    }

    /// Pads `axis` with `before` zeros in front and `after` behind. Gradient: `dy`
    /// narrowed back.
    pub fn pad_axis(&self, axis: isize, before: usize, after: usize) -> Result<Tensor<T>> {
        let ax = normalize_axis("pad_axis", axis, &self.shape)?;
        let dim = self.shape[ax];
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let new_dim =
            before.checked_add(dim).and_then(|d| d.checked_add(after)).ok_or_else(|| Error::TooLarge {
                op: "pad_axis",
                reason: format!("padding {before} + {dim} + {after} overflows"),
            })?;
        let mut shape = self.shape.clone();
        shape[ax] = new_dim;
        let mut data = crate::tensor::filled("pad_axis", &shape, T::zero())?;
        for o in 0..outer {
            let src = &self.data[o * dim * inner..(o + 1) * dim * inner];
            let at = (o * new_dim + before) * inner;
            data[at..at + dim * inner].copy_from_slice(src);
        }
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record_builtin("pad_axis", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.narrow(ax as isize, before, dim)?))
        }))
    }

    /// Joins tensors along an existing axis; all other dimensions must agree.
    /// Gradient: each input gets its slice of `dy`.
    pub fn concat(tensors: &[&Tensor<T>], axis: isize) -> Result<Tensor<T>> {
        let first = tensors.first().ok_or_else(|| Error::InvalidArgument {
            op: "concat",
            reason: "needs at least one tensor".into(),
        })?;
        let ax = normalize_axis("concat", axis, &first.shape)?;
        for t in tensors {
            let agree = t.ndim() == first.ndim()
                && t.shape.iter().zip(&first.shape).enumerate().all(|(d, (a, b))| d == ax || a == b);
            if !agree {
                return Err(Error::ShapeMismatch {
                    op: "concat",
                    lhs: first.shape.clone(),
                    rhs: t.shape.clone(),
                    reason: "all dimensions but the concatenation axis must agree",
                });
            }
        }
        let inner: usize = first.shape[ax + 1..].iter().product();
        let outer: usize = first.shape[..ax].iter().product();
        let sizes: Vec<usize> = tensors.iter().map(|t| t.shape[ax]).collect();
        let total: usize = sizes.iter().sum();
        let mut data = Vec::with_capacity(outer * total * inner);
        for o in 0..outer {
            for (t, &n) in tensors.iter().zip(&sizes) {
                data.extend_from_slice(&t.data[o * n * inner..(o + 1) * n * inner]);
            }
        }
        let mut shape = first.shape.clone();
        shape[ax] = total;
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record_builtin("concat", tensors, y, Save::NOTHING, move |dy, _| {
            let mut grads = GradVec::new();
            let mut offset = 0;
            for &n in &sizes {
                grads.push(Some(dy.narrow(ax as isize, offset, n)?));
                offset += n;
            }
            Ok(grads)
        }))
    }

    /// Joins tensors of one shape along a new axis.
    pub fn stack(tensors: &[&Tensor<T>], axis: isize) -> Result<Tensor<T>> {
        let first = tensors.first().ok_or_else(|| Error::InvalidArgument {
            op: "stack",
            reason: "needs at least one tensor".into(),
        })?;
        let mut expanded = Vec::with_capacity(tensors.len());
        for t in tensors {
            if t.shape != first.shape {
                return Err(Error::ShapeMismatch {
                    op: "stack",
                    lhs: first.shape.clone(),
                    rhs: t.shape.clone(),
                    reason: "stacked tensors must have one shape",
                });
            }
            expanded.push(t.unsqueeze(axis)?);
        }
        let refs: Vec<&Tensor<T>> = expanded.iter().collect();
        Tensor::concat(&refs, axis)
    }
}
