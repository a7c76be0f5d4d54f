//! Closed-form least squares, ridge and polynomial features checked against NumPy /
//! scikit-learn fixtures (`tests/data/closed_form_numpy.json`, made by
//! `scripts/gen_closed_form_fixtures.py`), plus error cases and normal-equation property tests.

use nn::closed_form::{ClosedFormError, Intercept, LinearModel, Matrix, least_squares, rank, ridge};
use nn::poly::{PolynomialFeatures, powers};
use proptest::prelude::*;
use serde_json::Value;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/closed_form_numpy.json");

fn fixture() -> Value {
    let text = std::fs::read_to_string(FIXTURE).expect("closed-form fixture is committed");
    serde_json::from_str(&text).expect("closed-form fixture is valid JSON")
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().expect("fixture array").iter().map(|v| v.as_f64().expect("fixture number")).collect()
}

fn matrix(value: &Value) -> Matrix {
    let shape: Vec<usize> = value["shape"]
        .as_array()
        .expect("fixture shape")
        .iter()
        .map(|v| v.as_u64().expect("fixture dim") as usize)
        .collect();
    Matrix::new(shape[0], shape[1], floats(&value["data"])).expect("fixture matrix")
}

/// Elementwise `|a − e| ≤ rtol·max(|e|, ‖e‖∞·1e-3)`: relative per element, with a floor so that a
/// coefficient that is nearly zero next to the others is not held to an impossible standard.
#[track_caller]
fn assert_close(what: &str, actual: &[f64], expected: &[f64], rtol: f64) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    let scale = expected.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let tolerance = rtol * e.abs().max(scale * 1e-3);
        assert!(
            (a - e).abs() <= tolerance,
            "{what}[{i}]: got {a}, NumPy {e} (difference {}, tolerance {tolerance})",
            (a - e).abs()
        );
    }
}

fn fit_fixture_case(case: &Value) -> LinearModel {
    let map = PolynomialFeatures::new(
        case["degree"].as_u64().expect("degree") as usize,
        case["include_bias"].as_bool().expect("include_bias"),
    )
    .expect("fixture degree is valid");
    let features = map.transform(&matrix(&case["x"])).expect("features");
    let intercept = if case["fit_intercept"].as_bool().expect("fit_intercept") {
        Intercept::Fit
    } else {
        Intercept::None
    };
    let y = floats(&case["y"]);
    match case["method"].as_str().expect("method") {
        "lstsq" => least_squares(&features, &y, intercept).expect("least squares fits"),
        "ridge" => {
            ridge(&features, &y, case["lambda"].as_f64().expect("lambda"), intercept).expect("ridge fits")
        }
        other => panic!("unknown fixture method {other}"),
    }
}

#[test]
fn fits_match_numpy() {
    let fixture = fixture();
    let cases = fixture["fits"].as_array().expect("fits");
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().expect("name");
        let model = fit_fixture_case(case);
        assert_close(
            &format!("{name} coefficients"),
            model.coefficients(),
            &floats(&case["coefficients"]),
            1e-8,
        );
        let intercept = case["intercept"].as_f64().expect("intercept");
        assert!(
            (model.intercept() - intercept).abs() <= 1e-8 * intercept.abs().max(1.0),
            "{name} intercept: got {}, NumPy {intercept}",
            model.intercept()
        );
        let map = PolynomialFeatures::new(
            case["degree"].as_u64().expect("degree") as usize,
            case["include_bias"].as_bool().expect("include_bias"),
        )
        .expect("degree");
        let test_features = map.transform(&matrix(&case["x_test"])).expect("features");
        assert_close(
            &format!("{name} predictions"),
            &model.predict(&test_features).expect("predict"),
            &floats(&case["predictions"]),
            1e-8,
        );
    }
}

#[test]
fn rank_deficient_cases_report_numpys_rank() {
    let fixture = fixture();
    for case in fixture["rank_deficient"].as_array().expect("rank_deficient") {
        let name = case["name"].as_str().expect("name");
        let x = matrix(&case["x"]);
        let y = floats(&case["y"]);
        let intercept = if case["fit_intercept"].as_bool().expect("fit_intercept") {
            Intercept::Fit
        } else {
            Intercept::None
        };
        let expected = ClosedFormError::RankDeficient {
            op: "least squares",
            rank: case["numpy_rank"].as_u64().expect("rank") as usize,
            columns: case["columns"].as_u64().expect("columns") as usize,
        };
        assert_eq!(least_squares(&x, &y, intercept), Err(expected), "case {name}");
        // Ridge with a real penalty has a unique answer for the same data.
        let model = ridge(&x, &y, 1e-3, intercept).expect("ridge is well posed");
        assert!(model.coefficients().iter().all(|v| v.is_finite()), "{name}");
    }
}

