//! Raw loops over buffers, shared by the ops. Nothing here knows about the tape.
//! Large elementwise loops run on rayon in fixed-size chunks, so results are
//! identical for any thread count.

use crate::element::Element;
use crate::element::fast::{Binary, Unary};
use crate::shape::{broadcast_strides, contiguous_strides, same_shape, walk2};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Below this many elements an elementwise loop stays on one thread: handing work
/// to rayon costs more. Measured (`benches/ops.rs`, `parallel_threshold`): on 2
/// cores a 64k-element `mul` is slower on two threads than on one, a 128k one is
/// 1.45× faster.
pub(crate) const PARALLEL_THRESHOLD: usize = 1 << 17;
/// The same for reductions, which run at ~17 G elements/s on one core: a 128k sum
/// takes 7.5 µs either way, a 1M sum halves on two threads.
pub(crate) const REDUCE_PARALLEL_THRESHOLD: usize = 1 << 18;
const CHUNK: usize = 1 << 13;

/// A `len`-element buffer written chunk by chunk, `fill(i, chunk)` for chunk `i`
/// (`chunk` elements each, the last one shorter), on rayon when `parallel`.
///
/// Each chunk is zeroed by the task that then fills it, just before the fill.
/// `vec![0; len]` instead zeroed the whole buffer in one serial pass before the
/// kernel ran. perf put that pass at 14% of gpt-char's main thread on two threads.
/// Done per chunk, the zeroing runs in parallel and the kernel's writes find the
/// chunk in cache. (Zeroed rather than left uninitialised, so the kernels keep
/// writing through plain `&mut [T]`.)
pub(crate) fn filled<T: Element>(
    len: usize,
    chunk: usize,
    parallel: bool,
    fill: impl Fn(usize, &mut [T]) + Sync + Send,
) -> Vec<T> {
    // One `()` per chunk as the side output: a vector of a zero-sized type, no memory.
    let mut units = vec![(); len.div_ceil(chunk.max(1))];
    filled_with(len, chunk, parallel, &mut units, 1, |i, piece, _| fill(i, piece))
}

/// [`filled`] that also hands chunk `i` its own `side_per_chunk` entries of `side`
/// (per-row statistics written beside the rows, say): `fill(i, chunk, side_chunk)`.
/// `side` must have an entry group for every chunk.
pub(crate) fn filled_with<T: Element, S: Send>(
    len: usize,
    chunk: usize,
    parallel: bool,
    side: &mut [S],
    side_per_chunk: usize,
    fill: impl Fn(usize, &mut [T], &mut [S]) + Sync + Send,
) -> Vec<T> {
    let chunk = chunk.max(1);
    assert!(
        side.len().div_ceil(side_per_chunk.max(1)) >= len.div_ceil(chunk),
        "tensor invariant: filled_with needs side entries for every chunk"
    );
    let mut out = Vec::with_capacity(len);
    let spare = &mut out.spare_capacity_mut()[..len];
    let run = |(i, (piece, side)): (usize, (&mut [MaybeUninit<T>], &mut [S]))| fill(i, zeroed(piece), side);
    let side_per_chunk = side_per_chunk.max(1);
    if parallel {
        crate::parallel::keep_workers_awake();
        spare.par_chunks_mut(chunk).zip(side.par_chunks_mut(side_per_chunk)).enumerate().for_each(run);
    } else {
        spare.chunks_mut(chunk).zip(side.chunks_mut(side_per_chunk)).enumerate().for_each(run);
    }
    // SAFETY: the chunks cover all `len` elements of the spare capacity (the zip
    // stops at the shorter side, and `side` was checked to have a group for every
    // chunk), and `zeroed` initialised every one of them.
    unsafe { out.set_len(len) };
    out
}

/// Writes zeros into `piece` and returns it as initialised elements.
fn zeroed<T: Element>(piece: &mut [MaybeUninit<T>]) -> &mut [T] {
    for v in piece.iter_mut() {
        v.write(T::zero());
    }
    // SAFETY: every element was initialised just above, and `MaybeUninit<T>` has
    // the size, alignment and layout of `T`.
    unsafe { &mut *(piece as *mut [MaybeUninit<T>] as *mut [T]) }
}

