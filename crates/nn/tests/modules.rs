//! The module abstraction: nested parameter names, train/eval reaching every dropout layer,
//! custom and boxed modules, the Linear / Sequential / Mlp / Dropout layers, activation parsing,
//! and typed errors for bad layer input and configuration.

use nn::{
    Activation, Dropout, Init, Linear, Mlp, MlpConfig, Module, NnError, Sequential, TrainingFlag, from_fn,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::str::FromStr;
use tensor_core::{Element, Parameter, Tensor};

type TestResult = Result<(), NnError>;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn names<T: Element>(m: &dyn Module<T>) -> Vec<String> {
    m.parameters().into_iter().map(|(n, _)| n).collect()
}

/// A user-defined generic block: `x + α·act(x·W + b)`, with a dropout on the branch.
struct Residual<T: Element> {
    inner: Linear<T>,
    drop: Dropout,
    alpha: Parameter<T>,
}

impl<T: Element> Residual<T> {
    fn new(width: usize, rng: &mut StdRng) -> nn::Result<Self> {
        Ok(Residual {
            inner: Linear::new(width, width, Init::xavier_uniform(), rng)?,
            drop: Dropout::new(0.5, 9)?,
            alpha: Parameter::new("alpha", &Tensor::scalar(T::from_f64(0.5))),
        })
    }
}

impl<T: Element> Module<T> for Residual<T> {
    fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let branch = self.drop.forward(&self.inner.forward(x)?.tanh())?;
        Ok(x.add(&branch.mul(&self.alpha.tensor())?)?)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        vec![("alpha".into(), self.alpha.clone())]
    }
    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        vec![("inner".into(), &self.inner), ("drop".into(), &self.drop)]
    }
}

/// A model holding a list of blocks and a head, the way users nest things.
struct Net {
    blocks: Sequential<f64>,
    head: Linear<f64>,
}

impl Module<f64> for Net {
    fn forward(&self, x: &Tensor<f64>) -> nn::Result<Tensor<f64>> {
        self.head.forward(&self.blocks.forward(x)?)
    }
    fn children(&self) -> Vec<(String, &dyn Module<f64>)> {
        vec![("blocks".into(), &self.blocks), ("head".into(), &self.head)]
    }
}

fn net() -> nn::Result<Net> {
    let mut r = rng(1);
    let blocks = Sequential::new().push(Residual::new(3, &mut r)?).push(Residual::new(3, &mut r)?);
    Ok(Net { blocks, head: Linear::new(3, 2, Init::xavier_uniform(), &mut r)? })
}

#[test]
fn nested_modules_name_their_parameters_by_path() -> TestResult {
    let model = net()?;
    assert_eq!(
        names(&model),
        [
            "blocks.0.alpha",
            "blocks.0.inner.weight",
            "blocks.0.inner.bias",
            "blocks.1.alpha",
            "blocks.1.inner.weight",
            "blocks.1.inner.bias",
            "head.weight",
            "head.bias"
        ]
    );
    assert_eq!(model.num_parameters(), 2 * (1 + 9 + 3) + 6 + 2);
    let head = model.parameter("head.weight").map(|p| p.shape().to_vec());
    assert_eq!(head, Some(vec![3, 2]));
    assert!(model.parameter("head.nothing").is_none());
    Ok(())
}

#[test]
fn every_parameter_gets_a_gradient_by_its_handle() -> TestResult {
    let model = net()?;
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.0, 1.0, -0.5], &[2, 3])?;
    let loss = model.forward(&x)?.square().mean_all()?;
    let grads = loss.backward()?;
    for (name, p) in model.parameters() {
        let g = grads.get_param(&p).unwrap_or_else(|| panic!("no gradient for {name}"));
        assert_eq!(g.shape(), p.shape(), "{name}");
    }
    Ok(())
}

#[test]
fn eval_reaches_dropout_inside_custom_modules_and_train_comes_back() -> TestResult {
    let model = net()?;
    let x = Tensor::from_vec(vec![0.5, -1.0, 2.0, 0.0, 1.0, -0.5], &[2, 3])?;
    assert!(model.is_training());
    model.eval();
    assert!(!model.is_training());
    assert!(!model.blocks.is_training());
    // In eval mode the forward is deterministic (dropout is the identity).
    let a = model.forward(&x)?;
    let b = model.forward(&x)?;
    assert!(a.data_eq(&b));
    model.train(true);
    assert!(model.is_training());
    // In training mode, two calls draw two masks (p = 0.5 on 6 elements per block).
    let outputs: Vec<Tensor<f64>> = (0..4).map(|_| model.forward(&x)).collect::<Result<_, _>>()?;
    assert!(outputs.windows(2).any(|w| !w[0].data_eq(&w[1])));
    Ok(())
}

