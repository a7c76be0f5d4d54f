//! Every kind of bad input gets its typed error, never a panic or a silent NaN.

use eval::{
    Average, ClassificationSummary, ConfusionMatrix, CostMatrix, EvalError, Probabilities, ZeroDivision,
};

/// Asserts `result` is an error matching `expected`, and that its message names
/// the operation.
#[track_caller]
fn check<T: std::fmt::Debug>(result: eval::Result<T>, expected: fn(&EvalError) -> bool, op: &str) {
    match result {
        Ok(value) => panic!("expected an error from {op}, got Ok({value:?})"),
        Err(error) => {
            assert!(expected(&error), "{op}: unexpected variant {error:?}");
            assert!(error.to_string().contains(op), "message {error} does not name {op}");
        }
    }
}

fn empty(e: &EvalError) -> bool {
    matches!(e, EvalError::Empty { .. })
}
fn mismatch(e: &EvalError) -> bool {
    matches!(e, EvalError::LengthMismatch { .. })
}
fn label(e: &EvalError) -> bool {
    matches!(e, EvalError::LabelOutOfRange { .. })
}
fn classes(e: &EvalError) -> bool {
    matches!(e, EvalError::InvalidNumClasses { .. })
}
fn probability(e: &EvalError) -> bool {
    matches!(e, EvalError::ProbabilityOutOfRange { .. })
}
fn nan(e: &EvalError) -> bool {
    matches!(e, EvalError::NotANumber { .. })
}
fn non_finite(e: &EvalError) -> bool {
    matches!(e, EvalError::NonFinite { .. })
}
fn parameter(e: &EvalError) -> bool {
    matches!(e, EvalError::InvalidParameter { .. })
}
fn undefined(e: &EvalError) -> bool {
    matches!(e, EvalError::Undefined { .. })
}

const NO_LABELS: [usize; 0] = [];
const NO_VALUES: [f64; 0] = [];

#[test]
fn empty_inputs() {
    check(eval::accuracy(&NO_LABELS, &NO_LABELS), empty, "accuracy");
    check(eval::confusion_matrix(&NO_LABELS, &NO_LABELS, 2), empty, "confusion_matrix");
    check(eval::balanced_accuracy(&NO_LABELS, &NO_LABELS, 2), empty, "balanced_accuracy");
    check(eval::binary_precision(&NO_LABELS, &NO_LABELS), empty, "binary_precision");
    check(eval::binary_recall(&NO_LABELS, &NO_LABELS), empty, "binary_recall");
    check(eval::binary_f1(&NO_LABELS, &NO_LABELS), empty, "binary_f1");
    check(eval::binary_fbeta(&NO_LABELS, &NO_LABELS, 2.0), empty, "binary_fbeta");
    check(eval::classification_report(&NO_LABELS, &NO_LABELS, 2), empty, "classification_report");
    check(ConfusionMatrix::from_counts(2, vec![0; 4]), empty, "from_counts");
    check(eval::precision_recall_curve(&NO_LABELS, &NO_VALUES), empty, "precision_recall_curve");
    check(eval::average_precision(&NO_LABELS, &NO_VALUES), empty, "average_precision");
    check(eval::roc_curve(&NO_LABELS, &NO_VALUES), empty, "roc_curve");
    check(eval::roc_auc(&NO_LABELS, &NO_VALUES), empty, "roc_auc");
    check(eval::auc(&NO_VALUES, &NO_VALUES), empty, "auc");
    check(eval::log_loss_binary(&NO_LABELS, &NO_VALUES), empty, "log_loss_binary");
    check(eval::log_loss(&NO_LABELS, &NO_VALUES, 3), empty, "log_loss");
    check(eval::mse(&NO_VALUES, &NO_VALUES), empty, "mse");
    check(eval::rmse(&NO_VALUES, &NO_VALUES), empty, "rmse");
    check(eval::mae(&NO_VALUES, &NO_VALUES), empty, "mae");
    check(eval::mape(&NO_VALUES, &NO_VALUES), empty, "mape");
    check(eval::r2(&NO_VALUES, &NO_VALUES), empty, "r2");
    check(eval::RegressionSummary::new(&NO_VALUES, &NO_VALUES), empty, "mse");
    check(ClassificationSummary::new(&NO_LABELS, &NO_LABELS, 2), empty, "ClassificationSummary");
    let cost = CostMatrix::zero_one(2).unwrap();
    check(eval::expected_cost(&NO_LABELS, &NO_LABELS, &cost), empty, "expected_cost");
    check(eval::bayes_decisions(&NO_VALUES, &cost), empty, "bayes_decisions");
}

