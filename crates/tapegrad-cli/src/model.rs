//! The network `tapegrad train` fits: an MLP of `nn::Linear` layers with a hidden activation and
//! dropout whose masks are a pure function of (seed, epoch, step, layer), optionally after a
//! stack of convolution blocks (`--model cnn`: `nn::Conv2d` 3×3 with padding 1, the activation,
//! `nn::MaxPool2d` 2×2) over one-channel images.
//!
//! Why not `nn::Mlp` with `nn::Dropout`: that dropout draws its masks from a generator that
//! lives inside the layer and cannot be saved, so a run resumed from a checkpoint would draw
//! different masks than the uninterrupted run. Keying each mask on its position in training
//! needs no state at all, and resuming is exact. Parameter names follow `nn::Mlp`'s
//! (`layers.<position>.weight`, counting activation and dropout positions), so a saved model
//! loads into an `nn::Mlp` of the same configuration. A CNN's names are those of the PyTorch
//! `nn.Sequential(conv, act, pool, …, flatten, linear, act, [dropout,] …, linear)` of the same
//! shape (`layers.0.weight` is the first convolution's), so its file loads into that model.

use nn::{Activation, Conv2d, Init, Linear, MaxPool2d, Module};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tensor_core::{ConvOptions, Parameter, Tensor};

use super::args::ModelArg;
use super::error::{CliError, Result};

/// A CNN's convolution stack: each block is a 3×3 convolution with padding 1, the hidden
/// activation, and a 2×2 max-pool, so each block keeps the image size and the pool halves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvSpec {
    /// Rows of pixels of the input images.
    pub height: usize,
    /// Pixels per row.
    pub width: usize,
    /// Output channels of each block, input side first (the images have one channel).
    pub channels: Vec<usize>,
}

/// The kernel side of every convolution of a [`ConvSpec`].
pub const CONV_KERNEL: usize = 3;

impl ConvSpec {
    /// The image size entering each block, then the size after the last pool.
    fn spatial(&self) -> Vec<(usize, usize)> {
        let mut sizes = vec![(self.height, self.width)];
        for _ in &self.channels {
            let (h, w) = sizes[sizes.len() - 1];
            sizes.push((h / 2, w / 2));
        }
        sizes
    }

    /// Features after the last block, flattened (channels × height × width); saturating, so
    /// check [`ModelSpec::check_size`] first.
    pub fn flat_features(&self) -> usize {
        let (h, w) = self.spatial()[self.channels.len()];
        self.channels.last().map_or(h * w, |&c| c.saturating_mul(h).saturating_mul(w))
    }

    /// Per block: (input channels, output channels, height, width) at the convolution.
    fn blocks(&self) -> Vec<(usize, usize, usize, usize)> {
        let spatial = self.spatial();
        let mut inputs = 1;
        self.channels
            .iter()
            .zip(spatial)
            .map(|(&out, (h, w))| {
                let block = (inputs, out, h, w);
                inputs = out;
                block
            })
            .collect()
    }
}

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
    /// Dropout probability after each hidden activation (0: none; never in the convolution blocks).
    pub dropout: f64,
    /// Which network. Configurations written before CNNs existed have no such field and are MLPs.
    #[serde(default)]
    pub kind: ModelArg,
    /// A CNN's convolution stack (`None` for an MLP); `hidden` then follows the flattened
    /// output of the last block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conv: Option<ConvSpec>,
}

/// The widest layer tapegrad builds: inputs, hidden units or outputs.
pub const MAX_UNITS: usize = 1 << 20;
/// The most weights and biases a network may have, 2^28: 1 GiB of `f32` per copy, and training
/// keeps about four (weights, gradients, two optimizer buffers).
pub const MAX_PARAMETERS: usize = 1 << 28;
/// The most values one layer's activations may hold at once (a batch's rows × the layer's
/// width; for a convolution, the larger of its output and its unfolded im2col input).
pub const MAX_ACTIVATIONS: usize = 1 << 28;

