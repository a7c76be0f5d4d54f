//! Matrix multiplication on the `gemm` crate's kernels: 2-D, batched with NumPy
//! broadcasting of the batch dimensions (as `torch.matmul`), and the vector cases.
//! Transposed operands are passed to the kernel as strides, never copied.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::Save;
use crate::kernels;
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
    row_stride: usize,
    col_stride: usize,
}

impl Operand {
    /// The strides of a row-major matrix with `cols` columns, read as is or transposed
    /// (the row count does not enter: a row-major layout is fixed by its row length).
    pub(crate) fn new(cols: usize, transposed: bool) -> Self {
        if transposed {
            Operand { row_stride: 1, col_stride: cols }
        } else {
            Operand { row_stride: cols, col_stride: 1 }
        }
    }

    /// This operand's matrix starting at `at`.
    fn view<T>(self, at: *const T) -> View<T> {
        View { at, row: self.row_stride, col: self.col_stride }
    }
}

/// `dst (m × n, row-major) = [dst +] op(A)·op(B)` on the `gemm` kernels, where `a`
/// holds `op(A)` (m × k) and `b` holds `op(B)` (k × n) as `lhs` and `rhs` describe.
/// With `accumulate` the product is added to `dst`'s contents (how `linear` adds
/// its bias for free).
///
/// Above `PARALLEL_FLOPS`, the output's rows are cut into one block per thread and
/// each block is a single-threaded product, the blocks shared out by rayon. Measured
/// on the MLP's products with 2 threads, this beats the kernel's own threading most
/// where an operand is transposed (the weight gradient `xᵀ·dy`). The cut may depend
/// on the thread count because [`row_blocks`] only cuts where the kernel computes
/// every element in the same order as one call over all rows would: the bits are
/// those of the single-threaded product for any number of threads.
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
    let blocks =
        if m * n * k >= PARALLEL_FLOPS { row_blocks(m, n, k, rayon::current_num_threads()) } else { 1 };
    gemm_in_blocks(dst, m, n, k, a, lhs, b, rhs, accumulate, blocks);
}

/// [`gemm_into`] with its output rows cut into `blocks` row blocks, each a
/// single-threaded product, run in parallel.
#[allow(clippy::too_many_arguments)]
fn gemm_in_blocks<T: Element>(
    dst: &mut [T],
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    lhs: Operand,
    b: &[T],
    rhs: Operand,
    accumulate: bool,
    blocks: usize,
) {
    // The bounds the unsafe calls below rely on, checked once per product (cheap
    // next to the m·n·k multiply-adds, and a wrong caller panics instead of reading
    // out of bounds).
    let last =
        |rows: usize, cols: usize, op: Operand| (rows - 1) * op.row_stride + (cols - 1) * op.col_stride;
    assert!(
        m > 0 && n > 0 && k > 0 && dst.len() >= m * n && (1..=m).contains(&blocks),
        "tensor invariant: gemm_into needs a non-empty product, an m·n destination and 1..=m blocks"
    );
    assert!(
        last(m, k, lhs) < a.len() && last(k, n, rhs) < b.len(),
        "tensor invariant: gemm_into operands hold op(A) m×k and op(B) k×n"
    );
    if blocks == 1 {
        // SAFETY: `dst` holds at least m·n elements (row stride n); `a` and `b` hold
        // op(A) and op(B) through their non-negative strides (checked above); `dst`
        // is a distinct `&mut` borrow, so it overlaps neither operand.
        unsafe {
            gemm_at(m, n, k, dst.as_mut_ptr(), n, accumulate, lhs.view(a.as_ptr()), rhs.view(b.as_ptr()))
        };
        return;
    }
    // Every block gets at least ⌊m / blocks⌋ rows (what `row_blocks` counted on):
    // whole 8-row groups when the last block stays that long, else ⌈m / blocks⌉ rows
    // for the first m mod blocks blocks and ⌊m / blocks⌋ for the rest.
    let block_rows = |i: usize| match aligned_block_rows(m, blocks) {
        Some(rows) if i + 1 < blocks => rows,
        Some(rows) => m - (blocks - 1) * rows,
        None => m / blocks + usize::from(i < m % blocks),
    };
    let mut rest = &mut dst[..m * n];
    let mut pieces = Vec::with_capacity(blocks);
    let mut first = 0;
    for i in 0..blocks {
        let (rows, tail) = rest.split_at_mut(block_rows(i) * n);
        pieces.push((first, rows));
        first += block_rows(i);
        rest = tail;
    }
    crate::parallel::keep_workers_awake();
    pieces.into_par_iter().for_each(|(first, rows)| {
        let count = rows.len() / n;
        // SAFETY: `rows` is this block's own `&mut` slice of `count` output rows (row
        // stride n); `a` is read from the block's first row of op(A), an offset
        // along a non-negative stride that stays inside the slice checked above, and
        // `b` whole, as checked above; neither overlaps `dst`.
        unsafe {
            let a_first = lhs.view(a.as_ptr().add(first * lhs.row_stride));
            gemm_at(count, n, k, rows.as_mut_ptr(), n, accumulate, a_first, rhs.view(b.as_ptr()));
        }
    });
}