#[test]
fn mismatched_lengths() {
    let (a, b) = ([0, 1, 1], [0, 1]);
    check(eval::accuracy(&a, &b), mismatch, "accuracy");
    check(eval::confusion_matrix(&a, &b, 2), mismatch, "confusion_matrix");
    check(eval::balanced_accuracy(&a, &b, 2), mismatch, "balanced_accuracy");
    check(eval::binary_f1(&a, &b), mismatch, "binary_f1");
    check(eval::precision_recall_curve(&a, &[0.1, 0.2]), mismatch, "precision_recall_curve");
    check(eval::roc_auc(&a, &[0.1, 0.2, 0.3, 0.4]), mismatch, "roc_auc");
    check(eval::auc(&[0.0, 1.0], &[0.0]), mismatch, "auc");
    check(eval::log_loss_binary(&a, &[0.5_f32]), mismatch, "log_loss_binary");
    // three samples of three classes need nine probabilities
    check(eval::log_loss(&[0, 1, 2], &[1.0 / 3.0; 8], 3), mismatch, "log_loss");
    check(eval::mse(&[1.0, 2.0], &[1.0]), mismatch, "mse");
    check(eval::mae(&[1.0_f32], &[1.0, 2.0]), mismatch, "mae");
    check(eval::mape(&[1.0], &[1.0, 2.0]), mismatch, "mape");
    check(eval::r2(&[1.0, 2.0, 3.0], &[1.0, 2.0]), mismatch, "r2");
    check(CostMatrix::new(2, vec![0.0, 1.0, 1.0]), mismatch, "CostMatrix::new");
    check(ConfusionMatrix::from_counts(2, vec![1, 2, 3]), mismatch, "from_counts");
    check(
        eval::bayes_decisions(&[0.5, 0.5, 1.0], &CostMatrix::zero_one(2).unwrap()),
        mismatch,
        "bayes_decisions",
    );
    let report = eval::classification_report(&[0, 1], &[0, 1], 2).unwrap();
    check(report.with_class_names(["only one"]), mismatch, "with_class_names");

    let error = eval::mse(&[1.0, 2.0], &[1.0]).unwrap_err();
    assert_eq!(
        error,
        EvalError::LengthMismatch {
            op: "mse",
            expected_what: "y_true",
            expected: 2,
            found_what: "y_pred",
            found: 1
        }
    );
}

#[test]
fn labels_outside_the_declared_classes() {
    let error = eval::confusion_matrix(&[0, 1, 5], &[0, 1, 1], 3).unwrap_err();
    assert_eq!(
        error,
        EvalError::LabelOutOfRange { op: "confusion_matrix", index: 2, label: 5, num_classes: 3 }
    );
    assert!(error.to_string().contains("label 5"), "{error}");
    check(eval::confusion_matrix(&[0, 1], &[0, 3], 3), label, "confusion_matrix");
    check(eval::balanced_accuracy(&[0, 4], &[0, 1], 3), label, "balanced_accuracy");
    check(eval::binary_precision(&[0, 2], &[0, 1]), label, "binary_precision");
    check(eval::binary_recall(&[0, 1], &[2, 1]), label, "binary_recall");
    check(eval::precision_recall_curve(&[0, 2], &[0.1, 0.2]), label, "precision_recall_curve");
    check(eval::roc_curve(&[0, 1, 3], &[0.1, 0.2, 0.3]), label, "roc_curve");
    check(eval::log_loss_binary(&[0, 2], &[0.1, 0.2]), label, "log_loss_binary");
    check(eval::log_loss(&[0, 3], &[0.5, 0.5, 0.0, 0.5, 0.5, 0.0], 3), label, "log_loss");
    let cost = CostMatrix::zero_one(2).unwrap();
    check(eval::expected_cost(&[0, 2], &[0, 1], &cost), label, "expected_cost");

    let cm = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 0], 2).unwrap();
    check(cm.class_scores(2, 1.0, ZeroDivision::Zero), label, "class_scores");
    check(cm.precision(Average::Binary { positive: 2 }, ZeroDivision::Zero), label, "class_scores");
    assert_eq!(cm.get(2, 0), None);
    assert_eq!(cm.support(2), None);
    assert_eq!(cm.predicted_count(2), None);
}

