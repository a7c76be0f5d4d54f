//! Semantics, error cases and f64 gradchecks of nn's layers, and `#[derive(Module)]` on a
//! user's own struct.

use nn::{
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv1d, Conv2d, Embedding, Flatten, Gru, LayerNorm, Linear, Lstm,
    MaxPool2d, Module, MultiHeadAttention, NnError, TransformerBlock,
};
use rand::{SeedableRng, rngs::StdRng};
use tensor_core::gradcheck::{GradcheckOptions, gradcheck};
use tensor_core::{AttentionMask, ConvOptions, Element, Parameter, Tensor};

fn rng() -> StdRng {
    StdRng::seed_from_u64(17)
}

fn randn(shape: &[usize], seed: u64) -> Tensor<f64> {
    Tensor::rand_normal(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed)).unwrap()
}

/// Gradchecks `m`'s forward with respect to its input `x` in f64.
#[track_caller]
fn check_grad(name: &str, m: &dyn Module<f64>, x: Tensor<f64>) {
    let report = gradcheck(
        |xs| {
            m.forward(&xs[0]).map_err(|e| match e {
                NnError::Tensor(e) => e,
                other => tensor_core::Error::InvalidArgument { op: "layer", reason: other.to_string() },
            })
        },
        &[x],
        &GradcheckOptions::default(),
    )
    .unwrap();
    assert!(report.passed, "{name}: {report}");
}

/// An input-shape error: a typed error (never a panic) whose message names the layer and
/// the offending shape.
#[track_caller]
fn check_err(m: &dyn Module<f64>, x: &[usize], names: &str) {
    let err = m.forward(&Tensor::zeros(x).unwrap()).unwrap_err().to_string();
    assert!(err.contains(names), "{err:?} should name {names}");
    assert!(
        err.contains(&format!("{x:?}")) || err.contains(&format!("{:?}", x.to_vec())),
        "{err:?} should show {x:?}"
    );
}

#[test]
fn conv_layers_shapes_params_and_grads() {
    let opts = ConvOptions { stride: [2, 1], padding: [1, 0], dilation: [1, 2], groups: 2 };
    let conv = Conv2d::<f64>::new(4, 6, [3, 2], opts, true, &mut rng()).unwrap();
    // (5 + 2 − 2 − 1)/2 + 1 = 3 rows, (6 − 2 − 1)/1 + 1 = 4 columns.
    assert_eq!(conv.forward(&Tensor::zeros(&[1, 4, 5, 6]).unwrap()).unwrap().shape(), &[1, 6, 3, 4]);
    let names: Vec<String> = conv.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(conv.weight().shape(), &[6, 2, 3, 2]);
    // PyTorch's bound 1/√fan_in, fan_in = 2·3·2 = 12.
    let bound = 1.0 / 12f64.sqrt();
    assert!(conv.weight().value().as_slice().iter().all(|w| w.abs() <= bound));
    check_grad("Conv2d", &conv, randn(&[1, 4, 5, 4], 1));
    check_err(&conv, &[1, 3, 5, 6], "Conv2d");
    assert!(Conv2d::<f64>::new(3, 6, [3, 3], opts, true, &mut rng()).is_err(), "3 channels in 2 groups");

    let conv1 = Conv1d::<f64>::new(
        2,
        3,
        3,
        ConvOptions { padding: [1], ..ConvOptions::default() },
        false,
        &mut rng(),
    )
    .unwrap();
    assert_eq!(conv1.parameters().len(), 1);
    check_grad("Conv1d", &conv1, randn(&[2, 2, 5], 2));
    check_err(&conv1, &[2, 2], "Conv1d");
}

#[test]
fn pooling_and_flatten() {
    // 4×4 of 0..16: max of each 2×2 block is its bottom-right, average its centre.
    let x = Tensor::from_vec((0..16).map(f64::from).collect(), &[1, 1, 4, 4]).unwrap();
    assert_eq!(Module::<f64>::forward(&MaxPool2d::new([2, 2]), &x).unwrap().to_vec(), [5.0, 7.0, 13.0, 15.0]);
    assert_eq!(Module::<f64>::forward(&AvgPool2d::new([2, 2]), &x).unwrap().to_vec(), [2.5, 4.5, 10.5, 12.5]);
    let padded = AvgPool2d { kernel: [2, 2], stride: Some([2, 2]), padding: [1, 1] };
    // The corner window holds one real value (0) and three zeros of padding.
    assert_eq!(Module::<f64>::forward(&padded, &x).unwrap().to_vec()[0], 0.0);
    check_grad("MaxPool2d", &MaxPool2d::new([2, 2]), randn(&[1, 2, 4, 4], 3));
    check_grad("AvgPool2d", &padded, randn(&[1, 1, 3, 3], 4));
    check_err(&MaxPool2d::new([2, 2]), &[4, 4], "max_pool2d");
    assert_eq!(Module::<f64>::forward(&Flatten::default(), &x).unwrap().shape(), &[1, 16]);
    check_grad("Flatten", &Flatten::default(), randn(&[2, 2, 2], 5));
    check_err(&Flatten { start_dim: 3 }, &[2, 3], "Flatten");
}

