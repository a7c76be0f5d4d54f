//! The fully connected layer `y = x·W + b` in the tutorial's vector form (§2): samples are rows of
//! `x`, `W` has shape (inputs × outputs), and the bias row is broadcast over the samples.

use crate::error::{NnError, Result, invalid};
use crate::init::Init;
use crate::module::Module;
use rand::Rng;
use tensor_core::{Element, Parameter, Tensor};

/// A fully connected layer: `y = x·W + b`, `W` of shape (inputs × outputs), `b` of shape
/// (outputs), optional.
///
/// The input is `[..., inputs]` — one sample (`[inputs]`), a batch (`[samples, inputs]`) or
/// batches of batches — and the output has `outputs` in place of `inputs`. Parameters are
/// named `weight` and `bias`.
///
/// ```
/// use nn::{Init, Linear, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let layer = Linear::<f64>::new(3, 2, Init::xavier_uniform(), &mut StdRng::seed_from_u64(1))?;
/// let x = Tensor::zeros(&[5, 3])?; // 5 samples
/// let y = layer.forward(&x)?;
/// assert_eq!(y.shape(), &[5, 2]);
/// assert_eq!(y.to_vec(), vec![0.0; 10]); // biases start at zero
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Linear<T: Element> {
    weight: Parameter<T>,
    bias: Option<Parameter<T>>,
    inputs: usize,
    outputs: usize,
}

impl<T: Element> Linear<T> {
    /// A layer with weights drawn from `init` (fans: `inputs`, `outputs`) and zero biases.
    ///
    /// # Errors
    /// A bad initialiser hyper-parameter.
    pub fn new(inputs: usize, outputs: usize, init: Init, rng: &mut impl Rng) -> Result<Self> {
        Self::with_init(inputs, outputs, init, Some(Init::Zeros), rng)
    }

    /// A layer with weights from `weight_init` and biases from `bias_init` (drawn with the
    /// layer's fans, as PyTorch's default bias), or no bias when `bias_init` is `None`.
    ///
    /// # Errors
    /// A bad initialiser hyper-parameter.
    pub fn with_init(
        inputs: usize,
        outputs: usize,
        weight_init: Init,
        bias_init: Option<Init>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let weight = weight_init.tensor_with_fans::<T>(&[inputs, outputs], inputs, outputs, rng)?;
        let bias = match bias_init {
            Some(init) => {
                Some(Parameter::new("bias", &init.tensor_with_fans::<T>(&[outputs], inputs, outputs, rng)?))
            }
            None => None,
        };
        Ok(Linear { weight: Parameter::new("weight", &weight), bias, inputs, outputs })
    }

    /// A layer holding the given values: `weight` of shape (inputs × outputs) and `bias` of
    /// shape (outputs), or none.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`] when `weight` is not 2-D or `bias` does not have shape
    /// `[outputs]`.
    pub fn from_tensors(weight: &Tensor<T>, bias: Option<&Tensor<T>>) -> Result<Self> {
        let &[inputs, outputs] = weight.shape() else {
            return Err(invalid(
                "Linear::from_tensors",
                format!("the weight must be (inputs × outputs), got shape {:?}", weight.shape()),
            ));
        };
        if let Some(b) = bias
            && b.shape() != [outputs]
        {
            return Err(invalid(
                "Linear::from_tensors",
                format!(
                    "the bias must have shape [{outputs}] for a weight of shape {:?}, got {:?}",
                    weight.shape(),
                    b.shape()
                ),
            ));
        }
        Ok(Linear {
            weight: Parameter::new("weight", &weight.detach()),
            bias: bias.map(|b| Parameter::new("bias", &b.detach())),
            inputs,
            outputs,
        })
    }

    /// The weight parameter, (inputs × outputs).
    pub fn weight(&self) -> &Parameter<T> {
        &self.weight
    }

    /// The bias parameter, if the layer has one.
    pub fn bias(&self) -> Option<&Parameter<T>> {
        self.bias.as_ref()
    }

    /// Number of input features.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Number of output features.
    pub fn outputs(&self) -> usize {
        self.outputs
    }
}

impl<T: Element> Module<T> for Linear<T> {
    /// `x·W + b`.
    ///
    /// # Errors
    /// [`NnError::InputFeatures`] when the input's last dimension is not `inputs`.
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        if x.shape().last() != Some(&self.inputs) {
            return Err(NnError::InputFeatures {
                layer: format!("Linear({} → {})", self.inputs, self.outputs),
                expected: self.inputs,
                shape: x.shape().to_vec(),
            });
        }
        // With a bias, the fused op adds it on the GEMM's accumulation (one pass, one
        // buffer); see docs/PERFORMANCE.md.
        Ok(match &self.bias {
            Some(b) => x.linear(&self.weight.tensor(), &b.tensor())?,
            None => x.matmul(&self.weight.tensor())?,
        })
    }

    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut params = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            params.push(("bias".to_string(), b.clone()));
        }
        params
    }
}

impl<T: Element> std::fmt::Debug for Linear<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Linear({} → {}, bias: {})", self.inputs, self.outputs, self.bias.is_some())
    }
}
