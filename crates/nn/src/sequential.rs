//! Containers: [`Sequential`] chains boxed modules, naming each by its position (`0.weight`,
//! `2.bias`, as PyTorch's `nn.Sequential`); [`Mlp`] builds the usual multilayer perceptron from
//! layer sizes and an activation.

use crate::activation::Activation;
use crate::dropout::Dropout;
use crate::error::{Result, invalid};
use crate::init::Init;
use crate::linear::Linear;
use crate::module::{Module, TrainingFlag};
use rand::Rng;
use tensor_core::{Element, Tensor};

/// Modules applied one after another; children are named `"0"`, `"1"`, ...
///
/// ```
/// use nn::{Activation, Init, Linear, Module, Sequential};
/// use rand::{SeedableRng, rngs::StdRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let model = Sequential::<f32>::new()
///     .push(Linear::new(4, 8, Init::kaiming_uniform(), &mut rng)?)
///     .push(Activation::Relu)
///     .push(Linear::new(8, 3, Init::xavier_uniform(), &mut rng)?);
/// let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, ["0.weight", "0.bias", "2.weight", "2.bias"]);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Sequential<T: Element> {
    layers: Vec<Box<dyn Module<T>>>,
    training: TrainingFlag,
}

impl<T: Element> Sequential<T> {
    /// An empty chain (the identity).
    pub fn new() -> Self {
        Sequential { layers: Vec::new(), training: TrainingFlag::new() }
    }

    /// The chain with `layer` appended (builder style).
    pub fn push(mut self, layer: impl Module<T> + 'static) -> Self {
        self.add(layer);
        self
    }

    /// Appends `layer`.
    pub fn add(&mut self, layer: impl Module<T> + 'static) {
        self.add_boxed(Box::new(layer));
    }

    /// Appends an already boxed layer.
    pub fn add_boxed(&mut self, layer: Box<dyn Module<T>>) {
        // A layer joins in the chain's current mode, so eval() before add() still holds.
        layer.train(self.training.get());
        self.layers.push(layer);
    }

    /// Number of layers.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Whether the chain has no layers.
    pub fn is_empty(&self) -> bool {
        self.layers.is_empty()
    }

    /// The layer at `index`.
    pub fn get(&self, index: usize) -> Option<&dyn Module<T>> {
        self.layers.get(index).map(|b| b.as_ref())
    }

    /// The layers in order.
    pub fn layers(&self) -> &[Box<dyn Module<T>>] {
        &self.layers
    }
}

impl<T: Element> Default for Sequential<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Module<T> for Sequential<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let mut y = x.clone();
        for layer in &self.layers {
            y = layer.forward(&y)?;
        }
        Ok(y)
    }

    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        self.layers.iter().enumerate().map(|(i, l)| (i.to_string(), l.as_ref())).collect()
    }

    fn training_flag(&self) -> Option<&TrainingFlag> {
        Some(&self.training)
    }
}

/// How to build an [`Mlp`]: layer sizes, hidden activation, optional dropout after each hidden
/// activation, output activation (none by default: the output is logits or a regression value),
/// and the weight initialiser (by default [`Init::for_activation`] of the hidden activation).
#[derive(Debug, Clone, PartialEq)]
pub struct MlpConfig {
    /// Sizes from input to output: `[inputs, hidden..., outputs]`, at least two, none zero.
    pub sizes: Vec<usize>,
    /// Activation after every hidden layer.
    pub activation: Activation,
    /// Activation after the last layer ([`Activation::Identity`] for none).
    pub output_activation: Activation,
    /// Dropout probability after each hidden activation (0 for none).
    pub dropout: f64,
    /// Weight initialiser; `None` picks [`Init::for_activation`] of `activation`.
    pub init: Option<Init>,
    /// Whether the linear layers have biases.
    pub bias: bool,
}

impl MlpConfig {
    /// Sizes and hidden activation; no dropout, no output activation, biases on.
    pub fn new(sizes: &[usize], activation: Activation) -> Self {
        MlpConfig {
            sizes: sizes.to_vec(),
            activation,
            output_activation: Activation::Identity,
            dropout: 0.0,
            init: None,
            bias: true,
        }
    }