#[test]
fn polynomial_features_match_sklearn() {
    let fixture = fixture();
    for case in fixture["polynomial_features"].as_array().expect("polynomial_features") {
        let name = case["name"].as_str().expect("name");
        let map = PolynomialFeatures::new(
            case["degree"].as_u64().expect("degree") as usize,
            case["include_bias"].as_bool().expect("include_bias"),
        )
        .expect("degree");
        let x = matrix(&case["x"]);
        let expected = matrix(&case["output"]);
        let names: Vec<String> = case["names"]
            .as_array()
            .expect("names")
            .iter()
            .map(|v| v.as_str().expect("name").to_owned())
            .collect();
        assert_eq!(map.feature_names(x.cols()), names, "{name} names");
        assert_eq!(map.output_count(x.cols()), Ok(expected.cols()), "{name}");
        let out = map.transform(&x).expect("transform");
        assert_eq!((out.rows(), out.cols()), (expected.rows(), expected.cols()));
        assert_close(name, out.as_slice(), expected.as_slice(), 1e-13);
        if x.cols() == 1 {
            let column: Vec<f64> = x.iter_rows().map(|r| r[0]).collect();
            let single = powers(&column, map.degree(), map.include_bias()).expect("powers");
            assert_eq!(single, out, "{name}: powers() agrees with the general map");
        }
    }
}

#[test]
fn seeds_worked_example_degree_two() {
    // Seed §9: x = 2 becomes [1, 2, 4]; and y = 3 − x + 0.5x² is recovered exactly.
    assert_eq!(powers(&[2.0], 2, true).unwrap().as_slice(), &[1.0, 2.0, 4.0]);
    let xs = [-2.0, -1.0, 0.0, 1.0, 2.0, 3.0];
    let ys: Vec<f64> = xs.iter().map(|x| 3.0 - x + 0.5 * x * x).collect();
    let model = least_squares(&powers(&xs, 2, true).unwrap(), &ys, Intercept::None).unwrap();
    assert_close("coefficients", model.coefficients(), &[3.0, -1.0, 0.5], 1e-12);
    assert_eq!(model.intercept(), 0.0);
}

#[test]
fn ridge_approaches_least_squares_as_lambda_shrinks() {
    let fixture = fixture();
    let case = &fixture["fits"].as_array().expect("fits")[1];
    let features = PolynomialFeatures::new(case["degree"].as_u64().unwrap() as usize, false)
        .unwrap()
        .transform(&matrix(&case["x"]))
        .unwrap();
    let y = floats(&case["y"]);
    let exact = least_squares(&features, &y, Intercept::Fit).unwrap();
    let distance = |lambda: f64| {
        let model = ridge(&features, &y, lambda, Intercept::Fit).unwrap();
        model
            .coefficients()
            .iter()
            .zip(exact.coefficients())
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt()
    };
    let distances: Vec<f64> = [10.0, 1.0, 1e-2, 1e-4, 1e-6].map(distance).to_vec();
    for pair in distances.windows(2) {
        assert!(pair[1] < pair[0], "distances should shrink: {distances:?}");
    }
    let scale = exact.coefficients().iter().fold(0.0_f64, |m, v| m.max(v.abs()));
    assert!(distances[4] < 1e-6 * scale, "{distances:?}");
    // λ = 0 is least squares itself.
    assert_eq!(ridge(&features, &y, 0.0, Intercept::Fit).unwrap().coefficients(), exact.coefficients());
}

#[test]
fn ridge_does_not_penalise_the_intercept() {
    // Shifting y by a constant moves only the intercept, however large λ is.
    let x = Matrix::from_rows(&[[1.0], [2.0], [4.0], [7.0]]).unwrap();
    let y = [1.0, 3.0, 2.0, 5.0];
    let shifted: Vec<f64> = y.iter().map(|v| v + 1000.0).collect();
    let a = ridge(&x, &y, 50.0, Intercept::Fit).unwrap();
    let b = ridge(&x, &shifted, 50.0, Intercept::Fit).unwrap();
    assert!((a.coefficients()[0] - b.coefficients()[0]).abs() < 1e-12);
    assert!((b.intercept() - a.intercept() - 1000.0).abs() < 1e-9);
    assert_eq!(a.lambda(), 50.0);
}