#[test]
fn unusable_class_counts() {
    check(eval::confusion_matrix(&[0], &[0], 0), classes, "confusion_matrix");
    check(ConfusionMatrix::from_counts(0, vec![]), classes, "from_counts");
    check(eval::log_loss(&[0], &[1.0], 0), classes, "log_loss");
    check(CostMatrix::new(0, vec![]), classes, "CostMatrix::new");
    check(CostMatrix::zero_one(3).unwrap().binary_threshold(), classes, "binary_threshold");
    let cm = ConfusionMatrix::new(&[0, 1], &[0, 1], 2).unwrap();
    check(eval::confusion_expected_cost(&cm, &CostMatrix::zero_one(3).unwrap()), classes, "expected_cost");
    let probabilities = Probabilities::PositiveClass(&[0.2, 0.9]);
    check(
        ClassificationSummary::with_probabilities(&[0, 2], &[0, 2], 3, probabilities),
        classes,
        "with_probabilities",
    );
}

#[test]
fn probabilities_outside_zero_one() {
    let error = eval::log_loss_binary(&[0, 1], &[0.2, 1.5]).unwrap_err();
    assert_eq!(error, EvalError::ProbabilityOutOfRange { op: "log_loss_binary", index: 1, value: 1.5 });
    check(eval::log_loss_binary(&[0, 1], &[-0.1_f32, 0.5]), probability, "log_loss_binary");
    check(eval::log_loss_binary(&[0, 1], &[0.5, f64::INFINITY]), probability, "log_loss_binary");
    check(eval::log_loss(&[0, 1], &[0.5, 0.5, 1.2, -0.2], 2), probability, "log_loss");
    check(
        eval::bayes_decisions(&[0.5, 0.6, 2.0, -1.0], &CostMatrix::zero_one(2).unwrap()),
        probability,
        "bayes_decisions",
    );
    check(
        ClassificationSummary::with_probabilities(
            &[0, 1],
            &[0, 1],
            2,
            Probabilities::PerClass(&[0.5, 0.5, 0.0, 1.1]),
        ),
        probability,
        "log_loss",
    );
}

#[test]
fn nan_inputs() {
    let error = eval::log_loss_binary(&[0, 1], &[0.2, f64::NAN]).unwrap_err();
    assert_eq!(error, EvalError::NotANumber { op: "log_loss_binary", what: "y_prob", index: 1 });
    check(eval::log_loss(&[0], &[f32::NAN, 1.0], 2), nan, "log_loss");
    check(eval::precision_recall_curve(&[0, 1], &[f64::NAN, 0.5]), nan, "precision_recall_curve");
    check(eval::average_precision(&[0, 1], &[0.5, f32::NAN]), nan, "average_precision");
    check(eval::roc_auc(&[0, 1], &[0.5, f64::NAN]), nan, "roc_auc");
    check(eval::mse(&[1.0, f64::NAN], &[1.0, 2.0]), nan, "mse");
    check(eval::mae(&[1.0, 2.0], &[f32::NAN, 2.0]), nan, "mae");
    check(eval::mape(&[f64::NAN], &[1.0]), nan, "mape");
    check(eval::r2(&[1.0, 2.0], &[1.0, f64::NAN]), nan, "r2");
    check(CostMatrix::new(2, vec![0.0, f64::NAN, 1.0, 0.0]), nan, "CostMatrix::new");
    check(eval::bayes_decisions(&[f64::NAN, 0.5], &CostMatrix::zero_one(2).unwrap()), nan, "bayes_decisions");
    check(eval::auc(&[0.0, f64::NAN], &[0.0, 1.0]), nan, "auc");
}

