//! Matrix multiplication on the `gemm` crate's kernels: 2-D, batched with NumPy
//! broadcasting of the batch dimensions (as `torch.matmul`), and the vector cases.
//! Transposed operands are passed to the kernel as strides, never copied.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::Save;
use crate::shape::{Shape, broadcast_shapes, broadcast_strides, numel, walk2};
use crate::tensor::Tensor;
use rayon::prelude::*;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["matmul", "linear"];

/// Below this many multiply-adds a product runs on one thread.
const PARALLEL_FLOPS: usize = 1 << 20;

/// How the GEMM reads one operand: `op(M)` of a row-major `rows × cols` matrix `M`,
/// through its row and column strides (a transpose is only a swap of strides).
#[derive(Clone, Copy)]
pub(crate) struct Operand {
    row_stride: isize,
    col_stride: isize,
}

impl Operand {
    /// The strides of a row-major matrix with `cols` columns, read as is or transposed
    /// (the row count does not enter: a row-major layout is fixed by its row length).
    pub(crate) fn new(cols: usize, transposed: bool) -> Self {
        if transposed {
            Operand { row_stride: 1, col_stride: cols as isize }
        } else {
            Operand { row_stride: cols as isize, col_stride: 1 }
        }
    }
}

/// `dst (m × n, row-major) = [dst +] op(A)·op(B)` on the `gemm` kernels, where `a`
/// holds `op(A)` (m × k) and `b` holds `op(B)` (k × n) as `lhs` and `rhs` describe.
/// With `accumulate` the product is added to `dst`'s contents (how `linear` adds
/// its bias for free).
///
/// Above `PARALLEL_FLOPS`, the output's rows are cut into blocks of `ROW_BLOCK` rows
/// and each block is a single-threaded product, the blocks shared out by rayon.
/// Measured on the MLP's products with 2 threads, this beats the kernel's own
/// threading most where an operand is transposed (the weight gradient `xᵀ·dy`). The
/// cut depends only on the shape, never on the thread count: the kernel chooses its
/// blocking (and so the order of each element's sums) from the sizes it is given, so
/// blocks sized by the thread count gave different bits under 1, 2 and 4 threads.
/// With a fixed cut every thread count runs the very same products. (A cut along
/// columns is avoided: it moves elements between the kernel's tiles.)
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_into<T: Element>(
    dst: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    lhs: Operand,
    b: &[T],
    rhs: Operand,
    accumulate: bool,
) {
    // The bounds the unsafe calls below rely on, checked once per product (cheap
    // next to the m·n·k multiply-adds, and a wrong caller panics instead of reading
    // out of bounds).
    let last = |rows: usize, cols: usize, op: Operand| {
        (rows - 1) as isize * op.row_stride + (cols - 1) as isize * op.col_stride
    };
    assert!(
        m > 0 && n > 0 && k > 0 && dst.len() >= m * n,
        "tensor invariant: gemm_into needs a non-empty product and an m·n destination"
    );
    assert!(
        (last(m, k, lhs) as usize) < a.len() && (last(k, n, rhs) as usize) < b.len(),
        "tensor invariant: gemm_into operands hold op(A) m×k and op(B) k×n"
    );
    let parallel = m * n * k >= PARALLEL_FLOPS && m > ROW_BLOCK;
    if !parallel {
        // SAFETY: `dst` holds at least m·n elements (row stride n); `a` and `b` hold
        // op(A) and op(B) through their non-negative strides (checked above); `dst`
        // is a distinct `&mut` borrow, so it overlaps neither operand.
        unsafe {
            gemm_raw(
                dst.as_mut_ptr(),
                m,
                n,
                k,
                a.as_ptr(),
                lhs,
                b.as_ptr(),
                rhs,
                accumulate,
                gemm::Parallelism::None,
            )
        };
        return;
    }
    let block = ROW_BLOCK;
    dst[..m * n].par_chunks_mut(block * n).enumerate().for_each(|(i, rows)| {
        let first = i * block;
        let count = rows.len() / n;
        // SAFETY: `rows` is this block's own `&mut` slice of `count` output rows (row
        // stride n); `a` is read from the block's first row of op(A), an offset
        // along a non-negative stride that stays inside the slice checked above, and
        // `b` whole, as checked above; neither overlaps `dst`.
        unsafe {
            let a_first = a.as_ptr().offset(first as isize * lhs.row_stride);
            let none = gemm::Parallelism::None;
            gemm_raw(rows.as_mut_ptr(), count, n, k, a_first, lhs, b.as_ptr(), rhs, accumulate, none);
        }
    });
}

/// The output rows of one block of a parallel product: a constant, so the blocks (and
/// the bits of the result) are the same for every thread count.
const ROW_BLOCK: usize = 32;

