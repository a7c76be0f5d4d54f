//! Convolution (1-D and 2-D, with stride, zero padding, dilation and groups) as one
//! recorded op, `conv2d`, with its own kernels: each (sample, block of output rows)
//! copies its receptive fields into a small `im2col` tile and multiplies it straight
//! into the (N, O, oh·ow) output, the bias the GEMM's starting value — no full column
//! matrix, no permute, no separate bias pass. Its gradient rule runs the same tiles
//! backwards (dW = Σ dy·colsᵀ, dX = col2im(Wᵀ·dy)); under `create_graph` the rule is
//! written with ops on the two linear primitives `im2col` (every receptive field as a
//! column) and `col2im` (its adjoint), each the other's gradient, so a convolution
//! stays arbitrarily often differentiable.

use super::linalg::{SharedOut, View, gemm_at};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{GradVec, Save, is_grad_enabled};
use crate::kernels::{PARALLEL_THRESHOLD, sum_lanes};
use crate::ops::one;
use crate::shape::{Shape, shape_of};
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["conv2d", "im2col", "col2im"];

/// Settings of a convolution over `D` spatial axes (`D = 1` for [`Tensor::conv1d`],
/// `D = 2` for [`Tensor::conv2d`]), as PyTorch's: each setting is per spatial axis.
///
/// The output has `⌊(in + 2·padding − dilation·(k − 1) − 1) / stride⌋ + 1` positions
/// along each spatial axis.
///
/// ```
/// use tensor_core::ConvOptions;
/// let opts = ConvOptions { stride: [2, 1], padding: [1, 1], ..ConvOptions::default() };
/// assert_eq!(opts.dilation, [1, 1]);
/// assert_eq!(opts.groups, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvOptions<const D: usize> {
    /// Step between receptive fields (≥ 1).
    pub stride: [usize; D],
    /// Zeros added on both sides of each spatial axis.
    pub padding: [usize; D],
    /// Spacing between kernel taps (≥ 1; 1 is an ordinary convolution).
    pub dilation: [usize; D],
    /// Channel groups (≥ 1): input and output channels split into `groups` blocks and
    /// block `g` of the output sees only block `g` of the input. Both channel counts
    /// must be divisible by it.
    pub groups: usize,
}

impl<const D: usize> Default for ConvOptions<D> {
    fn default() -> Self {
        ConvOptions { stride: [1; D], padding: [0; D], dilation: [1; D], groups: 1 }
    }
}

/// Everything `im2col` and `col2im` need: the batch, the channels, the image and
/// kernel sizes and the settings, always as 2-D (a 1-D convolution has height 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Geometry {
    pub(crate) batch: usize,
    pub(crate) channels: usize,
    pub(crate) input: [usize; 2],
    pub(crate) kernel: [usize; 2],
    pub(crate) stride: [usize; 2],
    pub(crate) padding: [usize; 2],
    pub(crate) dilation: [usize; 2],
    pub(crate) output: [usize; 2],
}

impl Geometry {
    /// Checks the settings and computes the output size. `shown` is the input's
    /// shape as the user gave it, for the error message.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        op: &'static str,
        shown: &[usize],
        batch: usize,
        channels: usize,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<Geometry> {
        if stride.contains(&0) || dilation.contains(&0) || kernel.contains(&0) {
            return Err(Error::InvalidArgument {
                op,
                reason: format!(
                    "kernel {kernel:?}, stride {stride:?} and dilation {dilation:?} must be at least 1 \
                     (input shape {shown:?})"
                ),
            });
        }
        let mut output = [0; 2];
        for a in 0..2 {
            let span = dilation[a] * (kernel[a] - 1) + 1;
            let padded = input[a] + 2 * padding[a];
            if padded < span {
                return Err(Error::InvalidArgument {
                    op,
                    reason: format!(
                        "the input of shape {shown:?} padded by {padding:?} is smaller than the kernel \
                         {kernel:?} dilated by {dilation:?}: the output would be empty"
                    ),
                });
            }
            output[a] = (padded - span) / stride[a] + 1;
        }
        Ok(Geometry { batch, channels, input, kernel, stride, padding, dilation, output })
    }

