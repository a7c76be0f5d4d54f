//! Scaled dot-product attention, `softmax(q·kᵀ/√d + mask)·v`, as one recorded op
//! over every (batch, head) pair: per pair, the scores are one GEMM into a buffer that
//! is scaled, masked and turned into probabilities in place, and the output a second
//! GEMM — the steps `matmul_t`, `mul_scalar`, `masked_fill` and `softmax` would each
//! take as a pass and a node. [`Tensor::multi_head_self_attention`] reads q, k and v
//! straight from the packed projection `x·W_inᵀ` (N, T, 3E) and writes the heads
//! merged (N, T, E), so the chunk and the two head permutations never copy.
//!
//! The backward is one pass per pair from the saved probabilities P:
//! `dV = Pᵀ·dY`, `dP = dY·Vᵀ`, `dS = P ⊙ (dP − Σⱼ dP·P)/√d`, `dQ = dS·K`,
//! `dK = dSᵀ·Q`. Under `create_graph` the op is recomputed from its composition
//! (the same ops as above), which also serves a mask given as a tensor.

use super::linalg::{SharedOut, View, gemm_at};
use super::recompute_rule;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{Save, is_grad_enabled};
use crate::kernels::{self, dot_lanes, softmax_in_place};
use crate::shape::{Shape, broadcast_shapes, numel, shape_of};
use crate::tensor::Tensor;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["scaled_dot_product_attention", "multi_head_self_attention"];

/// Below this many multiply-adds (both products of every pair) the pairs run on the
/// calling thread. Pairs are independent, so the split never changes a bit.
const PARALLEL_MACS: usize = 1 << 18;

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

/// Where the (batch, head) matrices of one operand sit in its buffer: matrix (b, h)
/// starts at `offset + b·batch + h·head`, its rows `row` apart, its columns adjacent.
#[derive(Debug, Clone, Copy)]
struct Heads {
    offset: usize,
    batch: usize,
    head: usize,
    row: usize,
}

impl Heads {
    /// Contiguous (…, rows, cols) matrices, one head.
    fn contiguous(rows: usize, cols: usize) -> Heads {
        Heads { offset: 0, batch: rows * cols, head: 0, row: cols }
    }

    fn start(self, b: usize, h: usize) -> usize {
        self.offset + b * self.batch + h * self.head
    }

    /// One past the last element any (batch, head) matrix of `rows × cols` reads.
    fn end(self, d: Dims, rows: usize, cols: usize) -> usize {
        match (d.batch, d.heads, rows, cols) {
            (0, ..) | (_, 0, ..) | (_, _, 0, _) | (.., 0) => 0,
            _ => self.start(d.batch - 1, d.heads - 1) + (rows - 1) * self.row + cols,
        }
    }

    /// Matrix (b, h) of `buffer` as a GEMM operand, read as is or transposed.
    fn view<T>(self, buffer: *const T, b: usize, h: usize, transposed: bool) -> View<T> {
        // `wrapping_add`: the pointer is only dereferenced by the GEMM, inside the
        // bounds `Attention::check` established.
        let at = buffer.wrapping_add(self.start(b, h));
        if transposed { View { at, row: 1, col: self.row } } else { View { at, row: self.row, col: 1 } }
    }
}

/// The sizes and layout of one attention: `batch × heads` pairs, each `queries`
/// against `keys`, of width `d` (q, k) and `dv` (v and the output).
#[derive(Debug, Clone, Copy)]
struct Dims {
    batch: usize,
    heads: usize,
    queries: usize,
    keys: usize,
    d: usize,
    dv: usize,
    causal: bool,
}

/// Dims and where each operand's matrices are.
#[derive(Debug, Clone, Copy)]
struct Attention {
    dims: Dims,
    q: Heads,
    k: Heads,
    v: Heads,
    y: Heads,
}

impl Dims {
    fn pairs(self) -> usize {
        self.batch * self.heads
    }

