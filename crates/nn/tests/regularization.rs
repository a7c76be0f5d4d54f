//! The L2 penalty as a graph expression, and early stopping: patience, min_delta, both modes,
//! best-weight snapshots and their restoration, and errors for bad input.

use nn::regularization::{EarlyStop, EarlyStopping, StopMode};
use nn::{Init, Linear, Module, NnError, l2_penalty};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::{Parameter, Tensor};

type TestResult = Result<(), NnError>;

#[test]
fn l2_penalty_value_and_gradient() -> TestResult {
    // λ‖θ‖² with θ = ([1, −2], [3]) and λ = 0.5: 0.5·(1 + 4 + 9) = 7; gradient 2λθ = θ.
    let a = Parameter::new("a", &Tensor::<f64>::from_vec(vec![1.0, -2.0], &[2])?);
    let b = Parameter::new("b", &Tensor::<f64>::from_vec(vec![3.0], &[1])?);
    let penalty = l2_penalty([&a, &b], 0.5)?;
    assert_eq!(penalty.item()?, 7.0);
    let grads = penalty.backward()?;
    assert_eq!(grads.get_param(&a).map(|g| g.to_vec()), Some(vec![1.0, -2.0]));
    assert_eq!(grads.get_param(&b).map(|g| g.to_vec()), Some(vec![3.0]));
    // No parameters: a constant zero.
    let none: [&Parameter<f64>; 0] = [];
    let zero = l2_penalty(none, 1.0)?;
    assert_eq!(zero.item()?, 0.0);
    assert!(!zero.is_recorded());
    Ok(())
}

#[test]
fn l2_penalty_over_weights_only_adds_to_a_loss() -> TestResult {
    let layer = Linear::<f64>::new(2, 1, Init::Constant(1.0), &mut StdRng::seed_from_u64(0))?;
    let params = layer.parameters();
    let weights = params.iter().filter(|(n, _)| n.ends_with("weight")).map(|(_, p)| p);
    let x = Tensor::from_vec(vec![1.0, 1.0], &[1, 2])?;
    let loss = layer.forward(&x)?.sum_all().add(&l2_penalty(weights, 0.1)?)?;
    let grads = loss.backward()?;
    // d/dW (x·W + 0.1‖W‖²) = xᵀ + 0.2·W = 1.2; the bias is not penalised: gradient 1.
    assert_eq!(grads.get_param(layer.weight()).map(|g| g.to_vec()), Some(vec![1.2, 1.2]));
    assert_eq!(layer.bias().and_then(|b| grads.get_param(b)).map(|g| g.to_vec()), Some(vec![1.0]));
    Ok(())
}

#[test]
fn bad_lambda_is_an_error() {
    let p = Parameter::new("p", &Tensor::<f64>::ones(&[2]).unwrap());
    for lambda in [-1e-3, f64::NAN, f64::INFINITY] {
        let err = l2_penalty([&p], lambda).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "l2_penalty", .. }), "{lambda}: {err}");
    }
}

fn model() -> nn::Result<Linear<f64>> {
    Linear::new(2, 2, Init::xavier_uniform(), &mut StdRng::seed_from_u64(3))
}

/// Gives the model's weight a value that identifies the epoch.
fn mark(model: &Linear<f64>, epoch: f64) -> TestResult {
    Ok(model.weight().set(&Tensor::full(&[2, 2], epoch).unwrap())?)
}

#[test]
fn stops_after_patience_epochs_and_restores_the_best() -> TestResult {
    let model = model()?;
    let mut stopper = EarlyStopping::new(3, 0.0, StopMode::Min)?;
    let losses = [1.0, 0.8, 0.9, 0.7, 0.75, 0.72, 0.71];
    let mut decisions = Vec::new();
    for (epoch, &loss) in losses.iter().enumerate() {
        mark(&model, epoch as f64)?;
        decisions.push(stopper.step(loss, &model)?);
        if stopper.should_stop() {
            break;
        }
    }
    use EarlyStop::*;
    assert_eq!(decisions, [Improved, Improved, Waiting(1), Improved, Waiting(1), Waiting(2), Stop]);
    assert_eq!((stopper.best(), stopper.best_epoch()), (Some(0.7), Some(3)));
    stopper.restore_best(&model)?;
    assert_eq!(model.weight().value().to_vec(), vec![3.0; 4]);
    assert_eq!(stopper.best_parameters().len(), 2);
    Ok(())
}

#[test]
fn min_delta_and_max_mode() -> TestResult {
    let model = model()?;
    // Max mode with min_delta 0.01: 0.805 is not enough over 0.8, 0.82 is.
    let mut stopper = EarlyStopping::new(2, 0.01, StopMode::Max)?;
    assert_eq!(stopper.step(0.8, &model)?, EarlyStop::Improved);
    assert_eq!(stopper.step(0.805, &model)?, EarlyStop::Waiting(1));
    assert_eq!(stopper.step(0.82, &model)?, EarlyStop::Improved);
    assert_eq!(stopper.step(0.5, &model)?, EarlyStop::Waiting(1));
    assert_eq!(stopper.step(0.829, &model)?, EarlyStop::Stop);
    assert_eq!(stopper.epochs_without_improvement(), 2);
    // Patience 0 stops at the first epoch without improvement.
    let mut eager = EarlyStopping::new(0, 0.0, StopMode::Min)?;
    assert_eq!(eager.step(1.0, &model)?, EarlyStop::Improved);
    assert_eq!(eager.step(1.0, &model)?, EarlyStop::Stop);
    Ok(())
}

#[test]
fn snapshots_are_copies_not_views() -> TestResult {
    let model = model()?;
    let mut stopper = EarlyStopping::new(1, 0.0, StopMode::Min)?;
    mark(&model, 1.0)?;
    stopper.step(0.5, &model)?;
    // An optimizer updating in place must not reach into the snapshot.
    model.weight().update(|w| w.iter_mut().for_each(|v| *v = 42.0));
    stopper.restore_best(&model)?;
    assert_eq!(model.weight().value().to_vec(), vec![1.0; 4]);
    Ok(())
}

#[test]
fn early_stopping_errors() -> TestResult {
    for delta in [-0.1, f64::NAN] {
        let err = EarlyStopping::<f64>::new(1, delta, StopMode::Min).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { .. }), "{err}");
    }
    let model = model()?;
    let mut stopper = EarlyStopping::new(2, 0.0, StopMode::Min)?;
    let err = stopper.restore_best(&model).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { .. }), "nothing recorded yet: {err}");
    stopper.step(1.0, &model)?;
    let err = stopper.step(f64::NAN, &model).unwrap_err();
    assert!(matches!(err, NnError::NonFiniteMetric { epoch: 1, .. }), "{err}");
    // Restoring into a differently shaped model changes nothing and says what differs.
    let other = Linear::<f64>::new(3, 2, Init::Constant(5.0), &mut StdRng::seed_from_u64(0))?;
    let err = stopper.restore_best(&other).unwrap_err();
    assert!(err.to_string().contains("weight [3, 2]"), "{err}");
    assert_eq!(other.weight().value().to_vec(), vec![5.0; 6]);
    Ok(())
}