/// `f(x)` elementwise, in fixed chunks (on rayon above the threshold).
pub(crate) fn map<T: Element>(x: &[T], f: impl Fn(T) -> T + Sync + Send) -> Vec<T> {
    if x.len() < PARALLEL_THRESHOLD {
        // Small tensors (the per-op overhead benchmark's 4 elements) skip the chunking.
        return x.iter().map(|&v| f(v)).collect();
    }
    filled(x.len(), CHUNK, true, |i, o| {
        o.iter_mut().zip(&x[i * CHUNK..]).for_each(|(o, &v)| *o = f(v));
    })
}

/// `f(x)` elementwise with a slice kernel ([`Kernels`]; vectorised for f32), in the
/// same fixed chunks as [`map`].
pub(crate) fn map_fast<T: Element>(x: &[T], f: Unary) -> Vec<T> {
    filled(x.len(), CHUNK, x.len() >= PARALLEL_THRESHOLD, |i, o| T::unary(f, &x[i * CHUNK..][..o.len()], o))
}

/// `f(dy, v)` elementwise over two slices of the same length with a slice kernel.
pub(crate) fn zip_fast<T: Element>(dy: &[T], v: &[T], f: Binary) -> Vec<T> {
    debug_assert_eq!(dy.len(), v.len(), "kernel invariant: zip_fast over slices of one length");
    filled(dy.len(), CHUNK, dy.len() >= PARALLEL_THRESHOLD, |i, o| {
        let at = i * CHUNK..i * CHUNK + o.len();
        T::binary(f, &dy[at.clone()], &v[at], o)
    })
}

