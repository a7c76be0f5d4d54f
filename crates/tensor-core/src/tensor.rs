//! `Tensor<T>`: an n-d, row-major array of f32 or f64 with shared, immutable storage
//! (clones are cheap) and, when recorded, a handle to the node that made it.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{Leaf, Node};
use crate::shape::{Shape, checked_numel, numel, shape_of};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use std::sync::Arc;

/// How a tensor relates to the graph.
pub(crate) enum Origin<T: Element> {
    /// Not differentiated: data, a detached tensor, or one made under `no_grad`.
    Constant,
    /// The output of a recorded op: this handle keeps the op's graph alive.
    Node(Arc<Node<T>>),
    /// A variable or parameter: a leaf of every graph it is used in.
    Leaf(Arc<Leaf>),
}

impl<T: Element> Clone for Origin<T> {
    fn clone(&self) -> Self {
        match self {
            Origin::Constant => Origin::Constant,
            Origin::Node(n) => Origin::Node(n.clone()),
            Origin::Leaf(l) => Origin::Leaf(l.clone()),
        }
    }
}

/// An n-dimensional array of `T` (f32 or f64), row-major, with cheap clones.
///
/// Ops on tensors that require gradients record themselves into a graph that the
/// result owns; `backward` then returns their gradients:
///
/// ```
/// use tensor_core::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?.requires_grad();
/// let loss = x.mul(&x)?.sum_all(); // Σ x²
/// let grads = loss.backward()?;
/// assert_eq!(grads.wrt(&x)?.to_vec(), vec![2.0, 4.0, 6.0]); // d/dx Σx² = 2x
/// # Ok::<(), tensor_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Tensor<T: Element> {
    pub(crate) data: Arc<Vec<T>>,
    pub(crate) shape: Shape,
    pub(crate) origin: Origin<T>,
}

impl<T: Element> Tensor<T> {
    /// A constant tensor from a buffer and a shape. Errors if the lengths disagree.
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let expected = checked_numel("from_vec", shape)?;
        if data.len() != expected {
            return Err(Error::ElementCount {
                op: "from_vec",
                shape: shape_of(shape),
                len: data.len(),
                expected,
            });
        }
        Ok(Self::from_parts(data, shape_of(shape)))
    }

    /// Like [`from_vec`](Self::from_vec), copying a slice.
    pub fn from_slice(data: &[T], shape: &[usize]) -> Result<Self> {
        Self::from_vec(data.to_vec(), shape)
    }

    /// Trusted constructor: `data.len() == numel(shape)` is the caller's invariant.
    pub(crate) fn from_parts(data: Vec<T>, shape: Shape) -> Self {
        // Every op's output passes here: the first one sets the allocator up
        // (`alloc.rs`; one atomic load afterwards).
        crate::alloc::keep_freed_buffers();
        debug_assert_eq!(data.len(), numel(&shape), "tensor invariant: data length matches shape");
        Tensor { data: Arc::new(data), shape, origin: Origin::Constant }
    }

    /// A rank-0 tensor.
    pub fn scalar(value: T) -> Self {
        Self::from_parts(vec![value], Shape::new())
    }

    /// A tensor filled with `value`. Errors when the shape's element count overflows
    /// or the memory cannot be had, instead of aborting.
    pub fn full(shape: &[usize], value: T) -> Result<Self> {
        Ok(Self::from_parts(filled("full", shape, value)?, shape_of(shape)))
    }

    /// A tensor of zeros (errors as [`full`](Self::full)).
    pub fn zeros(shape: &[usize]) -> Result<Self> {
        Self::full(shape, T::zero())
    }

    /// A tensor of ones (errors as [`full`](Self::full)).
    pub fn ones(shape: &[usize]) -> Result<Self> {
        Self::full(shape, T::one())
    }

    /// Zeros of this tensor's shape (a shape that already exists in memory).
    pub fn zeros_like(&self) -> Self {
        Self::from_parts(vec![T::zero(); self.numel()], self.shape.clone())
    }

    /// Ones of this tensor's shape.
    pub fn ones_like(&self) -> Self {
        Self::from_parts(vec![T::one(); self.numel()], self.shape.clone())
    }

    /// `[start, start + step, …)` up to but excluding `end`, as a 1-D tensor.
    pub fn arange(start: T, end: T, step: T) -> Result<Self> {
        if step == T::zero() || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::InvalidArgument {
                op: "arange",
                reason: format!("start {start}, end {end} and step {step} must be finite and step non-zero"),
            });
        }
        let count = ((end - start) / step).ceil().as_f64().max(0.0);
        if count.is_nan() || count >= MAX_ELEMENTS as f64 {
            return Err(Error::TooLarge {
                op: "arange",
                reason: format!("[{start}, {end}) in steps of {step} has {count} elements"),
            });
        }
        let mut data = try_vec("arange", &[count as usize])?;
        data.extend((0..count as usize).map(|i| start + step * T::from_usize(i)));
        let n = data.len();
        Ok(Self::from_parts(data, shape_of(&[n])))
    }

    /// The `n × n` identity matrix (errors as [`full`](Self::full)).
    pub fn eye(n: usize) -> Result<Self> {
        let mut data = filled("eye", &[n, n], T::zero())?;
        for i in 0..n {
            data[i * n + i] = T::one();
        }
        Ok(Self::from_parts(data, shape_of(&[n, n])))
    }

    /// Uniform samples in `[low, high)` from a seeded generator.
    pub fn rand_uniform(shape: &[usize], low: T, high: T, rng: &mut impl Rng) -> Result<Self> {
        let dist = Uniform::new(low.as_f64(), high.as_f64()).map_err(|e| Error::InvalidArgument {
            op: "rand_uniform",
            reason: format!("bounds [{low}, {high}): {e}"),
        })?;
        let mut data = try_vec("rand_uniform", shape)?;
        data.extend((0..numel(shape)).map(|_| T::from_f64(dist.sample(rng))));
        Ok(Self::from_parts(data, shape_of(shape)))
    }

    /// Normal samples with the given mean and standard deviation from a seeded generator.
    pub fn rand_normal(shape: &[usize], mean: T, std: T, rng: &mut impl Rng) -> Result<Self> {
        let dist = Normal::new(mean.as_f64(), std.as_f64()).map_err(|e| Error::InvalidArgument {
            op: "rand_normal",
            reason: format!("mean {mean}, std {std}: {e}"),
        })?;
        let mut data = try_vec("rand_normal", shape)?;
        data.extend((0..numel(shape)).map(|_| T::from_f64(dist.sample(rng))));
        Ok(Self::from_parts(data, shape_of(shape)))
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of dimensions (0 for a scalar).
    pub fn ndim(&self) -> usize {
        self.shape.len()
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }

    /// The elements, row-major.
    pub fn as_slice(&self) -> &[T] {
        &self.data
    }

    /// A copy of the elements, row-major.
    pub fn to_vec(&self) -> Vec<T> {
        self.data.to_vec()
    }

    /// The single element of a one-element tensor.
    pub fn item(&self) -> Result<T> {
        match self.data.as_slice() {
            [x] => Ok(*x),
            _ => Err(Error::InvalidArgument {
                op: "item",
                reason: format!("needs exactly one element, the tensor has shape {:?}", self.shape),
            }),
        }
    }

    /// This tensor as a new leaf variable: gradients will be computed for it.
    pub fn requires_grad(&self) -> Self {
        self.requires_grad_named("")
    }

    /// Like [`requires_grad`](Self::requires_grad), with a name shown when the graph is
    /// printed or exported.
    pub fn requires_grad_named(&self, name: &str) -> Self {
        Tensor {
            data: self.data.clone(),
            shape: self.shape.clone(),
            origin: Origin::Leaf(Leaf::new(name.into())),
        }
    }

    /// The same data, cut from the graph: a constant.
    pub fn detach(&self) -> Self {
        Tensor { data: self.data.clone(), shape: self.shape.clone(), origin: Origin::Constant }
    }

    /// Whether this tensor takes part in differentiation (a leaf or a recorded output).
    pub fn is_recorded(&self) -> bool {
        !matches!(self.origin, Origin::Constant)
    }

    /// Whether this is a leaf variable or parameter.
    pub fn is_leaf(&self) -> bool {
        matches!(self.origin, Origin::Leaf(_))
    }

    /// The name of the op that produced this tensor, if it was recorded by one.
    pub fn op(&self) -> Option<&'static str> {
        match &self.origin {
            Origin::Node(n) => Some(n.op),
            _ => None,
        }
    }

    /// Applies `f` to every element, giving a constant (not recorded): the building
    /// block of custom ops' forwards.
    pub fn map(&self, f: impl Fn(T) -> T + Sync + Send) -> Self {
        Self::from_parts(crate::kernels::map(&self.data, f), self.shape.clone())
    }

    /// Whether two tensors hold the same shape and elements (exact comparison).
    pub fn data_eq(&self, other: &Tensor<T>) -> bool {
        self.shape == other.shape && self.data == other.data
    }
}

