//! Initialisers: the empirical mean and variance of a large layer match PyTorch's formulas,
//! uniform draws stay inside their bound, draws are reproducible from the seed, and bad
//! hyper-parameters are errors.

use nn::{Activation, FanMode, Init, Linear, NnError};
use rand::SeedableRng;
use rand::rngs::StdRng;

const FAN_IN: usize = 600; // rows of W (inputs)
const FAN_OUT: usize = 400; // columns of W (outputs)

fn moments(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var)
}

/// Draws a (FAN_IN × FAN_OUT) weight and checks its mean (within 5 standard errors of 0),
/// variance (within 2%) and, for uniform initialisers, its bound.
#[track_caller]
fn check(init: Init, expected_var: f64, bound: Option<f64>) -> Result<(), NnError> {
    let layer = Linear::<f64>::new(FAN_IN, FAN_OUT, init, &mut StdRng::seed_from_u64(17))?;
    let w = layer.weight().value().to_vec();
    let (mean, var) = moments(&w);
    let n = w.len() as f64;
    assert!(mean.abs() < 5.0 * (expected_var / n).sqrt(), "{init:?}: mean {mean}");
    assert!((var / expected_var - 1.0).abs() < 0.02, "{init:?}: variance {var}, expected {expected_var}");
    if let Some(b) = bound {
        let max = w.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(max <= b && max > 0.99 * b, "{init:?}: max |w| {max}, bound {b}");
    }
    assert!(layer.bias().is_some_and(|b| b.value().as_slice().iter().all(|&v| v == 0.0)), "zero biases");
    Ok(())
}

#[test]
fn xavier_uniform_bound_and_variance() -> Result<(), NnError> {
    for gain in [1.0, 5.0 / 3.0] {
        // a = gain·√(6/(fan_in + fan_out)); Var U(−a, a) = a²/3 = gain²·2/(fan_in + fan_out).
        let a = gain * (6.0 / (FAN_IN + FAN_OUT) as f64).sqrt();
        check(Init::XavierUniform { gain }, a * a / 3.0, Some(a))?;
    }
    Ok(())
}

#[test]
fn xavier_normal_variance() -> Result<(), NnError> {
    // σ = gain·√(2/(fan_in + fan_out)).
    check(Init::xavier_normal(), 2.0 / (FAN_IN + FAN_OUT) as f64, None)
}

#[test]
fn kaiming_uniform_bound_and_variance() -> Result<(), NnError> {
    // b = gain·√(3/fan_in) with gain √2 for ReLU; Var = b²/3 = 2/fan_in.
    let b = 2f64.sqrt() * (3.0 / FAN_IN as f64).sqrt();
    check(Init::kaiming_uniform(), 2.0 / FAN_IN as f64, Some(b))?;
    // fan_out mode uses the columns.
    let b = 2f64.sqrt() * (3.0 / FAN_OUT as f64).sqrt();
    check(Init::KaimingUniform { gain: 2f64.sqrt(), mode: FanMode::FanOut }, 2.0 / FAN_OUT as f64, Some(b))
}

#[test]
fn kaiming_normal_variance() -> Result<(), NnError> {
    // σ = gain/√fan_in.
    check(Init::kaiming_normal(), 2.0 / FAN_IN as f64, None)?;
    let gain = Activation::LeakyRelu(0.2).gain();
    check(Init::KaimingNormal { gain, mode: FanMode::FanIn }, gain * gain / FAN_IN as f64, None)
}

#[test]
fn plain_uniform_normal_and_constants() -> Result<(), NnError> {
    check(Init::Uniform { low: -0.5, high: 0.5 }, 1.0 / 12.0, Some(0.5))?;
    check(Init::Normal { mean: 0.0, std: 0.1 }, 0.01, None)?;
    let mut rng = StdRng::seed_from_u64(0);
    assert_eq!(Init::Constant(0.25).tensor::<f32>(&[2, 2], &mut rng)?.to_vec(), vec![0.25f32; 4]);
    assert_eq!(Init::Zeros.tensor::<f64>(&[3], &mut rng)?.to_vec(), vec![0.0; 3]);
    // A zero gain is a valid (if useless) choice: all zeros.
    assert_eq!(Init::XavierUniform { gain: 0.0 }.tensor::<f64>(&[2, 2], &mut rng)?.to_vec(), vec![0.0; 4]);
    Ok(())
}

#[test]
fn gains_follow_pytorch_calculate_gain() {
    let cases = [
        (Activation::Identity, 1.0),
        (Activation::Sigmoid, 1.0),
        (Activation::Tanh, 5.0 / 3.0),
        (Activation::Relu, 2f64.sqrt()),
        (Activation::LeakyRelu(0.01), (2.0f64 / (1.0 + 0.01 * 0.01)).sqrt()),
        (Activation::Softmax, 1.0),
    ];
    for (act, gain) in cases {
        assert_eq!(act.gain(), gain, "{act}");
    }
    assert_eq!(Init::for_activation(Activation::Relu), Init::kaiming_uniform());
    assert_eq!(Init::for_activation(Activation::Tanh), Init::XavierUniform { gain: 5.0 / 3.0 });
}

#[test]
fn draws_are_reproducible_and_fans_follow_the_inputs_by_outputs_layout() -> Result<(), NnError> {
    let draw = |seed| Init::xavier_normal().tensor::<f64>(&[7, 3], &mut StdRng::seed_from_u64(seed));
    assert!(draw(1)?.data_eq(&draw(1)?));
    assert!(!draw(1)?.data_eq(&draw(2)?));
    assert_eq!(nn::init::fans(&[7, 3])?, (7, 3));
    assert_eq!(nn::init::fans(&[7, 3, 2, 2])?, (28, 12));
    // An empty weight is fine: nothing to draw.
    assert_eq!(
        Init::kaiming_uniform().tensor::<f64>(&[0, 5], &mut StdRng::seed_from_u64(0))?.shape(),
        &[0, 5]
    );
    Ok(())
}

#[test]
fn bad_hyper_parameters_are_errors() {
    let mut rng = StdRng::seed_from_u64(0);
    for init in [
        Init::XavierUniform { gain: -1.0 },
        Init::XavierNormal { gain: f64::NAN },
        Init::KaimingUniform { gain: f64::INFINITY, mode: FanMode::FanIn },
        Init::Uniform { low: 1.0, high: 1.0 },
        Init::Uniform { low: 0.0, high: f64::NAN },
        Init::Normal { mean: 0.0, std: -1.0 },
        Init::Constant(f64::NAN),
    ] {
        let err = init.tensor::<f64>(&[3, 3], &mut rng).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "Init", .. }), "{init:?}: {err}");
    }
    // Fans are undefined below rank 2, and a zero fan of a non-empty tensor cannot be scaled by.
    let err = Init::kaiming_uniform().tensor::<f64>(&[5], &mut rng).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { op: "fans", .. }), "{err}");
    let err = Init::kaiming_uniform().tensor_with_fans::<f64>(&[5], 0, 3, &mut rng).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { op: "Init", .. }), "{err}");
}
