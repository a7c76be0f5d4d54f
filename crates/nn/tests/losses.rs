//! Losses: values derived by hand (class weights and label smoothing with PyTorch's
//! semantics, Huber, L1, clamped BCE), metamorphic identities, reductions, and a typed error
//! for every bad input.

use nn::NnError;
use nn::loss::{self, CrossEntropyLoss, NllLoss, Reduction};
use tensor_core::{Error as CoreError, Tensor};

type TestResult = Result<(), NnError>;

fn t(data: &[f64], shape: &[usize]) -> Tensor<f64> {
    match Tensor::from_vec(data.to_vec(), shape) {
        Ok(t) => t,
        Err(e) => panic!("test tensor: {e}"),
    }
}

#[track_caller]
fn assert_close(actual: &[f64], expected: &[f64]) {
    assert_eq!(actual.len(), expected.len(), "{actual:?} vs {expected:?}");
    for (a, e) in actual.iter().zip(expected) {
        assert!((a - e).abs() <= 1e-12 * (1.0 + e.abs()), "{actual:?} vs {expected:?}");
    }
}

/// Two samples whose softmax is [¼, ¾] — logits [0, ln 3] — so every log-probability is
/// ln ¼ = −ln 4 or ln ¾ = −ln(4/3).
fn quarter_three_quarters() -> Tensor<f64> {
    let l3 = 3f64.ln();
    t(&[0.0, l3, 0.0, l3], &[2, 2])
}

#[test]
fn label_smoothing_matches_the_hand_derived_value() -> TestResult {
    // ε = 0.2, C = 2: ℓᵢ = 0.8·(−l[yᵢ]) + 0.1·(−l[0] − l[1]), with −l = [ln 4, ln(4/3)].
    // Sample 0 (label 0): 0.8·ln 4 + 0.1·(ln 4 + ln 4/3);  sample 1 (label 1): 0.8·ln(4/3) + the same.
    let (a, b) = (4f64.ln(), (4.0f64 / 3.0).ln());
    let smooth = 0.1 * (a + b);
    let per_sample = [0.8 * a + smooth, 0.8 * b + smooth];
    let ce = CrossEntropyLoss::new().label_smoothing(0.2);
    let logits = quarter_three_quarters();
    assert_close(&ce.clone().reduction(Reduction::None).loss(&logits, &[0, 1])?.to_vec(), &per_sample);
    assert_close(
        &[ce.clone().reduction(Reduction::Sum).loss(&logits, &[0, 1])?.item()?],
        &[per_sample[0] + per_sample[1]],
    );
    assert_close(&[ce.loss(&logits, &[0, 1])?.item()?], &[(per_sample[0] + per_sample[1]) / 2.0]);
    Ok(())
}

#[test]
fn class_weights_divide_the_mean_by_the_weights_of_the_samples_classes() -> TestResult {
    // w = [2, 0.5]: ℓ₀ = 2·ln 4 (label 0), ℓ₁ = 0.5·ln(4/3) (label 1); Mean = Σℓ / (2 + 0.5).
    let (a, b) = (4f64.ln(), (4.0f64 / 3.0).ln());
    let ce = CrossEntropyLoss::new().class_weights(vec![2.0, 0.5]);
    let logits = quarter_three_quarters();
    assert_close(
        &ce.clone().reduction(Reduction::None).loss(&logits, &[0, 1])?.to_vec(),
        &[2.0 * a, 0.5 * b],
    );
    assert_close(
        &[ce.clone().reduction(Reduction::Sum).loss(&logits, &[0, 1])?.item()?],
        &[2.0 * a + 0.5 * b],
    );
    assert_close(&[ce.loss(&logits, &[0, 1])?.item()?], &[(2.0 * a + 0.5 * b) / 2.5]);
    // Both samples of class 0: Mean = (2·ln 4 + 2·ln 4)/(2 + 2) = ln 4, unaffected by the weight.
    let ce = CrossEntropyLoss::new().class_weights(vec![2.0, 0.5]);
    assert_close(&[ce.loss(&logits, &[0, 0])?.item()?], &[a]);
    Ok(())
}

