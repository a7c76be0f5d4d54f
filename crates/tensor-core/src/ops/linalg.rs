//! Matrix multiplication on the `gemm` crate's kernels: 2-D, batched with NumPy
//! broadcasting of the batch dimensions (as `torch.matmul`), and the vector cases.
//! Transposed operands are passed to the kernel as strides, never copied.

use super::two;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::shape::{Shape, broadcast_shapes, broadcast_strides, numel, walk2};
use crate::tensor::Tensor;

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_FLOPS: usize = 1 << 20;

/// Row and column strides of `op(M)` for a row-major `rows × cols` matrix `M`.
fn operand_strides(rows: usize, cols: usize, transposed: bool) -> (isize, isize) {
    let _ = rows;
    if transposed { (1, cols as isize) } else { (cols as isize, 1) }
}

impl<T: Element> Tensor<T> {
    /// Matrix product, as `torch.matmul`: 1-D operands are treated as a row (left) or
    /// column (right) vector and that axis is dropped from the result; operands of
    /// rank ≥ 2 multiply their last two axes and broadcast the leading (batch) axes.
    /// Gradient: `dA = dY·Bᵀ`, `dB = Aᵀ·dY` (batch axes summed back by the engine).
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let a = Tensor::<f32>::from_vec(vec![1., 2., 3., 4.], &[2, 2])?;
    /// let b = Tensor::<f32>::eye(2);
    /// assert_eq!(a.matmul(&b)?.to_vec(), vec![1., 2., 3., 4.]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn matmul(&self, other: &Tensor<T>) -> Result<Tensor<T>> {
        match (self.ndim(), other.ndim()) {
            (0, _) | (_, 0) => Err(Error::Matmul {
                lhs: self.shape.clone(),
                rhs: other.shape.clone(),
                reason: "both operands need at least one dimension",
            }),
            (1, 1) => self.unsqueeze(0)?.matmul_t(&other.unsqueeze(1)?, false, false)?.reshape(&[]),
            (1, _) => self.unsqueeze(0)?.matmul_t(other, false, false)?.squeeze(-2),
            (_, 1) => self.matmul_t(&other.unsqueeze(1)?, false, false)?.squeeze(-1),
            _ => self.matmul_t(other, false, false),
        }
    }

    /// `op(self) · op(other)` for operands of rank ≥ 2, where `op` transposes the last
    /// two axes when its flag is set — without copying. The primitive behind
    /// [`matmul`](Self::matmul) and its gradient rule.
    pub fn matmul_t(
        &self,
        other: &Tensor<T>,
        transpose_self: bool,
        transpose_other: bool,
    ) -> Result<Tensor<T>> {
        let (ta, tb) = (transpose_self, transpose_other);
        let err = |reason| Error::Matmul { lhs: self.shape.clone(), rhs: other.shape.clone(), reason };
        if self.ndim() < 2 || other.ndim() < 2 {
            return Err(err("matmul_t needs operands of rank 2 or more"));
        }
        let (ra, ca) = (self.shape[self.ndim() - 2], self.shape[self.ndim() - 1]);
        let (rb, cb) = (other.shape[other.ndim() - 2], other.shape[other.ndim() - 1]);
        let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
        let (k2, n) = if tb { (cb, rb) } else { (rb, cb) };
        if k != k2 {
            return Err(err("the inner dimensions differ"));
        }
        let batch_a = &self.shape[..self.ndim() - 2];
        let batch_b = &other.shape[..other.ndim() - 2];
        let batch = broadcast_shapes("matmul", batch_a, batch_b)
            .map_err(|_| err("the batch dimensions cannot be broadcast together"))?;
        let mut shape: Shape = batch.clone();
        shape.push(m);
        shape.push(n);
        let mut data = vec![T::zero(); numel(&shape)];
        if m * n > 0 && k > 0 {
            let sa: Vec<usize> = broadcast_strides(batch_a, &batch).iter().map(|s| s * ra * ca).collect();
            let sb: Vec<usize> = broadcast_strides(batch_b, &batch).iter().map(|s| s * rb * cb).collect();
            let (a_rs, a_cs) = operand_strides(ra, ca, ta);
            let (b_rs, b_cs) = operand_strides(rb, cb, tb);
            let parallelism = if m * n * k >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
                gemm::Parallelism::Rayon(rayon::current_num_threads())
            } else {
                gemm::Parallelism::None
            };
            let mut out_offset = 0;
            let (a, b) = (self.as_slice(), other.as_slice());
            walk2(&batch, &sa, &sb, |oa, ob| {
                let dst = &mut data[out_offset..out_offset + m * n];
                // SAFETY: `dst` holds m·n elements written with row stride n and
                // column stride 1; `a[oa..]` holds the batch's ra·ca matrix, read as
                // op(A) (m × k) through strides (a_rs, a_cs) that stay inside it, and
                // likewise `b[ob..]` as op(B) (k × n). The three regions do not
                // overlap: `data` is a fresh buffer. read_dst is false, so `dst`'s
                // prior contents (zeros) are not read; alpha is then unused.
                unsafe {
                    gemm::gemm(
                        m,
                        n,
                        k,
                        dst.as_mut_ptr(),
                        1,
                        n as isize,
                        false,
                        a[oa..].as_ptr(),
                        a_cs,
                        a_rs,
                        b[ob..].as_ptr(),
                        b_cs,
                        b_rs,
                        T::zero(),
                        T::one(),
                        false,
                        false,
                        false,
                        parallelism,
                    );
                }
                out_offset += m * n;
            });
        }
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record("matmul", &[self, other], y, move |dy, x, _| {
            let (a, b) = (&x[0], &x[1]);
            // Y = op(A)·op(B): d op(A) = dY·op(B)ᵀ and d op(B) = op(A)ᵀ·dY, then undo op.
            let da = if ta { b.matmul_t(dy, tb, true)? } else { dy.matmul_t(b, false, !tb)? };
            let db = if tb { dy.matmul_t(a, true, ta)? } else { a.matmul_t(dy, !ta, false)? };
            Ok(two(da, db))
        }))
    }
}
