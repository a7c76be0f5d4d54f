//! Embedding lookup: rows of a table picked by integer index. Built on
//! `index_select` (whose rule is `index_add`, so repeated indices sum their
//! gradients) and, for a padding index, `where_cond` (so that row gets none).

use crate::element::Element;
use crate::error::{Error, Result};
use crate::ops::Indices;
use crate::tensor::Tensor;

impl<T: Element> Tensor<T> {
    /// Looks up rows of this (V, D) table: the result has shape `indices.shape() + [D]`.
    /// Gradient: row `i` of the table receives the sum of `dy` over every position
    /// holding `i`. With `padding_idx = Some(p)`, positions holding `p` still read
    /// row `p` but send it no gradient (PyTorch's `padding_idx`).
    ///
    /// Errors when the table is not 2-D, an index is ≥ V, or `p` ≥ V.
    ///
    /// ```
    /// use tensor_core::{Indices, Tensor};
    /// // Row 1 is used twice, so its gradient is 2 per entry; row 0 once.
    /// let table = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[2, 2])?.requires_grad();
    /// let y = table.embedding(&Indices::from_vec(vec![1, 0, 1]), None)?;
    /// assert_eq!(y.to_vec(), vec![3.0, 4.0, 1.0, 2.0, 3.0, 4.0]);
    /// assert_eq!(y.sum_all().backward()?.wrt(&table)?.to_vec(), vec![1.0, 1.0, 2.0, 2.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn embedding(&self, indices: &Indices, padding_idx: Option<usize>) -> Result<Tensor<T>> {
        let op = "embedding";
        if self.ndim() != 2 {
            return Err(Error::InvalidArgument {
                op,
                reason: format!("the table must be (rows, dim), got shape {:?}", self.shape),
            });
        }
        let (rows, dim) = (self.shape[0], self.shape[1]);
        for &i in indices.as_slice().iter().chain(&padding_idx) {
            if i >= rows {
                return Err(Error::IndexOutOfRange {
                    op,
                    index: i,
                    axis: 0,
                    size: rows,
                    shape: self.shape.clone(),
                });
            }
        }
        let picked = self.index_select(0, indices.as_slice())?;
        let picked = match padding_idx {
            Some(p) if indices.as_slice().contains(&p) => {
                // Same values, but the padding positions read a detached copy.
                let mask: Vec<T> =
                    indices.as_slice().iter().map(|&i| if i == p { T::one() } else { T::zero() }).collect();
                let mask = Tensor::from_vec(mask, &[indices.as_slice().len(), 1])?;
                Tensor::where_cond(&mask, &picked.detach(), &picked)?
            }
            _ => picked,
        };
        let mut shape = indices.shape().to_vec();
        shape.push(dim);
        picked.reshape(&shape)
    }
}