impl ModelSpec {
    /// Checks the shape against [`MAX_UNITS`], [`MAX_PARAMETERS`] and (for one sample)
    /// [`MAX_ACTIVATIONS`] with checked arithmetic, before anything is allocated (the sizes
    /// may come from a flag, a `config.json` or a checkpoint); returns the parameter count.
    pub fn check_size(&self) -> Result<usize> {
        let too_many = || CliError::ModelTooLarge {
            reason: format!("the network has more than the limit of {MAX_PARAMETERS} weights and biases"),
        };
        let mut total: usize = 0;
        match (self.kind, &self.conv) {
            (ModelArg::Mlp, None) => {}
            (ModelArg::Cnn, Some(conv)) => total = check_conv(conv, self.inputs)?,
            (ModelArg::Mlp, Some(_)) => {
                return Err(CliError::invalid(
                    "--channels",
                    "convolution channels apply only with --model cnn",
                ));
            }
            (ModelArg::Cnn, None) => {
                return Err(CliError::invalid("--model", "a cnn needs the shape of its input images"));
            }
        }
        let sizes = self.sizes();
        if let Some(zero) = sizes.iter().position(|&s| s == 0) {
            return Err(CliError::invalid("--hidden", format!("layer {zero} of {sizes:?} has no units")));
        }
        if let Some(&wide) = sizes.iter().find(|&&s| s > MAX_UNITS) {
            return Err(CliError::ModelTooLarge {
                reason: format!("a layer of {wide} units is wider than the limit of {MAX_UNITS}"),
            });
        }
        for pair in sizes.windows(2) {
            let layer = pair[0].checked_mul(pair[1]).and_then(|w| w.checked_add(pair[1]));
            total = match layer.and_then(|l| total.checked_add(l)) {
                Some(t) if t <= MAX_PARAMETERS => t,
                _ if self.conv.is_some() => return Err(too_many()),
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

    /// The most values one sample holds at once in any layer: the widest dense layer, or for
    /// a CNN a block's output or the unfolded (im2col) input its convolution multiplies.
    /// Saturating; [`ModelSpec::check_size`] bounds it.
    pub fn max_width(&self) -> usize {
        let dense = self.sizes().into_iter().max().unwrap_or(1);
        let conv = self.conv.as_ref().map_or(0, |conv| {
            conv.blocks()
                .into_iter()
                .map(|(cin, cout, h, w)| {
                    let pixels = h.saturating_mul(w);
                    cout.max(cin.saturating_mul(CONV_KERNEL * CONV_KERNEL)).saturating_mul(pixels)
                })
                .max()
                .unwrap_or(0)
        });
        dense.max(conv)
    }

    /// The dense layer widths from the first dense input (the features, or a CNN's flattened
    /// last block) to the output.
    pub fn sizes(&self) -> Vec<usize> {
        let first = self.conv.as_ref().map_or(self.inputs, ConvSpec::flat_features);
        let mut sizes = vec![first];
        sizes.extend(&self.hidden);
        sizes.push(self.outputs);
        sizes
    }

    /// The parsed activation.
    pub fn activation(&self) -> Result<Activation> {
        self.activation.parse().map_err(|e: nn::NnError| CliError::invalid("--activation", e.to_string()))
    }
}

/// Checks a CNN's convolution stack against its input and the limits; returns its parameter
/// count.
fn check_conv(conv: &ConvSpec, inputs: usize) -> Result<usize> {
    if conv.height.checked_mul(conv.width) != Some(inputs) {
        return Err(CliError::ModelMismatch {
            reason: format!(
                "the cnn's {}×{} images do not hold its {inputs} input features",
                conv.height, conv.width
            ),
        });
    }
    if conv.channels.is_empty() {
        return Err(CliError::invalid("--channels", "a cnn needs at least one convolution block"));
    }
    if let Some(zero) = conv.channels.iter().position(|&c| c == 0) {
        return Err(CliError::invalid(
            "--channels",
            format!("block {zero} of {:?} has no channels", conv.channels),
        ));
    }
    if let Some(&wide) = conv.channels.iter().find(|&&c| c > MAX_UNITS) {
        return Err(CliError::ModelTooLarge {
            reason: format!("a block of {wide} channels is wider than the limit of {MAX_UNITS}"),
        });
    }
    let pools = conv.channels.len();
    if pools >= usize::BITS as usize || conv.height >> pools == 0 || conv.width >> pools == 0 {
        return Err(CliError::invalid(
            "--channels",
            format!(
                "{pools} blocks halve {}×{} images {pools} times, to nothing; use fewer blocks",
                conv.height, conv.width
            ),
        ));
    }
    let mut total: usize = 0;
    for (cin, cout, h, w) in conv.blocks() {
        let taps = cin * CONV_KERNEL * CONV_KERNEL;
        let block = taps.checked_mul(cout).and_then(|p| p.checked_add(cout));
        total = match block.and_then(|b| total.checked_add(b)) {
            Some(t) if t <= MAX_PARAMETERS => t,
            _ => {
                return Err(CliError::ModelTooLarge {
                    reason: format!(
                        "convolution channels {:?} have more than the limit of {MAX_PARAMETERS} weights and biases",
                        conv.channels
                    ),
                });
            }
        };
        let pixels = h * w;
        let widest = cout.max(taps).checked_mul(pixels);
        if widest.is_none_or(|n| n > MAX_ACTIVATIONS) {
            return Err(CliError::ModelTooLarge {
                reason: format!(
                    "a {cin}→{cout} channel convolution on {h}×{w} images holds more than the limit of \
                     {MAX_ACTIVATIONS} activations for a single image"
                ),
            });
        }
    }
    Ok(total)
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

/// An MLP: `Linear → activation [→ dropout]` per hidden layer, then a last `Linear`; for a CNN
/// the convolution blocks (`Conv2d → activation → MaxPool2d`) and a flatten come first.
pub struct Network {
    spec: ModelSpec,
    activation: Activation,
    convs: Vec<Conv2d<f32>>,
    layers: Vec<Linear<f32>>,
    /// Each layer's position in the `nn.Sequential` chain (convolutions, then dense layers),
    /// which names its parameters.
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
        let mut convs = Vec::new();
        let mut positions = Vec::with_capacity(sizes.len() - 1);
        // Convolutions keep PyTorch's default initialisation (as `nn.Conv2d`'s).
        let padding = ConvOptions { padding: [1, 1], ..ConvOptions::default() };
        for (index, (cin, cout, _, _)) in spec.conv.iter().flat_map(ConvSpec::blocks).enumerate() {
            convs.push(Conv2d::new(cin, cout, [CONV_KERNEL; 2], padding, true, &mut rng)?);
            positions.push(index * 3);
        }
        // After the blocks (conv, activation, pool each) comes the flatten.
        let first_dense = if convs.is_empty() { 0 } else { convs.len() * 3 + 1 };
        let mut layers = Vec::with_capacity(sizes.len() - 1);
        for (index, pair) in sizes.windows(2).enumerate() {
            layers.push(Linear::with_init(pair[0], pair[1], init, Some(Init::Zeros), &mut rng)?);
            positions.push(first_dense + index * per_hidden);
        }
        Ok(Network { spec: spec.clone(), activation, convs, layers, positions })
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
        let mut y = self.features(x)?;
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

    /// A CNN's convolution blocks on rows of `height × width` pixels, flattened again; an
    /// MLP's input unchanged.
    fn features(&self, x: &Tensor<f32>) -> Result<Tensor<f32>> {
        let Some(conv) = &self.spec.conv else { return Ok(x.clone()) };
        let n = x.shape().first().copied().unwrap_or(0);
        let mut y = x.reshape(&[n, 1, conv.height, conv.width])?;
        let pool = MaxPool2d::new([2, 2]);
        for layer in &self.convs {
            y = Module::forward(&pool, &self.activation.apply(&layer.forward(&y)?)?)?;
        }
        Ok(y.reshape(&[n, conv.flat_features()])?)
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
        let convs = self.convs.iter().map(|c| c as &dyn Module<f32>);
        convs
            .chain(self.layers.iter().map(|l| l as &dyn Module<f32>))
            .zip(&self.positions)
            .map(|(layer, position)| (format!("layers.{position}"), layer))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dropout: f64) -> ModelSpec {
        ModelSpec {
            inputs: 4,
            hidden: vec![8, 6],
            outputs: 3,
            activation: "relu".into(),
            dropout,
            kind: ModelArg::Mlp,
            conv: None,
        }
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

    fn cnn(channels: Vec<usize>, side: usize) -> ModelSpec {
        ModelSpec {
            inputs: side * side,
            hidden: vec![16],
            outputs: 10,
            kind: ModelArg::Cnn,
            conv: Some(ConvSpec { height: side, width: side, channels }),
            ..spec(0.25)
        }
    }

    #[test]
    fn a_configuration_without_a_kind_is_an_mlp() {
        let text = r#"{"inputs": 4, "hidden": [8], "outputs": 3, "activation": "relu", "dropout": 0.0}"#;
        let spec: ModelSpec = serde_json::from_str(text).unwrap();
        assert_eq!((spec.kind, &spec.conv), (ModelArg::Mlp, &None));
        let written = serde_json::to_value(&spec).unwrap();
        assert_eq!(written["kind"], "mlp");
        assert!(written.get("conv").is_none());
    }

    #[test]
    fn cnn_names_follow_the_pytorch_sequential_and_shapes_flow() {
        let net = Network::new(&cnn(vec![4, 8], 28), 0).unwrap();
        let names: Vec<String> = net.parameters().into_iter().map(|(n, _)| n).collect();
        // conv 0, act 1, pool 2, conv 3, act 4, pool 5, flatten 6, linear 7, act 8, dropout 9, linear 10.
        let expected = ["layers.0.weight", "layers.0.bias", "layers.3.weight", "layers.3.bias"];
        assert_eq!(names[..4], expected);
        assert_eq!(names[4..], ["layers.7.weight", "layers.7.bias", "layers.10.weight", "layers.10.bias"]);
        assert_eq!(net.spec().sizes(), [8 * 7 * 7, 16, 10]);
        let out =
            net.forward_train(&Tensor::ones(&[3, 784]).unwrap(), DropoutKey { seed: 0, epoch: 0, step: 0 });
        assert_eq!(out.unwrap().shape(), &[3, 10]);
        let count: usize = net.parameter_list().iter().map(|p| p.value().numel()).sum();
        assert_eq!(net.spec().check_size().unwrap(), count);
        // The widest point is the second block's unfolded input: 4·9 taps × 14×14 pixels.
        assert_eq!(net.spec().max_width(), 4 * 9 * 14 * 14);
    }

    #[test]
    fn bad_cnn_shapes_are_errors_before_allocating() {
        let flag = |spec: ModelSpec| match spec.check_size() {
            Err(CliError::InvalidArgument { flag, .. }) => flag,
            other => panic!("{other:?}"),
        };
        assert_eq!(flag(cnn(vec![4, 0], 28)), "--channels");
        assert_eq!(flag(cnn(vec![], 28)), "--channels");
        assert_eq!(flag(cnn(vec![4; 5], 28)), "--channels");
        assert_eq!(flag(ModelSpec { conv: None, ..cnn(vec![4], 28) }), "--model");
        assert!(matches!(cnn(vec![1 << 19, 1 << 19], 28).check_size(), Err(CliError::ModelTooLarge { .. })));
        assert!(matches!(
            ModelSpec { inputs: 10, ..cnn(vec![4], 28) }.check_size(),
            Err(CliError::ModelMismatch { .. })
        ));
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
