//! Hand-derived values for the conventions: zero division, ties, clipping,
//! zero targets, constant targets, costs, and the text renderings.

use eval::{Average, ClassificationSummary, ConfusionMatrix, CostMatrix, Probabilities, ZeroDivision};

#[track_caller]
fn check(actual: f64, expected: f64) {
    let tolerance = 1e-12 * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance || (actual.is_nan() && expected.is_nan()),
        "got {actual}, expected {expected}"
    );
}

#[test]
fn zero_division_policy_applies_only_to_undefined_ratios() {
    // Class 1 is never predicted: its precision is 0/0. Its recall is 0/1 = 0
    // and its F1 = 2·0 / (1 + 0) = 0 whatever the policy (scikit-learn's F from counts).
    let cm = ConfusionMatrix::new(&[0, 0, 1], &[0, 0, 0], 2).unwrap();
    for (policy, precision) in [(ZeroDivision::Zero, 0.0), (ZeroDivision::One, 1.0)] {
        let s = cm.class_scores(1, 1.0, policy).unwrap();
        assert_eq!((s.precision, s.recall, s.f_score, s.support), (precision, 0.0, 0.0, 1));
    }
    assert!(cm.class_scores(1, 1.0, ZeroDivision::NaN).unwrap().precision.is_nan());
    // Default policy is 0, like scikit-learn.
    assert_eq!(ZeroDivision::default(), ZeroDivision::Zero);
    assert_eq!(eval::binary_precision(&[0, 0, 1], &[0, 0, 0]).unwrap(), 0.0);

    // Macro precision: class 0 has 2/3; class 1 is 0, 1 or left out.
    check(cm.precision(Average::Macro, ZeroDivision::Zero).unwrap(), (2.0 / 3.0) / 2.0);
    check(cm.precision(Average::Macro, ZeroDivision::One).unwrap(), (2.0 / 3.0 + 1.0) / 2.0);
    check(cm.precision(Average::Macro, ZeroDivision::NaN).unwrap(), 2.0 / 3.0);
    // Weighted: supports 2 and 1; with NaN class 1 drops out with its weight.
    check(cm.precision(Average::Weighted, ZeroDivision::Zero).unwrap(), (2.0 * 2.0 / 3.0) / 3.0);
    check(cm.precision(Average::Weighted, ZeroDivision::NaN).unwrap(), 2.0 / 3.0);
}

#[test]
fn declared_but_absent_classes_count_in_macro_averages() {
    // Class 2 never occurs nor is predicted: P, R and F are all 0/0.
    let cm = ConfusionMatrix::new(&[0, 1, 1], &[0, 1, 1], 3).unwrap();
    let absent = cm.class_scores(2, 1.0, ZeroDivision::Zero).unwrap();
    assert_eq!((absent.precision, absent.recall, absent.f_score, absent.support), (0.0, 0.0, 0.0, 0));
    // scikit-learn with labels=range(3): the absent class pulls the macro mean down...
    check(cm.f1(Average::Macro, ZeroDivision::Zero).unwrap(), 2.0 / 3.0);
    check(cm.f1(Average::Macro, ZeroDivision::One).unwrap(), 1.0);
    // ...but not the weighted one (support 0) nor balanced accuracy (no recall to average).
    check(cm.f1(Average::Weighted, ZeroDivision::Zero).unwrap(), 1.0);
    check(cm.balanced_accuracy(), 1.0);
}

