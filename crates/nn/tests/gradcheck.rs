//! Every layer, activation and loss of nn gradchecked in f64 against central differences
//! (tensor-core's `gradcheck`, and `gradgradcheck` where second derivatives matter), over
//! shapes and values drawn by proptest. Parameter gradients of modules are checked the same way
//! by perturbing each parameter element in place.

use nn::activation::{self, Activation};
use nn::loss::{self, CrossEntropyLoss, NllLoss, Reduction};
use nn::{Dropout, Linear, MlpConfig, Module, NnError, Sequential};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tensor_core::gradcheck::{GradcheckOptions, gradcheck, gradgradcheck};
use tensor_core::strategies::{shape, tensor_in};
use tensor_core::{Parameter, Tensor, no_grad};

const CASES: u32 = 48;

/// tensor-core's gradcheck takes functions returning its own error; nn errors that are not
/// tensor errors become an `InvalidArgument` carrying the message.
fn to_core(e: NnError) -> tensor_core::Error {
    match e {
        NnError::Tensor(e) => e,
        other => tensor_core::Error::InvalidArgument { op: "nn", reason: other.to_string() },
    }
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// First and (when `second`) second derivatives of `f` at `inputs`.
fn check(
    f: impl Fn(&[Tensor<f64>]) -> nn::Result<Tensor<f64>>,
    inputs: &[Tensor<f64>],
    second: bool,
) -> Result<(), TestCaseError> {
    let g = |xs: &[Tensor<f64>]| f(xs).map_err(to_core);
    let report = gradcheck(g, inputs, &GradcheckOptions::default()).map_err(fail)?;
    prop_assert!(report.passed, "gradcheck: {report}");
    if second {
        let report = gradgradcheck(g, inputs, &GradcheckOptions::default()).map_err(fail)?;
        prop_assert!(report.passed, "gradgradcheck: {report}");
    }
    Ok(())
}

/// Checks `grads.get_param(p)` of the scalar `loss()` against central differences, moving each
/// element of each parameter of `module` by ±ε in place.
fn check_parameters(
    module: &dyn Module<f64>,
    loss: impl Fn() -> nn::Result<Tensor<f64>>,
) -> Result<(), TestCaseError> {
    let opts = GradcheckOptions::default();
    let grads = loss().map_err(fail)?.backward().map_err(fail)?;
    let value = || no_grad(&loss).and_then(|t| Ok(t.item()?)).map_err(fail);
    for (name, p) in module.parameters() {
        let analytic = grads.get_param(&p).map(|g| g.to_vec()).unwrap_or_else(|| vec![0.0; p.numel()]);
        prop_assert_eq!(analytic.len(), p.numel());
        for (i, &a) in analytic.iter().enumerate() {
            let original = p.value().as_slice()[i];
            p.update(|w| w[i] = original + opts.eps);
            let plus = value()?;
            p.update(|w| w[i] = original - opts.eps);
            let minus = value()?;
            p.update(|w| w[i] = original);
            let numeric = (plus - minus) / (2.0 * opts.eps);
            prop_assert!(
                (a - numeric).abs() <= opts.atol + opts.rtol * numeric.abs(),
                "{name}[{i}]: analytic {a}, numeric {numeric}"
            );
        }
    }
    Ok(())
}

/// A fixed random projection, so parameter checks cover the whole Jacobian of a vector output.
fn projection(shape: &[usize], seed: u64) -> Tensor<f64> {
    match Tensor::rand_normal(shape, 0.0, 1.0, &mut StdRng::seed_from_u64(seed)) {
        Ok(t) => t,
        Err(e) => unreachable!("standard normal parameters are valid: {e}"),
    }
}

/// A linear layer's input, weight and bias: batch dims (rank 0–2), then `inputs`.
fn linear_case() -> impl Strategy<Value = (Tensor<f64>, Tensor<f64>, Tensor<f64>)> {
    (shape(2, 3), 1usize..=4, 1usize..=4).prop_flat_map(|(batch, inputs, outputs)| {
        let mut x_shape = batch;
        x_shape.push(inputs);
        (
            tensor_in(x_shape, -2.0..2.0),
            tensor_in(vec![inputs, outputs], -1.0..1.0),
            tensor_in(vec![outputs], -1.0..1.0),
        )
    })
}

/// Logits `[n, c]`, labels below `c`, positive class weights and a smoothing in [0, 1].
fn classification_case() -> impl Strategy<Value = (Tensor<f64>, Vec<usize>, Vec<f64>, f64)> {
    (1usize..=4, 1usize..=4).prop_flat_map(|(n, c)| {
        (
            tensor_in(vec![n, c], -3.0..3.0),
            prop::collection::vec(0..c, n),
            prop::collection::vec(0.1f64..2.0, c),
            0.0f64..=1.0,
        )
    })
}

fn reductions() -> impl Strategy<Value = Reduction> {
    prop_oneof![Just(Reduction::Mean), Just(Reduction::Sum), Just(Reduction::None)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn linear_input_gradient((x, w, b) in linear_case(), bias in any::<bool>()) {
        let layer = Linear::from_tensors(&w, bias.then_some(&b)).map_err(fail)?;
        check(|xs| layer.forward(&xs[0]), &[x], true)?;
    }

    #[test]
    fn linear_parameter_gradients((x, w, b) in linear_case(), bias in any::<bool>()) {
        let layer = Linear::from_tensors(&w, bias.then_some(&b)).map_err(fail)?;
        let out_shape = no_grad(|| layer.forward(&x)).map_err(fail)?.shape().to_vec();
        let v = projection(&out_shape, 1);
        check_parameters(&layer, || Ok(layer.forward(&x)?.mul(&v)?.sum_all()))?;
    }

    #[test]
    fn elementwise_activations(dims in shape(3, 4), which in 0usize..8, seed in any::<u64>()) {
        let acts = [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Relu,
            Activation::LeakyRelu(0.1),
            Activation::Gelu,
            Activation::GeluTanh,
            Activation::Softplus,
        ];
        let act = acts[which];
        let x = Tensor::rand_uniform(&dims, -3.0, 3.0, &mut StdRng::seed_from_u64(seed)).map_err(fail)?;
        check(|xs| act.apply(&xs[0]), &[x], true)?;
    }

    #[test]
    fn softmax_and_log_softmax_on_any_axis(dims in shape(3, 4).prop_filter("needs an axis", |s| !s.is_empty()),
                                           axis_pick in any::<prop::sample::Index>(), seed in any::<u64>()) {
        let rank = dims.len() as isize;
        let axis = axis_pick.index(2 * dims.len()) as isize - rank; // −rank..rank
        let x = Tensor::rand_uniform(&dims, -3.0, 3.0, &mut StdRng::seed_from_u64(seed)).map_err(fail)?;
        check(|xs| activation::softmax(&xs[0], axis), std::slice::from_ref(&x), true)?;
        check(|xs| activation::log_softmax(&xs[0], axis), &[x], true)?;
    }

    #[test]
    fn activation_modules_on_last_axis(x in tensor_in(vec![3, 4], -3.0..3.0)) {
        check(|xs| Activation::Softmax.forward(&xs[0]), std::slice::from_ref(&x), true)?;
        check(|xs| Activation::LogSoftmax.forward(&xs[0]), &[x], true)?;
    }

    #[test]
    fn normal_cdf_custom_op(x in tensor_in(vec![5], -5.0..5.0)) {
        check(|xs| Ok(activation::normal_cdf(&xs[0])), &[x], true)?;
    }

    #[test]
    fn dropout_with_a_fixed_mask(dims in shape(3, 4), p in 0.0f64..0.9, seed in any::<u64>(), x_seed in any::<u64>()) {
        // A fresh layer with the same seed per call draws the same mask, as central
        // differences need.
        let x = Tensor::rand_uniform(&dims, -2.0, 2.0, &mut StdRng::seed_from_u64(x_seed)).map_err(fail)?;
        check(|xs| Dropout::new(p, seed)?.forward(&xs[0]), &[x], true)?;
    }

    #[test]
    fn regression_losses(dims in shape(3, 4), reduction in reductions(), seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let pred = Tensor::rand_uniform(&dims, -2.0, 2.0, &mut rng).map_err(fail)?;
        let target = Tensor::rand_uniform(&dims, -2.0, 2.0, &mut rng).map_err(fail)?;
        let inputs = [pred, target];
        check(|xs| loss::mse(&xs[0], &xs[1], reduction), &inputs, true)?;
        check(|xs| loss::l1(&xs[0], &xs[1], reduction), &inputs, true)?;
        check(|xs| loss::huber(&xs[0], &xs[1], 0.7, reduction), &inputs, true)?;
    }

    #[test]
    fn binary_cross_entropies(dims in shape(3, 4), reduction in reductions(), seed in any::<u64>()) {
        let mut rng = StdRng::seed_from_u64(seed);
        let p = Tensor::rand_uniform(&dims, 0.05, 0.95, &mut rng).map_err(fail)?;
        let z = Tensor::rand_uniform(&dims, -4.0, 4.0, &mut rng).map_err(fail)?;
        let target = Tensor::rand_uniform(&dims, 0.0, 1.0, &mut rng).map_err(fail)?;
        // The target of BCE on probabilities is data (no gradient); vary only p.
        check(|xs| loss::bce(&xs[0], &target, reduction), &[p], false)?;
        check(|xs| loss::bce_with_logits(&xs[0], &xs[1], reduction), &[z, target.clone()], true)?;
    }

    #[test]
    fn cross_entropy_with_weights_and_smoothing((logits, labels, weights, eps) in classification_case(),
                                                reduction in reductions(), weighted in any::<bool>()) {
        let mut ce = CrossEntropyLoss::new().label_smoothing(eps).reduction(reduction);
        if weighted {
            ce = ce.class_weights(weights.clone());
        }
        check(|xs| ce.loss(&xs[0], &labels), std::slice::from_ref(&logits), true)?;
        check(|xs| loss::cross_entropy(&xs[0], &labels, reduction), std::slice::from_ref(&logits), true)?;
        let nll = NllLoss::new().class_weights(weights).reduction(reduction);
        check(|xs| nll.loss(&xs[0].log_softmax(1)?, &labels), &[logits], true)?;
    }

    #[test]
    fn mlp_input_and_parameter_gradients(seed in any::<u64>(), act in 0usize..4, batch in 1usize..4) {
        let activation = [Activation::Tanh, Activation::Relu, Activation::Gelu, Activation::Sigmoid][act];
        let mut rng = StdRng::seed_from_u64(seed);
        let mlp = MlpConfig::new(&[3, 4, 2], activation).build::<f64>(&mut rng).map_err(fail)?;
        let x = Tensor::rand_uniform(&[batch, 3], -2.0, 2.0, &mut rng).map_err(fail)?;
        let labels: Vec<usize> = (0..batch).map(|i| i % 2).collect();
        check(|xs| loss::cross_entropy(&mlp.forward(&xs[0])?, &labels, Reduction::Mean), std::slice::from_ref(&x), true)?;
        check_parameters(&mlp, || loss::cross_entropy(&mlp.forward(&x)?, &labels, Reduction::Mean))?;
    }

    #[test]
    fn l2_penalty_gradient(w in tensor_in(vec![3, 2], -2.0..2.0), b in tensor_in(vec![2], -2.0..2.0), lambda in 0.0f64..2.0) {
        let layer = Linear::from_tensors(&w, Some(&b)).map_err(fail)?;
        check_parameters(&layer, || {
            let params: Vec<Parameter<f64>> = layer.parameters().into_iter().map(|(_, p)| p).collect();
            nn::l2_penalty(&params, lambda)
        })?;
    }
}

#[test]
fn sequential_with_a_custom_step_parameter_gradients() -> Result<(), TestCaseError> {
    let mut rng = StdRng::seed_from_u64(5);
    let model = Sequential::<f64>::new()
        .push(Linear::new(3, 4, nn::Init::xavier_normal(), &mut rng).map_err(fail)?)
        .push(nn::from_fn(|x: &Tensor<f64>| Ok(x.tanh().mul_scalar(2.0))))
        .push(
            Linear::with_init(
                4,
                2,
                nn::Init::xavier_uniform(),
                Some(nn::Init::Normal { mean: 0.0, std: 0.5 }),
                &mut rng,
            )
            .map_err(fail)?,
        );
    let x = projection(&[5, 3], 2);
    let target = projection(&[5, 2], 3);
    check_parameters(&model, || loss::huber(&model.forward(&x)?, &target, 0.5, Reduction::Mean))
}

#[test]
fn gelu_f32_matches_f64() -> Result<(), NnError> {
    let values: Vec<f64> = (-40..=40).map(|i| f64::from(i) * 0.15).collect();
    let x64 = Tensor::from_vec(values.clone(), &[values.len()])?.requires_grad();
    let x32 = Tensor::from_vec(values.iter().map(|&v| v as f32).collect(), &[values.len()])?.requires_grad();
    for exact in [true, false] {
        let (y64, y32) = if exact {
            (activation::gelu(&x64), activation::gelu(&x32))
        } else {
            (activation::gelu_tanh(&x64), activation::gelu_tanh(&x32))
        };
        let g64 = y64.sum_all().backward()?.wrt(&x64)?.to_vec();
        let g32 = y32.sum_all().backward()?.wrt(&x32)?.to_vec();
        for i in 0..values.len() {
            assert!((y64.as_slice()[i] - f64::from(y32.as_slice()[i])).abs() < 1e-5);
            assert!((g64[i] - f64::from(g32[i])).abs() < 1e-5);
        }
    }
    Ok(())
}

#[test]
fn gelu_tanh_stays_close_to_exact_gelu() -> Result<(), NnError> {
    let x = Tensor::<f64>::arange(-6.0, 6.0, 0.01)?;
    let exact = activation::gelu(&x);
    let approx = activation::gelu_tanh(&x);
    let worst =
        exact.as_slice().iter().zip(approx.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "worst difference {worst}");
    Ok(())
}