#[test]
fn class_weights_and_label_smoothing_together() -> TestResult {
    // PyTorch: ℓᵢ = (1 − ε)·w[yᵢ]·(−l[yᵢ]) + (ε/C)·Σ_c w[c]·(−l[c]); Mean divides by Σ w[yᵢ].
    // w = [2, 0.5], ε = 0.2: the smoothing term is 0.1·(2·ln 4 + 0.5·ln 4/3) for both samples.
    let (a, b) = (4f64.ln(), (4.0f64 / 3.0).ln());
    let smooth = 0.1 * (2.0 * a + 0.5 * b);
    let per_sample = [0.8 * 2.0 * a + smooth, 0.8 * 0.5 * b + smooth];
    let ce = CrossEntropyLoss::new().class_weights(vec![2.0, 0.5]).label_smoothing(0.2);
    let logits = quarter_three_quarters();
    assert_close(&ce.clone().reduction(Reduction::None).loss(&logits, &[0, 1])?.to_vec(), &per_sample);
    assert_close(&[ce.loss(&logits, &[0, 1])?.item()?], &[(per_sample[0] + per_sample[1]) / 2.5]);
    Ok(())
}

#[test]
fn smoothed_cross_entropy_gradient_is_softmax_minus_the_smoothed_target() -> TestResult {
    // d/dz of ℓ with target (1 − ε)·onehot + ε/C is softmax(z) − target; with Sum over one row.
    let logits = t(&[0.3, -1.0, 2.0], &[1, 3]).requires_grad();
    let loss = CrossEntropyLoss::new().label_smoothing(0.3).reduction(Reduction::Sum).loss(&logits, &[2])?;
    let grad = loss.backward()?.wrt(&logits)?.to_vec();
    let softmax = logits.detach().softmax(1)?.to_vec();
    let target = [0.1, 0.1, 0.7 + 0.1];
    let expected: Vec<f64> = softmax.iter().zip(target).map(|(p, y)| p - y).collect();
    assert_close(&grad, &expected);
    Ok(())
}

#[test]
fn unit_weights_and_zero_smoothing_equal_plain_cross_entropy() -> TestResult {
    let logits = t(&[1.0, -2.0, 0.5, 3.0, 0.0, -1.0], &[2, 3]);
    let plain = loss::cross_entropy(&logits, &[2, 0], Reduction::None)?.to_vec();
    let weighted = CrossEntropyLoss::new()
        .class_weights(vec![1.0; 3])
        .reduction(Reduction::None)
        .loss(&logits, &[2, 0])?;
    assert_close(&weighted.to_vec(), &plain);
    // nll(log_softmax(z)) = cross_entropy(z), with and without weights.
    let nll = loss::nll(&logits.log_softmax(1)?, &[2, 0], Reduction::None)?.to_vec();
    assert_close(&nll, &plain);
    let w = vec![0.3, 1.0, 2.0];
    let ce_w = CrossEntropyLoss::new().class_weights(w.clone()).loss(&logits, &[2, 0])?.item()?;
    let nll_w = NllLoss::new().class_weights(w).loss(&logits.log_softmax(1)?, &[2, 0])?.item()?;
    assert_close(&[ce_w], &[nll_w]);
    Ok(())
}

#[test]
fn cross_entropy_of_extreme_logits_is_finite() -> TestResult {
    let logits = t(&[1e4, -1e4, 0.0, -1e4, 1e4, 0.0], &[2, 3]).requires_grad();
    let loss = CrossEntropyLoss::new()
        .label_smoothing(0.1)
        .class_weights(vec![1.0, 2.0, 3.0])
        .loss(&logits, &[1, 1])?;
    assert!(loss.item()?.is_finite());
    assert!(loss.backward()?.wrt(&logits)?.as_slice().iter().all(|g| g.is_finite()));
    Ok(())
}

