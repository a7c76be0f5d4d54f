//! Convolution layers, [`Conv1d`] (N, C, L) and [`Conv2d`] (N, C, H, W), on tensor-core's
//! `conv1d` / `conv2d`. Weights use PyTorch's layout (out, in/groups, k…) and names
//! (`weight`, `bias`), so a PyTorch state dict loads unchanged.

use crate::error::{Result, invalid};
use crate::module::Module;
use rand::Rng;
use tensor_core::{ConvOptions, Element, Parameter, Tensor};

/// PyTorch's default init for convolutions and recurrent layers: `U(−b, b)` with
/// `b = 1/√fan_in` — kaiming-uniform with `a = √5` gives exactly this bound for the weight.
pub(crate) fn uniform_fan_in<T: Element>(
    shape: &[usize],
    fan_in: usize,
    rng: &mut impl Rng,
) -> Result<Tensor<T>> {
    let b = 1.0 / (fan_in.max(1) as f64).sqrt();
    Ok(Tensor::rand_uniform(shape, T::from_f64(-b), T::from_f64(b), rng)?)
}

/// Checks channel counts against the groups and builds the parameters.
fn conv_params<T: Element>(
    op: &'static str,
    in_channels: usize,
    out_channels: usize,
    kernel: &[usize],
    groups: usize,
    bias: bool,
    rng: &mut impl Rng,
) -> Result<(Parameter<T>, Option<Parameter<T>>)> {
    if groups == 0
        || !in_channels.is_multiple_of(groups)
        || !out_channels.is_multiple_of(groups)
        || in_channels == 0
    {
        return Err(invalid(
            op,
            format!(
                "{in_channels} input and {out_channels} output channels must be positive multiples of groups = {groups}"
            ),
        ));
    }
    if kernel.contains(&0) {
        return Err(invalid(op, format!("kernel size {kernel:?} has a zero")));
    }
    let fan_in = in_channels / groups * kernel.iter().product::<usize>();
    let mut shape = vec![out_channels, in_channels / groups];
    shape.extend_from_slice(kernel);
    let weight = Parameter::new("weight", &uniform_fan_in::<T>(&shape, fan_in, rng)?);
    let bias = if bias {
        Some(Parameter::new("bias", &uniform_fan_in::<T>(&[out_channels], fan_in, rng)?))
    } else {
        None
    };
    Ok((weight, bias))
}

/// Checks a (N, C, spatial…) input against the layer's channel count.
fn check_input<T: Element>(op: &'static str, x: &Tensor<T>, rank: usize, channels: usize) -> Result<()> {
    if x.ndim() != rank || x.shape()[1] != channels {
        return Err(invalid(
            op,
            format!(
                "expected a rank-{rank} input with {channels} channels on axis 1, got shape {:?}",
                x.shape()
            ),
        ));
    }
    Ok(())
}

fn own<T: Element>(weight: &Parameter<T>, bias: &Option<Parameter<T>>) -> Vec<(String, Parameter<T>)> {
    let mut params = vec![("weight".to_string(), weight.clone())];
    if let Some(b) = bias {
        params.push(("bias".to_string(), b.clone()));
    }
    params
}

/// 2-D convolution over (N, C, H, W): weight (out, in/groups, kh, kw), optional bias (out),
/// stride, zero padding, dilation and groups as [`ConvOptions`]. PyTorch's default init.
///
/// ```
/// use nn::{Conv2d, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::{ConvOptions, Tensor};
/// let conv = Conv2d::<f64>::new(3, 8, [3, 3], ConvOptions { padding: [1, 1], ..ConvOptions::default() }, true, &mut StdRng::seed_from_u64(0))?;
/// let y = conv.forward(&Tensor::zeros(&[2, 3, 5, 5])?)?;
/// assert_eq!(y.shape(), &[2, 8, 5, 5]);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Conv2d<T: Element> {
    weight: Parameter<T>,
    bias: Option<Parameter<T>>,
    opts: ConvOptions<2>,
    in_channels: usize,
}

impl<T: Element> Conv2d<T> {
    /// A convolution from `in_channels` to `out_channels` with a `kernel` (kh, kw), settings
    /// `opts`, and a bias when `bias`. Errors when the channels are not multiples of the groups
    /// or the kernel has a zero.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 2],
        opts: ConvOptions<2>,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let (weight, bias) =
            conv_params("Conv2d::new", in_channels, out_channels, &kernel, opts.groups, bias, rng)?;
        Ok(Conv2d { weight, bias, opts, in_channels })
    }

    /// The weight (out, in/groups, kh, kw).
    pub fn weight(&self) -> &Parameter<T> {
        &self.weight
    }

    /// The bias (out), if any.
    pub fn bias(&self) -> Option<&Parameter<T>> {
        self.bias.as_ref()
    }
}

impl<T: Element> Module<T> for Conv2d<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_input("Conv2d", x, 4, self.in_channels)?;
        let b = self.bias.as_ref().map(Parameter::tensor);
        Ok(x.conv2d(&self.weight.tensor(), b.as_ref(), &self.opts)?)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        own(&self.weight, &self.bias)
    }
}

/// 1-D convolution over (N, C, L): weight (out, in/groups, k), optional bias (out).
/// PyTorch's default init.
///
/// ```
/// use nn::{Conv1d, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::{ConvOptions, Tensor};
/// let conv = Conv1d::<f64>::new(2, 4, 3, ConvOptions::default(), true, &mut StdRng::seed_from_u64(0))?;
/// assert_eq!(conv.forward(&Tensor::zeros(&[1, 2, 10])?)?.shape(), &[1, 4, 8]);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Conv1d<T: Element> {
    weight: Parameter<T>,
    bias: Option<Parameter<T>>,
    opts: ConvOptions<1>,
    in_channels: usize,
}

impl<T: Element> Conv1d<T> {
    /// A convolution from `in_channels` to `out_channels` with kernel size `kernel`.
    /// Errors as [`Conv2d::new`].
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        opts: ConvOptions<1>,
        bias: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let (weight, bias) =
            conv_params("Conv1d::new", in_channels, out_channels, &[kernel], opts.groups, bias, rng)?;
        Ok(Conv1d { weight, bias, opts, in_channels })
    }

    /// The weight (out, in/groups, k).
    pub fn weight(&self) -> &Parameter<T> {
        &self.weight
    }

    /// The bias (out), if any.
    pub fn bias(&self) -> Option<&Parameter<T>> {
        self.bias.as_ref()
    }
}

impl<T: Element> Module<T> for Conv1d<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        check_input("Conv1d", x, 3, self.in_channels)?;
        let b = self.bias.as_ref().map(Parameter::tensor);
        Ok(x.conv1d(&self.weight.tensor(), b.as_ref(), &self.opts)?)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        own(&self.weight, &self.bias)
    }
}
