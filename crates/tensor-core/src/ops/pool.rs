//! Pooling over (N, C, H, W) images: max pooling (a `gather` of each window's first
//! maximum), average pooling (a depthwise convolution with a constant kernel) and
//! global average pooling (a mean). All are compositions of differentiable ops, so
//! they need no rule of their own and are twice differentiable.

use super::conv::{Geometry, convolve};
use crate::element::Element;
use crate::error::{Error, Result};
use crate::kernels::PARALLEL_THRESHOLD;
use crate::ops::Indices;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// Checks a pooling's input rank and that the padding is at most half the kernel
/// (PyTorch's rule: so every window holds at least one real element).
fn pool_geometry<T: Element>(
    op: &'static str,
    x: &Tensor<T>,
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
) -> Result<Geometry> {
    if x.ndim() != 4 {
        return Err(Error::InvalidArgument {
            op,
            reason: format!("the input must be (N, C, H, W), got shape {:?}", x.shape),
        });
    }
    if (0..2).any(|a| 2 * padding[a] > kernel[a]) {
        return Err(Error::InvalidArgument {
            op,
            reason: format!(
                "padding {padding:?} must be at most half the kernel {kernel:?} (input shape {:?})",
                x.shape
            ),
        });
    }
    let s = x.shape.clone();
    Geometry::new(op, &s, s[0], s[1], [s[2], s[3]], kernel, stride.unwrap_or(kernel), padding, [1, 1])
}

impl<T: Element> Tensor<T> {
    /// Max pooling of an (N, C, H, W) input with a `kernel`, a `stride` (`None`: the
    /// kernel, as PyTorch) and `padding` that counts as −∞, giving (N, C, oh, ow) with
    /// `oh = ⌊(H + 2p − k)/s⌋ + 1`. Gradient: `dy` goes to the maximum of each
    /// window; on ties to the **first** maximum in row-major window order (as
    /// PyTorch's CPU kernel). A NaN in a window is its maximum.
    ///
    /// Errors on an input that is not 4-D, a zero kernel or stride, padding above
    /// half the kernel, or an empty output.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // One 2×2 window over [[1, 3], [3, 2]]: the max is 3, first found at (0, 1),
    /// // which gets the whole gradient.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 3.0, 2.0], &[1, 1, 2, 2])?.requires_grad();
    /// let y = x.max_pool2d([2, 2], None, [0, 0])?;
    /// assert_eq!(y.to_vec(), vec![3.0]);
    /// assert_eq!(y.sum_all().backward()?.wrt(&x)?.to_vec(), vec![0.0, 1.0, 0.0, 0.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn max_pool2d(
        &self,
        kernel: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
    ) -> Result<Tensor<T>> {
        let g = pool_geometry("max_pool2d", self, kernel, stride, padding)?;
        let planes = g.batch * g.channels;
        let [h, w] = g.input;
        let [oh, ow] = g.output;
        // The position of each window's maximum, found on the data; the output is then
        // a gather at those (locally constant) positions, whose rule is scatter_add.
        let data = self.as_slice();
        let find = |(p, out): (usize, &mut [usize])| {
            let image = &data[p * h * w..][..h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    let (mut best, mut at) = (T::neg_infinity(), None);
                    for i in 0..kernel[0] {
                        let Some(y) = (oy * g.stride[0] + i).checked_sub(padding[0]).filter(|&y| y < h)
                        else {
                            continue;
                        };
                        for j in 0..kernel[1] {
                            let Some(x) = (ox * g.stride[1] + j).checked_sub(padding[1]).filter(|&x| x < w)
                            else {
                                continue;
                            };
                            let v = image[y * w + x];
                            // Strictly greater: a later equal value does not win.
                            if at.is_none() || v > best || v.is_nan() {
                                (best, at) = (v, Some(y * w + x));
                            }
                        }
                    }
                    out[oy * ow + ox] = at.unwrap_or_else(|| {
                        unreachable!("pooling invariant: padding ≤ kernel/2 leaves a real element per window")
                    });
                }
            }
        };
        let mut picks = vec![0usize; planes * oh * ow];
        if oh * ow > 0 {
            if self.numel() >= PARALLEL_THRESHOLD {
                picks.par_chunks_mut(oh * ow).enumerate().for_each(find);
            } else {
                picks.chunks_mut(oh * ow).enumerate().for_each(find);
            }
        }
        let index = Indices::new(picks, &[planes, oh * ow])?;
        self.reshape(&[planes, h * w])?.gather(1, &index)?.reshape(&[g.batch, g.channels, oh, ow])
    }

    /// Average pooling of an (N, C, H, W) input over each `kernel` window, moving by
    /// `stride` (`None`: the kernel); `padding` adds zeros that **count** in the
    /// divisor (PyTorch's default `count_include_pad = true`), so every window divides
    /// by `kh·kw`. Linear: computed as a depthwise convolution with the constant
    /// kernel `1/(kh·kw)`, so its gradient spreads `dy/(kh·kw)` over each window.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // A 2×2 window over [[1, 2], [3, 6]]: (1 + 2 + 3 + 6)/4 = 3; each input's
    /// // gradient is 1/4.
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[1, 1, 2, 2])?.requires_grad();
    /// let y = x.avg_pool2d([2, 2], None, [0, 0])?;
    /// assert_eq!(y.to_vec(), vec![3.0]);
    /// assert_eq!(y.sum_all().backward()?.wrt(&x)?.to_vec(), vec![0.25; 4]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn avg_pool2d(
        &self,
        kernel: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
    ) -> Result<Tensor<T>> {
        let g = pool_geometry("avg_pool2d", self, kernel, stride, padding)?;
        let planes = g.batch * g.channels;
        let [h, w] = g.input;
        let [oh, ow] = g.output;
        let box_filter = Tensor::full(&[1, 1, kernel[0], kernel[1]], T::one() / T::from_usize(g.taps()))?;
        let planes_as_batch = self.reshape(&[planes, 1, h, w])?;
        let y =
            convolve("avg_pool2d", &planes_as_batch, &box_filter, None, g.stride, padding, [1, 1], 1, None)?;
        y.reshape(&[g.batch, g.channels, oh, ow])
    }

    /// Global average pooling: the mean over every axis after the first two, so
    /// (N, C, H, W) or (N, C, L) becomes (N, C). Gradient: `dy/(H·W)` everywhere.
    /// Errors below rank 3 or on an empty spatial extent.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// let x = Tensor::<f64>::from_vec(vec![1.0, 2.0, 3.0, 6.0], &[1, 1, 2, 2])?;
    /// assert_eq!(x.global_avg_pool()?.to_vec(), vec![3.0]);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn global_avg_pool(&self) -> Result<Tensor<T>> {
        if self.ndim() < 3 {
            return Err(Error::InvalidArgument {
                op: "global_avg_pool",
                reason: format!("the input must be (N, C, spatial…), got shape {:?}", self.shape),
            });
        }
        let spatial: Vec<isize> = (2..self.ndim() as isize).collect();
        self.mean(spatial.as_slice(), false)
    }
}