#[test]
fn a_layer_added_to_an_evaluating_chain_evaluates_too() -> TestResult {
    let mut chain = Sequential::<f64>::new();
    chain.eval();
    chain.add(Dropout::new(0.9, 0)?);
    let x = Tensor::ones(&[50]).unwrap();
    assert!(chain.forward(&x)?.data_eq(&x));
    Ok(())
}

#[test]
fn boxed_modules_keep_their_overrides() -> TestResult {
    let boxed: Box<dyn Module<f64>> = Box::new(net()?);
    assert_eq!(names(&boxed).len(), 8);
    boxed.eval();
    assert!(!boxed.is_training());
    let chain = Sequential::new().push(boxed);
    assert_eq!(names(&chain)[0], "0.blocks.0.alpha");
    Ok(())
}

#[test]
fn a_module_with_its_own_flag() -> TestResult {
    /// Adds 1 only in training mode.
    struct Noisy(TrainingFlag);
    impl Module<f64> for Noisy {
        fn forward(&self, x: &Tensor<f64>) -> nn::Result<Tensor<f64>> {
            Ok(if self.0.get() { x.add_scalar(1.0) } else { x.clone() })
        }
        fn training_flag(&self) -> Option<&TrainingFlag> {
            Some(&self.0)
        }
    }
    let chain = Sequential::new().push(Noisy(TrainingFlag::new()));
    assert_eq!(chain.forward(&Tensor::scalar(1.0))?.item()?, 2.0);
    chain.eval();
    assert_eq!(chain.forward(&Tensor::scalar(1.0))?.item()?, 1.0);
    Ok(())
}

#[test]
fn linear_computes_x_w_plus_b_with_samples_as_rows() -> TestResult {
    // W = [[1, 2], [3, 4], [5, 6]] (3 inputs × 2 outputs), b = [10, 20].
    let w = Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?;
    let b = Tensor::from_vec(vec![10.0, 20.0], &[2])?;
    let layer = Linear::from_tensors(&w, Some(&b))?;
    let x = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], &[2, 3])?;
    // Row 1: [1, 2] + b; row 2: [1+3+5, 2+4+6] + b.
    assert_eq!(layer.forward(&x)?.to_vec(), vec![11.0, 22.0, 19.0, 32.0]);
    // One sample as a vector, and a batch of batches.
    assert_eq!(layer.forward(&Tensor::from_vec(vec![1.0, 0.0, 0.0], &[3])?)?.to_vec(), vec![11.0, 22.0]);
    assert_eq!(layer.forward(&Tensor::zeros(&[4, 5, 3]).unwrap())?.shape(), &[4, 5, 2]);
    let no_bias = Linear::from_tensors(&w, None)?;
    assert_eq!(names(&no_bias), ["weight"]);
    assert_eq!(no_bias.forward(&x)?.to_vec(), vec![1.0, 2.0, 9.0, 12.0]);
    Ok(())
}

#[test]
fn linear_rejects_inputs_of_the_wrong_width() -> TestResult {
    let layer = Linear::<f64>::new(3, 2, Init::xavier_uniform(), &mut rng(0))?;
    for shape in [&[2usize, 4][..], &[3, 2], &[]] {
        let err = layer.forward(&Tensor::zeros(shape).unwrap()).unwrap_err();
        assert!(matches!(err, NnError::InputFeatures { expected: 3, .. }), "{err}");
    }
    let err = layer.forward(&Tensor::zeros(&[2, 4]).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Linear(3 → 2): expected inputs with 3 features in the last dimension, got shape [2, 4]"
    );
    Ok(())
}

#[test]
fn linear_from_tensors_checks_shapes() {
    let w = Tensor::<f64>::zeros(&[3, 2]).unwrap();
    for (weight, bias) in [
        (Tensor::zeros(&[3]).unwrap(), None),
        (w.clone(), Some(Tensor::zeros(&[3]).unwrap())),
        (w, Some(Tensor::zeros(&[1, 2]).unwrap())),
    ] {
        let err = Linear::from_tensors(&weight, bias.as_ref()).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "Linear::from_tensors", .. }), "{err}");
    }
}