    pub(crate) fn taps(&self) -> usize {
        self.kernel[0] * self.kernel[1]
    }

    pub(crate) fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// Shape of `im2col`'s result: one row per (channel, tap), one column per
    /// (sample, output position).
    fn cols_shape(&self) -> Shape {
        shape_of(&[self.channels * self.taps(), self.batch * self.positions()])
    }

    fn image_shape(&self) -> Shape {
        shape_of(&[self.batch, self.channels, self.input[0], self.input[1]])
    }

    /// The input coordinate that output coordinate `o` reads at tap `t` along axis
    /// `a`, or `None` where it falls into the zero padding.
    #[inline]
    fn source(&self, a: usize, o: usize, t: usize) -> Option<usize> {
        let at = (o * self.stride[a] + t * self.dilation[a]).checked_sub(self.padding[a])?;
        (at < self.input[a]).then_some(at)
    }

    /// The output coordinates `lo..hi` along axis `a` whose tap `t` reads inside the
    /// image, and the (signed) input coordinate of output 0: output `o` in that range
    /// reads `o·stride + offset`. Lets the inner loops run without bounds branches.
    #[inline]
    fn inside(&self, a: usize, t: usize) -> (usize, usize, isize) {
        let offset = (t * self.dilation[a]) as isize - self.padding[a] as isize;
        let s = self.stride[a] as isize;
        let lo = if offset < 0 { (-offset + s - 1) / s } else { 0 };
        let room = self.input[a] as isize - offset;
        let hi = if room <= 0 { 0 } else { ((room + s - 1) / s).min(self.output[a] as isize) };
        (lo as usize, (hi.max(lo)) as usize, offset)
    }
}

/// `im2col` on raw buffers: `x` is (N, C, H, W), the result (C·kh·kw, N·oh·ow).
fn im2col_kernel<T: Element>(x: &[T], g: &Geometry) -> Vec<T> {
    let (taps, positions) = (g.taps(), g.positions());
    let width = g.batch * positions;
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let mut out = vec![T::zero(); g.channels * taps * width];
    if out.is_empty() {
        return out;
    }
    let fill = |(row, dst): (usize, &mut [T])| {
        let (c, tap) = (row / taps, row % taps);
        let (ti, tj) = (tap / g.kernel[1], tap % g.kernel[1]);
        for b in 0..g.batch {
            let image = &x[(b * g.channels + c) * h * w..][..h * w];
            for oy in 0..oh {
                // A row of the output that reads padding stays zero.
                let Some(y) = g.source(0, oy, ti) else { continue };
                let line = &mut dst[b * positions + oy * ow..][..ow];
                let (lo, hi, offset) = g.inside(1, tj);
                if lo == hi {
                    continue;
                }
                let first = (y * w) as isize + (lo * g.stride[1]) as isize + offset;
                let src = &image[first as usize..];
                if g.stride[1] == 1 {
                    line[lo..hi].copy_from_slice(&src[..hi - lo]);
                } else {
                    for (k, v) in line[lo..hi].iter_mut().enumerate() {
                        *v = src[k * g.stride[1]];
                    }
                }
            }
        }
    };
    if out.len() >= PARALLEL_THRESHOLD {
        crate::parallel::keep_workers_awake();
        out.par_chunks_mut(width).enumerate().for_each(fill);
    } else {
        out.chunks_mut(width).enumerate().for_each(fill);
    }
    out
}