#[test]
fn infinite_values_where_finite_ones_are_needed() {
    check(eval::roc_curve(&[0, 1], &[f64::NEG_INFINITY, 0.5]), non_finite, "roc_curve");
    check(eval::precision_recall_curve(&[0, 1], &[0.5, f32::INFINITY]), non_finite, "precision_recall_curve");
    check(eval::mse(&[1.0, f64::INFINITY], &[1.0, 2.0]), non_finite, "mse");
    check(eval::r2(&[1.0, 2.0], &[1.0, f64::NEG_INFINITY]), non_finite, "r2");
    check(CostMatrix::binary(f64::INFINITY, 1.0), non_finite, "CostMatrix::new");
    check(eval::auc(&[0.0, 1.0], &[0.0, f64::INFINITY]), non_finite, "auc");
}

#[test]
fn invalid_parameters() {
    let cm = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 0], 2).unwrap();
    for beta in [-1.0, f64::NAN] {
        check(cm.fbeta(beta, Average::Macro, ZeroDivision::Zero), parameter, "scores");
        check(cm.per_class_scores(beta, ZeroDivision::Zero), parameter, "per_class_scores");
        check(cm.class_scores(0, beta, ZeroDivision::Zero), parameter, "class_scores");
        check(eval::binary_fbeta(&[0, 1], &[0, 1], beta), parameter, "binary_fbeta");
    }
    for clip in [-0.1, 0.5, f64::NAN] {
        check(eval::log_loss_binary_with_clip(&[0, 1], &[0.2, 0.7], clip), parameter, "log_loss_binary");
        check(eval::log_loss_with_clip(&[0], &[0.2, 0.8], 2, clip), parameter, "log_loss");
    }
}

#[test]
fn undefined_metrics() {
    // No positive sample: recall is 0/0 at every threshold.
    check(eval::precision_recall_curve(&[0, 0], &[0.1, 0.9]), undefined, "precision_recall_curve");
    check(eval::average_precision(&[0, 0], &[0.1, 0.9]), undefined, "average_precision");
    // One class only: one of the ROC rates is 0/0.
    check(eval::roc_curve(&[0, 0], &[0.1, 0.9]), undefined, "roc_curve");
    check(eval::roc_auc(&[1, 1], &[0.1, 0.9]), undefined, "roc_auc");
    check(eval::roc_curve_all_thresholds(&[1], &[0.3]), undefined, "roc_curve_all_thresholds");
    check(eval::r2(&[1.0], &[1.0]), undefined, "r2");
    check(eval::auc(&[0.0], &[1.0]), undefined, "auc");
    check(eval::auc(&[0.0, 1.0, 0.5], &[1.0, 1.0, 1.0]), undefined, "auc");
    check(
        CostMatrix::new(2, vec![0.0, 0.0, 1.0, 0.0]).unwrap().binary_threshold(),
        undefined,
        "binary_threshold",
    );
}

#[test]
fn class_counts_too_large_for_a_table_are_errors_not_aborts() {
    check(eval::confusion_matrix(&[0], &[0], usize::MAX), classes, "confusion_matrix");
    check(eval::confusion_matrix(&[0], &[0], 1 << 40), classes, "confusion_matrix");
    check(CostMatrix::zero_one(1 << 40), classes, "zero_one");
    check(CostMatrix::zero_one(0), classes, "zero_one");
    check(ConfusionMatrix::from_counts(usize::MAX, vec![1]), mismatch, "from_counts");
}