#[test]
fn bad_input_gets_typed_errors() {
    let x = Matrix::from_rows(&[[1.0, 2.0], [3.0, 5.0], [4.0, 1.0]]).unwrap();
    let y = [1.0, 2.0, 3.0];
    assert_eq!(
        least_squares(&x, &[1.0, 2.0], Intercept::Fit),
        Err(ClosedFormError::TargetLength { op: "least squares", x_rows: 3, y_len: 2 })
    );
    let empty = Matrix::new(0, 2, Vec::new()).unwrap();
    assert_eq!(
        least_squares(&empty, &[], Intercept::None),
        Err(ClosedFormError::Empty { op: "least squares", rows: 0, cols: 2 })
    );
    let with_nan = Matrix::from_rows(&[[1.0, 2.0], [3.0, f64::NAN], [4.0, 1.0]]).unwrap();
    assert!(matches!(
        ridge(&with_nan, &y, 1.0, Intercept::Fit),
        Err(ClosedFormError::NonFinite { op: "ridge", what: "X", row: 1, col: 1, .. })
    ));
    assert!(matches!(
        least_squares(&x, &[1.0, f64::INFINITY, 0.0], Intercept::Fit),
        Err(ClosedFormError::NonFinite { what: "y", row: 1, .. })
    ));
    for lambda in [-1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(ridge(&x, &y, lambda, Intercept::None), Err(ClosedFormError::InvalidLambda { .. })));
    }
    let model = least_squares(&x, &y, Intercept::Fit).unwrap();
    assert_eq!(
        model.predict(&Matrix::column_vector(&[1.0])),
        Err(ClosedFormError::FeatureCount { expected: 2, actual: 1 })
    );
    assert!(matches!(model.predict(&with_nan), Err(ClosedFormError::NonFinite { op: "predict", .. })));
    assert_eq!(
        Matrix::new(2, 2, vec![1.0; 3]),
        Err(ClosedFormError::DataLength { rows: 2, cols: 2, expected: 4, actual: 3 })
    );
    assert_eq!(
        Matrix::from_rows(&[vec![1.0, 2.0], vec![1.0]]),
        Err(ClosedFormError::RaggedRows { row: 1, expected: 2, actual: 1 })
    );
    // One sample with an intercept: centring leaves nothing to fit.
    assert_eq!(
        least_squares(&Matrix::column_vector(&[3.0]), &[1.0], Intercept::Fit),
        Err(ClosedFormError::RankDeficient { op: "least squares", rank: 0, columns: 1 })
    );
}

#[test]
fn polynomial_feature_errors() {
    assert_eq!(PolynomialFeatures::new(0, false), Err(ClosedFormError::NoFeatures));
    assert_eq!(powers(&[1.0], 0, false), Err(ClosedFormError::NoFeatures));
    assert_eq!(
        powers(&[], 3, true),
        Err(ClosedFormError::Empty { op: "polynomial features", rows: 0, cols: 1 })
    );
    assert!(matches!(
        powers(&[1.0, f64::NAN], 2, true),
        Err(ClosedFormError::NonFinite { row: 1, col: 0, .. })
    ));
    match powers(&[1e200], 2, false) {
        Err(ClosedFormError::FeatureOverflow { term: 1, name, .. }) => assert_eq!(name, "x0^2"),
        other => panic!("expected FeatureOverflow, got {other:?}"),
    }
    let huge = PolynomialFeatures::new(usize::MAX / 2, true).unwrap();
    assert!(matches!(huge.output_count(1000), Err(ClosedFormError::TooManyFeatures { .. })));
    // Degree 0 with the bias is the constant model.
    let constant = powers(&[5.0, -2.0], 0, true).unwrap();
    assert_eq!((constant.rows(), constant.cols()), (2, 1));
    assert_eq!(constant.as_slice(), &[1.0, 1.0]);
}

#[test]
fn rank_matches_structure() {
    let x = Matrix::from_rows(&[[1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 2.0], [2.0, 0.0, 2.0]]).unwrap();
    assert_eq!(rank(&x), 2);
    let tiny_but_independent = Matrix::from_rows(&[[1e-200, 0.0], [0.0, 1e-200], [1e-200, 1e-200]]).unwrap();
    assert_eq!(rank(&tiny_but_independent), 2, "rank is scale invariant");
}

/// Random full-column-rank-ish problems: rows ≥ cols, entries in [−10, 10].
fn problem() -> impl Strategy<Value = (Matrix, Vec<f64>)> {
    (1usize..=5, 0usize..=8).prop_flat_map(|(cols, extra_rows)| {
        let rows = cols + extra_rows + 1;
        (
            proptest::collection::vec(-10.0..10.0_f64, rows * cols),
            proptest::collection::vec(-10.0..10.0_f64, rows),
        )
            .prop_map(move |(data, y)| (Matrix::new(rows, cols, data).unwrap(), y))
    })
}