#[test]
fn binary_scores_from_counts() {
    // TP = 2, FP = 1, FN = 3, TN = 2
    let y_true = [1, 1, 1, 1, 1, 0, 0, 0];
    let y_pred = [1, 1, 0, 0, 0, 1, 0, 0];
    check(eval::binary_precision(&y_true, &y_pred).unwrap(), 2.0 / 3.0);
    check(eval::binary_recall(&y_true, &y_pred).unwrap(), 2.0 / 5.0);
    check(eval::binary_f1(&y_true, &y_pred).unwrap(), 4.0 / (4.0 + 1.0 + 3.0));
    // F2 = 5·TP / (5·TP + 4·FN + FP) = 10 / 23
    check(eval::binary_fbeta(&y_true, &y_pred, 2.0).unwrap(), 10.0 / 23.0);
    // β = 0 is precision, β = ∞ is recall
    check(eval::binary_fbeta(&y_true, &y_pred, 0.0).unwrap(), 2.0 / 3.0);
    check(eval::binary_fbeta(&y_true, &y_pred, f64::INFINITY).unwrap(), 2.0 / 5.0);
    // balanced accuracy = (TPR + TNR) / 2 = (2/5 + 2/3) / 2
    check(eval::balanced_accuracy(&y_true, &y_pred, 2).unwrap(), (0.4 + 2.0 / 3.0) / 2.0);
    // positive class 0 is the mirror image: TP = 2, FP = 3, FN = 1
    let cm = ConfusionMatrix::new(&y_true, &y_pred, 2).unwrap();
    check(cm.precision(Average::Binary { positive: 0 }, ZeroDivision::Zero).unwrap(), 2.0 / 5.0);
}

#[test]
fn confusion_matrix_renders_as_an_aligned_table() {
    let cm = ConfusionMatrix::from_counts(2, vec![135, 42, 2, 11]).unwrap();
    let expected = "true \\ pred    0    1\n          0  135   42\n          1    2   11";
    assert_eq!(cm.to_string(), expected);
    let big = ConfusionMatrix::new(&[0, 11, 5], &[0, 11, 4], 12).unwrap().to_string();
    assert_eq!(big.lines().count(), 13);
    assert!(big.lines().all(|line| line.len() == big.lines().next().unwrap().len()), "{big}");
}

#[test]
fn classification_report_matches_scikit_learns_layout() {
    // scikit-learn's documented example (classification_report docstring).
    let report = eval::classification_report(&[0, 1, 2, 2, 2], &[0, 0, 2, 2, 1], 3)
        .unwrap()
        .with_class_names(["class 0", "class 1", "class 2"])
        .unwrap();
    let expected = "              precision    recall  f1-score   support

     class 0       0.50      1.00      0.67         1
     class 1       0.00      0.00      0.00         1
     class 2       1.00      0.67      0.80         3

    accuracy                           0.60         5
   macro avg       0.50      0.56      0.49         5
weighted avg       0.70      0.60      0.61         5";
    assert_eq!(report.to_string(), expected);
    assert!(format!("{report:.4}").contains("0.6667"));
    assert_eq!(report.total(), 5);
}

#[test]
fn roc_ties_are_diagonal_steps() {
    // All scores tied: one threshold, the diagonal, AUC ½.
    let roc = eval::roc_curve(&[0, 1, 0, 1], &[0.5, 0.5, 0.5, 0.5]).unwrap();
    assert_eq!(roc.fpr, vec![0.0, 1.0]);
    assert_eq!(roc.tpr, vec![0.0, 1.0]);
    assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.5]);
    assert_eq!(eval::roc_auc(&[0, 1, 0, 1], &[0.5, 0.5, 0.5, 0.5]).unwrap(), 0.5);
    // A positive tied with one of two negatives: (1 + ½) / 2 pairs won.
    assert_eq!(eval::roc_auc(&[1, 0, 0], &[0.7, 0.7, 0.1]).unwrap(), 0.75);
}

#[test]
fn roc_drops_only_collinear_points() {
    let y = [0, 0, 0, 1, 1, 1];
    let s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
    let full = eval::roc_curve_all_thresholds(&y, &s).unwrap();
    assert_eq!(full.thresholds.len(), 7);
    let roc = eval::roc_curve(&y, &s).unwrap();
    // (0,0) → (0,⅓) → (0,⅔) → (0,1) → (⅓,1) → (⅔,1) → (1,1): only the corner
    // (0,1) and the first step off the axis survive between the ends.
    assert_eq!(roc.thresholds, vec![f64::INFINITY, 0.9, 0.7, 0.1]);
    assert_eq!(roc.fpr, vec![0.0, 0.0, 0.0, 1.0]);
    assert_eq!(roc.tpr, vec![0.0, 1.0 / 3.0, 1.0, 1.0]);
    assert_eq!(eval::auc(&roc.fpr, &roc.tpr).unwrap(), 1.0);
    // decreasing x: same area
    let reversed_x: Vec<f64> = roc.fpr.iter().rev().copied().collect();
    let reversed_y: Vec<f64> = roc.tpr.iter().rev().copied().collect();
    assert_eq!(eval::auc(&reversed_x, &reversed_y).unwrap(), 1.0);
}