#[test]
fn linear_is_seeded_and_has_zero_biases() -> TestResult {
    let a = Linear::<f32>::new(5, 4, Init::kaiming_normal(), &mut rng(3))?;
    let b = Linear::<f32>::new(5, 4, Init::kaiming_normal(), &mut rng(3))?;
    let c = Linear::<f32>::new(5, 4, Init::kaiming_normal(), &mut rng(4))?;
    assert!(a.weight().value().data_eq(&b.weight().value()));
    assert!(!a.weight().value().data_eq(&c.weight().value()));
    assert_eq!(a.bias().map(|b| b.value().to_vec()), Some(vec![0.0; 4]));
    let no_bias = Linear::<f32>::with_init(5, 4, Init::xavier_uniform(), None, &mut rng(0))?;
    assert!(no_bias.bias().is_none());
    Ok(())
}

#[test]
fn mlp_layout_names_and_output_activation() -> TestResult {
    let mlp: Mlp<f64> = MlpConfig::new(&[4, 8, 6, 3], Activation::Relu)
        .dropout(0.2)
        .output_activation(Activation::Softmax)
        .build(&mut rng(0))?;
    // Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear, Softmax.
    assert_eq!(mlp.layers().len(), 8);
    assert_eq!(
        names(&mlp),
        [
            "layers.0.weight",
            "layers.0.bias",
            "layers.3.weight",
            "layers.3.bias",
            "layers.6.weight",
            "layers.6.bias"
        ]
    );
    mlp.eval();
    let y = mlp.forward(&Tensor::ones(&[5, 4]).unwrap())?;
    for row in y.to_vec().chunks(3) {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
    let plain = Mlp::<f64>::new(&[2, 3], Activation::Tanh, &mut rng(0))?;
    assert_eq!(plain.layers().len(), 1, "one Linear, no activation after the output");
    assert_eq!(format!("{mlp:?}"), "Mlp([4, 8, 6, 3], relu, dropout 0.2, output softmax)");
    Ok(())
}

#[test]
fn mlp_builds_are_reproducible_from_the_seed() -> TestResult {
    let config = MlpConfig::new(&[3, 5, 2], Activation::Gelu).dropout(0.5);
    let a: Mlp<f64> = config.build(&mut rng(11))?;
    let b: Mlp<f64> = config.build(&mut rng(11))?;
    let x = Tensor::ones(&[4, 3]).unwrap();
    assert!(a.forward(&x)?.data_eq(&b.forward(&x)?), "same seed, same weights and dropout masks");
    Ok(())
}

#[test]
fn bad_mlp_configurations_are_errors() {
    for config in [
        MlpConfig::new(&[4], Activation::Relu),
        MlpConfig::new(&[], Activation::Relu),
        MlpConfig::new(&[4, 0, 2], Activation::Relu),
        MlpConfig::new(&[4, 2], Activation::Relu).dropout(1.0),
        MlpConfig::new(&[4, 2], Activation::Relu).dropout(-0.1),
        MlpConfig::new(&[4, 2], Activation::Relu).dropout(f64::NAN),
    ] {
        let err = config.build::<f64>(&mut rng(0)).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "Mlp", .. }), "{config:?}: {err}");
    }
    let err = MlpConfig::new(&[4, 2], Activation::Relu)
        .init(Init::XavierUniform { gain: -1.0 })
        .build::<f64>(&mut rng(0));
    assert!(matches!(err, Err(NnError::InvalidArgument { op: "Init", .. })));
}

#[test]
fn dropout_is_inverted_and_deterministic() -> TestResult {
    let p = 0.3;
    let x = Tensor::<f64>::ones(&[20_000]).unwrap();
    let drop = Dropout::new(p, 123)?;
    let y = drop.forward(&x)?;
    let kept = y.as_slice().iter().filter(|&&v| v != 0.0).count() as f64 / 20_000.0;
    assert!((kept - 0.7).abs() < 0.02, "kept fraction {kept}");
    assert!(y.as_slice().iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-12));
    let mean = y.as_slice().iter().sum::<f64>() / 20_000.0;
    assert!((mean - 1.0).abs() < 0.03, "expected value kept: mean {mean}");
    // Same seed, same sequence of masks; a second call draws a new mask.
    let again = Dropout::new(p, 123)?;
    assert!(again.forward(&x)?.data_eq(&y));
    assert!(!again.forward(&x)?.data_eq(&y));
    // The gradient is the same mask, scaled.
    let xv = Tensor::<f64>::ones(&[1000]).unwrap().requires_grad();
    let out = Dropout::new(p, 5)?.forward(&xv)?;
    let g = out.sum_all().backward()?.wrt(&xv)?.to_vec();
    assert_eq!(g, out.to_vec());
    // p = 0 is the identity even in training mode.
    assert!(Dropout::new(0.0, 1)?.forward(&x)?.data_eq(&x));
    Ok(())
}

