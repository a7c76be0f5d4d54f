//! The network `tapegrad train` fits: an MLP of `nn::Linear` layers with a hidden activation and
//! dropout whose masks are a pure function of (seed, epoch, step, layer).
//!
//! Why not `nn::Mlp` with `nn::Dropout`: that dropout draws its masks from a generator that
//! lives inside the layer and cannot be saved, so a run resumed from a checkpoint would draw
//! different masks than the uninterrupted run. Keying each mask on its position in training
//! needs no state at all, and resuming is exact. Parameter names follow `nn::Mlp`'s
//! (`layers.<position>.weight`, counting activation and dropout positions), so a saved model
//! loads into an `nn::Mlp` of the same configuration.

use nn::{Activation, Init, Linear, Module};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tensor_core::{Parameter, Tensor};

use super::error::{CliError, Result};

/// The architecture of a network: enough to rebuild it before loading its weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Input features.
    pub inputs: usize,
    /// Hidden layer widths, input side first (empty: a linear model).
    pub hidden: Vec<usize>,
    /// Outputs: the number of classes, or 1 for regression.
    pub outputs: usize,
    /// The hidden activation, by its `nn::Activation` name (`relu`, `tanh`, `leaky_relu:0.01`).
    pub activation: String,
    /// Dropout probability after each hidden activation (0: none).
    pub dropout: f64,
}

/// The widest layer tapegrad builds: inputs, hidden units or outputs.
pub const MAX_UNITS: usize = 1 << 20;
/// The most weights and biases a network may have, 2^28: 1 GiB of `f32` per copy, and training
/// keeps about four (weights, gradients, two optimizer buffers).
pub const MAX_PARAMETERS: usize = 1 << 28;
/// The most values one layer's activations may hold at once (a batch's rows × the layer's width).
pub const MAX_ACTIVATIONS: usize = 1 << 28;

impl ModelSpec {
    /// Checks the shape against [`MAX_UNITS`] and [`MAX_PARAMETERS`] with checked arithmetic,
    /// before anything is allocated (the sizes may come from a flag, a `config.json` or a
    /// checkpoint); returns the parameter count.
    pub fn check_size(&self) -> Result<usize> {
        let sizes = self.sizes();
        if let Some(zero) = sizes.iter().position(|&s| s == 0) {
            return Err(CliError::invalid("--hidden", format!("layer {zero} of {sizes:?} has no units")));
        }
        if let Some(&wide) = sizes.iter().find(|&&s| s > MAX_UNITS) {
            return Err(CliError::ModelTooLarge {
                reason: format!("a layer of {wide} units is wider than the limit of {MAX_UNITS}"),
            });
        }
        let mut total: usize = 0;
        for pair in sizes.windows(2) {
            let layer = pair[0].checked_mul(pair[1]).and_then(|w| w.checked_add(pair[1]));
            total = match layer.and_then(|l| total.checked_add(l)) {
                Some(t) if t <= MAX_PARAMETERS => t,
                _ => {
                    return Err(CliError::ModelTooLarge {
                        reason: format!(
                            "layers {sizes:?} have more than the limit of {MAX_PARAMETERS} weights and biases"
                        ),
                    });
                }
            };
        }
        Ok(total)
    }

    /// The widest layer.
    pub fn max_width(&self) -> usize {
        self.sizes().into_iter().max().unwrap_or(1)
    }

    /// The layer widths from input to output.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = vec![self.inputs];
        sizes.extend(&self.hidden);
        sizes.push(self.outputs);
        sizes
    }

    /// The parsed activation.
    pub fn activation(&self) -> Result<Activation> {
        self.activation.parse().map_err(|e: nn::NnError| CliError::invalid("--activation", e.to_string()))
    }
}

/// Where in training a forward pass runs: what a dropout mask is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DropoutKey {
    /// The run's seed.
    pub seed: u64,
    /// The epoch (0-based).
    pub epoch: u64,
    /// The step within the epoch (0-based).
    pub step: u64,
}