#[test]
fn pr_curve_runs_over_all_thresholds() {
    // Full recall is reached at 0.4 already; the curve still goes on to 0.1
    // (scikit-learn >= 1.1 no longer stops at full recall).
    let curve = eval::precision_recall_curve(&[1, 0, 1, 0], &[0.9, 0.1, 0.4, 0.2]).unwrap();
    assert_eq!(curve.thresholds, vec![0.1, 0.2, 0.4, 0.9]);
    assert_eq!(curve.recall, vec![1.0, 1.0, 1.0, 0.5, 0.0]);
    assert_eq!(curve.precision, vec![0.5, 2.0 / 3.0, 1.0, 1.0, 1.0]);
    assert_eq!(eval::average_precision(&[1, 0, 1, 0], &[0.9, 0.1, 0.4, 0.2]).unwrap(), 1.0);
    // f32 scores give the same thresholds, widened exactly
    let narrow = eval::precision_recall_curve(&[1, 0, 1, 0], &[0.9_f32, 0.1, 0.4, 0.2]).unwrap();
    assert_eq!(narrow.thresholds[3], f64::from(0.9_f32));
}

#[test]
fn log_loss_clips_certain_mistakes() {
    // A certain mistake costs −ln(1e-7) with the default clip, −ln(ε) with scikit-learn's own.
    check(eval::log_loss_binary(&[1], &[0.0]).unwrap(), -(1e-7_f64).ln());
    // 1 − (1 − 1e-7) is not exactly 1e-7 in f64; NumPy's clip-then-subtract gives the same.
    check(eval::log_loss_binary(&[0], &[1.0_f32]).unwrap(), -(1.0 - (1.0 - 1e-7_f64)).ln());
    check(eval::log_loss_binary_with_clip(&[1], &[0.0], f64::EPSILON).unwrap(), -(f64::EPSILON).ln());
    assert_eq!(eval::log_loss_binary_with_clip(&[1], &[0.0], 0.0).unwrap(), f64::INFINITY);
    // certain and right: ln(1 − 1e-7) ≈ −1e-7
    check(eval::log_loss_binary(&[1, 0], &[1.0, 0.0]).unwrap(), -(1.0 - 1e-7_f64).ln());
    check(eval::log_loss(&[2], &[0.0, 0.0, 1.0], 3).unwrap(), -(1.0 - 1e-7_f64).ln());
    check(eval::log_loss(&[0], &[0.0, 0.0, 1.0], 3).unwrap(), -(1e-7_f64).ln());
    // binary and two-column multiclass agree
    let p1 = [0.2, 0.9, 0.6];
    let rows: Vec<f64> = p1.iter().flat_map(|&p| [1.0 - p, p]).collect();
    check(eval::log_loss_binary(&[0, 1, 0], &p1).unwrap(), eval::log_loss(&[0, 1, 0], &rows, 2).unwrap());
}

#[test]
fn mape_divides_by_the_absolute_target_floored_at_epsilon() {
    // |y − ŷ| / max(|y|, ε): a negative target counts by its size.
    check(eval::mape(&[-2.0], &[-1.0]).unwrap(), 0.5);
    // a miss on y = 0 is huge but finite: 1 / ε
    check(eval::mape(&[0.0], &[1.0]).unwrap(), 1.0 / f64::EPSILON);
    assert_eq!(eval::mape(&[0.0, 0.0], &[0.0, 0.0]).unwrap(), 0.0);
    check(eval::mape(&[10.0_f32, 0.0], &[11.0, 0.0]).unwrap(), 0.05);
}

