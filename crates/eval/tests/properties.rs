//! Property tests: invariants every metric must keep on any valid input.

use eval::{Average, ConfusionMatrix, CostMatrix, ZeroDivision};
use proptest::prelude::*;

/// `num_classes` in 1..=6 and 1..=60 pairs of labels in range.
fn label_pairs() -> impl Strategy<Value = (usize, Vec<usize>, Vec<usize>)> {
    (1usize..=6, 1usize..=60)
        .prop_flat_map(|(k, n)| (Just(k), prop::collection::vec(0..k, n), prop::collection::vec(0..k, n)))
}

/// Binary labels with at least one of each class, and scores on a coarse grid
/// so that ties are common.
fn scored_binary() -> impl Strategy<Value = (Vec<usize>, Vec<f64>)> {
    (2usize..=50)
        .prop_flat_map(|n| (prop::collection::vec(0usize..2, n), prop::collection::vec(0u32..=20, n)))
        .prop_filter("needs both classes", |(labels, _)| labels.contains(&0) && labels.contains(&1))
        .prop_map(|(labels, grid)| (labels, grid.into_iter().map(|g| f64::from(g) / 20.0).collect()))
}

/// Regression targets and predictions of the same length.
fn regression_pairs() -> impl Strategy<Value = (Vec<f64>, Vec<f64>)> {
    (2usize..=40).prop_flat_map(|n| {
        (prop::collection::vec(-100.0..100.0f64, n), prop::collection::vec(-100.0..100.0f64, n))
    })
}

fn in_unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1.0)
}