/// SplitMix64's finaliser, to turn nearby keys into unrelated generator seeds.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of the generator that initialises the weights of a run with seed `seed`.
pub fn init_seed(seed: u64) -> u64 {
    mix(seed ^ 0x1A17)
}

/// An MLP: `Linear → activation [→ dropout]` per hidden layer, then a last `Linear`.
pub struct Network {
    spec: ModelSpec,
    activation: Activation,
    layers: Vec<Linear<f32>>,
    /// Each layer's position in `nn::Mlp`'s chain, which names its parameters.
    positions: Vec<usize>,
}

impl Network {
    /// A network of `spec`'s shape with weights drawn from `seed` (He initialisation for
    /// ReLU-like activations, Glorot otherwise, as `nn::Init::for_activation` chooses).
    pub fn new(spec: &ModelSpec, seed: u64) -> Result<Network> {
        let activation = spec.activation()?;
        if !(0.0..1.0).contains(&spec.dropout) || !spec.dropout.is_finite() {
            return Err(CliError::invalid("--dropout", format!("{} is outside [0, 1)", spec.dropout)));
        }
        spec.check_size()?;
        let sizes = spec.sizes();
        let mut rng = StdRng::seed_from_u64(init_seed(seed));
        let init = Init::for_activation(activation);
        let per_hidden = if spec.dropout > 0.0 { 3 } else { 2 };
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        let mut positions = Vec::with_capacity(sizes.len() - 1);
        for (index, pair) in sizes.windows(2).enumerate() {
            layers.push(Linear::with_init(pair[0], pair[1], init, Some(Init::Zeros), &mut rng)?);
            positions.push(index * per_hidden);
        }
        Ok(Network { spec: spec.clone(), activation, layers, positions })
    }

    /// The architecture.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The parameters in a fixed order (the optimizer's state is kept by position).
    pub fn parameter_list(&self) -> Vec<Parameter<f32>> {
        self.parameters().into_iter().map(|(_, p)| p).collect()
    }

    /// The forward pass in training mode: dropout masks keyed on `key`.
    pub fn forward_train(&self, x: &Tensor<f32>, key: DropoutKey) -> Result<Tensor<f32>> {
        self.forward_with(x, Some(key))
    }

    /// The forward pass in evaluation mode (no dropout).
    pub fn forward_eval(&self, x: &Tensor<f32>) -> Result<Tensor<f32>> {
        self.forward_with(x, None)
    }

    fn forward_with(&self, x: &Tensor<f32>, key: Option<DropoutKey>) -> Result<Tensor<f32>> {
        let last = self.layers.len() - 1;
        let mut y = x.clone();
        for (index, layer) in self.layers.iter().enumerate() {
            // tensor-core's fused `linear` adds the bias inside the GEMM's accumulation: one
            // pass over the output instead of two, and one node on the tape.
            y = match layer.bias() {
                Some(bias) if y.ndim() == 2 => y.linear(&layer.weight().tensor(), &bias.tensor())?,
                _ => layer.forward(&y)?,
            };
            if index < last {
                y = self.activation.apply(&y)?;
                if let Some(key) = key.filter(|_| self.spec.dropout > 0.0) {
                    y = y.mul(&self.mask(y.shape(), key, index as u64)?)?;
                }
            }
        }
        Ok(y)
    }

    /// Inverted dropout's mask: 0 with probability p, else `1/(1 − p)`.
    fn mask(&self, shape: &[usize], key: DropoutKey, layer: u64) -> Result<Tensor<f32>> {
        let p = self.spec.dropout;
        let keep = (1.0 / (1.0 - p)) as f32;
        let seed = mix(mix(mix(mix(key.seed) ^ key.epoch) ^ key.step) ^ layer);
        let mut rng = StdRng::seed_from_u64(seed);
        let n: usize = shape.iter().product();
        let data = (0..n).map(|_| if rng.random::<f64>() < p { 0.0 } else { keep }).collect();
        Ok(Tensor::from_vec(data, shape)?)
    }