#[test]
fn regression_values() {
    let y = [3.0, -0.5, 2.0, 7.0];
    let y_hat = [2.5, 0.0, 2.0, 8.0];
    // scikit-learn's docstring examples for these inputs
    check(eval::mse(&y, &y_hat).unwrap(), 0.375);
    check(eval::rmse(&y, &y_hat).unwrap(), 0.375_f64.sqrt());
    check(eval::mae(&y, &y_hat).unwrap(), 0.5);
    check(eval::r2(&y, &y_hat).unwrap(), 0.9486081370449679);
    // constant targets: 1 if perfect, else 0 (scikit-learn's force_finite)
    assert_eq!(eval::r2(&[2.0, 2.0], &[2.0, 2.0]).unwrap(), 1.0);
    assert_eq!(eval::r2(&[2.0, 2.0], &[1.0, 2.0]).unwrap(), 0.0);
    // worse than the mean is negative
    assert!(eval::r2(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() < 0.0);
}

#[test]
fn unequal_costs_move_the_decision_threshold() {
    // Seed §8.1: calling an allergen-containing product (0) allergen-free (1) costs 10,
    // the reverse costs 1.
    let cost = CostMatrix::binary(10.0, 1.0).unwrap();
    let threshold = cost.binary_threshold().unwrap();
    check(threshold, 10.0 / 11.0);
    assert_eq!(CostMatrix::zero_one(2).unwrap().binary_threshold().unwrap(), 0.5);

    let p_free = [0.95, 0.85, 0.3, 0.92];
    let y_true = [1, 1, 0, 0];
    let rows: Vec<f64> = p_free.iter().flat_map(|&p| [1.0 - p, p]).collect();
    let cautious = eval::bayes_decisions(&rows, &cost).unwrap();
    assert_eq!(cautious, vec![1, 0, 0, 1]);
    let by_threshold: Vec<usize> = p_free.iter().map(|&p| usize::from(p >= threshold)).collect();
    assert_eq!(cautious, by_threshold);
    // argmax would predict [1, 1, 0, 1]: cost (0 + 0 + 0 + 10) / 4
    check(eval::expected_cost(&y_true, &[1, 1, 0, 1], &cost).unwrap(), 10.0 / 4.0);
    // the cautious rule trades one cheap miss: (0 + 1 + 0 + 10) / 4
    check(eval::expected_cost(&y_true, &cautious, &cost).unwrap(), 11.0 / 4.0);
    let cm = ConfusionMatrix::new(&y_true, &cautious, 2).unwrap();
    check(eval::confusion_expected_cost(&cm, &cost).unwrap(), 11.0 / 4.0);
    assert_eq!(cost.get(1, 0), Some(1.0));
    assert_eq!(cost.get(2, 0), None);
}

#[test]
fn summaries_list_metrics_by_stable_names() {
    let y_true = [0, 1, 2, 2];
    let y_pred = [0, 2, 2, 2];
    let probabilities = [0.8, 0.1, 0.1, 0.2, 0.3, 0.5, 0.1, 0.1, 0.8, 0.2, 0.2, 0.6];
    let summary = ClassificationSummary::with_probabilities(
        &y_true,
        &y_pred,
        3,
        Probabilities::PerClass(&probabilities),
    )
    .unwrap();
    let names: Vec<&str> = summary.to_named().iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "accuracy",
            "balanced_accuracy",
            "precision_macro",
            "recall_macro",
            "f1_macro",
            "f1_micro",
            "f1_weighted",
            "log_loss"
        ]
    );
    check(summary.accuracy, 0.75);
    check(summary.f1_micro, 0.75);
    check(summary.log_loss.unwrap(), -(0.8_f64.ln() + 0.3_f64.ln() + 0.8_f64.ln() + 0.6_f64.ln()) / 4.0);
    let without = ClassificationSummary::new(&y_true, &y_pred, 3).unwrap();
    assert_eq!(without.log_loss, None);
    assert_eq!(without.to_named().len(), 7);

    let regression = eval::RegressionSummary::new(&[1.0_f32, 2.0, 3.0], &[1.0, 2.0, 4.0]).unwrap();
    let named = regression.to_named();
    assert_eq!(named.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["mse", "rmse", "mae", "mape", "r2"]);
    check(named[0].1, 1.0 / 3.0);
}