    fn scores(self) -> usize {
        self.queries * self.keys
    }

    /// Keys query `i` sees: all, or with `causal` those at positions ≤ i.
    fn open(self, i: usize) -> usize {
        if self.causal { (i + 1).min(self.keys) } else { self.keys }
    }

    fn scale<T: Element>(self) -> T {
        T::one() / T::from_usize(self.d).sqrt()
    }

    fn parallel(self) -> bool {
        self.pairs() > 1 && self.pairs() * self.scores() * (self.d + self.dv) >= PARALLEL_MACS
    }
}

impl Attention {
    /// The bounds the GEMMs' unsafe reads and writes rely on: every matrix of q, k,
    /// v and the output lies inside its buffer (a wrong layout is a bug here, so it
    /// panics instead of reading out of bounds).
    fn check(self, q: usize, k: usize, v: usize, y: usize) {
        let d = self.dims;
        assert!(
            self.q.end(d, d.queries, d.d) <= q
                && self.k.end(d, d.keys, d.d) <= k
                && self.v.end(d, d.keys, d.dv) <= v
                && self.y.end(d, d.queries, d.dv) <= y,
            "tensor invariant: attention layout {self:?} outside buffers of {q}, {k}, {v}, {y}"
        );
    }

    /// A new (pairs, Tq, Tk) buffer, `f(batch, head, block)` writing each (batch,
    /// head) pair's block, on rayon when large. Each block is zeroed by the task that
    /// fills it ([`kernels::filled`]): the 2 MiB of gpt-char's probabilities had been
    /// zeroed in one serial pass.
    fn pairs_new<T: Element>(self, f: impl Fn(usize, usize, &mut [T]) + Sync + Send) -> Vec<T> {
        let d = self.dims;
        kernels::filled(d.pairs() * d.scores(), d.scores(), d.parallel(), |pair, p| {
            f(pair / d.heads, pair % d.heads, p)
        })
    }

    /// The forward: writes the output into `y` and returns the probabilities P,
    /// (pairs, Tq, Tk), masked entries exactly 0.
    fn forward<T: Element>(self, q: &[T], k: &[T], v: &[T], y: &mut [T]) -> Vec<T> {
        self.check(q.len(), k.len(), v.len(), y.len());
        let d = self.dims;
        let scale: T = d.scale();
        let out = SharedOut(y.as_mut_ptr());
        self.pairs_new(|b, h, p| {
            // SAFETY: `p` is this pair's own Tq × Tk block; q's and k's matrices are
            // inside their buffers (`check`); the output matrix (b, h) is inside `y`
            // and no other pair writes it (pairs' matrices are disjoint); `y` is a
            // `&mut` borrow, so it overlaps no operand.
            unsafe {
                let (qv, kt) = (self.q.view(q.as_ptr(), b, h, false), self.k.view(k.as_ptr(), b, h, true));
                gemm_at(d.queries, d.keys, d.d, p.as_mut_ptr(), d.keys, false, qv, kt);
            }
            for (i, row) in p.chunks_exact_mut(d.keys).enumerate() {
                let (open, closed) = row.split_at_mut(d.open(i));
                open.iter_mut().for_each(|s| *s *= scale);
                softmax_in_place(open);
                closed.fill(T::zero());
            }
            // SAFETY: as above; P is read from this pair's block.
            unsafe {
                let pv = View { at: p.as_ptr(), row: d.keys, col: 1 };
                let dst = out.get().add(self.y.start(b, h));
                gemm_at(
                    d.queries,
                    d.dv,
                    d.keys,
                    dst,
                    self.y.row,
                    false,
                    pv,
                    self.v.view(v.as_ptr(), b, h, false),
                );
            }
        })
    }

