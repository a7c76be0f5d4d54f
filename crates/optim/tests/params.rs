//! The tensor-core bridge: optimizers stepping `Parameter`s from a `Gradients` store.

use optim::{Adam, AdamConfig, OptimError, Sgd, SgdConfig, StepParams, clip_gradients_by_norm};
use tensor_core::{Parameter, Tensor, functional, functional::Reduction};

#[test]
fn adam_fits_a_line_through_parameters() {
    // y = 2x − 1 on 8 points; w and b start at 0.
    let x = Tensor::<f64>::from_vec((0..8).map(|i| i as f64 / 4.0).collect(), &[8, 1]).unwrap();
    let y = x.mul_scalar(2.0).add_scalar(-1.0);
    let w = Parameter::new("w", &Tensor::zeros(&[1, 1]).unwrap());
    let b = Parameter::new("b", &Tensor::zeros(&[1]).unwrap());
    let params = [w.clone(), b.clone()];
    let mut adam = Adam::new(AdamConfig::new(0.05)).unwrap();
    for _ in 0..2000 {
        let pred = x.matmul(&w.tensor()).unwrap().add(&b.tensor()).unwrap();
        let loss = functional::mse(&pred, &y, Reduction::Mean).unwrap();
        adam.step_params(&params, &loss.backward().unwrap()).unwrap();
    }
    assert!((w.value().item().unwrap() - 2.0).abs() < 1e-3);
    assert!((b.value().item().unwrap() + 1.0).abs() < 1e-3);
}

#[test]
fn a_parameter_without_gradient_is_skipped() {
    let used = Parameter::new("used", &Tensor::<f32>::ones(&[2]).unwrap());
    let unused = Parameter::new("unused", &Tensor::<f32>::ones(&[2]).unwrap());
    let grads = used.tensor().sum_all().backward().unwrap();
    let mut sgd = Sgd::new(SgdConfig::new(0.5).weight_decay(0.1)).unwrap();
    sgd.step_params(&[used.clone(), unused.clone()], &grads).unwrap();
    assert_eq!(unused.value().to_vec(), vec![1.0, 1.0], "no gradient: no update, not even weight decay");
    assert_eq!(used.value().to_vec(), vec![1.0 - 0.5 * 1.1; 2]);
}

#[test]
fn listing_a_parameter_twice_is_an_error() {
    let w = Parameter::new("w", &Tensor::<f32>::ones(&[2]).unwrap());
    let grads = w.tensor().sum_all().backward().unwrap();
    let mut sgd = Sgd::new(SgdConfig::new(0.1)).unwrap();
    assert!(matches!(sgd.step_params(&[w.clone(), w.clone()], &grads), Err(OptimError::Tensor(_))));
}

#[test]
fn clipping_by_global_norm() {
    // Gradients 2·[3, 4] = [6, 8] have norm 10; clipped to norm 1 → [0.6, 0.8].
    let w = Parameter::new("w", &Tensor::<f64>::from_vec(vec![3.0, 4.0], &[2]).unwrap());
    let grads = w.tensor().square().sum_all().backward().unwrap();
    let (clipped, norm) = clip_gradients_by_norm(std::slice::from_ref(&w), &grads, 1.0).unwrap();
    assert!((norm - 10.0).abs() < 1e-12);
    let g = clipped[0].as_ref().unwrap().to_vec();
    assert!((g[0] - 0.6).abs() < 1e-6 && (g[1] - 0.8).abs() < 1e-6, "{g:?}");
    let mut sgd = Sgd::new(SgdConfig::new(1.0)).unwrap();
    sgd.step_with_grads(std::slice::from_ref(&w), &clipped).unwrap();
    assert!((w.value().to_vec()[0] - 2.4).abs() < 1e-6);
}
