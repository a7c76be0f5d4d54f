//! Convolution (1-D and 2-D, with stride, zero padding, dilation and groups) lowered
//! to the GEMM through two linear primitives that are each other's adjoint:
//! `im2col` copies every receptive field into a column, `col2im` adds columns back
//! into an image. Each one's gradient rule is the other, so a convolution is twice
//! (indeed arbitrarily often) differentiable with no rule of its own: it is
//! `im2col`, a batched `matmul`, a `permute` and a bias `add`.

use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::PARALLEL_THRESHOLD;
use crate::ops::one;
use crate::shape::{Shape, shape_of};
use crate::tensor::Tensor;
use rayon::prelude::*;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["im2col", "col2im"];

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
        out.par_chunks_mut(h * w).enumerate().for_each(fill);
    } else {
        out.chunks_mut(h * w).enumerate().for_each(fill);
    }
    out
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
    /// (N, O, oh, ow). Lowered to one GEMM per group on `im2col` columns, so it is
    /// differentiable in input, weight and bias, and twice differentiable.
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

/// The convolution of a 4-D input with a 4-D weight: checks, then `im2col`, one
/// GEMM per group, and the bias. `shown` holds the shapes as the user gave them
/// (conv1d's are 3-D) for error messages.
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
    let (positions, taps) = (g.positions(), g.taps());
    let [oh, ow] = g.output;
    let g = Arc::new(g);
    // (G, C/G·taps, N·positions): a reshape, since rows are channel-major.
    let cols = x.im2col(&g)?.reshape(&[groups, cg * taps, n * positions])?;
    let kernels = weight.reshape(&[groups, o / groups, cg * taps])?;
    // One GEMM per group over the whole batch, then (O, N, positions) → (N, O, …).
    let y = kernels.matmul(&cols)?.reshape(&[o, n, positions])?.permute(&[1, 0, 2])?;
    let y = match bias {
        Some(b) => y.add(&b.reshape(&[o, 1])?)?,
        None => y,
    };
    y.reshape(&[n, o, oh, ow])
}
