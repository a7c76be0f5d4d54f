//! Cutting a tensor into pieces along an axis (`split`, `chunk`), compositions of
//! `narrow`, and `masked_fill`, one recorded op (its own gradient is a
//! `masked_fill` of `dy`, so it is differentiable to any order).

use super::one;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::Save;
use crate::shape::{broadcast_shapes, normalize_axis};
use crate::tensor::Tensor;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["masked_fill"];

/// `value` where `mask` is non-zero, else `x`. The mask is read cyclically: it is
/// either as long as `x` or the broadcast of a trailing-axes mask (an attention mask
/// (T, T) under (B, H, T, T)), so it is never materialised at the full size.
fn fill<T: Element>(x: &[T], mask: &[T], value: T) -> Vec<T> {
    let mut out = x.to_vec();
    if mask.is_empty() {
        return out;
    }
    for block in out.chunks_mut(mask.len()) {
        block.iter_mut().zip(mask).for_each(|(o, &m)| *o = if m != T::zero() { value } else { *o });
    }
    out
}

/// `t` with 0 where the (cyclic) mask `block` is set: `masked_fill`'s gradient,
/// recorded with itself as its rule, so it is differentiable to any order.
fn masked_zero<T: Element>(t: &Tensor<T>, block: &Arc<Vec<T>>) -> Tensor<T> {
    let y = Tensor::from_parts(fill(t.as_slice(), block, T::zero()), t.shape.clone());
    let block = block.clone();
    Tensor::record_builtin("masked_fill", &[t], y, Save::NOTHING, move |g, _| Ok(one(masked_zero(g, &block))))
}

impl<T: Element> Tensor<T> {
    /// Cuts `axis` into consecutive pieces of the given `sizes`, which must add up to
    /// the axis' length (PyTorch's `split` with a list). Gradient: each piece's `dy`
    /// goes back to its slice.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?;
    /// let parts = x.split(&[1, 2], 0)?;
    /// assert_eq!(parts[1].to_vec(), vec![2.0, 3.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn split(&self, sizes: &[usize], axis: isize) -> Result<Vec<Tensor<T>>> {
        let ax = normalize_axis("split", axis, &self.shape)?;
        let total: usize = sizes.iter().sum();
        if total != self.shape[ax] {
            return Err(Error::InvalidArgument {
                op: "split",
                reason: format!(
                    "sizes {sizes:?} add up to {total}, but axis {axis} of shape {:?} has {}",
                    self.shape, self.shape[ax]
                ),
            });
        }
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let piece = self.narrow(ax as isize, start, n);
                start += n;
                piece
            })
            .collect()
    }

    /// Cuts `axis` into `chunks` pieces of `⌈len/chunks⌉` elements, the last one
    /// smaller (as PyTorch's `chunk`, so there may be fewer than `chunks` pieces; an
    /// empty axis gives one empty piece). Errors when `chunks` is 0.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // LSTM gates: 8 pre-activations in 4 chunks of 2.
    /// let gates = Tensor::<f64>::zeros(&[3, 8])?;
    /// let parts = gates.chunk(4, -1)?;
    /// assert_eq!(parts.len(), 4);
    /// assert_eq!(parts[0].shape(), &[3, 2]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn chunk(&self, chunks: usize, axis: isize) -> Result<Vec<Tensor<T>>> {
        let ax = normalize_axis("chunk", axis, &self.shape)?;
        if chunks == 0 {
            return Err(Error::InvalidArgument {
                op: "chunk",
                reason: format!("cannot cut axis {axis} of shape {:?} into 0 chunks", self.shape),
            });
        }
        let len = self.shape[ax];
        if len == 0 {
            return Ok(vec![self.clone()]);
        }
        let size = len.div_ceil(chunks);
        let sizes: Vec<usize> = (0..len).step_by(size).map(|start| size.min(len - start)).collect();
        self.split(&sizes, axis)
    }

    /// `value` where `mask` is non-zero, `self` elsewhere; the mask broadcasts to this
    /// tensor's shape (PyTorch's `masked_fill`). Gradient: `dy` where the mask is 0,
    /// exactly 0 where it is set (also for `value = −∞`, as attention masks use).
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0], &[3])?;
    /// let mask = Tensor::from_vec(vec![0.0, 1.0, 0.0], &[3])?;
    /// assert_eq!(x.masked_fill(&mask, -9.0)?.to_vec(), vec![1.0, -9.0, 3.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn masked_fill(&self, mask: &Tensor<T>, value: T) -> Result<Tensor<T>> {
        let shape = broadcast_shapes("masked_fill", &mask.shape, &self.shape)?;
        if shape != self.shape {
            return Err(Error::Broadcast {
                op: "masked_fill",
                lhs: self.shape.clone(),
                rhs: mask.shape.clone(),
            });
        }
        // The mask as a block that repeats along the output: its own data when it is
        // the trailing part of the shape (after dropping leading 1s), else its
        // broadcast copy.
        let rank = mask.shape.iter().position(|&d| d != 1).map_or(0, |first| mask.ndim() - first);
        let trailing =
            rank <= self.ndim() && mask.shape[mask.ndim() - rank..] == self.shape[self.ndim() - rank..];
        let block: Arc<Vec<T>> = if trailing {
            mask.data.clone()
        } else {
            Arc::new(crate::kernels::broadcast_copy(&mask.data, &mask.shape, &self.shape))
        };
        let y = Tensor::from_parts(fill(&self.data, &block, value), self.shape.clone());
        Ok(Tensor::record_builtin("masked_fill", &[self], y, Save::NOTHING, move |dy, _| {
            Ok(one(masked_zero(dy, &block)))
        }))
    }
}