    /// The backward from the saved probabilities: writes dQ, dK and dV (each in its
    /// operand's layout) through `dq`, `dk` and `dv`, which may be one buffer (the
    /// packed projection's gradient), since the three layouts never overlap.
    #[allow(clippy::too_many_arguments)]
    fn backward<T: Element>(
        self,
        dy: &[T],
        q: &[T],
        k: &[T],
        v: &[T],
        probs: &[T],
        grads: [SharedOut<T>; 3],
        grad_lens: [usize; 3],
    ) {
        self.check(q.len(), k.len(), v.len(), dy.len());
        self.check(grad_lens[0], grad_lens[1], grad_lens[2], dy.len());
        let d = self.dims;
        let scale: T = d.scale();
        let [dq, dk, dv] = grads;
        // dS per pair, a scratch buffer dropped at the end.
        self.pairs_new(|b, h, ds: &mut [T]| {
            let pair = b * d.heads + h;
            let p = &probs[pair * d.scores()..][..d.scores()];
            let pv = |transposed| {
                if transposed {
                    View { at: p.as_ptr(), row: 1, col: d.keys }
                } else {
                    View { at: p.as_ptr(), row: d.keys, col: 1 }
                }
            };
            let dyv = self.y.view(dy.as_ptr(), b, h, false);
            // SAFETY: `ds` is this pair's own scratch block; dy, q, k, v are read
            // inside their buffers and dQ, dK, dV written inside theirs (`check`);
            // pair (b, h)'s gradient matrices are written by this pair alone, and
            // the gradient buffers are fresh, overlapping no operand.
            unsafe {
                // dV = Pᵀ·dY and dP = dY·Vᵀ.
                let dst = dv.get().add(self.v.start(b, h));
                gemm_at(d.keys, d.dv, d.queries, dst, self.v.row, false, pv(true), dyv);
                let vt = self.v.view(v.as_ptr(), b, h, true);
                gemm_at(d.queries, d.keys, d.dv, ds.as_mut_ptr(), d.keys, false, dyv, vt);
            }
            // dS = P ⊙ (dP − Σⱼ dP·P)·scale, 0 where masked (P is 0 there).
            for (i, (row, p_row)) in ds.chunks_exact_mut(d.keys).zip(p.chunks_exact(d.keys)).enumerate() {
                let open = d.open(i);
                let dot = dot_lanes(&row[..open], &p_row[..open]);
                row[..open].iter_mut().zip(&p_row[..open]).for_each(|(g, &p)| *g = p * (*g - dot) * scale);
                row[open..].fill(T::zero());
            }
            // SAFETY: as above.
            unsafe {
                let dsv = View { at: ds.as_ptr(), row: d.keys, col: 1 };
                let dst = dq.get().add(self.q.start(b, h));
                gemm_at(
                    d.queries,
                    d.d,
                    d.keys,
                    dst,
                    self.q.row,
                    false,
                    dsv,
                    self.k.view(k.as_ptr(), b, h, false),
                );
                let dst_t = View { at: ds.as_ptr(), row: 1, col: d.keys };
                let dst = dk.get().add(self.k.start(b, h));
                gemm_at(
                    d.keys,
                    d.d,
                    d.queries,
                    dst,
                    self.k.row,
                    false,
                    dst_t,
                    self.q.view(q.as_ptr(), b, h, false),
                );
            }
        });
    }
}
impl<T: Element> Tensor<T> {
    /// Scaled dot-product attention: `softmax(q·kᵀ/√d)·v` over the keys, with q
    /// (…, Tq, d), k (…, Tk, d) and v (…, Tk, dv) (leading axes broadcast, as
    /// `matmul`), giving (…, Tq, dv). Scores a `mask` forbids are set to −∞ before the
    /// softmax, so they get weight 0 and exactly zero gradient.
    ///
    /// With no mask or the causal one, and q, k and v of the same leading shape, this
    /// is one fused op (see the module docs); otherwise it is composed of
    /// `matmul_t`, `mul_scalar`, `masked_fill` and `softmax`.
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
        let lead = &q.shape[..q.ndim() - 2];
        let causal = match mask {
            AttentionMask::None => false,
            AttentionMask::Causal => true,
            AttentionMask::Allow(_) => return attention_ops(q, k, v, mask),
        };
        if k.shape[..k.ndim() - 2] != *lead || v.shape[..v.ndim() - 2] != *lead {
            return attention_ops(q, k, v, mask);
        }
        if keys == 0 {
            let mut scores: Shape = q.shape[..q.ndim() - 1].into();
            scores.push(0);
            return Err(no_key(op, &scores));
        }
        let (queries, dv) = (q.shape[q.ndim() - 2], v.shape[v.ndim() - 1]);
        let dims = Dims { batch: numel(lead), heads: 1, queries, keys, d, dv, causal };
        let layout = Attention {
            dims,
            q: Heads::contiguous(queries, d),
            k: Heads::contiguous(keys, d),
            v: Heads::contiguous(keys, dv),
            y: Heads::contiguous(queries, dv),
        };
        let mut out_shape: Shape = lead.into();
        out_shape.push(queries);
        out_shape.push(dv);
        let mut y = vec![T::zero(); numel(&out_shape)];
        let probs = Arc::new(layout.forward(q.as_slice(), k.as_slice(), v.as_slice(), &mut y));
        let y = Tensor::from_parts(y, out_shape);
        Ok(Tensor::record_builtin(op, &[q, k, v], y, Save::INPUTS, move |dy, s| {
            let (q, k, v) = (s.input(0)?, s.input(1)?, s.input(2)?);
            if is_grad_enabled() {
                let mask = if causal { AttentionMask::Causal } else { AttentionMask::None };
                return recompute_rule(dy, s, |x| attention_ops(&x[0], &x[1], &x[2], mask));
            }
            let mut grads = [q, k, v].map(|x| vec![T::zero(); x.numel()]);
            let lens = grads.each_ref().map(Vec::len);
            let [gq, gk, gv] = grads.each_mut().map(|g| SharedOut(g.as_mut_ptr()));
            layout.backward(
                dy.as_slice(),
                q.as_slice(),
                k.as_slice(),
                v.as_slice(),
                &probs,
                [gq, gk, gv],
                lens,
            );
            let [gq, gk, gv] = grads;
            let wrap = |g: Vec<T>, x: &Tensor<T>| Tensor::from_parts(g, x.shape.clone());
            Ok(smallvec::smallvec![
                s.needs_grad(0).then(|| wrap(gq, q)),
                s.needs_grad(1).then(|| wrap(gk, k)),
                s.needs_grad(2).then(|| wrap(gv, v)),
            ])
        }))
    }

    /// Multi-head self-attention on a packed projection: `self` is (N, T, 3E), the
    /// queries, keys and values side by side along the last axis (as
    /// `x·W_inᵀ + b_in` of PyTorch's `MultiheadAttention`), each split into `heads`
    /// heads of E/heads features. Returns (N, T, E): every head's
    /// `softmax(q·kᵀ/√d + mask)·v`, the heads side by side again.
    ///
    /// The same as chunking into q, k and v, reshaping each to (N, T, H, d),
    /// permuting to (N, H, T, d), [`scaled_dot_product_attention`](Self::scaled_dot_product_attention),
    /// and permuting and reshaping back — but with no mask or the causal one it is one
    /// fused op that reads and writes the heads in place, with no copies. A tensor
    /// mask (broadcasting to (N, H, T, T)) takes the composed path.
    ///
    /// Errors when `self` is not (N, T, 3E) with E a positive multiple of `heads`, or
    /// when T is 0 (no key to attend to).
    ///
    /// ```
    /// use tensor_core::{AttentionMask, Tensor};
    /// // One sample, two positions, E = 2 in two heads of width 1; the causal mask
    /// // lets position 0 see only itself.
    /// let qkv = Tensor::<f64>::from_vec(vec![0., 0., 0., 0., 1., 2., 0., 0., 0., 0., 3., 4.], &[1, 2, 6])?;
    /// let y = qkv.multi_head_self_attention(2, AttentionMask::Causal)?;
    /// // Zero queries give equal weights: position 1 averages both values.
    /// assert_eq!(y.to_vec(), vec![1., 2., 2., 3.]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn multi_head_self_attention(&self, heads: usize, mask: AttentionMask<'_, T>) -> Result<Tensor<T>> {
        let op = "multi_head_self_attention";
        let packed = if self.ndim() == 3 { self.shape[2] } else { 0 };
        let e = packed / 3;
        if self.ndim() != 3 || packed % 3 != 0 || heads == 0 || e == 0 || e % heads != 0 {
            return Err(Error::InvalidArgument {
                op,
                reason: format!(
                    "expected (N, T, 3E) with E a positive multiple of {heads} heads, got shape {:?}",
                    self.shape
                ),
            });
        }
        let (n, t, d) = (self.shape[0], self.shape[1], e / heads);
        let causal = match mask {
            AttentionMask::None => false,
            AttentionMask::Causal => true,
            AttentionMask::Allow(_) => return packed_attention_ops(self, heads, mask),
        };
        if t == 0 {
            return Err(no_key(op, &shape_of(&[n, heads, 0, 0])));
        }
        let dims = Dims { batch: n, heads, queries: t, keys: t, d, dv: d, causal };
        let part = |offset| Heads { offset, batch: t * packed, head: d, row: packed };
        let layout = Attention {
            dims,
            q: part(0),
            k: part(e),
            v: part(2 * e),
            y: Heads { offset: 0, batch: t * e, head: d, row: e },
        };
        let mut y = vec![T::zero(); n * t * e];
        let x = self.as_slice();
        let probs = Arc::new(layout.forward(x, x, x, &mut y));
        let y = Tensor::from_parts(y, shape_of(&[n, t, e]));
        Ok(Tensor::record_builtin(op, &[self], y, Save::INPUTS, move |dy, s| {
            if is_grad_enabled() {
                let mask = if causal { AttentionMask::Causal } else { AttentionMask::None };
                return recompute_rule(dy, s, |x| packed_attention_ops(&x[0], heads, mask));
            }
            let x = s.input(0)?;
            let mut grad = vec![T::zero(); x.numel()];
            let len = grad.len();
            let out = SharedOut(grad.as_mut_ptr());
            let xs = x.as_slice();
            layout.backward(dy.as_slice(), xs, xs, xs, &probs, [out; 3], [len; 3]);
            Ok(smallvec::smallvec![Some(Tensor::from_parts(grad, x.shape.clone()))])
        }))
    }
}