impl<T: Element> std::fmt::Debug for Tensor<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let origin = match &self.origin {
            Origin::Constant => "constant".to_string(),
            Origin::Node(n) => format!("{} #{}", n.op, n.id),
            Origin::Leaf(l) if l.name.is_empty() => "leaf".to_string(),
            Origin::Leaf(l) => format!("leaf {:?}", l.name),
        };
        const SHOWN: usize = 16;
        let head: Vec<String> = self.data.iter().take(SHOWN).map(|x| format!("{x}")).collect();
        let more = if self.numel() > SHOWN { ", …" } else { "" };
        write!(
            f,
            "Tensor<{}>(shape {:?}, {origin}, [{}{more}])",
            T::DTYPE,
            self.shape.as_slice(),
            head.join(", ")
        )
    }
}

/// The most elements one tensor may have: what a `Vec` of f64 can address. Larger
/// shapes are an error before any allocation.
pub(crate) const MAX_ELEMENTS: usize = isize::MAX as usize / 8;

/// An empty buffer with room for `shape`'s elements, or an error naming `op` when
/// the count overflows or the memory cannot be had (never an abort).
pub(crate) fn try_vec<T: Element>(op: &'static str, shape: &[usize]) -> Result<Vec<T>> {
    let n = checked_numel(op, shape)?;
    let mut data = Vec::new();
    data.try_reserve_exact(n).map_err(|_| Error::TooLarge {
        op,
        reason: format!(
            "shape {shape:?} needs {} bytes, which could not be allocated",
            n.saturating_mul(std::mem::size_of::<T>())
        ),
    })?;
    Ok(data)
}

/// `shape`'s elements, all `value`, allocated as [`try_vec`] does.
pub(crate) fn filled<T: Element>(op: &'static str, shape: &[usize], value: T) -> Result<Vec<T>> {
    let mut data = try_vec(op, shape)?;
    data.resize(data.capacity().min(numel(shape)), value);
    Ok(data)
}
