//! Scaled dot-product attention, `softmax(q·kᵀ/√d + mask)·v`, composed from
//! `matmul_t`, `masked_fill` and `softmax`. Masked scores are −∞, so their softmax
//! weight is exactly 0 and, through `masked_fill`, so is their gradient.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape::{Shape, broadcast_shapes, numel};
use crate::tensor::Tensor;

/// Which keys each query may attend to in
/// [`Tensor::scaled_dot_product_attention`].
#[derive(Debug, Clone, Copy)]
pub enum AttentionMask<'a, T: Element> {
    /// Every query sees every key.
    None,
    /// Query `i` sees keys `j ≤ i` (the top-left lower triangle, as PyTorch's
    /// `is_causal`).
    Causal,
    /// A 0/1 tensor broadcasting to the scores' shape (…, Tq, Tk): **1 where the query
    /// may attend** the key, 0 where it may not (as PyTorch's boolean `attn_mask`).
    Allow(&'a Tensor<T>),
}

impl<T: Element> Tensor<T> {
    /// Scaled dot-product attention: `softmax(q·kᵀ/√d)·v` over the keys, with q
    /// (…, Tq, d), k (…, Tk, d) and v (…, Tk, dv) (leading axes broadcast, as
    /// `matmul`), giving (…, Tq, dv). Scores a `mask` forbids are set to −∞ before the
    /// softmax, so they get weight 0 and exactly zero gradient.
    ///
    /// Errors when the shapes do not fit, or when the mask leaves some query with no
    /// key at all (its softmax would be 0/0).
    ///
    /// ```
    /// use tensor_core::{AttentionMask, Tensor};
    /// // Two positions, causal: the first query sees only the first value.
    /// let q = Tensor::<f64>::zeros(&[2, 1])?;
    /// let v = Tensor::<f64>::from_vec(vec![1.0, 3.0], &[2, 1])?;
    /// let y = Tensor::scaled_dot_product_attention(&q, &q, &v, AttentionMask::Causal)?;
    /// // Equal scores: row 0 averages [1], row 1 averages [1, 3].
    /// assert_eq!(y.to_vec(), vec![1.0, 2.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn scaled_dot_product_attention(
        q: &Tensor<T>,
        k: &Tensor<T>,
        v: &Tensor<T>,
        mask: AttentionMask<'_, T>,
    ) -> Result<Tensor<T>> {
        let op = "scaled_dot_product_attention";
        let mismatch = |lhs: &Tensor<T>, rhs: &Tensor<T>, reason| Error::ShapeMismatch {
            op,
            lhs: lhs.shape.clone(),
            rhs: rhs.shape.clone(),
            reason,
        };
        if q.ndim() < 2 || k.ndim() < 2 || v.ndim() < 2 {
            return Err(mismatch(q, k, "q, k and v must be (…, T, d)"));
        }
        let d = q.shape[q.ndim() - 1];
        if k.shape[k.ndim() - 1] != d || d == 0 {
            return Err(mismatch(q, k, "q and k must share a non-empty last axis"));
        }
        let keys = k.shape[k.ndim() - 2];
        if v.shape[v.ndim() - 2] != keys {
            return Err(mismatch(k, v, "k and v must have as many positions"));
        }
        let scores = q.matmul_t(k, false, true)?.mul_scalar(T::one() / T::from_usize(d).sqrt());
        let queries = scores.shape[scores.ndim() - 2];
        let blocked: Option<Tensor<T>> = match mask {
            AttentionMask::None => None,
            AttentionMask::Causal => {
                let data =
                    (0..queries * keys).map(|at| if at % keys > at / keys { T::one() } else { T::zero() });
                Some(Tensor::from_vec(data.collect(), &[queries, keys])?)
            }
            AttentionMask::Allow(allow) => {
                let shape = broadcast_shapes(op, &allow.shape, &scores.shape)?;
                if shape != scores.shape {
                    return Err(Error::Broadcast { op, lhs: scores.shape.clone(), rhs: allow.shape.clone() });
                }
                Some(allow.detach().eq_scalar(T::zero()))
            }
        };
        let scores = match blocked {
            None if keys == 0 => return Err(no_key(op, &scores.shape)),
            None => scores,
            Some(blocked) => {
                let full = blocked.broadcast_to(&scores.shape)?;
                let rows_open =
                    full.as_slice().chunks(keys.max(1)).all(|row| row.iter().any(|&b| b == T::zero()));
                if keys == 0 || !rows_open {
                    return Err(no_key(op, &scores.shape));
                }
                scores.masked_fill(&blocked, T::neg_infinity())?
            }
        };
        scores.softmax(-1)?.matmul(v)
    }
}

fn no_key(op: &'static str, scores: &Shape) -> Error {
    Error::InvalidArgument {
        op,
        reason: format!(
            "the mask leaves a query with no key to attend to (scores of shape {scores:?}, {} values)",
            numel(scores)
        ),
    }
}