/// `‖Xcᵀ(Xc·β − yc) + λβ‖∞` for the centred (if fitting an intercept) problem, and a scale for it.
fn normal_equation_residual(x: &Matrix, y: &[f64], model: &LinearModel) -> (f64, f64) {
    let predictions = model.predict(x).unwrap();
    let residuals: Vec<f64> = predictions.iter().zip(y).map(|(p, t)| p - t).collect();
    let beta = model.coefficients();
    let mut worst = 0.0_f64;
    let mut scale = 0.0_f64;
    for j in 0..x.cols() {
        let column: Vec<f64> = x.iter_rows().map(|r| r[j]).collect();
        // Σ residuals = 0 when an intercept is fitted, so Xᵀr equals the centred Xcᵀr.
        let gradient: f64 =
            column.iter().zip(&residuals).map(|(a, r)| a * r).sum::<f64>() + model.lambda() * beta[j];
        let magnitude: f64 = column.iter().zip(&residuals).map(|(a, r)| (a * r).abs()).sum::<f64>()
            + column.iter().zip(y).map(|(a, t)| (a * t).abs()).sum::<f64>()
            + model.lambda() * beta[j].abs();
        worst = worst.max(gradient.abs());
        scale = scale.max(magnitude);
    }
    (worst, scale.max(1.0))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ridge_satisfies_its_normal_equations(
        (x, y) in problem(),
        lambda in 1e-3..100.0_f64,
        fit_intercept in any::<bool>(),
    ) {
        let intercept = if fit_intercept { Intercept::Fit } else { Intercept::None };
        let model = ridge(&x, &y, lambda, intercept).unwrap();
        let (residual, scale) = normal_equation_residual(&x, &y, &model);
        prop_assert!(residual <= 1e-10 * scale, "residual {} at scale {}", residual, scale);
        if fit_intercept {
            let predictions = model.predict(&x).unwrap();
            let total: f64 = predictions.iter().zip(&y).map(|(p, t)| p - t).sum();
            let size: f64 = y.iter().map(|t| t.abs()).sum::<f64>().max(1.0);
            prop_assert!(total.abs() <= 1e-10 * size, "residuals sum to {}", total);
        }
    }

    #[test]
    fn least_squares_satisfies_its_normal_equations_or_reports_rank(
        (x, y) in problem(),
        fit_intercept in any::<bool>(),
    ) {
        let intercept = if fit_intercept { Intercept::Fit } else { Intercept::None };
        match least_squares(&x, &y, intercept) {
            Ok(model) => {
                let (residual, scale) = normal_equation_residual(&x, &y, &model);
                // Least squares has no λ to damp ill-conditioning, so allow for cond(X) in the
                // bound through a looser factor than ridge's.
                prop_assert!(residual <= 1e-8 * scale, "residual {} at scale {}", residual, scale);
            }
            // Only a fit with an intercept on as many rows as columns can lose rank from random
            // continuous data (centring removes one dimension); shrinking may also find exact ties.
            Err(ClosedFormError::RankDeficient { rank, columns, .. }) => {
                prop_assert!(rank < columns);
            }
            Err(other) => prop_assert!(false, "unexpected error {}", other),
        }
    }

    #[test]
    fn polynomial_columns_are_products_of_their_exponents(
        rows in proptest::collection::vec(proptest::collection::vec(-3.0..3.0_f64, 3), 1..4),
        degree in 0usize..4,
        include_bias in any::<bool>(),
    ) {
        prop_assume!(degree > 0 || include_bias);
        let map = PolynomialFeatures::new(degree, include_bias).unwrap();
        let x = Matrix::from_rows(&rows).unwrap();
        let out = map.transform(&x).unwrap();
        let exponents = map.exponents(3).unwrap();
        prop_assert_eq!(exponents.len(), out.cols());
        for (r, input) in rows.iter().enumerate() {
            for (c, powers) in exponents.iter().enumerate() {
                prop_assert!(powers.iter().sum::<usize>() <= degree);
                let expected: f64 = input.iter().zip(powers).map(|(v, &p)| v.powi(p as i32)).product();
                let got = out.get(r, c).unwrap();
                prop_assert!((got - expected).abs() <= 1e-12 * expected.abs().max(1.0));
            }
        }
    }
}
