//! `Tensor<T>`: an n-d, row-major array of f32 or f64 with shared, immutable storage
//! (clones are cheap) and, when recorded, a handle to its node on the tape.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape::{Shape, numel, shape_of};
use crate::tape::{Leaf, NodeRef};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};
use std::sync::Arc;

/// How a tensor relates to the tape.
#[derive(Clone, Debug)]
pub(crate) enum Origin {
    /// Not differentiated: data, a detached tensor, or one made under `no_grad`.
    Constant,
    /// The output of a recorded op.
    Node(NodeRef),
    /// A variable or parameter: registers on the current tape when first used.
    Leaf(Arc<Leaf>),
}

/// An n-dimensional array of `T` (f32 or f64), row-major, with cheap clones.
///
/// Ops on tensors that require gradients record themselves on this thread's tape;
/// `backward` then returns their gradients:
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
    pub(crate) origin: Origin,
}

impl<T: Element> Tensor<T> {
    /// A constant tensor from a buffer and a shape. Errors if the lengths disagree.
    pub fn from_vec(data: Vec<T>, shape: &[usize]) -> Result<Self> {
        let expected = numel(shape);
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
        debug_assert_eq!(data.len(), numel(&shape), "tensor invariant: data length matches shape");
        Tensor { data: Arc::new(data), shape, origin: Origin::Constant }
    }

    /// A rank-0 tensor.
    pub fn scalar(value: T) -> Self {
        Self::from_parts(vec![value], Shape::new())
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: T) -> Self {
        Self::from_parts(vec![value; numel(shape)], shape_of(shape))
    }

    /// A tensor of zeros.
    pub fn zeros(shape: &[usize]) -> Self {
        Self::full(shape, T::zero())
    }

    /// A tensor of ones.
    pub fn ones(shape: &[usize]) -> Self {
        Self::full(shape, T::one())
    }

    /// Zeros of this tensor's shape.
    pub fn zeros_like(&self) -> Self {
        Self::zeros(&self.shape)
    }

    /// `[start, start + step, …)` up to but excluding `end`, as a 1-D tensor.
    pub fn arange(start: T, end: T, step: T) -> Result<Self> {
        if step == T::zero() || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::InvalidArgument {
                op: "arange",
                reason: format!("start {start}, end {end} and step {step} must be finite and step non-zero"),
            });
        }
        let count = ((end - start) / step).ceil().as_f64().max(0.0) as usize;
        let data: Vec<T> = (0..count).map(|i| start + step * T::from_usize(i)).collect();
        let n = data.len();
        Ok(Self::from_parts(data, shape_of(&[n])))
    }

    /// The `n × n` identity matrix.
    pub fn eye(n: usize) -> Self {
        let mut data = vec![T::zero(); n * n];
        for i in 0..n {
            data[i * n + i] = T::one();
        }
        Self::from_parts(data, shape_of(&[n, n]))
    }

    /// Uniform samples in `[low, high)` from a seeded generator.
    pub fn rand_uniform(shape: &[usize], low: T, high: T, rng: &mut impl Rng) -> Result<Self> {
        let dist = Uniform::new(low.as_f64(), high.as_f64()).map_err(|e| Error::InvalidArgument {
            op: "rand_uniform",
            reason: format!("bounds [{low}, {high}): {e}"),
        })?;
        let data = (0..numel(shape)).map(|_| T::from_f64(dist.sample(rng))).collect();
        Ok(Self::from_parts(data, shape_of(shape)))
    }

    /// Normal samples with the given mean and standard deviation from a seeded generator.
    pub fn rand_normal(shape: &[usize], mean: T, std: T, rng: &mut impl Rng) -> Result<Self> {
        let dist = Normal::new(mean.as_f64(), std.as_f64()).map_err(|e| Error::InvalidArgument {
            op: "rand_normal",
            reason: format!("mean {mean}, std {std}: {e}"),
        })?;
        let data = (0..numel(shape)).map(|_| T::from_f64(dist.sample(rng))).collect();
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

    /// Like [`requires_grad`](Self::requires_grad), with a name shown when the tape is
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

    /// The node this tensor is the output of, if it was recorded by an op.
    pub fn node(&self) -> Option<NodeRef> {
        match self.origin {
            Origin::Node(r) => Some(r),
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
            Origin::Node(r) => format!("node #{}", r.index),
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