#[test]
fn regression_losses_by_hand() -> TestResult {
    let pred = t(&[0.5, -3.0, 1.0], &[3]);
    let target = t(&[0.0, 0.0, 1.0], &[3]);
    assert_close(&loss::mse(&pred, &target, Reduction::None)?.to_vec(), &[0.25, 9.0, 0.0]);
    assert_close(&[loss::l1(&pred, &target, Reduction::Sum)?.item()?], &[3.5]);
    // δ = 1: ½·0.25 = 0.125 inside; 1·(3 − ½) = 2.5 outside; 0 at equality.
    assert_close(&[loss::huber(&pred, &target, 1.0, Reduction::Mean)?.item()?], &[(0.125 + 2.5) / 3.0]);
    // Gradients: Huber gives d inside and δ·sign(d) outside; L1 gives sign(d), 0 where equal.
    let p = pred.requires_grad();
    let g = loss::huber(&p, &target, 1.0, Reduction::Sum)?.backward()?.wrt(&p)?.to_vec();
    assert_close(&g, &[0.5, -1.0, 0.0]);
    let g = loss::l1(&p, &target, Reduction::Sum)?.backward()?.wrt(&p)?.to_vec();
    assert_close(&g, &[1.0, -1.0, 0.0]);
    Ok(())
}

#[test]
fn binary_cross_entropy_by_hand_and_at_the_edges() -> TestResult {
    let p = t(&[0.9, 0.2, 0.0, 1.0], &[4]);
    let y = t(&[1.0, 0.0, 1.0, 1.0], &[4]);
    let per = loss::bce(&p, &y, Reduction::None)?.to_vec();
    // −ln 0.9, −ln 0.8, the log of 0 clamped at −100, and −ln 1 = 0.
    assert_close(&per, &[-(0.9f64.ln()), -(0.8f64.ln()), 100.0, 0.0]);
    // From logits at ±100: loss 0 or 100, gradient σ(z) − y.
    let z = t(&[100.0, -100.0], &[2]).requires_grad();
    let y = t(&[1.0, 1.0], &[2]);
    let l = loss::bce_with_logits(&z, &y, Reduction::None)?;
    assert_close(&l.to_vec(), &[0.0, 100.0]);
    let g = l.sum_all().backward()?.wrt(&z)?.to_vec();
    assert_close(&g, &[0.0, -1.0]);
    Ok(())
}

#[test]
fn bce_with_logits_equals_bce_of_sigmoid() -> TestResult {
    let z = t(&[-5.0, -0.3, 0.0, 2.0, 7.5], &[5]);
    let y = t(&[0.0, 1.0, 0.5, 1.0, 0.2], &[5]);
    let a = loss::bce_with_logits(&z, &y, Reduction::None)?.to_vec();
    let b = loss::bce(&z.sigmoid(), &y, Reduction::None)?.to_vec();
    for (a, b) in a.iter().zip(&b) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    Ok(())
}

#[test]
fn probabilities_outside_zero_one_are_a_domain_error() {
    let y = t(&[1.0, 0.0], &[2]);
    for bad in [1.5, -0.1, f64::NAN] {
        let p = t(&[0.5, bad], &[2]);
        let err = loss::bce(&p, &y, Reduction::Mean).unwrap_err();
        assert!(matches!(err, NnError::Tensor(CoreError::Domain { op: "bce", .. })), "{err}");
    }
}

#[test]
fn a_label_at_or_above_the_class_count_is_an_error() {
    let logits = Tensor::<f64>::zeros(&[3, 4]).unwrap();
    for labels in [[0usize, 4, 1], [9, 0, 0]] {
        let err = loss::cross_entropy(&logits, &labels, Reduction::Mean).unwrap_err();
        assert!(matches!(err, NnError::LabelOutOfRange { classes: 4, .. }), "{err}");
        let err = CrossEntropyLoss::new().label_smoothing(0.1).loss(&logits, &labels).unwrap_err();
        assert!(matches!(err, NnError::LabelOutOfRange { .. }), "{err}");
        let err = loss::nll(&logits, &labels, Reduction::Sum).unwrap_err();
        assert!(matches!(err, NnError::LabelOutOfRange { op: "nll", .. }), "{err}");
    }
    let err = loss::cross_entropy(&logits, &[0, 4, 1], Reduction::Mean).unwrap_err();
    assert_eq!(err.to_string(), "cross_entropy: label 4 of sample 1 is out of range for 4 classes");
}

