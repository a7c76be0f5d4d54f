//! `tapegrad lesson ridge` (tutorial §10): a degree-12 polynomial, far too flexible for 40 samples,
//! tamed by ridge regression `‖Xβ − y‖² + λ‖β‖²`; λ is swept over nine decades and chosen on
//! the validation set, and only the chosen model is scored on the test set.

use std::path::Path;

use nn::closed_form::{Intercept, ridge};
use nn::poly::powers;

use super::super::args::LessonCommon;
use super::super::error::Result;
use plotters::prelude::SeriesLabelPosition;

use super::super::plots::{Chart, Series, Style, color, line_chart};
use super::{OneFeature, diabetes_bmi, explain, linspace, prepare_out, rmse};

/// The polynomial degree: enough capacity to over-fit badly without regularisation.
const DEGREE: usize = 12;
/// Training samples kept, as in the capacity lesson.
const TRAIN_SAMPLES: usize = 40;

/// Ridge's predictions at `x` for penalty `lambda` (the intercept is not penalised).
fn fit_predict(data: &OneFeature, lambda: f64, x: &[f64]) -> Result<Vec<f64>> {
    let model = ridge(&powers(&data.x_train, DEGREE, false)?, &data.y_train, lambda, Intercept::Fit)?;
    Ok(model.predict(&powers(x, DEGREE, false)?)?)
}

/// Runs the lesson, writing `ridge.png` and `ridge_fits.png` into `dir`.
pub fn run(common: &LessonCommon, dir: &Path) -> Result<()> {
    explain(
        common,
        "Regularisation (tutorial §10). A degree-12 polynomial of body-mass index fitted to 40 diabetes\n\
         patients over-fits. Ridge regression adds λ‖β‖² to the squared error, which pulls the\n\
         coefficients towards 0 and so limits the model's capacity without changing its form\n\
         (the intercept is not penalised). λ is a choice the training data cannot make — on the\n\
         training samples λ = 0 always looks best — so it is chosen on a validation set the fit\n\
         never saw, and the test set is used once, at the end, for the chosen λ.",
    );
    prepare_out(dir)?;
    let data = diabetes_bmi(common.seed, TRAIN_SAMPLES)?;
    // λ = 0 (plain least squares) first, then 1e-6 … 1e3, four per decade.
    let lambdas: Vec<f64> =
        std::iter::once(0.0).chain((0..=36).map(|i| 10f64.powf(-6.0 + f64::from(i) * 0.25))).collect();
    let mut rows = Vec::new();
    for &lambda in &lambdas {
        let train = rmse(&data.y_train, &fit_predict(&data, lambda, &data.x_train)?)?;
        let validation = rmse(&data.y_validation, &fit_predict(&data, lambda, &data.x_validation)?)?;
        rows.push((lambda, train, validation));
    }
    say!("        λ  train RMSE  validation RMSE");
    // λ = 0, then one line per decade.
    for (lambda, train, validation) in rows.iter().filter(|r| r.0 == 0.0 || r.0.log10().fract().abs() < 1e-9)
    {
        say!("{lambda:>9.0e}  {train:>10.2}  {validation:>15.2}");
    }
    let Some(&(best, best_train, best_validation)) = rows.iter().min_by(|a, b| a.2.total_cmp(&b.2)) else {
        return Ok(());
    };
    let test_best = rmse(&data.y_test, &fit_predict(&data, best, &data.x_test)?)?;
    let test_plain = rmse(&data.y_test, &fit_predict(&data, 0.0, &data.x_test)?)?;
    say!(
        "\nchosen on validation: λ = {best:.2e} (train RMSE {best_train:.2}, validation {best_validation:.2}); \
         test RMSE {test_best:.2}, against {test_plain:.2} for plain least squares (λ = 0)"
    );

    let swept: Vec<&(f64, f64, f64)> = rows.iter().filter(|r| r.0 > 0.0).collect();
    let chart = Chart {
        title: format!("Ridge, degree {DEGREE}: RMSE against λ"),
        x_label: "λ".into(),
        y_label: "RMSE (disease progression)".into(),
        log_x: true,
        log_y: true,
        y_range: None,
        legend: SeriesLabelPosition::UpperMiddle,
    };
    line_chart(
        &dir.join("ridge.png"),
        &chart,
        &[
            Series {
                name: "train".into(),
                points: swept.iter().map(|r| (r.0, r.1)).collect(),
                color: color(0),
                style: Style::LinePoints,
            },
            Series {
                name: "validation".into(),
                points: swept.iter().map(|r| (r.0, r.2)).collect(),
                color: color(1),
                style: Style::LinePoints,
            },
            Series {
                name: format!("chosen λ = {best:.1e}"),
                points: vec![
                    (best.max(1e-6), best_train.min(best_validation) * 0.9),
                    (best.max(1e-6), best_validation * 1.1),
                ],
                color: color(3),
                style: Style::Dashed,
            },
        ],
    )?;

    let grid = linspace(-1.0, 1.0, 200);
    let mut series = vec![Series {
        name: "training samples".into(),
        points: data.x_train.iter().copied().zip(data.y_train.iter().copied()).collect(),
        color: color(0),
        style: Style::Points,
    }];
    for (index, (name, lambda)) in [
        ("λ = 0 (least squares)".to_string(), 0.0),
        (format!("chosen λ = {best:.1e}"), best),
        ("λ = 1e3".to_string(), 1e3),
    ]
    .into_iter()
    .enumerate()
    {
        let curve = fit_predict(&data, lambda, &grid)?;
        series.push(Series {
            name,
            points: grid.iter().copied().zip(curve).collect(),
            color: color(index + 1),
            style: Style::Line,
        });
    }
    let (lo, hi) =
        data.y_train.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| (lo.min(y), hi.max(y)));
    let chart = Chart {
        title: format!("Ridge, degree {DEGREE}: fits"),
        x_label: data.x_name.clone(),
        y_label: data.y_name.clone(),
        log_x: false,
        log_y: false,
        y_range: Some((lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo))),
        legend: SeriesLabelPosition::UpperLeft,
    };
    line_chart(&dir.join("ridge_fits.png"), &chart, &series)?;
    say!("Wrote ridge.png and ridge_fits.png in {}", dir.display());
    Ok(())
}