const AVERAGES: [Average; 3] = [Average::Macro, Average::Micro, Average::Weighted];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn confusion_matrix_counts_every_sample_once((k, y_true, y_pred) in label_pairs()) {
        let cm = ConfusionMatrix::new(&y_true, &y_pred, k).unwrap();
        prop_assert_eq!(cm.total(), y_true.len());
        prop_assert_eq!(cm.as_slice().iter().sum::<usize>(), y_true.len());
        for c in 0..k {
            prop_assert_eq!(cm.support(c), Some(y_true.iter().filter(|&&t| t == c).count()));
            prop_assert_eq!(cm.predicted_count(c), Some(y_pred.iter().filter(|&&p| p == c).count()));
        }
    }

    #[test]
    fn label_metrics_lie_in_their_ranges((k, y_true, y_pred) in label_pairs()) {
        let cm = ConfusionMatrix::new(&y_true, &y_pred, k).unwrap();
        prop_assert!(in_unit(cm.accuracy()));
        prop_assert!(in_unit(cm.balanced_accuracy()));
        for zero_division in [ZeroDivision::Zero, ZeroDivision::One] {
            for average in AVERAGES {
                let s = cm.scores(average, 2.0, zero_division).unwrap();
                prop_assert!(in_unit(s.precision) && in_unit(s.recall) && in_unit(s.f_score), "{:?}", s);
            }
            for s in cm.per_class_scores(0.5, zero_division).unwrap() {
                prop_assert!(in_unit(s.precision) && in_unit(s.recall) && in_unit(s.f_score), "{:?}", s);
            }
        }
    }

    #[test]
    fn f1_is_the_harmonic_mean_of_precision_and_recall((k, y_true, y_pred) in label_pairs()) {
        let cm = ConfusionMatrix::new(&y_true, &y_pred, k).unwrap();
        for c in 0..k {
            // Only where both are defined: the zero-division value is a policy, not a ratio.
            if cm.support(c) == Some(0) || cm.predicted_count(c) == Some(0) {
                continue;
            }
            let s = cm.class_scores(c, 1.0, ZeroDivision::Zero).unwrap();
            let harmonic = if s.precision + s.recall == 0.0 {
                0.0
            } else {
                2.0 * s.precision * s.recall / (s.precision + s.recall)
            };
            prop_assert!(close(s.f_score, harmonic), "class {}: {:?} vs {}", c, s, harmonic);
            // and F-β the weighted harmonic mean
            let beta = 2.0;
            let f2 = cm.class_scores(c, beta, ZeroDivision::Zero).unwrap().f_score;
            let weighted = if s.precision + s.recall == 0.0 {
                0.0
            } else {
                (1.0 + beta * beta) * s.precision * s.recall / (beta * beta * s.precision + s.recall)
            };
            prop_assert!(close(f2, weighted), "class {}: {} vs {}", c, f2, weighted);
        }
    }

    #[test]
    fn micro_scores_equal_accuracy((k, y_true, y_pred) in label_pairs()) {
        let cm = ConfusionMatrix::new(&y_true, &y_pred, k).unwrap();
        let micro = cm.scores(Average::Micro, 1.0, ZeroDivision::Zero).unwrap();
        let accuracy = eval::accuracy(&y_true, &y_pred).unwrap();
        prop_assert!(close(micro.precision, accuracy) && close(micro.recall, accuracy) && close(micro.f_score, accuracy));
    }

    #[test]
    fn zero_one_cost_is_the_error_rate((k, y_true, y_pred) in label_pairs()) {
        let cost = CostMatrix::zero_one(k).unwrap();
        let expected = eval::expected_cost(&y_true, &y_pred, &cost).unwrap();
        prop_assert!(close(expected, 1.0 - eval::accuracy(&y_true, &y_pred).unwrap()));
    }

    #[test]
    fn perfect_ranking_gives_ap_and_auc_of_one((labels, grid) in scored_binary()) {
        // Sort the distinct scores; every positive scores above every negative.
        let mut scores = grid;
        scores.sort_by(f64::total_cmp);
        let mut sorted_labels = labels;
        sorted_labels.sort_unstable();
        let negatives = sorted_labels.iter().filter(|&&l| l == 0).count();
        let scores: Vec<f64> = scores
            .iter()
            .enumerate()
            .map(|(i, s)| if i < negatives { *s } else { s + 2.0 })
            .collect();
        // AP sums recall steps k/P, which may round to 1 − 1 ulp (so does scikit-learn).
        let ap = eval::average_precision(&sorted_labels, &scores).unwrap();
        prop_assert!(close(ap, 1.0), "AP = {}", ap);
        let auc = eval::roc_auc(&sorted_labels, &scores).unwrap();
        prop_assert!(close(auc, 1.0), "AUC = {}", auc);
    }

    #[test]
    fn auc_is_the_probability_a_positive_outranks_a_negative((labels, scores) in scored_binary()) {
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li == 1 && lj == 0 {
                    pairs += 1.0;
                    wins += match scores[i].partial_cmp(&scores[j]) {
                        Some(std::cmp::Ordering::Greater) => 1.0,
                        Some(std::cmp::Ordering::Equal) => 0.5,
                        _ => 0.0,
                    };
                }
            }
        }
        let auc = eval::roc_auc(&labels, &scores).unwrap();
        prop_assert!(close(auc, wins / pairs), "{} vs {}", auc, wins / pairs);
        // dropping collinear points changes neither the area nor the end points
        let full = eval::roc_curve_all_thresholds(&labels, &scores).unwrap();
        prop_assert!(close(eval::auc(&full.fpr, &full.tpr).unwrap(), auc));
    }

    #[test]
    fn curves_have_sklearn_shape((labels, scores) in scored_binary()) {
        let pr = eval::precision_recall_curve(&labels, &scores).unwrap();
        prop_assert_eq!(pr.precision.len(), pr.thresholds.len() + 1);
        prop_assert_eq!(pr.recall.len(), pr.thresholds.len() + 1);
        prop_assert!(pr.thresholds.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(pr.recall.windows(2).all(|w| w[0] >= w[1]));
        prop_assert_eq!(pr.recall[0], 1.0);
        prop_assert_eq!(pr.precision.last(), Some(&1.0));
        prop_assert_eq!(pr.recall.last(), Some(&0.0));
        prop_assert!(pr.precision.iter().all(|&p| in_unit(p)));
        let ap = eval::average_precision(&labels, &scores).unwrap();
        prop_assert!(in_unit(ap));

        let roc = eval::roc_curve(&labels, &scores).unwrap();
        prop_assert_eq!(roc.fpr.len(), roc.thresholds.len());
        prop_assert_eq!(roc.tpr.len(), roc.thresholds.len());
        prop_assert_eq!(roc.thresholds[0], f64::INFINITY);
        prop_assert!(roc.thresholds.windows(2).all(|w| w[0] > w[1]));
        prop_assert!(roc.fpr.windows(2).all(|w| w[0] <= w[1]) && roc.tpr.windows(2).all(|w| w[0] <= w[1]));
        prop_assert_eq!((roc.fpr[0], roc.tpr[0]), (0.0, 0.0));
        prop_assert_eq!((roc.fpr.last(), roc.tpr.last()), (Some(&1.0), Some(&1.0)));
        prop_assert!(in_unit(eval::roc_auc(&labels, &scores).unwrap()));
    }

    #[test]
    fn label_metrics_ignore_sample_order(
        ((k, y_true, y_pred), order) in label_pairs().prop_flat_map(|data| {
            let n = data.1.len();
            (Just(data), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        })
    ) {
        let permute = |v: &[usize]| order.iter().map(|&i| v[i]).collect::<Vec<usize>>();
        let (t2, p2) = (permute(&y_true), permute(&y_pred));
        let cm = ConfusionMatrix::new(&y_true, &y_pred, k).unwrap();
        let cm2 = ConfusionMatrix::new(&t2, &p2, k).unwrap();
        prop_assert_eq!(&cm, &cm2);
        prop_assert_eq!(eval::accuracy(&y_true, &y_pred).unwrap(), eval::accuracy(&t2, &p2).unwrap());
        prop_assert_eq!(
            eval::classification_report(&y_true, &y_pred, k).unwrap(),
            eval::classification_report(&t2, &p2, k).unwrap()
        );
    }

    #[test]
    fn score_metrics_ignore_sample_order(
        ((labels, scores), order) in scored_binary().prop_flat_map(|data| {
            let n = data.0.len();
            (Just(data), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        })
    ) {
        let l2: Vec<usize> = order.iter().map(|&i| labels[i]).collect();
        let s2: Vec<f64> = order.iter().map(|&i| scores[i]).collect();
        // Curves depend only on the tie groups, so they are bit-identical.
        prop_assert_eq!(
            eval::precision_recall_curve(&labels, &scores).unwrap(),
            eval::precision_recall_curve(&l2, &s2).unwrap()
        );
        prop_assert_eq!(eval::roc_curve(&labels, &scores).unwrap(), eval::roc_curve(&l2, &s2).unwrap());
        prop_assert_eq!(eval::average_precision(&labels, &scores).unwrap(), eval::average_precision(&l2, &s2).unwrap());
        prop_assert_eq!(eval::roc_auc(&labels, &scores).unwrap(), eval::roc_auc(&l2, &s2).unwrap());
        // Sums of floats may round differently in another order.
        let probabilities: Vec<f64> = scores.iter().map(|s| s.clamp(0.0, 1.0)).collect();
        let p2: Vec<f64> = order.iter().map(|&i| probabilities[i]).collect();
        prop_assert!(close(
            eval::log_loss_binary(&labels, &probabilities).unwrap(),
            eval::log_loss_binary(&l2, &p2).unwrap()
        ));
    }

    #[test]
    fn regression_metrics_ignore_sample_order(
        ((y, y_hat), order) in regression_pairs().prop_flat_map(|data| {
            let n = data.0.len();
            (Just(data), Just((0..n).collect::<Vec<usize>>()).prop_shuffle())
        })
    ) {
        let y2: Vec<f64> = order.iter().map(|&i| y[i]).collect();
        let yh2: Vec<f64> = order.iter().map(|&i| y_hat[i]).collect();
        let a = eval::RegressionSummary::new(&y, &y_hat).unwrap().to_named();
        let b = eval::RegressionSummary::new(&y2, &yh2).unwrap().to_named();
        for ((name, x), (_, z)) in a.iter().zip(&b) {
            prop_assert!((x - z).abs() <= 1e-9 * x.abs().max(1.0), "{}: {} vs {}", name, x, z);
        }
    }

    #[test]
    fn regression_metrics_lie_in_their_ranges((y, y_hat) in regression_pairs()) {
        let s = eval::RegressionSummary::new(&y, &y_hat).unwrap();
        prop_assert!(s.mse >= 0.0 && s.mae >= 0.0 && s.mape >= 0.0 && s.r2 <= 1.0);
        prop_assert!(close(s.rmse * s.rmse, s.mse));
        // MAE <= RMSE (Jensen)
        prop_assert!(s.mae <= s.rmse * (1.0 + 1e-12));
        let perfect = eval::RegressionSummary::new(&y, &y).unwrap();
        prop_assert_eq!((perfect.mse, perfect.mae, perfect.mape, perfect.r2), (0.0, 0.0, 0.0, 1.0));
    }

    #[test]
    fn mape_of_exact_zero_predictions_is_zero(
        (y, zero_mask) in (1usize..=30).prop_flat_map(|n| {
            (prop::collection::vec(-10.0..10.0f64, n), prop::collection::vec(any::<bool>(), n))
        })
    ) {
        // Zero targets predicted exactly contribute 0, not NaN.
        let y: Vec<f64> = y.iter().zip(&zero_mask).map(|(&v, &z)| if z { 0.0 } else { v }).collect();
        prop_assert_eq!(eval::mape(&y, &y).unwrap(), 0.0);
        let zeros = vec![0.0_f32; y.len()];
        prop_assert_eq!(eval::mape(&zeros, &zeros).unwrap(), 0.0);
    }

    #[test]
    fn log_loss_is_nonnegative_and_bayes_with_zero_one_cost_is_argmax(
        (k, rows) in (1usize..=5, 1usize..=20).prop_flat_map(|(k, n)| {
            (Just(k), prop::collection::vec(prop::collection::vec(0.0..1.0f64, k), n))
        }),
        seed in any::<u64>(),
    ) {
        let flat: Vec<f64> = rows.concat();
        let y_true: Vec<usize> = (0..rows.len()).map(|i| ((seed as usize).wrapping_add(i * 7)) % k).collect();
        prop_assert!(eval::log_loss(&y_true, &flat, k).unwrap() >= 0.0);
        let decisions = eval::bayes_decisions(&flat, &CostMatrix::zero_one(k).unwrap()).unwrap();
        for (row, &d) in rows.iter().zip(&decisions) {
            let best = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            prop_assert_eq!(row.iter().position(|&p| p == best), Some(d));
        }
    }

    #[test]
    fn f32_and_f64_inputs_agree((labels, scores) in scored_binary()) {
        // Grid values k/20 differ between f32 and f64, so compare the f32 input
        // with its exact f64 widening.
        let narrow: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
        let wide: Vec<f64> = narrow.iter().map(|&s| f64::from(s)).collect();
        prop_assert_eq!(eval::roc_auc(&labels, &narrow).unwrap(), eval::roc_auc(&labels, &wide).unwrap());
        prop_assert_eq!(
            eval::precision_recall_curve(&labels, &narrow).unwrap(),
            eval::precision_recall_curve(&labels, &wide).unwrap()
        );
        prop_assert_eq!(eval::log_loss_binary(&labels, &narrow).unwrap(), eval::log_loss_binary(&labels, &wide).unwrap());
        prop_assert_eq!(eval::mse(&narrow, &narrow[..]).unwrap(), 0.0);
    }
}