#[test]
fn dropout_probability_must_be_in_zero_one() {
    for p in [1.0, 1.5, -0.01, f64::NAN, f64::INFINITY] {
        let err = Dropout::new(p, 0).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "Dropout::new", .. }), "{p}: {err}");
    }
}

#[test]
fn activations_parse_and_print() -> TestResult {
    let cases = [
        ("relu", Activation::Relu),
        ("ReLU", Activation::Relu),
        (" tanh ", Activation::Tanh),
        ("sigmoid", Activation::Sigmoid),
        ("logistic", Activation::Sigmoid),
        ("identity", Activation::Identity),
        ("linear", Activation::Identity),
        ("none", Activation::Identity),
        ("leaky_relu", Activation::LeakyRelu(0.01)),
        ("leaky-relu:0.2", Activation::LeakyRelu(0.2)),
        ("softmax", Activation::Softmax),
        ("log_softmax", Activation::LogSoftmax),
        ("gelu", Activation::Gelu),
        ("gelu_tanh", Activation::GeluTanh),
        ("softplus", Activation::Softplus),
    ];
    for (text, expected) in cases {
        let parsed = Activation::from_str(text)?;
        assert_eq!(parsed, expected, "{text}");
        assert_eq!(parsed.to_string().parse::<Activation>()?, parsed, "round trip of {text}");
    }
    for bad in ["", "relu6", "tanh:2", "leaky_relu:x", "leaky_relu:inf", "swish"] {
        let err = bad.parse::<Activation>().unwrap_err();
        assert!(matches!(err, NnError::UnknownActivation { .. }), "{bad}: {err}");
    }
    Ok(())
}

#[test]
fn activation_values_by_hand() -> TestResult {
    let x = Tensor::<f64>::from_vec(vec![-2.0, 0.0, 3.0], &[3])?;
    let apply = |a: Activation| a.apply(&x).map(|y| y.to_vec());
    assert_eq!(apply(Activation::Identity)?, vec![-2.0, 0.0, 3.0]);
    assert_eq!(apply(Activation::Relu)?, vec![0.0, 0.0, 3.0]);
    assert_eq!(apply(Activation::LeakyRelu(0.5))?, vec![-1.0, 0.0, 3.0]);
    assert_eq!(apply(Activation::Sigmoid)?[1], 0.5);
    assert_eq!(apply(Activation::Tanh)?[1], 0.0);
    assert_eq!(apply(Activation::Softplus)?[1], 2f64.ln());
    // GELU(0) = 0, GELU(3) = 3·Φ(3) = 2.99595…, GELU(−2) = −2·Φ(−2) = −0.04550…
    let gelu = apply(Activation::Gelu)?;
    assert!((gelu[2] - 3.0 * 0.998_650_101_968_369_9).abs() < 1e-12);
    assert!((gelu[0] + 2.0 * 0.022_750_131_948_179_2).abs() < 1e-12);
    let soft = apply(Activation::Softmax)?;
    assert!((soft.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    // ReLU's gradient at 0 is 0.
    let z = Tensor::<f64>::zeros(&[2]).unwrap().requires_grad();
    assert_eq!(nn::activation::relu(&z).sum_all().backward()?.wrt(&z)?.to_vec(), vec![0.0, 0.0]);
    // Softmax of a scalar has no axis; a NaN slope is refused.
    assert!(matches!(Activation::Softmax.apply(&Tensor::<f64>::scalar(1.0)), Err(NnError::Tensor(_))));
    assert!(matches!(Activation::LeakyRelu(f64::NAN).apply(&x), Err(NnError::InvalidArgument { .. })));
    Ok(())
}

#[test]
fn from_fn_modules_and_f32_models() -> TestResult {
    let model = Sequential::<f32>::new()
        .push(Linear::new(2, 2, Init::xavier_uniform(), &mut rng(0))?)
        .push(from_fn(|x: &Tensor<f32>| Ok(x.mul_scalar(0.0).add_scalar(1.0))));
    assert_eq!(model.forward(&Tensor::ones(&[3, 2]).unwrap())?.to_vec(), vec![1.0f32; 6]);
    Ok(())
}

#[test]
fn trained_models_move_between_threads() -> TestResult {
    let model = Mlp::<f32>::new(&[2, 4, 1], Activation::Tanh, &mut rng(0))?;
    let x = Tensor::<f32>::ones(&[1, 2]).unwrap();
    let here = model.forward(&x)?.to_vec();
    let there = std::thread::spawn(move || model.forward(&x).map(|y| y.to_vec()))
        .join()
        .unwrap_or_else(|_| panic!("the inference thread panicked"))?;
    assert_eq!(here, there);
    Ok(())
}