/// `col2im` on raw buffers: adds each column of `cols` (C·kh·kw, N·oh·ow) back at
/// the pixels its receptive field read, giving (N, C, H, W). Each image is summed by
/// one thread in a fixed order, so the result does not depend on the thread count.
fn col2im_kernel<T: Element>(cols: &[T], g: &Geometry) -> Vec<T> {
    let (taps, positions) = (g.taps(), g.positions());
    let width = g.batch * positions;
    let [h, w] = g.input;
    let [oh, ow] = g.output;
    let mut out = vec![T::zero(); g.batch * g.channels * h * w];
    if out.is_empty() {
        return out;
    }
    let fill = |(plane, image): (usize, &mut [T])| {
        let (b, c) = (plane / g.channels, plane % g.channels);
        for tap in 0..taps {
            let (ti, tj) = (tap / g.kernel[1], tap % g.kernel[1]);
            let src = &cols[(c * taps + tap) * width + b * positions..][..positions];
            let (lo, hi, offset) = g.inside(1, tj);
            if lo == hi {
                continue;
            }
            for oy in 0..oh {
                let Some(y) = g.source(0, oy, ti) else { continue };
                let first = ((y * w) as isize + (lo * g.stride[1]) as isize + offset) as usize;
                let line = &src[oy * ow + lo..oy * ow + hi];
                if g.stride[1] == 1 {
                    for (d, &v) in image[first..first + line.len()].iter_mut().zip(line) {
                        *d += v;
                    }
                } else {
                    for (k, &v) in line.iter().enumerate() {
                        image[first + k * g.stride[1]] += v;
                    }
                }
            }
        }
    };
    if out.len() >= PARALLEL_THRESHOLD {
        crate::parallel::keep_workers_awake();
        out.par_chunks_mut(h * w).enumerate().for_each(fill);
    } else {
        out.chunks_mut(h * w).enumerate().for_each(fill);
    }
    out
}

/// Elements of one `im2col` tile (C·kh·kw rows × the columns of a block of whole
/// output rows): small enough to stay in L2 while its GEMMs run. The tiling depends
/// on the geometry alone, never on the thread count, so every sum is formed in the
/// same order (and gives the same bits) on any number of threads.
const TILE_ELEMS: usize = 1 << 16;

/// Below this many multiply-adds a convolution's kernels run on one thread.
const PARALLEL_MACS: usize = 1 << 20;

/// At most this many partial weight gradients, each summed by one task over a fixed
/// run of tiles, then added in order: enough tasks to balance a few threads, few
/// enough that the partials stay small next to the work.
const MAX_PARTIALS: usize = 16;

/// How a convolution's work is cut: per sample, tiles of `rows` whole output rows.
#[derive(Debug, Clone, Copy)]
struct Tiling {
    rows: usize,
    per_sample: usize,
}

impl Tiling {
    fn new(g: &Geometry) -> Tiling {
        let per_row = g.channels * g.taps() * g.output[1];
        let rows = (TILE_ELEMS / per_row.max(1)).clamp(1, g.output[0]);
        Tiling { rows, per_sample: g.output[0].div_ceil(rows) }
    }

    /// Tile `unit` of the batch: its sample, first output row and row count.
    fn tile(&self, unit: usize, g: &Geometry) -> (usize, usize, usize) {
        let (sample, t) = (unit / self.per_sample, unit % self.per_sample);
        let first = t * self.rows;
        (sample, first, self.rows.min(g.output[0] - first))
    }

    fn units(&self, g: &Geometry) -> usize {
        g.batch * self.per_sample
    }
}

/// The receptive fields of output rows `first..first + rows` of one (C, H, W) image
/// as the columns of `cols` (C·kh·kw × rows·ow, row-major). Every element is
/// written (padding as zeros), so the buffer can be reused between tiles.
fn im2col_tile<T: Element>(image: &[T], g: &Geometry, first: usize, rows: usize, cols: &mut [T]) {
    let taps = g.taps();
    let [h, w] = g.input;
    let ow = g.output[1];
    for (row, dst) in cols.chunks_exact_mut(rows * ow).enumerate() {
        let (c, tap) = (row / taps, row % taps);
        let (ti, tj) = (tap / g.kernel[1], tap % g.kernel[1]);
        let plane = &image[c * h * w..][..h * w];
        let (lo, hi, offset) = g.inside(1, tj);
        // A tap that reads only padding gives lo = hi, possibly past the row's end.
        let (lo, hi) = (lo.min(ow), hi.min(ow));
        for (r, line) in dst.chunks_exact_mut(ow).enumerate() {
            let Some(y) = g.source(0, first + r, ti) else {
                line.fill(T::zero());
                continue;
            };
            line[..lo].fill(T::zero());
            line[hi..].fill(T::zero());
            if lo == hi {
                continue;
            }
            let start = ((y * w) as isize + (lo * g.stride[1]) as isize + offset) as usize;
            let src = &plane[start..];
            if g.stride[1] == 1 {
                line[lo..hi].copy_from_slice(&src[..hi - lo]);
            } else {
                for (k, v) in line[lo..hi].iter_mut().enumerate() {
                    *v = src[k * g.stride[1]];
                }
            }
        }
    }
}