#[test]
fn batch_norm_statistics_modes_and_buffers() {
    let bn = BatchNorm2d::<f64>::new(2).unwrap();
    let x = randn(&[3, 2, 2, 2], 6);
    let y = bn.forward(&x).unwrap();
    // Training mode: every channel of the output has mean 0 (β = 0).
    let mean = y.mean(vec![0isize, 2, 3].as_slice(), false).unwrap();
    assert!(mean.as_slice().iter().all(|m| m.abs() < 1e-12));
    // Running mean after one update from 0 with momentum 0.1 is 0.1·(batch mean).
    let batch_mean = x.mean(vec![0isize, 2, 3].as_slice(), false).unwrap();
    for (r, b) in bn.running_mean().value().as_slice().iter().zip(batch_mean.as_slice()) {
        assert!((r - 0.1 * b).abs() < 1e-15);
    }
    assert_eq!(bn.num_batches_tracked().value().item().unwrap(), 1.0);
    let names: Vec<String> = bn.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["running_mean", "running_var", "num_batches_tracked"]);
    // Evaluation mode uses the running statistics and leaves them alone.
    bn.eval();
    assert!(!bn.is_training());
    let before = bn.running_var().value().to_vec();
    bn.forward(&x).unwrap();
    assert_eq!(bn.running_var().value().to_vec(), before);
    check_grad("BatchNorm2d eval", &bn, randn(&[2, 2, 2, 2], 7));
    bn.train(true);
    check_grad("BatchNorm2d train", &bn, randn(&[2, 2, 2, 2], 8));
    check_err(&bn, &[2, 3, 2, 2], "BatchNorm2d");

    // Buffers go to weight files under PyTorch's names, and come back.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bn.safetensors");
    nn::save_module(&path, &bn).unwrap();
    let fresh = BatchNorm2d::<f64>::new(2).unwrap();
    nn::load_module(&path, &fresh).unwrap();
    assert_eq!(fresh.running_mean().value().to_vec(), bn.running_mean().value().to_vec());

    let bn1 = BatchNorm1d::<f64>::with_options(3, None, 1e-5, false).unwrap();
    assert!(bn1.parameters().is_empty());
    check_grad("BatchNorm1d", &bn1, randn(&[4, 3], 9));
    check_err(&bn1, &[4, 3, 2, 2], "BatchNorm1d");
    assert!(BatchNorm1d::<f64>::with_options(3, Some(1.5), 1e-5, true).is_err());
}

#[test]
fn layer_norm_and_embedding() {
    let ln = LayerNorm::<f64>::new(&[3]).unwrap();
    let y = ln.forward(&randn(&[2, 3], 10)).unwrap();
    let mean = y.mean(vec![1isize].as_slice(), false).unwrap();
    assert!(mean.as_slice().iter().all(|m| m.abs() < 1e-12));
    check_grad("LayerNorm", &ln, randn(&[2, 3], 11));
    check_err(&ln, &[2, 4], "layer_norm");

    let emb = Embedding::<f64>::new(5, 2, Some(0), &mut rng()).unwrap();
    assert_eq!(&emb.weight().value().to_vec()[..2], &[0.0, 0.0], "the padding row starts at zero");
    let tokens = Tensor::from_vec(vec![0.0, 3.0, 3.0], &[3]).unwrap();
    let y = emb.forward(&tokens).unwrap();
    assert_eq!(y.shape(), &[3, 2]);
    let g = y.sum_all().backward().unwrap();
    // Row 3 is used twice, so each of its entries gets 2; the padding row gets none.
    let g = g.get_param(emb.weight()).unwrap().to_vec();
    assert_eq!((g[0], g[6], g[7]), (0.0, 2.0, 2.0));
    let err = emb.forward(&Tensor::from_vec(vec![1.5], &[1]).unwrap()).unwrap_err().to_string();
    assert!(err.contains("Embedding") && err.contains("1.5"), "{err}");
    assert!(Embedding::<f64>::new(5, 2, Some(5), &mut rng()).is_err());
}