    /// Outputs for row-major `features` (`n_features` per row) in evaluation mode, computed in
    /// chunks without recording: `[rows × outputs]` row-major.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f32>> {
        // At most 2048 rows, fewer for wide layers, so a chunk's activations stay small.
        let chunk_rows = ((1 << 22) / self.spec.max_width()).clamp(1, 2048);
        let n_features = self.spec.inputs;
        if !features.len().is_multiple_of(n_features) {
            return Err(CliError::ModelMismatch {
                reason: format!(
                    "the model takes {n_features} features per row; {} values do not make whole rows",
                    features.len()
                ),
            });
        }
        let mut out = Vec::with_capacity(features.len() / n_features * self.spec.outputs);
        tensor_core::no_grad(|| -> Result<()> {
            for chunk in features.chunks(chunk_rows * n_features) {
                let x = Tensor::from_slice(chunk, &[chunk.len() / n_features, n_features])?;
                out.extend_from_slice(self.forward_eval(&x)?.as_slice());
            }
            Ok(())
        })?;
        Ok(out)
    }
}

impl Module<f32> for Network {
    /// Evaluation-mode forward (dropout needs a [`DropoutKey`]: see [`Network::forward_train`]).
    fn forward(&self, x: &Tensor<f32>) -> nn::Result<Tensor<f32>> {
        self.forward_with(x, None).map_err(|e| match e {
            CliError::Nn(e) => e,
            CliError::Tensor(e) => nn::NnError::Tensor(e),
            other => nn::NnError::InvalidArgument { op: "Network::forward", reason: other.to_string() },
        })
    }

    fn children(&self) -> Vec<(String, &dyn Module<f32>)> {
        self.layers
            .iter()
            .zip(&self.positions)
            .map(|(layer, position)| (format!("layers.{position}"), layer as &dyn Module<f32>))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dropout: f64) -> ModelSpec {
        ModelSpec { inputs: 4, hidden: vec![8, 6], outputs: 3, activation: "relu".into(), dropout }
    }

    #[test]
    fn names_follow_nn_mlp_so_weights_load_into_it() {
        let net = Network::new(&spec(0.2), 1).unwrap();
        let ours: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
        let mut rng = StdRng::seed_from_u64(0);
        let mlp: nn::Mlp<f32> =
            nn::MlpConfig::new(&[4, 8, 6, 3], Activation::Relu).dropout(0.2).build(&mut rng).unwrap();
        let theirs: Vec<String> = mlp.parameters().into_iter().map(|(n, _)| n).collect();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn dropout_masks_depend_only_on_the_key() {
        let net = Network::new(&spec(0.5), 3).unwrap();
        let x = Tensor::ones(&[5, 4]).unwrap();
        let key = DropoutKey { seed: 3, epoch: 2, step: 7 };
        let a = net.forward_train(&x, key).unwrap();
        let b = net.forward_train(&x, key).unwrap();
        assert!(a.data_eq(&b));
        let c = net.forward_train(&x, DropoutKey { step: 8, ..key }).unwrap();
        assert!(!a.data_eq(&c));
    }

    #[test]
    fn same_seed_same_weights() {
        let a = Network::new(&spec(0.0), 9).unwrap();
        let b = Network::new(&spec(0.0), 9).unwrap();
        for (p, q) in a.parameter_list().iter().zip(b.parameter_list()) {
            assert!(p.value().data_eq(&q.value()));
        }
    }

    #[test]
    fn bad_specs_are_errors() {
        assert!(matches!(
            Network::new(&spec(1.0), 0),
            Err(CliError::InvalidArgument { flag: "--dropout", .. })
        ));
        let zero = ModelSpec { hidden: vec![0], ..spec(0.0) };
        assert!(matches!(Network::new(&zero, 0), Err(CliError::InvalidArgument { flag: "--hidden", .. })));
        let act = ModelSpec { activation: "swishy".into(), ..spec(0.0) };
        assert!(matches!(Network::new(&act, 0), Err(CliError::InvalidArgument { flag: "--activation", .. })));
    }
}