    /// With dropout probability `p` after each hidden activation.
    pub fn dropout(mut self, p: f64) -> Self {
        self.dropout = p;
        self
    }

    /// With an activation after the output layer.
    pub fn output_activation(mut self, activation: Activation) -> Self {
        self.output_activation = activation;
        self
    }

    /// With this weight initialiser for every layer.
    pub fn init(mut self, init: Init) -> Self {
        self.init = Some(init);
        self
    }

    /// With or without biases.
    pub fn bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }

    /// Builds the network, drawing weights (and dropout seeds) from `rng`.
    ///
    /// # Errors
    /// [`NnError::InvalidArgument`](crate::NnError::InvalidArgument) for fewer than two sizes, a
    /// size of zero, or a dropout probability outside [0, 1); a bad initialiser.
    pub fn build<T: Element>(&self, rng: &mut impl Rng) -> Result<Mlp<T>> {
        if self.sizes.len() < 2 {
            return Err(invalid(
                "Mlp",
                format!("needs at least two layer sizes (inputs and outputs), got {:?}", self.sizes),
            ));
        }
        if self.sizes.contains(&0) {
            return Err(invalid("Mlp", format!("layer sizes must be positive, got {:?}", self.sizes)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(invalid("Mlp", format!("dropout probability {} is outside [0, 1)", self.dropout)));
        }
        let init = self.init.unwrap_or_else(|| Init::for_activation(self.activation));
        let bias_init = self.bias.then_some(Init::Zeros);
        let mut layers = Sequential::new();
        let last = self.sizes.len() - 2;
        for (i, pair) in self.sizes.windows(2).enumerate() {
            layers.add(Linear::<T>::with_init(pair[0], pair[1], init, bias_init, rng)?);
            if i < last {
                layers.add(self.activation);
                if self.dropout > 0.0 {
                    layers.add(Dropout::new(self.dropout, rng.random())?);
                }
            } else if self.output_activation != Activation::Identity {
                layers.add(self.output_activation);
            }
        }
        Ok(Mlp { layers, config: self.clone() })
    }
}

/// A multilayer perceptron: `Linear → activation [→ Dropout]` per hidden layer, then a last
/// `Linear` (and the output activation, if any). Parameters are named `layers.<i>.weight` and
/// `layers.<i>.bias`, `<i>` the position in the chain.
///
/// ```
/// use nn::{Activation, Mlp, MlpConfig, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let mut rng = StdRng::seed_from_u64(3);
/// let mlp: Mlp<f64> = MlpConfig::new(&[4, 16, 16, 3], Activation::Relu).dropout(0.1).build(&mut rng)?;
/// assert_eq!(mlp.parameter("layers.3.weight").map(|p| p.shape().to_vec()), Some(vec![16, 16]));
/// assert_eq!(mlp.num_parameters(), 4 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3);
/// mlp.eval();
/// let logits = mlp.forward(&Tensor::zeros(&[10, 4])?)?;
/// assert_eq!(logits.shape(), &[10, 3]);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Mlp<T: Element> {
    layers: Sequential<T>,
    config: MlpConfig,
}

impl<T: Element> Mlp<T> {
    /// `MlpConfig::new(sizes, activation).build(rng)`.
    ///
    /// # Errors
    /// As [`MlpConfig::build`].
    pub fn new(sizes: &[usize], activation: Activation, rng: &mut impl Rng) -> Result<Self> {
        MlpConfig::new(sizes, activation).build(rng)
    }

    /// The configuration it was built from.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The chain of layers.
    pub fn layers(&self) -> &Sequential<T> {
        &self.layers
    }
}

impl<T: Element> Module<T> for Mlp<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.layers.forward(x)
    }

    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        vec![("layers".to_string(), &self.layers)]
    }
}

impl<T: Element> std::fmt::Debug for Mlp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mlp({:?}, {}", self.config.sizes, self.config.activation)?;
        if self.config.dropout > 0.0 {
            write!(f, ", dropout {}", self.config.dropout)?;
        }
        if self.config.output_activation != Activation::Identity {
            write!(f, ", output {}", self.config.output_activation)?;
        }
        f.write_str(")")
    }
}