#[test]
fn label_count_and_logit_rank_must_fit() {
    let logits = Tensor::<f64>::zeros(&[3, 4]).unwrap();
    let err = loss::cross_entropy(&logits, &[0, 1], Reduction::Mean).unwrap_err();
    assert!(matches!(err, NnError::Tensor(CoreError::ShapeMismatch { .. })), "{err}");
    let err = loss::cross_entropy(&Tensor::<f64>::zeros(&[4]).unwrap(), &[0], Reduction::Mean).unwrap_err();
    assert!(matches!(err, NnError::Tensor(CoreError::ShapeMismatch { .. })), "{err}");
}

#[test]
fn bad_class_weights_and_smoothing_are_errors() {
    let logits = Tensor::<f64>::zeros(&[2, 3]).unwrap();
    for weights in
        [vec![1.0, 2.0], vec![1.0, -1.0, 1.0], vec![1.0, f64::NAN, 1.0], vec![f64::INFINITY, 1.0, 1.0]]
    {
        let err = CrossEntropyLoss::new().class_weights(weights.clone()).loss(&logits, &[0, 1]).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "cross_entropy", .. }), "{weights:?}: {err}");
        let err = NllLoss::new().class_weights(weights).loss(&logits, &[0, 1]).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "nll", .. }), "{err}");
    }
    for eps in [-0.1, 1.5, f64::NAN] {
        let err = CrossEntropyLoss::new().label_smoothing(eps).loss(&logits, &[0, 1]).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { .. }), "{eps}: {err}");
    }
    // A weighted mean over samples whose classes all weigh 0 would be 0/0.
    let err = CrossEntropyLoss::new().class_weights(vec![0.0, 1.0, 1.0]).loss(&logits, &[0, 0]).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { .. }), "{err}");
}

#[test]
fn mismatched_shapes_and_bad_delta_are_errors() {
    let a = Tensor::<f64>::zeros(&[2, 3]).unwrap();
    let b = Tensor::<f64>::zeros(&[3]).unwrap();
    for err in [
        loss::mse(&a, &b, Reduction::Mean).unwrap_err(),
        loss::l1(&a, &b, Reduction::Mean).unwrap_err(),
        loss::huber(&a, &b, 1.0, Reduction::Mean).unwrap_err(),
        loss::bce(&a, &b, Reduction::Mean).unwrap_err(),
        loss::bce_with_logits(&a, &b, Reduction::Mean).unwrap_err(),
    ] {
        assert!(matches!(err, NnError::Tensor(CoreError::ShapeMismatch { .. })), "{err}");
    }
    for delta in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = loss::huber(&a, &a, delta, Reduction::Mean).unwrap_err();
        assert!(matches!(err, NnError::InvalidArgument { op: "huber", .. }), "{err}");
    }
}

#[test]
fn the_mean_of_no_samples_is_an_error_and_the_sum_is_zero() -> TestResult {
    let empty = Tensor::<f64>::zeros(&[0, 3]).unwrap();
    let err = loss::cross_entropy(&empty, &[], Reduction::Mean).unwrap_err();
    assert!(matches!(err, NnError::Tensor(CoreError::Empty { .. })), "{err}");
    let err = CrossEntropyLoss::new().class_weights(vec![1.0; 3]).loss(&empty, &[]).unwrap_err();
    assert!(matches!(err, NnError::InvalidArgument { .. }), "{err}");
    assert_eq!(loss::cross_entropy(&empty, &[], Reduction::Sum)?.item()?, 0.0);
    assert_eq!(
        loss::mse(&Tensor::<f64>::zeros(&[0]).unwrap(), &Tensor::zeros(&[0]).unwrap(), Reduction::Sum)?
            .item()?,
        0.0
    );
    let err = loss::l1(&Tensor::<f64>::zeros(&[0]).unwrap(), &Tensor::zeros(&[0]).unwrap(), Reduction::Mean)
        .unwrap_err();
    assert!(matches!(err, NnError::Tensor(CoreError::Empty { .. })), "{err}");
    Ok(())
}