#[test]
fn recurrent_layers_shapes_state_and_grads() {
    let lstm = Lstm::<f64>::new(2, 3, 2, false, &mut rng()).unwrap();
    let names: Vec<String> = lstm.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..4], ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]);
    assert_eq!(lstm.parameter("weight_ih_l1").unwrap().shape(), &[12, 3]);
    let x = randn(&[4, 2, 2], 12);
    let (y, (h, _)) = lstm.forward_with_state(&x, None).unwrap();
    assert_eq!(y.shape(), &[4, 2, 3]);
    // The last output step is the top layer's final h.
    assert_eq!(y.narrow(0, 3, 1).unwrap().to_vec(), h.narrow(0, 1, 1).unwrap().to_vec());
    check_grad("Lstm", &lstm, randn(&[3, 1, 2], 13));
    check_err(&lstm, &[3, 1, 4], "Lstm");
    let bad_state = Tensor::zeros(&[1, 2, 3]).unwrap();
    assert!(lstm.forward_with_state(&x, Some((&bad_state, &bad_state))).is_err());

    let gru = Gru::<f64>::new(2, 3, 1, true, &mut rng()).unwrap();
    let (y, h) = gru.forward_with_state(&randn(&[2, 4, 2], 14), None).unwrap();
    assert_eq!((y.shape(), h.shape()), (&[2, 4, 3][..], &[1, 2, 3][..]));
    check_grad("Gru", &gru, randn(&[1, 3, 2], 15));
    check_err(&gru, &[2, 2], "Gru");
}

#[test]
fn attention_masks_and_grads() {
    let mha = MultiHeadAttention::<f64>::new(4, 2, true, true, &mut rng()).unwrap();
    let names: Vec<String> = mha.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]);
    // Causal: changing the last position leaves the earlier outputs alone.
    let x = randn(&[1, 3, 4], 16);
    let mut moved = x.to_vec();
    moved[8..].iter_mut().for_each(|v| *v += 1.0);
    let a = mha.forward(&x).unwrap().to_vec();
    let b = mha.forward(&Tensor::from_vec(moved, &[1, 3, 4]).unwrap()).unwrap().to_vec();
    assert_eq!(&a[..8], &b[..8]);
    assert_ne!(&a[8..], &b[8..]);
    // A boolean mask equal to the causal one gives the same result.
    let allow = Tensor::from_vec(vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 1.0], &[3, 3]).unwrap();
    let c = mha.forward_masked(&x, AttentionMask::Allow(&allow)).unwrap().to_vec();
    for (p, q) in a.iter().zip(&c) {
        assert!((p - q).abs() < 1e-12);
    }
    check_grad("MultiHeadAttention", &mha, randn(&[1, 3, 4], 17));
    check_err(&mha, &[1, 3, 5], "MultiHeadAttention");
    assert!(MultiHeadAttention::<f64>::new(4, 3, true, true, &mut rng()).is_err());

    let block = TransformerBlock::<f64>::new(4, 2, &mut rng()).unwrap();
    assert_eq!(block.parameters().len(), 12);
    check_grad("TransformerBlock", &block, randn(&[1, 3, 4], 18));
}

/// A user's module with the derive: a child, a list of children, an optional parameter, a
/// buffer, a mode flag and a plain setting.
#[derive(nn::Module)]
struct Tower<T: Element> {
    stem: Linear<T>,
    layers: Vec<Linear<T>>,
    scale: Option<Parameter<T>>,
    #[module(buffer)]
    seen: Parameter<T>,
    training: nn::TrainingFlag,
    #[module(skip)]
    depth: usize,
}

impl<T: Element> Tower<T> {
    fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let mut h = self.stem.forward(x)?;
        for layer in self.layers.iter().take(self.depth) {
            h = layer.forward(&h)?.tanh();
        }
        Ok(match &self.scale {
            Some(s) => h.mul(&s.tensor())?,
            None => h,
        })
    }
}

#[test]
fn derive_lists_parameters_buffers_children_and_mode() {
    let mut r = rng();
    let tower = Tower::<f64> {
        stem: Linear::new(2, 3, nn::Init::xavier_uniform(), &mut r).unwrap(),
        layers: vec![
            Linear::new(3, 3, nn::Init::xavier_uniform(), &mut r).unwrap(),
            Linear::new(3, 3, nn::Init::xavier_uniform(), &mut r).unwrap(),
        ],
        scale: Some(Parameter::new("scale", &Tensor::scalar(2.0))),
        seen: Parameter::new("seen", &Tensor::scalar(0.0)),
        training: nn::TrainingFlag::new(),
        depth: 2,
    };
    let names: Vec<String> = tower.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "scale",
            "stem.weight",
            "stem.bias",
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias"
        ]
    );
    let buffers: Vec<String> = tower.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(buffers, ["seen"]);
    tower.eval();
    assert!(!tower.is_training());
    let y = Module::forward(&tower, &Tensor::zeros(&[1, 2]).unwrap()).unwrap();
    assert_eq!(y.shape(), &[1, 3]);
    let g = y.sum_all().backward().unwrap();
    assert!(tower.parameters().iter().all(|(_, p)| g.get_param(p).is_some()));
}