/// The adjoint of [`im2col_tile`]: adds the columns of `cols` back into the pixels
/// of the (C, H, W) `image` that output rows `first..first + rows` read.
fn col2im_tile<T: Element>(cols: &[T], g: &Geometry, first: usize, rows: usize, image: &mut [T]) {
    let taps = g.taps();
    let [h, w] = g.input;
    let ow = g.output[1];
    for (row, src) in cols.chunks_exact(rows * ow).enumerate() {
        let (c, tap) = (row / taps, row % taps);
        let (ti, tj) = (tap / g.kernel[1], tap % g.kernel[1]);
        let plane = &mut image[c * h * w..][..h * w];
        let (lo, hi, offset) = g.inside(1, tj);
        if lo == hi {
            continue;
        }
        for (r, line) in src.chunks_exact(ow).enumerate() {
            let Some(y) = g.source(0, first + r, ti) else { continue };
            let start = ((y * w) as isize + (lo * g.stride[1]) as isize + offset) as usize;
            if g.stride[1] == 1 {
                for (d, &v) in plane[start..start + hi - lo].iter_mut().zip(&line[lo..hi]) {
                    *d += v;
                }
            } else {
                for (k, &v) in line[lo..hi].iter().enumerate() {
                    plane[start + k * g.stride[1]] += v;
                }
            }
        }
    }
}

/// The sizes of one convolution's GEMMs: output channels `o` in `groups` groups of
/// `og`, each reading `ckg` = C/groups·kh·kw column rows; `positions` per sample.
#[derive(Debug, Clone, Copy)]
struct Gemms {
    o: usize,
    groups: usize,
    og: usize,
    ckg: usize,
    positions: usize,
}

impl Gemms {
    fn new(g: &Geometry, out_channels: usize, groups: usize) -> Gemms {
        let o = out_channels;
        Gemms { o, groups, og: o / groups, ckg: g.channels / groups * g.taps(), positions: g.positions() }
    }

    fn parallel(&self, g: &Geometry) -> bool {
        g.batch * self.o * self.positions * self.ckg >= PARALLEL_MACS
    }
}

/// The forward kernel: `y[b, o, p] = bias[o] + Σ W[o, ck]·cols_b[ck, p]` per group.
/// Each (sample, tile) unit builds its `im2col` tile and multiplies it into its own
/// columns of the (N, O, oh·ow) output, after writing the bias there (the GEMM
/// accumulates onto it).
fn conv_forward<T: Element>(x: &[T], weight: &[T], bias: Option<&[T]>, g: &Geometry, k: Gemms) -> Vec<T> {
    let p = k.positions;
    let mut y = vec![T::zero(); g.batch * k.o * p];
    if y.is_empty() {
        return y;
    }
    let tiling = Tiling::new(g);
    let image_len = g.channels * g.input[0] * g.input[1];
    let out = SharedOut(y.as_mut_ptr());
    let run = |cols: &mut Vec<T>, unit: usize| {
        let (b, first, rows) = tiling.tile(unit, g);
        let width = rows * g.output[1];
        cols.resize(g.channels * g.taps() * width, T::zero());
        im2col_tile(&x[b * image_len..][..image_len], g, first, rows, cols);
        for group in 0..k.groups {
            let channel = group * k.og;
            let at = (b * k.o + channel) * p + first * g.output[1];
            // SAFETY: this unit alone writes columns `first·ow..first·ow + width` of
            // sample `b`'s rows (every unit has its own (sample, tile)), which lie in
            // `y` (N·O·P elements); `y` outlives the loop. The weight block (og × ckg)
            // and the tile's group rows (ckg × width) are inside their slices.
            unsafe {
                let dst = out.get().add(at);
                if let Some(bias) = bias {
                    for r in 0..k.og {
                        std::slice::from_raw_parts_mut(dst.add(r * p), width).fill(bias[channel + r]);
                    }
                }
                if k.ckg > 0 {
                    let w = View { at: weight.as_ptr().add(channel * k.ckg), row: k.ckg, col: 1 };
                    let c = View { at: cols.as_ptr().add(group * k.ckg * width), row: width, col: 1 };
                    gemm_at(k.og, width, k.ckg, dst, p, bias.is_some(), w, c);
                }
            }
        }
    };
    let units = tiling.units(g);
    if k.parallel(g) {
        crate::parallel::keep_workers_awake();
        (0..units).into_par_iter().for_each_init(Vec::new, run);
    } else {
        let mut cols = Vec::new();
        (0..units).for_each(|unit| run(&mut cols, unit));
    }
    y
}

