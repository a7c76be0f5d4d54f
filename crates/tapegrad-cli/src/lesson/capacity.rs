//! `tapegrad lesson capacity` (tutorial §9): least-squares polynomials of degree 0 to 15 fitted to
//! one real feature; training error keeps falling with the degree while the error on unseen
//! data first falls (under-fitting ends), then rises (over-fitting begins).

use std::path::Path;

use nn::closed_form::{ClosedFormError, Intercept, least_squares};
use nn::poly::powers;

use super::super::args::LessonCommon;
use super::super::error::Result;
use plotters::prelude::SeriesLabelPosition;

use super::super::plots::{Chart, Series, Style, color, line_chart};
use super::{OneFeature, diabetes_bmi, explain, linspace, prepare_out, rmse};

/// The highest degree tried.
const MAX_DEGREE: usize = 15;
/// Training samples kept: few enough that a flexible polynomial can chase their noise.
const TRAIN_SAMPLES: usize = 40;

/// A fitted polynomial's predictions at `x`.
fn fit_predict(
    data: &OneFeature,
    degree: usize,
    x: &[f64],
) -> std::result::Result<Vec<f64>, ClosedFormError> {
    let model = least_squares(&powers(&data.x_train, degree, true)?, &data.y_train, Intercept::None)?;
    model.predict(&powers(x, degree, true)?)
}

/// Runs the lesson, writing `capacity.png` and `capacity_fits.png` into `dir`.
pub fn run(common: &LessonCommon, dir: &Path) -> Result<()> {
    explain(
        common,
        "Model capacity (tutorial §9). We fit y ≈ β·[1, x, x², …, x^d] by least squares — solved with a\n\
         pivoted QR factorisation, not by inverting XᵀX — to one real feature: the body-mass index of\n\
         diabetes patients against their disease progression. Only 40 training samples are kept, so\n\
         a flexible model can chase their noise. The error on the training samples can only fall as\n\
         the degree d grows (each model contains the smaller ones); the error on unseen validation\n\
         samples falls while the model is too simple (under-fitting), then rises once it starts\n\
         fitting noise (over-fitting). The best degree is the one with the lowest validation RMSE.",
    );
    prepare_out(dir)?;
    let data = diabetes_bmi(common.seed, TRAIN_SAMPLES)?;
    let mut rows = Vec::new();
    for degree in 0..=MAX_DEGREE {
        let train = match fit_predict(&data, degree, &data.x_train) {
            Ok(prediction) => prediction,
            Err(ClosedFormError::RankDeficient { .. }) => {
                say!("degree {degree}: the design matrix is numerically rank deficient; stopping the sweep");
                break;
            }
            Err(e) => return Err(e.into()),
        };
        let validation = fit_predict(&data, degree, &data.x_validation)?;
        rows.push((degree, rmse(&data.y_train, &train)?, rmse(&data.y_validation, &validation)?));
    }
    say!("degree  train RMSE  validation RMSE");
    for (degree, train, validation) in &rows {
        say!("{degree:>6}  {train:>10.2}  {validation:>15.2}");
    }
    let Some(&(best, _, best_validation)) = rows.iter().min_by(|a, b| a.2.total_cmp(&b.2)) else {
        return Ok(());
    };
    let test = rmse(&data.y_test, &fit_predict(&data, best, &data.x_test)?)?;
    say!(
        "\nlowest validation RMSE: degree {best} ({best_validation:.2}); its test RMSE: {test:.2} \
         ({} training, {} validation, {} test samples)",
        data.x_train.len(),
        data.x_validation.len(),
        data.x_test.len()
    );

    let points = |pick: fn(&(usize, f64, f64)) -> f64| rows.iter().map(|r| (r.0 as f64, pick(r))).collect();
    let chart = Chart {
        title: "Capacity: RMSE against polynomial degree".into(),
        x_label: "degree".into(),
        y_label: "RMSE (disease progression)".into(),
        log_x: false,
        log_y: true,
        y_range: None,
        legend: SeriesLabelPosition::UpperMiddle,
    };
    line_chart(
        &dir.join("capacity.png"),
        &chart,
        &[
            Series {
                name: "train".into(),
                points: points(|r| r.1),
                color: color(0),
                style: Style::LinePoints,
            },
            Series {
                name: "validation".into(),
                points: points(|r| r.2),
                color: color(1),
                style: Style::LinePoints,
            },
        ],
    )?;

    let grid = linspace(-1.0, 1.0, 200);
    let mut series = vec![
        Series {
            name: "training samples".into(),
            points: data.x_train.iter().copied().zip(data.y_train.iter().copied()).collect(),
            color: color(0),
            style: Style::Points,
        },
        Series {
            name: "validation samples".into(),
            points: data.x_validation.iter().copied().zip(data.y_validation.iter().copied()).collect(),
            color: color(7),
            style: Style::FaintPoints,
        },
    ];
    let highest = rows.last().map_or(1, |r| r.0);
    let mut shown = vec![0, best, highest];
    shown.dedup();
    for (index, degree) in shown.into_iter().enumerate() {
        let curve = fit_predict(&data, degree, &grid)?;
        series.push(Series {
            name: format!("degree {degree}"),
            points: grid.iter().copied().zip(curve).collect(),
            color: color(index + 1),
            style: Style::Line,
        });
    }
    let (lo, hi) = data
        .y_train
        .iter()
        .chain(&data.y_validation)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &y| (lo.min(y), hi.max(y)));
    let chart = Chart {
        title: "Under- and over-fitting: polynomial fits".into(),
        x_label: data.x_name.clone(),
        y_label: data.y_name.clone(),
        log_x: false,
        log_y: false,
        y_range: Some((lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo))),
        legend: SeriesLabelPosition::UpperLeft,
    };
    line_chart(&dir.join("capacity_fits.png"), &chart, &series)?;
    say!("Wrote capacity.png and capacity_fits.png in {}", dir.display());
    Ok(())
}