/// One `gemm` call: `dst (m × n, row stride n) = [dst +] op(A)·op(B)`.
///
/// # Safety
/// `dst` must be valid for writes (and reads, with `accumulate`) of the m × n block
/// with row stride `n`, `a` and `b` valid for reads of op(A) (m × k) and op(B)
/// (k × n) through `lhs` and `rhs`, and `dst` must overlap neither.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw<T: Element>(
    dst: *mut T,
    m: usize,
    n: usize,
    k: usize,
    a: *const T,
    lhs: Operand,
    b: *const T,
    rhs: Operand,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the caller guarantees the regions (this function's contract). With
    // `accumulate`, dst = 1·dst + 1·A·B (dst holds initialised values); without it
    // dst is only written (alpha is then unused).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            accumulate,
            a,
            lhs.col_stride,
            lhs.row_stride,
            b,
            rhs.col_stride,
            rhs.row_stride,
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
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
    /// let b = Tensor::<f32>::eye(2)?;
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
            let lhs = Operand::new(ca, ta);
            let rhs = Operand::new(cb, tb);
            let mut out_offset = 0;
            let (a, b) = (self.as_slice(), other.as_slice());
            walk2(&batch, &sa, &sb, |oa, ob| {
                gemm_into(
                    &mut data[out_offset..out_offset + m * n],
                    m,
                    n,
                    k,
                    &a[oa..],
                    lhs,
                    &b[ob..],
                    rhs,
                    false,
                );
                out_offset += m * n;
            });
        }
        let y = Tensor::from_parts(data, shape);
        Ok(Tensor::record_builtin("matmul", &[self, other], y, Save::INPUTS, move |dy, s| {
            let (a, b) = (s.input(0)?, s.input(1)?);
            // Y = op(A)·op(B): d op(A) = dY·op(B)ᵀ and d op(B) = op(A)ᵀ·dY, then undo op.
            // A constant operand (the data batch of a first layer) gets no gradient:
            // the engine would drop it, and it costs as much as the forward product.
            let da = match s.needs_grad(0) {
                false => None,
                true if ta => Some(b.matmul_t(dy, tb, true)?),
                true => Some(dy.matmul_t(b, false, !tb)?),
            };
            let db = match s.needs_grad(1) {
                false => None,
                true if tb => Some(dy.matmul_t(a, true, ta)?),
                true => Some(a.matmul_t(dy, !ta, false)?),
            };
            Ok(smallvec::smallvec![da, db])
        }))
    }

    /// The affine map of a dense layer, `self·w + b`, fused: `self` is `[…, in]`
    /// (any leading axes, or a single vector `[in]`), `w` is `[in, out]` and `b` is
    /// `[out]`. The bias is written into the output first and the GEMM accumulates
    /// the product onto it, so the broadcast add costs no extra pass or buffer.
    /// Gradient: `dx = dy·wᵀ`, `dw = xᵀ·dy` and `db = Σ_rows dy`, with every leading
    /// axis folded into the rows.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let x = Tensor::<f32>::from_vec(vec![1., 2.], &[1, 2])?;
    /// let w = Tensor::<f32>::from_vec(vec![1., 0., 0., 1.], &[2, 2])?;
    /// let b = Tensor::<f32>::from_vec(vec![10., 20.], &[2])?;
    /// assert_eq!(x.linear(&w, &b)?.to_vec(), vec![11., 22.]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn linear(&self, w: &Tensor<T>, b: &Tensor<T>) -> Result<Tensor<T>> {
        let mismatch = |lhs: &Tensor<T>, rhs: &Tensor<T>, reason| Error::ShapeMismatch {
            op: "linear",
            lhs: lhs.shape.clone(),
            rhs: rhs.shape.clone(),
            reason,
        };
        if w.ndim() != 2 || b.ndim() != 1 || b.shape[0] != w.shape[1] {
            return Err(mismatch(w, b, "the weight must be [in, out] and the bias [out]"));
        }
        let (inputs, outputs) = (w.shape[0], w.shape[1]);
        if self.ndim() == 0 || self.shape[self.ndim() - 1] != inputs {
            return Err(mismatch(self, w, "the input's last axis must equal the weight's input count"));
        }
        let rows = numel(&self.shape[..self.ndim() - 1]);
        let mut shape = self.shape.clone();
        *shape.last_mut().unwrap_or_else(|| unreachable!("tensor invariant: rank checked above")) = outputs;
        let mut data = Vec::with_capacity(rows * outputs);
        for _ in 0..rows {
            data.extend_from_slice(b.as_slice());
        }
        if rows * outputs > 0 && inputs > 0 {
            let lhs = Operand::new(inputs, false);
            let rhs = Operand::new(outputs, false);
            gemm_into(&mut data, rows, outputs, inputs, self.as_slice(), lhs, w.as_slice(), rhs, true);
        }
        let y = Tensor::from_parts(data, shape);
        // The bias's value is not needed for any gradient, so it is not kept.
        let save = Save::input(0).and_input(1);
        Ok(Tensor::record_builtin("linear", &[self, w, b], y, save, move |dy, s| {
            let dy_rows = dy.reshape(&[rows, outputs])?;
            let dx = match s.needs_grad(0) {
                true => Some(dy_rows.matmul_t(s.input(1)?, false, true)?.reshape(s.input_shape(0))?),
                false => None,
            };
            let dw = match s.needs_grad(1) {
                true => Some(s.input(0)?.reshape(&[rows, inputs])?.matmul_t(&dy_rows, true, false)?),
                false => None,
            };
            let db = match s.needs_grad(2) {
                true => Some(dy_rows.sum(0, false)?),
                false => None,
            };
            Ok(smallvec::smallvec![dx, dw, db])
        }))
    }
}