/// Rows per block in whole 8-row groups, when the last block then still has at least
/// ⌊m / blocks⌋ rows (the bound `row_blocks` relies on); `None` otherwise.
fn aligned_block_rows(m: usize, blocks: usize) -> Option<usize> {
    let rows = m.div_ceil(blocks).next_multiple_of(8);
    ((blocks - 1) * rows < m && m - (blocks - 1) * rows >= m / blocks).then_some(rows)
}

/// `op(A)·op(B)` (plus `bias`, an n-vector added to every row, when given) as a new
/// m × n row-major buffer, the same bits as [`gemm_into`] over a zeroed or
/// bias-filled output. Each row block zeroes or fills its own rows just before its
/// product (see [`kernels::filled`]), instead of a serial pass over the whole output
/// first: zeroing was 2.5% of gpt-char's time in perf, `linear`'s bias copy 2.6% of
/// its main thread at 2 threads.
#[allow(clippy::too_many_arguments)]
fn gemm_new<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    lhs: Operand,
    b: &[T],
    rhs: Operand,
    bias: Option<&[T]>,
) -> Vec<T> {
    let start = |rows: &mut [T]| {
        if let Some(bias) = bias {
            rows.chunks_exact_mut(n).for_each(|row| row.copy_from_slice(bias));
        }
    };
    let blocks =
        if m * n * k >= PARALLEL_FLOPS { row_blocks(m, n, k, rayon::current_num_threads()) } else { 1 };
    let rows = match blocks {
        1 => Some(m),
        _ => aligned_block_rows(m, blocks),
    };
    match rows {
        Some(rows) => kernels::filled(m * n, rows * n, blocks > 1, |i, block| {
            let first = i * rows;
            start(block);
            let a_first = &a[first * lhs.row_stride..];
            gemm_in_blocks(block, block.len() / n, n, k, a_first, lhs, b, rhs, bias.is_some(), 1);
        }),
        None => {
            let mut out = vec![T::zero(); m * n];
            start(&mut out);
            gemm_in_blocks(&mut out, m, n, k, a, lhs, b, rhs, bias.is_some(), blocks);
            out
        }
    }
}

/// How many row blocks an m × k by k × n product is cut into for `threads` threads:
/// as many as there are threads, but only as many as keep every block at least
/// [`min_block_rows`] long, so that each block takes the kernel's general path with
/// the same depth blocking as the whole product.
fn row_blocks(m: usize, n: usize, k: usize, threads: usize) -> usize {
    threads.min(m / min_block_rows(n, k)).max(1)
}

/// The fewest output rows a block may have for the `gemm` kernels (0.19) to compute
/// each of its elements exactly as a call over all m rows does. The kernels choose
/// their path and the depth blocking (the order in which an element's k products are
/// summed) from the sizes they are given:
/// - one row goes to a matrix–vector kernel, so a block has at least 2;
/// - at most 16 × 16 outputs go to a dot-product kernel when `A` is row-major and
///   `B` transposed, so a block has more than 256 outputs;
/// - with m ≤ 64 and n ≤ 64 the depth is cut every 512, otherwise evenly into
///   pieces of about 512, so for n ≤ 64 and k > 512 a block has more than 64 rows.
///
/// A product too small to meet these stays whole. Row and column tiling, and packing,
/// only move data; they do not change the order of the sums.
/// `gemm_blocks_give_the_bits_of_one_call` checks the rule over shapes around each bound.
fn min_block_rows(n: usize, k: usize) -> usize {
    let depth_bound = if n <= 64 && k > 512 { 65 } else { 2 };
    depth_bound.max(257usize.div_ceil(n))
}

/// A GEMM operand: its first element and its row and column strides.
#[derive(Clone, Copy)]
pub(crate) struct View<T> {
    pub(crate) at: *const T,
    pub(crate) row: usize,
    pub(crate) col: usize,
}

