//! Indexing ops: index_select and gather (what cross-entropy needs), their adjoints
//! index_add and scatter_add, and one_hot. Indices are not differentiable.

use super::one;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::Save;
use crate::shape::{Shape, checked_numel, normalize_axis, numel, shape_of};
use crate::tensor::Tensor;
use crate::tensor::filled;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["index_select", "index_add", "gather", "scatter_add"];

/// An n-d array of indices (class labels, argmax results, gather positions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indices {
    data: Arc<Vec<usize>>,
    shape: Shape,
}

impl Indices {
    /// Indices with a shape. Errors if the lengths disagree.
    pub fn new(data: Vec<usize>, shape: &[usize]) -> Result<Self> {
        if data.len() != checked_numel("Indices::new", shape)? {
            return Err(Error::ElementCount {
                op: "Indices::new",
                shape: shape_of(shape),
                len: data.len(),
                expected: numel(shape),
            });
        }
        Ok(Indices { data: Arc::new(data), shape: shape_of(shape) })
    }

    /// A 1-D list of indices.
    pub fn from_vec(data: Vec<usize>) -> Self {
        let n = data.len();
        Indices { data: Arc::new(data), shape: shape_of(&[n]) }
    }

    /// The indices, row-major.
    pub fn as_slice(&self) -> &[usize] {
        &self.data
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The same indices with another shape of equal size.
    pub fn reshape(&self, shape: &[usize]) -> Result<Self> {
        if checked_numel("Indices::reshape", shape)? != self.data.len() {
            return Err(Error::ElementCount {
                op: "Indices::reshape",
                shape: shape_of(shape),
                len: self.data.len(),
                expected: numel(shape),
            });
        }
        Ok(Indices { data: self.data.clone(), shape: shape_of(shape) })
    }
}

fn check_index(op: &'static str, index: usize, axis: usize, shape: &[usize]) -> Result<()> {
    if index >= shape[axis] {
        return Err(Error::IndexOutOfRange { op, index, axis, size: shape[axis], shape: shape_of(shape) });
    }
    Ok(())
}

impl<T: Element> Tensor<T> {
    /// Picks the entries `indices` along `axis` (repeats allowed). Gradient: `dy`
    /// added back at those entries (repeated entries accumulate).
    pub fn index_select(&self, axis: isize, indices: &[usize]) -> Result<Tensor<T>> {
        let ax = normalize_axis("index_select", axis, &self.shape)?;
        for &i in indices {
            check_index("index_select", i, ax, &self.shape)?;
        }
        let dim = self.shape[ax];
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut data = Vec::with_capacity(outer * indices.len() * inner);
        for o in 0..outer {
            for &i in indices {
                let at = (o * dim + i) * inner;
                data.extend_from_slice(&self.data[at..at + inner]);
            }
        }
        let mut shape = self.shape.clone();
        shape[ax] = indices.len();
        let y = Tensor::from_parts(data, shape);
        let idx: Arc<Vec<usize>> = Arc::new(indices.to_vec());
        Ok(Tensor::record_builtin("index_select", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.index_add(ax as isize, &idx, dim)?))
        }))
    }

    /// The adjoint of [`index_select`](Self::index_select): a zero tensor whose `axis`
    /// has `size` entries, with slice `k` of `self` added at entry `indices[k]`.
    /// Gradient: `dy.index_select(axis, indices)`.
    pub fn index_add(&self, axis: isize, indices: &[usize], size: usize) -> Result<Tensor<T>> {
        let ax = normalize_axis("index_add", axis, &self.shape)?;
        if indices.len() != self.shape[ax] {
            return Err(Error::InvalidArgument {
                op: "index_add",
                reason: format!("{} indices for axis {ax} of shape {:?}", indices.len(), self.shape),
            });
        }
        let mut shape = self.shape.clone();
        shape[ax] = size;
        for &i in indices {
            check_index("index_add", i, ax, &shape)?;
        }
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut data = filled("index_add", &shape, T::zero())?;
        for o in 0..outer {
            for (k, &i) in indices.iter().enumerate() {
                let src = (o * indices.len() + k) * inner;
                let dst = (o * size + i) * inner;
                for j in 0..inner {
                    data[dst + j] += self.data[src + j];
                }
            }
        }
        let y = Tensor::from_parts(data, shape);
        let idx: Arc<Vec<usize>> = Arc::new(indices.to_vec());
        Ok(Tensor::record_builtin("index_add", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.index_select(ax as isize, &idx)?))
        }))
    }

    /// `out[.., j, ..] = self[.., index[.., j, ..], ..]` along `axis`: the index has
    /// this tensor's rank and shape except along `axis` (stricter than `torch.gather`,
    /// which allows smaller dims). Gradient: `dy` scattered back (accumulating).
    pub fn gather(&self, axis: isize, index: &Indices) -> Result<Tensor<T>> {
        let ax = normalize_axis("gather", axis, &self.shape)?;
        self.check_gather_shape("gather", ax, index)?;
        for &i in index.as_slice() {
            check_index("gather", i, ax, &self.shape)?;
        }
        let dim = self.shape[ax];
        let k = index.shape[ax];
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut data = Vec::with_capacity(outer * k * inner);
        for o in 0..outer {
            for j in 0..k {
                for i in 0..inner {
                    let picked = index.data[(o * k + j) * inner + i];
                    data.push(self.data[(o * dim + picked) * inner + i]);
                }
            }
        }
        let y = Tensor::from_parts(data, index.shape.clone());
        let index = index.clone();
        Ok(Tensor::record_builtin("gather", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.scatter_add(ax as isize, &index, dim)?))
        }))
    }

    fn check_gather_shape(&self, op: &'static str, ax: usize, index: &Indices) -> Result<()> {
        let agree = index.shape.len() == self.ndim()
            && index.shape.iter().zip(&self.shape).enumerate().all(|(d, (a, b))| d == ax || a == b);
        if !agree {
            return Err(Error::ShapeMismatch {
                op,
                lhs: self.shape.clone(),
                rhs: index.shape.clone(),
                reason: "the index must have the tensor's rank and shape except along the axis",
            });
        }
        Ok(())
    }

    /// The adjoint of [`gather`](Self::gather): a zero tensor whose `axis` has `size`
    /// entries, with `self[.., j, ..]` added at `index[.., j, ..]`.
    /// Gradient: `dy.gather(axis, index)`.
    pub fn scatter_add(&self, axis: isize, index: &Indices, size: usize) -> Result<Tensor<T>> {
        let ax = normalize_axis("scatter_add", axis, &self.shape)?;
        if index.shape != self.shape {
            return Err(Error::ShapeMismatch {
                op: "scatter_add",
                lhs: self.shape.clone(),
                rhs: index.shape.clone(),
                reason: "the index must have the source's shape",
            });
        }
        let mut shape = self.shape.clone();
        shape[ax] = size;
        for &i in index.as_slice() {
            check_index("scatter_add", i, ax, &shape)?;
        }
        let k = self.shape[ax];
        let inner: usize = self.shape[ax + 1..].iter().product();
        let outer: usize = self.shape[..ax].iter().product();
        let mut data = filled("scatter_add", &shape, T::zero())?;
        for o in 0..outer {
            for j in 0..k {
                for i in 0..inner {
                    let src = (o * k + j) * inner + i;
                    data[(o * size + index.data[src]) * inner + i] += self.data[src];
                }
            }
        }
        let y = Tensor::from_parts(data, shape);
        let index = index.clone();
        Ok(Tensor::record_builtin("scatter_add", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(dy.gather(ax as isize, &index)?))
        }))
    }

    /// Rows of the identity: `[labels.len(), classes]` with a 1 at each label (a
    /// constant). Errors on a label ≥ `classes`.
    pub fn one_hot(labels: &[usize], classes: usize) -> Result<Tensor<T>> {
        let mut data = filled("one_hot", &[labels.len(), classes], T::zero())?;
        for (row, &label) in labels.iter().enumerate() {
            if label >= classes {
                return Err(Error::IndexOutOfRange {
                    op: "one_hot",
                    index: label,
                    axis: 1,
                    size: classes,
                    shape: shape_of(&[labels.len(), classes]),
                });
            }
            data[row * classes + label] = T::one();
        }
        Ok(Tensor::from_parts(data, shape_of(&[labels.len(), classes])))
    }
}
