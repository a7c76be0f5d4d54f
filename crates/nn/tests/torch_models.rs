//! PyTorch conformance for whole models: state dicts written by
//! `scripts/make_torch_models.py` (a CNN, a 2-layer LSTM, a GRU and a pre-LN transformer
//! block, each trained a few steps) load unchanged into nn's modules, and the outputs,
//! final states and parameter gradients of `Σ output²/2` match PyTorch's in f64.

use nn::weights_file::{self, NamedTensor, TensorData};
use nn::{BatchNorm2d, Conv2d, Flatten, Gru, Linear, Lstm, MaxPool2d, Module, TransformerBlock};
use rand::{SeedableRng, rngs::StdRng};
use std::collections::HashMap;
use std::path::PathBuf;
use tensor_core::{ConvOptions, Tensor};

/// Relative tolerance of the comparison (with a tiny absolute floor for values near zero).
const RTOL: f64 = 1e-8;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn io(name: &str) -> HashMap<String, Tensor<f64>> {
    let tensors: Vec<NamedTensor> =
        weights_file::load(data(&format!("{name}_io.safetensors"))).expect("io file");
    tensors
        .into_iter()
        .map(|t| {
            let TensorData::F64(v) = t.data else { panic!("{}: expected f64 data", t.name) };
            let value = Tensor::from_vec(v, &t.shape).expect("shape");
            (t.name, value)
        })
        .collect()
}

/// The largest relative deviation, asserting it is within [`RTOL`].
#[track_caller]
fn check(what: &str, got: &Tensor<f64>, want: &Tensor<f64>) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let mut worst: f64 = 0.0;
    for (i, (a, b)) in got.as_slice().iter().zip(want.as_slice()).enumerate() {
        let dev = (a - b).abs() / b.abs().max(1e-6);
        assert!((a - b).abs() <= RTOL * b.abs() + 1e-14, "{what}[{i}]: got {a}, PyTorch {b}");
        worst = worst.max(dev);
    }
    worst
}

/// Loads `name`'s weights into `model`, runs `run` on the stored input and compares the
/// output tensors and every parameter gradient with PyTorch's.
fn conform<M: Module<f64>>(
    name: &str,
    model: &M,
    run: impl Fn(&M, &Tensor<f64>) -> Vec<(&'static str, Tensor<f64>)>,
) {
    nn::load_module(data(&format!("{name}.safetensors")), model).expect("PyTorch weights load unchanged");
    let io = io(name);
    let outs = run(model, &io["input"]);
    let mut worst: f64 = 0.0;
    for (key, got) in &outs {
        worst = worst.max(check(&format!("{name} {key}"), got, &io[*key]));
    }
    let loss = outs[0].1.square().sum_all().mul_scalar(0.5);
    let grads = loss.backward().expect("backward");
    let params = model.parameters();
    assert!(!params.is_empty());
    for (pname, p) in params {
        let g = grads.get_param(&p).unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        worst = worst.max(check(&format!("{name} grad {pname}"), g, &io[&format!("grad.{pname}")]));
    }
    println!("{name}: largest relative deviation from PyTorch {worst:.2e}");
}

#[derive(nn::Module)]
struct Cnn<T: tensor_core::Element> {
    conv: Conv2d<T>,
    bn: BatchNorm2d<T>,
    pool: MaxPool2d,
    flatten: Flatten,
    fc: Linear<T>,
}

impl<T: tensor_core::Element> Cnn<T> {
    fn new(rng: &mut StdRng) -> nn::Result<Self> {
        Ok(Cnn {
            conv: Conv2d::new(
                1,
                4,
                [3, 3],
                ConvOptions { padding: [1, 1], ..ConvOptions::default() },
                true,
                rng,
            )?,
            bn: BatchNorm2d::new(4)?,
            pool: MaxPool2d::new([2, 2]),
            flatten: Flatten::default(),
            fc: Linear::new(64, 3, nn::Init::xavier_uniform(), rng)?,
        })
    }

    fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let h = self.bn.forward(&self.conv.forward(x)?)?.relu();
        self.fc.forward(&self.flatten.forward(&self.pool.forward(&h)?)?)
    }
}

#[test]
fn cnn_matches_pytorch_in_eval_mode() {
    let model = Cnn::<f64>::new(&mut StdRng::seed_from_u64(0)).unwrap();
    model.eval();
    let names: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]);
    conform("cnn", &model, |m, x| vec![("output", Module::forward(m, x).unwrap())]);
    // The trained statistics came from the file: PyTorch took three training steps.
    assert_eq!(model.bn.num_batches_tracked().value().item().unwrap(), 3.0);
}

#[test]
fn lstm_matches_pytorch() {
    let lstm = Lstm::<f64>::new(3, 5, 2, true, &mut StdRng::seed_from_u64(0)).unwrap();
    conform("lstm", &lstm, |m, x| {
        let (y, (h, c)) = m.forward_with_state(x, None).unwrap();
        vec![("output", y), ("h_n", h), ("c_n", c)]
    });
}

#[test]
fn gru_matches_pytorch() {
    let gru = Gru::<f64>::new(3, 4, 1, false, &mut StdRng::seed_from_u64(0)).unwrap();
    conform("gru", &gru, |m, x| {
        let (y, h) = m.forward_with_state(x, None).unwrap();
        vec![("output", y), ("h_n", h)]
    });
}

#[test]
fn transformer_block_matches_pytorch() {
    let block = TransformerBlock::<f64>::new(8, 2, &mut StdRng::seed_from_u64(0)).unwrap();
    conform("transformer_block", &block, |m, x| vec![("output", Module::forward(m, x).unwrap())]);
}