/// The weight and bias gradients: `dW[g] = Σ dy_tile·cols_tileᵀ` over every tile and
/// `db[o] = Σ dy[·, o, ·]`. The tiles are cut into at most [`MAX_PARTIALS`] fixed runs,
/// each summed by one task into its own partial, and the partials are added in
/// order: the same sums for any thread count. Returns (dW as (O, C/groups·kh·kw),
/// db), each empty when not wanted.
fn conv_backward_params<T: Element>(
    x: &[T],
    dy: &[T],
    g: &Geometry,
    k: Gemms,
    want_weight: bool,
    want_bias: bool,
) -> (Vec<T>, Vec<T>) {
    let (p, weights) = (k.positions, k.o * k.ckg);
    let tiling = Tiling::new(g);
    let units = tiling.units(g);
    let image_len = g.channels * g.input[0] * g.input[1];
    let per_run = units.div_ceil(MAX_PARTIALS).max(1);
    let runs = units.div_ceil(per_run);
    let run = |index: usize| -> Vec<T> {
        let mut acc = vec![T::zero(); weights + k.o];
        let (dw, db) = acc.split_at_mut(weights);
        let mut cols = Vec::new();
        for unit in index * per_run..((index + 1) * per_run).min(units) {
            let (b, first, rows) = tiling.tile(unit, g);
            let width = rows * g.output[1];
            let dy_at = b * k.o * p + first * g.output[1];
            if want_weight && k.ckg > 0 && k.og > 0 {
                cols.resize(g.channels * g.taps() * width, T::zero());
                im2col_tile(&x[b * image_len..][..image_len], g, first, rows, &mut cols);
                for group in 0..k.groups {
                    let channel = group * k.og;
                    // SAFETY: `dw` is this task's own (O × ckg) partial, the group's
                    // block (og × ckg) inside it; dy's block (og rows of `width` at row
                    // stride P) lies in `dy` (N·O·P); the tile's group rows, read
                    // transposed (width × ckg), lie in `cols`.
                    unsafe {
                        let d = View { at: dy.as_ptr().add(dy_at + channel * p), row: p, col: 1 };
                        let c = View { at: cols.as_ptr().add(group * k.ckg * width), row: 1, col: width };
                        let dst = dw.as_mut_ptr().add(channel * k.ckg);
                        gemm_at(k.og, k.ckg, width, dst, k.ckg, true, d, c);
                    }
                }
            }
            if want_bias {
                for (o, total) in db.iter_mut().enumerate() {
                    *total += sum_lanes(&dy[dy_at + o * p..][..width]);
                }
            }
        }
        acc
    };
    let partials: Vec<Vec<T>> = if k.parallel(g) {
        crate::parallel::keep_workers_awake();
        (0..runs).into_par_iter().map(run).collect()
    } else {
        (0..runs).map(run).collect()
    };
    let mut total = vec![T::zero(); weights + k.o];
    for partial in &partials {
        total.iter_mut().zip(partial).for_each(|(t, &v)| *t += v);
    }
    let db = total.split_off(weights);
    (if want_weight { total } else { Vec::new() }, if want_bias { db } else { Vec::new() })
}