/// `dst (m × n, row stride dst_row) = [dst +] A·B` on the calling thread, A m × k and
/// B k × n as their views describe.
///
/// # Safety
/// `dst` must be valid for writes (and, with `accumulate`, reads) of the m × n block
/// with row stride `dst_row`, `a` and `b` valid for reads of A and B through their
/// strides, and `dst` must overlap neither.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_at<T: Element>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_row: usize,
    accumulate: bool,
    a: View<T>,
    b: View<T>,
) {
    // SAFETY: the caller guarantees the regions (this function's contract); with
    // `accumulate` dst = 1·dst + 1·A·B, without it dst is only written.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row as isize,
            accumulate,
            a.at,
            a.col as isize,
            a.row as isize,
            b.at,
            b.col as isize,
            b.row as isize,
            T::one(),
            T::one(),
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// One buffer handed to rayon tasks that each write their own disjoint part of it.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut<T>(pub(crate) *mut T);

// SAFETY: a `SharedOut` is only created over a buffer that outlives the parallel
// loop using it, and each task writes a region no other task touches (see the use).
unsafe impl<T: Send> Send for SharedOut<T> {}
// SAFETY: as above: tasks never write the same element.
unsafe impl<T: Send> Sync for SharedOut<T> {}

impl<T> SharedOut<T> {
    /// The pointer (a method, so closures capture the `Send` wrapper, not the field).
    pub(crate) fn get(self) -> *mut T {
        self.0
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
        let single = batch.iter().product::<usize>() == 1;
        let mut data = if single && m * n > 0 && k > 0 {
            let (lhs, rhs) = (Operand::new(ca, ta), Operand::new(cb, tb));
            gemm_new(m, n, k, self.as_slice(), lhs, other.as_slice(), rhs, None)
        } else {
            vec![T::zero(); numel(&shape)]
        };
        if !single && m * n > 0 && k > 0 {
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
        let data = if rows * outputs > 0 && inputs > 0 {
            let lhs = Operand::new(inputs, false);
            let rhs = Operand::new(outputs, false);
            gemm_new(rows, outputs, inputs, self.as_slice(), lhs, w.as_slice(), rhs, Some(b.as_slice()))
        } else {
            b.as_slice().repeat(rows)
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// Every cut `row_blocks` allows gives the bits of one call over all rows, over
    /// shapes on both sides of each bound in `min_block_rows` (1 and 2 rows, 256
    /// outputs, 64 rows and columns, depth 512), both operand layouts and both
    /// `accumulate` modes, in f32 and f64.
    #[test]
    fn gemm_blocks_give_the_bits_of_one_call() {
        cuts_give_the_bits_of_one_call::<f32>();
        cuts_give_the_bits_of_one_call::<f64>();
    }

    fn cuts_give_the_bits_of_one_call<T: Element>() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut checked = 0;
        for &m in &[2, 3, 9, 40, 64, 65, 66, 100, 131] {
            for &n in &[1, 2, 7, 16, 17, 64, 65, 129] {
                for &k in &[1, 2, 3, 100, 512, 513, 1000] {
                    let mut random = |len| -> Vec<T> {
                        (0..len).map(|_| T::from_f64(rng.random_range(-1.0..1.0))).collect()
                    };
                    let (a, b, init) = (random(m * k), random(k * n), random(m * n));
                    for (ta, tb, accumulate) in
                        [(false, false, false), (false, true, true), (true, false, false), (true, true, true)]
                    {
                        let lhs = Operand::new(if ta { m } else { k }, ta);
                        let rhs = Operand::new(if tb { k } else { n }, tb);
                        let product = |blocks| {
                            let mut dst = init.clone();
                            gemm_in_blocks(&mut dst, m, n, k, &a, lhs, &b, rhs, accumulate, blocks);
                            // Bit patterns, so that NaN-free results compare exactly.
                            dst.iter().map(|x| x.as_f64().to_bits()).collect::<Vec<_>>()
                        };
                        let whole = product(1);
                        let bits = |v: &[T]| v.iter().map(|x| x.as_f64().to_bits()).collect::<Vec<_>>();
                        if !accumulate {
                            assert!(whole == bits(&gemm_new(m, n, k, &a, lhs, &b, rhs, None)));
                        } else {
                            // `linear`'s bias rows: the same as accumulating onto them.
                            let bias = &init[..n];
                            let mut onto_bias = bias.repeat(m);
                            gemm_in_blocks(&mut onto_bias, m, n, k, &a, lhs, &b, rhs, true, 1);
                            assert!(
                                bits(&onto_bias) == bits(&gemm_new(m, n, k, &a, lhs, &b, rhs, Some(bias)))
                            );
                        }
                        for threads in 2..=4 {
                            let blocks = row_blocks(m, n, k, threads);
                            if blocks > 1 {
                                checked += 1;
                                assert!(
                                    whole == product(blocks),
                                    "{m}×{k}·{k}×{n} (transposed {ta}, {tb}) in {blocks} blocks differs from one call"
                                );
                            }
                        }
                    }
                }
            }
        }
        assert!(checked > 1000, "the grid must exercise the cuts ({checked} checked)");
    }

    /// The cut is the one the bounds promise: no block below `min_block_rows`.
    #[test]
    fn row_blocks_respect_the_minimum_block() {
        assert_eq!(row_blocks(100, 64, 1000, 2), 1, "n ≤ 64 and k > 512 need blocks over 64 rows");
        assert_eq!(row_blocks(130, 64, 1000, 2), 2);
        assert_eq!(row_blocks(256, 512, 784, 2), 2);
        assert_eq!(row_blocks(256, 512, 784, 1), 1);
        assert_eq!(row_blocks(10, 16, 4096, 4), 1, "at most 256 outputs per block stay whole");
        assert_eq!(row_blocks(3, 1000, 1000, 4), 1, "a block of one row is a matrix–vector product");
    }
}
