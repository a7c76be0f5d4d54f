//! Pooling over (N, C, H, W) images: max pooling (one recorded op whose kernel finds
//! each window's first maximum and its position in one pass; its gradient scatters
//! `dy` to those positions, written with `scatter_add` under `create_graph`), average
//! pooling (a depthwise convolution with a constant kernel) and global average
//! pooling (a mean). All are twice differentiable.

use super::conv::{Geometry, convolve};
use super::one;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{Save, is_grad_enabled};
use crate::kernels::PARALLEL_THRESHOLD;
use crate::ops::Indices;
use crate::shape::shape_of;
use crate::tensor::Tensor;
use rayon::prelude::*;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["max_pool2d"];

/// The input rows (or columns) `lo..hi` that window `o` covers along axis `a`, the
/// padding cut off (never empty: padding is at most half the kernel).
#[inline]
fn window(g: &Geometry, a: usize, o: usize) -> (usize, usize) {
    let start = o * g.stride[a];
    let lo = start.saturating_sub(g.padding[a]);
    let hi = (start + g.kernel[a]).saturating_sub(g.padding[a]).min(g.input[a]);
    (lo, hi)
}

/// Max pooling of one (H, W) plane: each window's maximum into `values` and its
/// position (row-major in the plane) into `picks`. The first maximum in row-major
/// window order wins ties; a NaN beats everything (the last NaN in that order).
fn max_pool_plane<T: Element>(plane: &[T], g: &Geometry, values: &mut [T], picks: &mut [usize]) {
    let (w, ow) = (g.input[1], g.output[1]);
    let rows = values.chunks_exact_mut(ow).zip(picks.chunks_exact_mut(ow)).enumerate();
    if g.padding == [0, 0] {
        // Every tap is inside the image: visit the taps in window order and, for each,
        // every window of the output row — independent chains across the row, where a
        // window at a time is one long chain of compare-and-select.
        for (oy, (values, picks)) in rows {
            let y0 = oy * g.stride[0];
            for (ox, (value, pick)) in values.iter_mut().zip(picks.iter_mut()).enumerate() {
                let at = y0 * w + ox * g.stride[1];
                (*value, *pick) = (plane[at], at);
            }
            for i in 0..g.kernel[0] {
                for j in (0..g.kernel[1]).skip(usize::from(i == 0)) {
                    let first = (y0 + i) * w + j;
                    for (ox, (best, pick)) in values.iter_mut().zip(picks.iter_mut()).enumerate() {
                        let at = first + ox * g.stride[1];
                        let v = plane[at];
                        // Strictly greater: a later equal value does not win. A select
                        // of the position, then the value reloaded from it: no branch
                        // (on real data the comparison is a coin flip, and a float select
                        // compiles to one).
                        let wins = (v > *best) | v.is_nan();
                        *pick = std::hint::select_unpredictable(wins, at, *pick);
                        *best = plane[*pick];
                    }
                }
            }
        }
        return;
    }
    for (oy, (values, picks)) in rows {
        let (y0, y1) = window(g, 0, oy);
        for (ox, (value, pick)) in values.iter_mut().zip(picks.iter_mut()).enumerate() {
            let (x0, x1) = window(g, 1, ox);
            let (mut best, mut at) = (plane[y0 * w + x0], y0 * w + x0);
            for y in y0..y1 {
                for (x, &v) in (x0..x1).zip(&plane[y * w..][x0..x1]) {
                    let wins = (v > best) | v.is_nan();
                    at = std::hint::select_unpredictable(wins, y * w + x, at);
                    best = plane[at];
                }
            }
            (*value, *pick) = (best, at);
        }
    }
}

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
        let (plane_len, window_count) = (g.input[0] * g.input[1], g.positions());
        let mut values = vec![T::zero(); planes * window_count];
        let mut picks = vec![0usize; planes * window_count];
        let data = self.as_slice();
        let find = |(p, (values, picks)): (usize, (&mut [T], &mut [usize]))| {
            max_pool_plane(&data[p * plane_len..][..plane_len], &g, values, picks);
        };
        if window_count > 0 {
            if self.numel() >= PARALLEL_THRESHOLD {
                crate::parallel::keep_workers_awake();
                let pairs = values.par_chunks_mut(window_count).zip(picks.par_chunks_mut(window_count));
                pairs.enumerate().for_each(find);
            } else {
                let pairs = values.chunks_mut(window_count).zip(picks.chunks_mut(window_count));
                pairs.enumerate().for_each(find);
            }
        }
        let y = Tensor::from_parts(values, shape_of(&[g.batch, g.channels, g.output[0], g.output[1]]));
        let index = Indices::new(picks, &[planes, window_count])?;
        Ok(Tensor::record_builtin("max_pool2d", &[self], y, Save::NOTHING, move |dy, s| {
            let input_shape = s.input_shape(0);
            if !is_grad_enabled() {
                // Each plane's gradient is scattered by one task in window order.
                let mut dx = vec![T::zero(); planes * plane_len];
                let scatter = |(p, plane): (usize, &mut [T])| {
                    let dy = &dy.as_slice()[p * window_count..][..window_count];
                    let picks = &index.as_slice()[p * window_count..][..window_count];
                    for (&d, &at) in dy.iter().zip(picks) {
                        plane[at] += d;
                    }
                };
                if plane_len > 0 {
                    if dx.len() >= PARALLEL_THRESHOLD {
                        crate::parallel::keep_workers_awake();
                        dx.par_chunks_mut(plane_len).enumerate().for_each(scatter);
                    } else {
                        dx.chunks_mut(plane_len).enumerate().for_each(scatter);
                    }
                }
                return Ok(one(Tensor::from_parts(dx, shape_of(input_shape))));
            }
            // Recorded backward: the same scatter as an op (whose rule is a gather).
            let dx = dy.reshape(&[planes, window_count])?.scatter_add(1, &index, plane_len)?;
            Ok(one(dx.reshape(input_shape)?))
        }))
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
