//! Parameter-free shape layers: [`MaxPool2d`], [`AvgPool2d`] (PyTorch semantics: stride
//! defaults to the kernel, max pooling pads with −∞, average pooling counts the padding) and
//! [`Flatten`].

use crate::error::{Result, invalid};
use crate::module::Module;
use tensor_core::{Element, Tensor};

/// Max pooling over (N, C, H, W) windows; on ties the gradient goes to the first maximum.
///
/// ```
/// use nn::{MaxPool2d, Module};
/// use tensor_core::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 2.0, 0.0], &[1, 1, 2, 2])?;
/// assert_eq!(MaxPool2d::new([2, 2]).forward(&x)?.to_vec(), vec![3.0]);
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool2d {
    /// Window (kh, kw).
    pub kernel: [usize; 2],
    /// Step; `None` means the kernel size (PyTorch's default).
    pub stride: Option<[usize; 2]>,
    /// Padding on each side, counted as −∞.
    pub padding: [usize; 2],
}

impl MaxPool2d {
    /// A pool with window `kernel`, stride = kernel, no padding.
    pub fn new(kernel: [usize; 2]) -> Self {
        MaxPool2d { kernel, stride: None, padding: [0, 0] }
    }
}

impl<T: Element> Module<T> for MaxPool2d {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        Ok(x.max_pool2d(self.kernel, self.stride, self.padding)?)
    }
}

/// Average pooling over (N, C, H, W) windows; zero padding counts in the divisor.
///
/// ```
/// use nn::{AvgPool2d, Module};
/// use tensor_core::Tensor;
/// let x = Tensor::<f64>::from_vec(vec![1.0, 3.0, 2.0, 6.0], &[1, 1, 2, 2])?;
/// assert_eq!(AvgPool2d::new([2, 2]).forward(&x)?.to_vec(), vec![3.0]);
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvgPool2d {
    /// Window (kh, kw).
    pub kernel: [usize; 2],
    /// Step; `None` means the kernel size.
    pub stride: Option<[usize; 2]>,
    /// Zero padding on each side (counted in the divisor).
    pub padding: [usize; 2],
}

impl AvgPool2d {
    /// A pool with window `kernel`, stride = kernel, no padding.
    pub fn new(kernel: [usize; 2]) -> Self {
        AvgPool2d { kernel, stride: None, padding: [0, 0] }
    }
}

impl<T: Element> Module<T> for AvgPool2d {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        Ok(x.avg_pool2d(self.kernel, self.stride, self.padding)?)
    }
}

/// Flattens every axis from `start_dim` on into one (PyTorch's `nn.Flatten`, default
/// `start_dim = 1`): (N, C, H, W) becomes (N, C·H·W).
///
/// ```
/// use nn::{Flatten, Module};
/// use tensor_core::Tensor;
/// let y = Flatten::default().forward(&Tensor::<f64>::zeros(&[2, 3, 4, 5])?)?;
/// assert_eq!(y.shape(), &[2, 60]);
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten {
    /// First axis folded in.
    pub start_dim: usize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1 }
    }
}

impl<T: Element> Module<T> for Flatten {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        if self.start_dim >= x.ndim().max(1) {
            return Err(invalid(
                "Flatten",
                format!("start_dim {} is out of range for an input of shape {:?}", self.start_dim, x.shape()),
            ));
        }
        let mut shape = x.shape()[..self.start_dim].to_vec();
        shape.push(x.shape()[self.start_dim..].iter().product());
        Ok(x.reshape(&shape)?)
    }
}