/// `f(a, b)` elementwise where `a` and `b` broadcast to `out_shape`.
pub(crate) fn zip_broadcast<T: Element>(
    a: &[T],
    a_shape: &[usize],
    b: &[T],
    b_shape: &[usize],
    out_shape: &[usize],
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Vec<T> {
    if same_shape(a_shape, b_shape) {
        if a.len() < PARALLEL_THRESHOLD {
            return a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
        }
        return filled(a.len(), CHUNK, true, |i, o| {
            let rows = a[i * CHUNK..].iter().zip(&b[i * CHUNK..]);
            o.iter_mut().zip(rows).for_each(|(o, (&x, &y))| *o = f(x, y));
        });
    }
    if b.len() == 1 && a_shape.len() >= b_shape.len() {
        let y = b[0];
        return map(a, |x| f(x, y));
    }
    if a.len() == 1 && b_shape.len() >= a_shape.len() {
        let x = a[0];
        return map(b, |y| f(x, y));
    }
    let len = crate::shape::numel(out_shape);
    let nd = out_shape.len();
    if len == 0 || nd == 0 {
        let (sa, sb) = (broadcast_strides(a_shape, out_shape), broadcast_strides(b_shape, out_shape));
        let mut out = Vec::with_capacity(len);
        walk2(out_shape, &sa, &sb, |ia, ib| out.push(f(a[ia], b[ib])));
        return out;
    }
    // General broadcasting, one output row (last axis) at a time: the odometer runs
    // over the outer axes only, and each row is a slice loop the compiler vectorises
    // — both operands contiguous along the row, or one of them constant along it
    // (a bias row `[cols]`, a column `[rows, 1]`).
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let inner = out_shape[nd - 1];
    let (step_a, step_b) = (sa[nd - 1], sb[nd - 1]);
    let mut starts = Vec::with_capacity(len / inner);
    walk2(&out_shape[..nd - 1], &sa[..nd - 1], &sb[..nd - 1], |oa, ob| starts.push((oa, ob)));
    let fill_row = |o: &mut [T], &(oa, ob): &(usize, usize)| match (step_a, step_b) {
        (0, 0) => o.fill(f(a[oa], b[ob])),
        (0, _) => {
            let x = a[oa];
            o.iter_mut().zip(&b[ob..ob + inner]).for_each(|(o, &y)| *o = f(x, y));
        }
        (_, 0) => {
            let y = b[ob];
            o.iter_mut().zip(&a[oa..oa + inner]).for_each(|(o, &x)| *o = f(x, y));
        }
        _ => {
            let rows = a[oa..oa + inner].iter().zip(&b[ob..ob + inner]);
            o.iter_mut().zip(rows).for_each(|(o, (&x, &y))| *o = f(x, y));
        }
    };
    filled(len, inner, len >= PARALLEL_THRESHOLD, |i, o| fill_row(o, &starts[i]))
}

/// Reads `x` (shape `from`) as the broadcast shape `to`, materialised.
pub(crate) fn broadcast_copy<T: Element>(x: &[T], from: &[usize], to: &[usize]) -> Vec<T> {
    if x.len() == 1 {
        // A scalar spread everywhere (the gradient of a sum or mean): a fill, not an
        // odometer step per element.
        return vec![x[0]; crate::shape::numel(to)];
    }
    let sx = broadcast_strides(from, to);
    let zeros = vec![0; to.len()];
    let mut out = Vec::with_capacity(crate::shape::numel(to));
    walk2(to, &sx, &zeros, |i, _| out.push(x[i]));
    out
}

/// Folds `xs` with `f` from `init` (an identity of `f`) in `LANES` interleaved
/// accumulators combined in a fixed order at the end: independent chains the
/// compiler turns into SIMD lanes, where one serial chain waits on each add's
/// latency. The grouping depends only on the length, so the result is the same on
/// every run and for any thread count.
fn fold_lanes<T: Element>(xs: &[T], init: T, f: &(impl Fn(T, T) -> T + Sync)) -> T {
    const LANES: usize = 16;
    let mut lanes = [init; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (acc, &v) in lanes.iter_mut().zip(chunk) {
            *acc = f(*acc, v);
        }
    }
    let tail = chunks.remainder().iter().fold(init, |acc, &v| f(acc, v));
    lanes.iter().fold(tail, |acc, &v| f(acc, v))
}

/// Reduces `x` over the axes where `mask` is true, combining with `f` from `init`
/// (an identity of `f`: 0 for a sum, ∓∞ for max/min). The output has keep-dims
/// shape. The grouping of the combines depends only on the shapes, never on the
/// thread count, so results are deterministic; large reductions run on rayon.
pub(crate) fn reduce<T: Element>(
    x: &[T],
    shape: &[usize],
    mask: &[bool],
    init: T,
    f: impl Fn(T, T) -> T + Sync + Send,
) -> Vec<T> {
    let out_shape: Vec<usize> = shape.iter().zip(mask).map(|(&d, &m)| if m { 1 } else { d }).collect();
    let out_len = crate::shape::numel(&out_shape);
    let mut out = vec![init; out_len];
    if x.is_empty() {
        return out;
    }
    let parallel = x.len() >= REDUCE_PARALLEL_THRESHOLD;
    // Reducing exactly the trailing axes: each output folds one contiguous row.
    let first_reduced = mask.iter().position(|&m| m).unwrap_or(mask.len());
    if mask[first_reduced..].iter().all(|&m| m) {
        let row = x.len() / out_len;
        if parallel && out_len == 1 {
            // One long row (a full sum): fixed-size pieces folded in parallel, then
            // their partial results in order.
            crate::parallel::keep_workers_awake();
            let partials: Vec<T> = x.par_chunks(CHUNK).map(|piece| fold_lanes(piece, init, &f)).collect();
            out[0] = fold_lanes(&partials, init, &f);
        } else if parallel {
            crate::parallel::keep_workers_awake();
            out.par_iter_mut().zip(x.par_chunks(row)).for_each(|(o, r)| *o = fold_lanes(r, init, &f));
        } else {
            for (o, r) in out.iter_mut().zip(x.chunks(row)) {
                *o = fold_lanes(r, init, &f);
            }
        }
        return out;
    }
    // Reducing exactly the leading axes (a bias gradient, `sum(0)`): whole rows fold
    // into the output in row order, in a loop the compiler vectorises; in parallel,
    // each thread takes a block of output columns (the order per output is the same).
    let first_kept = mask.iter().position(|&m| !m).unwrap_or(mask.len());
    if mask[first_kept..].iter().all(|&m| !m) {
        let fold_columns = |block: &mut [T], first: usize| {
            for row in x.chunks_exact(out_len) {
                for (o, &v) in block.iter_mut().zip(&row[first..]) {
                    *o = f(*o, v);
                }
            }
        };
        // Blocks of 16–256 columns, about four per output: a bias gradient of 64–512
        // columns over thousands of rows (gpt-char's) is then split too, where blocks
        // of 256 left it on one thread. Each column's order is the same either way.
        let columns = (out_len / 4).next_multiple_of(16).clamp(16, 256);
        if parallel && out_len >= 2 * columns {
            crate::parallel::keep_workers_awake();
            out.par_chunks_mut(columns).enumerate().for_each(|(i, block)| fold_columns(block, i * columns));
        } else {
            fold_columns(&mut out, 0);
        }
        return out;
    }
    let own = contiguous_strides(shape);
    let out_strides = contiguous_strides(&out_shape);
    let so: Vec<usize> = out_strides.iter().zip(mask).map(|(&s, &m)| if m { 0 } else { s }).collect();
    walk2(shape, &own, &so, |ix, io| out[io] = f(out[io], x[ix]));
    out
}

/// Copies `x` with its axes permuted: output axis `i` is input axis `perm[i]`.
pub(crate) fn permute<T: Element>(x: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let nd = perm.len();
    if nd >= 2 && perm[nd - 1] == nd - 1 && shape[nd - 1] > 1 {
        // The last axis stays last (a conv's (O, N, L) → (N, O, L), attention's head
        // split): permute the outer axes and copy whole contiguous rows.
        let row = shape[nd - 1];
        let outer = permute_rows(&shape[..nd - 1], &perm[..nd - 1]);
        let mut out = Vec::with_capacity(x.len());
        for r in outer {
            out.extend_from_slice(&x[r * row..(r + 1) * row]);
        }
        return out;
    }
    let own = contiguous_strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    let zeros = vec![0; perm.len()];
    let mut out = Vec::with_capacity(x.len());
    walk2(&out_shape, &strides, &zeros, |i, _| out.push(x[i]));
    out
}

/// The source row of each output row when the axes `shape` (all but the last) are
/// permuted by `perm`: the row-major order of the permuted index space.
fn permute_rows(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let own = contiguous_strides(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let strides: Vec<usize> = perm.iter().map(|&p| own[p]).collect();
    let zeros = vec![0; perm.len()];
    let mut rows = Vec::with_capacity(crate::shape::numel(shape));
    walk2(&out_shape, &strides, &zeros, |i, _| rows.push(i));
    rows
}

/// Rows per parallel block in the row kernels: a block size fixed by the data,
/// never by the thread count (each row's result does not depend on it anyway).
const ROW_BLOCK_ELEMS: usize = CHUNK;

/// Rows per block of a row kernel over rows of length `n` (`n` > 0).
fn rows_per_block(n: usize) -> usize {
    (ROW_BLOCK_ELEMS / n).max(1)
}

/// A new buffer of `len` elements written block by block of whole rows of length
/// `n`, `f(first, rows_out)` with `first` the block's first element, on rayon above
/// the elementwise threshold. Each block zeroes its own output first ([`filled`]).
/// Rows of length 0 leave nothing to compute: the buffer is all zeros.
fn rows_new<T: Element>(len: usize, n: usize, f: impl Fn(usize, &mut [T]) + Sync + Send) -> Vec<T> {
    if n == 0 {
        return vec![T::zero(); len];
    }
    let block = n * rows_per_block(n);
    filled(len, block, len >= PARALLEL_THRESHOLD, |i, o| f(i * block, o))
}

/// [`rows_new`] with one side result per row (`per_row`, as long as the row count):
/// `f(first, rows_out, their_side)` per block.
fn rows_new_with<T: Element, S: Send>(
    len: usize,
    n: usize,
    per_row: &mut [S],
    f: impl Fn(usize, &mut [T], &mut [S]) + Sync + Send,
) -> Vec<T> {
    if n == 0 {
        return vec![T::zero(); len];
    }
    let rows = rows_per_block(n);
    let block = n * rows;
    filled_with(len, block, len >= PARALLEL_THRESHOLD, per_row, rows, |i, o, side| f(i * block, o, side))
}

/// [`rows_new`] over the rows of `x`: `f(rows_in, rows_out)` per block.
fn for_row_blocks<T: Element>(x: &[T], n: usize, f: impl Fn(&[T], &mut [T]) + Sync + Send) -> Vec<T> {
    rows_new(x.len(), n, |at, o| f(&x[at..at + o.len()], o))
}

/// [`for_row_blocks`] over two inputs of the same length: `f(a, b, out)` per block.
fn for_row_blocks2<T: Element>(
    a: &[T],
    b: &[T],
    n: usize,
    f: impl Fn(&[T], &[T], &mut [T]) + Sync + Send,
) -> Vec<T> {
    rows_new(a.len(), n, |at, o| f(&a[at..at + o.len()], &b[at..at + o.len()], o))
}

/// The maximum of a row, NaN-propagating; ±∞ or NaN give 0 (as `logsumexp`'s shift),
/// so a row holding ∞ or only −∞ still gives what the unfused form gave.
fn row_shift<T: Element>(row: &[T]) -> T {
    let m = fold_lanes(row, T::neg_infinity(), &|a, v| if v > a || v.is_nan() { v } else { a });
    if m.is_finite() { m } else { T::zero() }
}

/// `Σ a·b` in the lane order of [`fold_lanes`].
pub(crate) fn dot_lanes<T: Element>(a: &[T], b: &[T]) -> T {
    const LANES: usize = 16;
    let mut lanes = [T::zero(); LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = ca.remainder().iter().zip(cb.remainder()).fold(T::zero(), |acc, (&x, &y)| acc + x * y);
    for (x, y) in ca.zip(cb) {
        for ((acc, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *acc += x * y;
        }
    }
    lanes.iter().fold(tail, |acc, &v| acc + v)
}

/// `Σ x` in the lane order of [`fold_lanes`] (fixed by the length alone).
pub(crate) fn sum_lanes<T: Element>(x: &[T]) -> T {
    fold_lanes(x, T::zero(), &|a, b| a + b)
}

/// Softmax of each contiguous row of length `n`: `e^(x−m) / Σ e^(x−m)`, `m` the
/// row's maximum, the exponentials with the slice kernel (vectorised for f32).
pub(crate) fn softmax_rows<T: Element>(x: &[T], n: usize) -> Vec<T> {
    for_row_blocks(x, n, |xs, os| {
        for (row, o) in xs.chunks_exact(n).zip(os.chunks_exact_mut(n)) {
            o.copy_from_slice(row);
            softmax_in_place(o);
        }
    })
}

/// Softmax of one row in place, as [`softmax_rows`] computes each row.
pub(crate) fn softmax_in_place<T: Element>(row: &mut [T]) {
    let m = row_shift(row);
    row.iter_mut().for_each(|v| *v = *v - m);
    T::unary_in_place(Unary::Exp, row);
    let inv = T::one() / sum_lanes(row);
    row.iter_mut().for_each(|v| *v *= inv);
}

/// Log-softmax of each contiguous row: `x − m − ln Σ e^(x−m)`.
pub(crate) fn log_softmax_rows<T: Element>(x: &[T], n: usize) -> Vec<T> {
    for_row_blocks(x, n, |xs, os| {
        for (row, o) in xs.chunks_exact(n).zip(os.chunks_exact_mut(n)) {
            let m = row_shift(row);
            o.iter_mut().zip(row).for_each(|(o, &v)| *o = v - m);
            T::unary_in_place(Unary::Exp, o);
            let shift = m + sum_lanes(o).ln();
            o.iter_mut().zip(row).for_each(|(o, &v)| *o = v - shift);
        }
    })
}

/// Softmax's gradient per row from its output: `y·(dy − Σ dy·y)`.
pub(crate) fn softmax_backward_rows<T: Element>(dy: &[T], y: &[T], n: usize) -> Vec<T> {
    for_row_blocks2(dy, y, n, |d, y, o| {
        for ((o, d), y) in o.chunks_exact_mut(n).zip(d.chunks_exact(n)).zip(y.chunks_exact(n)) {
            let dot = dot_lanes(d, y);
            o.iter_mut().zip(d.iter().zip(y)).for_each(|(o, (&d, &y))| *o = y * (d - dot));
        }
    })
}

/// Log-softmax's gradient per row from its output: `dy − e^y·Σ dy`.
pub(crate) fn log_softmax_backward_rows<T: Element>(dy: &[T], y: &[T], n: usize) -> Vec<T> {
    for_row_blocks2(dy, y, n, |d, y, o| {
        T::unary(Unary::Exp, y, o);
        for (o, d) in o.chunks_exact_mut(n).zip(d.chunks_exact(n)) {
            let s = sum_lanes(d);
            o.iter_mut().zip(d).for_each(|(o, &d)| *o = d - *o * s);
        }
    })
}

/// Cross-entropy from logits, row by row (`n` classes): returns the softmax
/// `e^(z−m) / Σ e^(z−m)` and per row the loss `ln Σ e^(z−m) + m − z_label`, with `m`
/// the row's shift ([`row_shift`]: the maximum, or 0 when it is not finite, so +∞
/// propagates). The exponentials with the slice kernel, rows in parallel blocks.
/// Labels must be in range (so with `n` = 0 there are no rows).
pub(crate) fn cross_entropy_rows<T: Element>(logits: &[T], labels: &[usize], n: usize) -> (Vec<T>, Vec<T>) {
    let mut losses = vec![T::zero(); labels.len()];
    let probabilities = rows_new_with(logits.len(), n, &mut losses, |at, os, losses| {
        let rows = logits[at..].chunks_exact(n).zip(os.chunks_exact_mut(n)).zip(losses);
        for (((z, o), loss), &label) in rows.zip(&labels[at / n..]) {
            let shift = row_shift(z);
            o.iter_mut().zip(z).for_each(|(o, &v)| *o = v - shift);
            T::unary_in_place(Unary::Exp, o);
            let total = sum_lanes(o);
            let inverse = T::one() / total;
            o.iter_mut().for_each(|p| *p *= inverse);
            *loss = total.ln() + shift - z[label];
        }
    });
    (probabilities, losses)
}

/// Cross-entropy's gradient from the forward's softmax: `(p − onehot(label))·dy`
/// per row, `dy` one value per row.
pub(crate) fn cross_entropy_backward_rows<T: Element>(
    p: &[T],
    labels: &[usize],
    dy: &[T],
    n: usize,
) -> Vec<T> {
    rows_new(p.len(), n, |at, os| {
        let rows = os.chunks_exact_mut(n).zip(p[at..].chunks_exact(n));
        for (((o, p), &label), &d) in rows.zip(&labels[at / n..]).zip(&dy[at / n..]) {
            o.iter_mut().zip(p).for_each(|(o, &p)| *o = p * d);
            o[label] = (p[label] - T::one()) * d;
        }
    })
}

/// Layer norm of each contiguous row of length `n`, then the affine map: returns
/// `y = x̂·γ + β` (each where given) with `x̂ = (x − μ)·r`, and per row `(μ, r)`
/// with `r = 1/√(σ² + ε)`, σ² the biased variance from the centred values (two
/// passes, so no cancellation). One parallel pass writes rows and statistics.
pub(crate) fn layer_norm_rows<T: Element>(
    x: &[T],
    n: usize,
    eps: T,
    gamma: Option<&[T]>,
    beta: Option<&[T]>,
) -> (Vec<T>, Vec<(T, T)>) {
    let mut stats = vec![(T::zero(), T::zero()); x.len().checked_div(n).unwrap_or(0)];
    let count = T::from_usize(n);
    let y = rows_new_with(x.len(), n, &mut stats, |at, os, sts| {
        for ((r, o), st) in x[at..].chunks_exact(n).zip(os.chunks_exact_mut(n)).zip(sts) {
            let mean = sum_lanes(r) / count;
            o.iter_mut().zip(r).for_each(|(o, &v)| *o = v - mean);
            let var = dot_lanes(o, o) / count;
            let rstd = T::one() / (var + eps).sqrt();
            o.iter_mut().for_each(|v| *v *= rstd);
            if let Some(g) = gamma {
                o.iter_mut().zip(g).for_each(|(v, &g)| *v *= g);
            }
            if let Some(b) = beta {
                o.iter_mut().zip(b).for_each(|(v, &b)| *v += b);
            }
            *st = (mean, rstd);
        }
    });
    (y, stats)
}

/// `x̂ = (x − μ)·r` again from the forward's per-row statistics, as
/// [`layer_norm_rows`] computed it.
pub(crate) fn layer_norm_xhat<T: Element>(x: &[T], stats: &[(T, T)], n: usize) -> Vec<T> {
    rows_new(x.len(), n, |at, os| {
        let rows = os.chunks_exact_mut(n).zip(x[at..].chunks_exact(n)).zip(&stats[at / n..]);
        for ((o, r), &(mean, rstd)) in rows {
            o.iter_mut().zip(r).for_each(|(o, &v)| *o = (v - mean) * rstd);
        }
    })
}

/// Layer norm's input gradient per row, from `g = dy·γ` and `x̂`:
/// `dx = r·(g − mean(g) − x̂·mean(g·x̂))`.
pub(crate) fn layer_norm_backward_rows<T: Element>(
    g: &[T],
    xhat: &[T],
    stats: &[(T, T)],
    n: usize,
) -> Vec<T> {
    let count = T::from_usize(n);
    rows_new(g.len(), n, |at, os| {
        let rows = os.chunks_exact_mut(n).zip(g[at..].chunks_exact(n)).zip(xhat[at..].chunks_exact(n));
        for (((o, g), xh), &(_, rstd)) in rows.zip(&stats[at / n..]) {
            let mean_g = sum_lanes(g) / count;
            let mean_gx = dot_lanes(g, xh) / count;
            o.iter_mut()
                .zip(g.iter().zip(xh))
                .for_each(|(o, (&g, &xh))| *o = rstd * (g - mean_g - xh * mean_gx));
        }
    })
}