/// The input gradient: per sample, `dcols = Wᵀ·dy` tile by tile, each added back into
/// the image with [`col2im_tile`]. Tiles of one sample overlap in the image, so each
/// sample is summed by one task in tile order (samples in parallel).
fn conv_backward_input<T: Element>(dy: &[T], weight: &[T], g: &Geometry, k: Gemms) -> Vec<T> {
    let image_len = g.channels * g.input[0] * g.input[1];
    let mut dx = vec![T::zero(); g.batch * image_len];
    if dx.is_empty() || k.og == 0 {
        return dx;
    }
    let p = k.positions;
    let tiling = Tiling::new(g);
    let run = |(b, image): (usize, &mut [T])| {
        let mut dcols = Vec::new();
        for t in 0..tiling.per_sample {
            let (_, first, rows) = tiling.tile(b * tiling.per_sample + t, g);
            let width = rows * g.output[1];
            dcols.resize(g.channels * g.taps() * width, T::zero());
            for group in 0..k.groups {
                let channel = group * k.og;
                // SAFETY: the destination is the group's own ckg × width block of
                // this task's `dcols`; the weight block, read transposed (ckg × og),
                // lies in `weight`, and dy's block (og rows of `width` at row stride
                // P) in `dy`.
                unsafe {
                    let w = View { at: weight.as_ptr().add(channel * k.ckg), row: 1, col: k.ckg };
                    let at = (b * k.o + channel) * p + first * g.output[1];
                    let d = View { at: dy.as_ptr().add(at), row: p, col: 1 };
                    let dst = dcols.as_mut_ptr().add(group * k.ckg * width);
                    gemm_at(k.ckg, width, k.og, dst, width, false, w, d);
                }
            }
            col2im_tile(&dcols, g, first, rows, image);
        }
    };
    if k.parallel(g) {
        crate::parallel::keep_workers_awake();
        dx.par_chunks_mut(image_len).enumerate().for_each(run);
    } else {
        dx.chunks_mut(image_len).enumerate().for_each(run);
    }
    dx
}

impl<T: Element> Tensor<T> {
    /// Every receptive field of an (N, C, H, W) image as a column: the result is
    /// (C·kh·kw, N·oh·ow), rows ordered (channel, tap row, tap column) as the weight's
    /// (C, kh, kw) axes, columns (sample, output row, output column). Linear, with
    /// gradient `col2im(dy)`.
    pub(crate) fn im2col(&self, g: &Arc<Geometry>) -> Result<Tensor<T>> {
        if self.shape != g.image_shape() {
            return Err(Error::ShapeMismatch {
                op: "im2col",
                lhs: self.shape.clone(),
                rhs: g.image_shape(),
                reason: "the image must have the convolution's input shape",
            });
        }
        let y = Tensor::from_parts(im2col_kernel(self.as_slice(), g), g.cols_shape());
        let g = Arc::clone(g);
        Ok(Tensor::record("im2col", &[self], y, move |dy, _, _| Ok(one(dy.col2im(&g)?))))
    }