/// Scaled dot-product attention written with ops: the general path (a tensor mask,
/// broadcast batch axes) and the recorded backward of the fused op.
fn attention_ops<T: Element>(
    q: &Tensor<T>,
    k: &Tensor<T>,
    v: &Tensor<T>,
    mask: AttentionMask<'_, T>,
) -> Result<Tensor<T>> {
    let op = "scaled_dot_product_attention";
    let d = q.shape[q.ndim() - 1];
    let keys = k.shape[k.ndim() - 2];
    let scores = q.matmul_t(k, false, true)?.mul_scalar(T::one() / T::from_usize(d).sqrt());
    let queries = scores.shape[scores.ndim() - 2];
    let blocked: Option<Tensor<T>> = match mask {
        AttentionMask::None => None,
        AttentionMask::Causal => {
            let data = (0..queries * keys).map(|at| if at % keys > at / keys { T::one() } else { T::zero() });
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

/// [`Tensor::multi_head_self_attention`] written with ops (shapes already checked).
fn packed_attention_ops<T: Element>(
    qkv: &Tensor<T>,
    heads: usize,
    mask: AttentionMask<'_, T>,
) -> Result<Tensor<T>> {
    let (n, t, e) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3);
    let parts = qkv.chunk(3, -1)?;
    let split = |p: &Tensor<T>| p.reshape(&[n, t, heads, e / heads])?.permute(&[0, 2, 1, 3]);
    let a = Tensor::scaled_dot_product_attention(
        &split(&parts[0])?,
        &split(&parts[1])?,
        &split(&parts[2])?,
        mask,
    )?;
    a.permute(&[0, 2, 1, 3])?.reshape(&[n, t, e])
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn random(shape: &[usize], rng: &mut StdRng) -> Tensor<f64> {
        Tensor::rand_uniform(shape, -1.5, 1.5, rng).expect("shape")
    }

    fn close(a: &Tensor<f64>, b: &Tensor<f64>, what: &str) {
        assert_eq!(a.shape(), b.shape(), "{what}");
        let worst = a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-13, "{what}: fused and composed differ by {worst}");
    }

    /// The fused ops agree with their compositions in value and in every gradient,
    /// with and without the causal mask, over shapes with one query, one key, one
    /// head, more queries than keys and a width of one.
    #[test]
    fn fused_attention_matches_the_composition() -> Result<()> {
        let mut rng = StdRng::seed_from_u64(3);
        for (lead, tq, tk, d, dv) in
            [(vec![], 1, 1, 1, 1), (vec![2], 3, 5, 4, 2), (vec![2, 3], 6, 4, 3, 5), (vec![1], 7, 7, 8, 1)]
        {
            let with = |tail: [usize; 2]| [lead.clone(), tail.to_vec()].concat();
            let (q, k, v) = (
                random(&with([tq, d]), &mut rng),
                random(&with([tk, d]), &mut rng),
                random(&with([tk, dv]), &mut rng),
            );
            let dy = random(&with([tq, dv]), &mut rng);
            for mask in [AttentionMask::None, AttentionMask::Causal] {
                let (qv, kv, vv) = (q.requires_grad(), k.requires_grad(), v.requires_grad());
                let fused = Tensor::scaled_dot_product_attention(&qv, &kv, &vv, mask)?;
                let composed = attention_ops(&qv, &kv, &vv, mask)?;
                close(&fused, &composed, "output");
                let gf = fused.mul(&dy)?.sum_all().backward()?;
                let gc = composed.mul(&dy)?.sum_all().backward()?;
                for (x, name) in [(&qv, "dq"), (&kv, "dk"), (&vv, "dv")] {
                    close(gf.wrt(x)?, gc.wrt(x)?, name);
                }
            }
        }
        for (n, t, heads, d) in [(1, 1, 1, 1), (2, 5, 2, 3), (3, 8, 4, 2)] {
            let qkv = random(&[n, t, 3 * heads * d], &mut rng).requires_grad();
            let dy = random(&[n, t, heads * d], &mut rng);
            for mask in [AttentionMask::None, AttentionMask::Causal] {
                let fused = qkv.multi_head_self_attention(heads, mask)?;
                let composed = packed_attention_ops(&qkv, heads, mask)?;
                close(&fused, &composed, "packed output");
                let gf = fused.mul(&dy)?.sum_all().backward()?;
                let gc = composed.mul(&dy)?.sum_all().backward()?;
                close(gf.wrt(&qkv)?, gc.wrt(&qkv)?, "dqkv");
            }
        }
        Ok(())
    }

    /// Bad shapes are errors naming the op, never panics.
    #[test]
    fn packed_attention_rejects_bad_shapes() -> Result<()> {
        for (shape, heads) in [
            (vec![2, 3, 7], 1),
            (vec![2, 3, 12], 3),
            (vec![2, 12], 2),
            (vec![1, 3, 6], 0),
            (vec![1, 0, 6], 1),
        ] {
            let x = Tensor::<f64>::zeros(&shape)?;
            let err = x.multi_head_self_attention(heads, AttentionMask::None).expect_err("bad shape");
            assert!(err.to_string().contains("multi_head_self_attention"), "{err}");
        }
        Ok(())
    }
}