    /// The adjoint of [`im2col`](Self::im2col): adds columns back into an
    /// (N, C, H, W) image (overlapping fields add up; padding is dropped). Linear,
    /// with gradient `im2col(dy)`.
    pub(crate) fn col2im(&self, g: &Arc<Geometry>) -> Result<Tensor<T>> {
        if self.shape != g.cols_shape() {
            return Err(Error::ShapeMismatch {
                op: "col2im",
                lhs: self.shape.clone(),
                rhs: g.cols_shape(),
                reason: "the columns must have im2col's shape for this geometry",
            });
        }
        let y = Tensor::from_parts(col2im_kernel(self.as_slice(), g), g.image_shape());
        let g = Arc::clone(g);
        Ok(Tensor::record("col2im", &[self], y, move |dy, _, _| Ok(one(dy.im2col(&g)?))))
    }

    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) of an (N, C, H, W)
    /// input with a weight (O, C/groups, kh, kw) and an optional bias (O), giving
    /// (N, O, oh, ow). One GEMM per group on tiles of `im2col` columns, written
    /// straight into the output; differentiable in input, weight and bias, and twice
    /// differentiable (a recorded backward is written with ops).
    ///
    /// Errors (naming `conv2d` and the shapes) on wrong ranks, channel counts that do
    /// not match the weight or the groups, a bias that is not (O), a zero stride,
    /// dilation or kernel size, or an empty output.
    ///
    /// ```
    /// use tensor_core::{ConvOptions, Tensor};
    /// // A 2×2 box filter over a 3×3 image 1..9: each output is the sum of a 2×2 block,
    /// // e.g. 1 + 2 + 4 + 5 = 12. d(Σ y)/dw[i, j] = Σ of the pixels that tap reads:
    /// // tap (0, 0) reads 1, 2, 4, 5 → 12.
    /// let x = Tensor::<f64>::from_vec((1..=9).map(f64::from).collect(), &[1, 1, 3, 3])?;
    /// let w = Tensor::<f64>::ones(&[1, 1, 2, 2])?.requires_grad();
    /// let y = x.conv2d(&w, None, &ConvOptions::default())?;
    /// assert_eq!(y.to_vec(), vec![12.0, 16.0, 24.0, 28.0]);
    /// let g = y.sum_all().backward()?;
    /// assert_eq!(g.wrt(&w)?.to_vec(), vec![12.0, 16.0, 24.0, 28.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn conv2d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        opts: &ConvOptions<2>,
    ) -> Result<Tensor<T>> {
        if self.ndim() != 4 || weight.ndim() != 4 {
            return Err(Error::ShapeMismatch {
                op: "conv2d",
                lhs: self.shape.clone(),
                rhs: weight.shape.clone(),
                reason: "the input must be (N, C, H, W) and the weight (O, C/groups, kh, kw)",
            });
        }
        convolve("conv2d", self, weight, bias, opts.stride, opts.padding, opts.dilation, opts.groups, None)
    }

    /// 1-D convolution (as PyTorch's `conv1d`) of an (N, C, L) input with a weight
    /// (O, C/groups, k) and an optional bias (O), giving (N, O, ol). Computed as a
    /// 2-D convolution of height 1, so it shares that op's lowering and gradients.
    ///
    /// ```
    /// use tensor_core::{ConvOptions, Tensor};
    /// // Kernel [1, −1] with dilation 2 over [1, 2, 4, 8]: y[i] = x[i] − x[i + 2],
    /// // so y = [1 − 4, 2 − 8] = [−3, −6].
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 4.0, 8.0], &[1, 1, 4])?;
    /// let w = Tensor::<f64>::from_vec(vec![1.0, -1.0], &[1, 1, 2])?;
    /// let opts = ConvOptions { dilation: [2], ..ConvOptions::default() };
    /// assert_eq!(x.conv1d(&w, None, &opts)?.to_vec(), vec![-3.0, -6.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn conv1d(
        &self,
        weight: &Tensor<T>,
        bias: Option<&Tensor<T>>,
        opts: &ConvOptions<1>,
    ) -> Result<Tensor<T>> {
        if self.ndim() != 3 || weight.ndim() != 3 {
            return Err(Error::ShapeMismatch {
                op: "conv1d",
                lhs: self.shape.clone(),
                rhs: weight.shape.clone(),
                reason: "the input must be (N, C, L) and the weight (O, C/groups, k)",
            });
        }
        let shown = (self.shape.clone(), weight.shape.clone());
        let y = convolve(
            "conv1d",
            &self.unsqueeze(2)?,
            &weight.unsqueeze(2)?,
            bias,
            [1, opts.stride[0]],
            [0, opts.padding[0]],
            [1, opts.dilation[0]],
            opts.groups,
            Some(shown),
        )?;
        y.squeeze(2)
    }
}

/// The convolution of a 4-D input with a 4-D weight: checks, then the `conv2d` op.
/// `shown` holds the shapes as the user gave them (conv1d's are 3-D) for error
/// messages.
#[allow(clippy::too_many_arguments)]
pub(crate) fn convolve<T: Element>(
    op: &'static str,
    x: &Tensor<T>,
    weight: &Tensor<T>,
    bias: Option<&Tensor<T>>,
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
    shown: Option<(Shape, Shape)>,
) -> Result<Tensor<T>> {
    let (x_shown, w_shown) = shown.unwrap_or_else(|| (x.shape.clone(), weight.shape.clone()));
    let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
    let [o, cg, kh, kw] = [weight.shape[0], weight.shape[1], weight.shape[2], weight.shape[3]];
    let mismatch = |reason| Error::ShapeMismatch { op, lhs: x_shown.clone(), rhs: w_shown.clone(), reason };
    if groups == 0 || c % groups != 0 || o % groups != 0 {
        return Err(Error::InvalidArgument {
            op,
            reason: format!(
                "groups {groups} must be at least 1 and divide both the input's {c} channels (shape \
                 {x_shown:?}) and the weight's {o} output channels (shape {w_shown:?})"
            ),
        });
    }
    if cg != c / groups {
        return Err(mismatch("the weight's second axis must be the input's channels divided by groups"));
    }
    if let Some(b) = bias
        && b.shape.as_slice() != [o]
    {
        return Err(Error::ShapeMismatch {
            op,
            lhs: w_shown.clone(),
            rhs: b.shape.clone(),
            reason: "the bias must have one element per output channel",
        });
    }
    let g = Geometry::new(op, &x_shown, n, c, [h, w], [kh, kw], stride, padding, dilation)?;
    conv2d_op(x, weight, bias, Arc::new(g), groups)
}

/// The recorded `conv2d` op on checked shapes: x (N, C, H, W), weight
/// (O, C/groups, kh, kw), bias (O); output (N, O, oh, ow). Forward and gradient run
/// the tiled kernels above; a recorded backward (`create_graph`) writes the same
/// gradient with differentiable ops: with `dy` as (G, O/G, N·P) columns,
/// `dW = dy·im2col(x)ᵀ`, `dX = col2im(Wᵀ·dy)` and `db = Σ dy` over all but axis 1.
fn conv2d_op<T: Element>(
    x: &Tensor<T>,
    weight: &Tensor<T>,
    bias: Option<&Tensor<T>>,
    g: Arc<Geometry>,
    groups: usize,
) -> Result<Tensor<T>> {
    let k = Gemms::new(&g, weight.shape[0], groups);
    let y = conv_forward(x.as_slice(), weight.as_slice(), bias.map(Tensor::as_slice), &g, k);
    let y = Tensor::from_parts(y, shape_of(&[g.batch, k.o, g.output[0], g.output[1]]));
    let mut inputs = vec![x, weight];
    inputs.extend(bias);
    let has_bias = bias.is_some();
    let save = Save::input(0).and_input(1);
    Ok(Tensor::record_builtin("conv2d", &inputs, y, save, move |dy, s| {
        let (x, w) = (s.input(0)?, s.input(1)?);
        let (want_x, want_w, want_b) = (s.needs_grad(0), s.needs_grad(1), has_bias && s.needs_grad(2));
        let mut grads = GradVec::new();
        if !is_grad_enabled() {
            // The fused kernels, straight on the buffers.
            let dx = want_x.then(|| conv_backward_input(dy.as_slice(), w.as_slice(), &g, k));
            grads.push(dx.map(|dx| Tensor::from_parts(dx, x.shape.clone())));
            let (dw, db) = if want_w || want_b {
                conv_backward_params(x.as_slice(), dy.as_slice(), &g, k, want_w, want_b)
            } else {
                (Vec::new(), Vec::new())
            };
            grads.push(want_w.then(|| Tensor::from_parts(dw, w.shape.clone())));
            if has_bias {
                grads.push(want_b.then(|| Tensor::from_parts(db, shape_of(&[k.o]))));
            }
            return Ok(grads);
        }
        // Recorded backward: the same gradient written with ops.
        let columns = g.batch * k.positions;
        let dy_cols = dy
            .reshape(&[g.batch, k.o, k.positions])?
            .permute(&[1, 0, 2])?
            .reshape(&[groups, k.og, columns])?;
        grads.push(match want_x {
            true => {
                let dcols = w.reshape(&[groups, k.og, k.ckg])?.matmul_t(&dy_cols, true, false)?;
                Some(dcols.reshape(&[g.channels * g.taps(), columns])?.col2im(&g)?)
            }
            false => None,
        });
        grads.push(match want_w {
            true => {
                let cols = x.im2col(&g)?.reshape(&[groups, k.ckg, columns])?;
                Some(dy_cols.matmul_t(&cols, false, true)?.reshape(&w.shape)?)
            }
            false => None,
        });
        if has_bias {
            grads.push(if want_b { Some(dy.sum(&[0isize, 2, 3][..], false)?) } else { None });
        }
        Ok(grads)
    }))
}
