//! `tapegrad lesson gd-variants` (tutorial §7): batch, stochastic and mini-batch gradient descent,
//! momentum, RMSprop and Adam training the same linear model on the same real data from the
//! same starting point; the training loss after each epoch, against epochs and against wall
//! time, with the exact least-squares optimum as the floor every method is heading for.

use std::path::Path;
use std::time::Instant;

use nn::closed_form::{Intercept, Matrix, least_squares};
use optim::{AdamConfig, HyperParams, RmspropConfig, SgdConfig, StepParams};
use tapegrad_data::{BatchOrder, BatchSize, SplitConfig, Targets};
use tensor_core::Tensor;

use super::super::args::{LessonCommon, LossArg, ModelArg};
use super::super::config::{DataSource, LossSpec};
use super::super::error::Result;
use super::super::model::{DropoutKey, ModelSpec, Network};
use plotters::prelude::SeriesLabelPosition;

use super::super::plots::{Chart, Series, Style, color, line_charts};
use super::super::prepare::prepare;
use super::super::train::loss_of;
use super::{explain, prepare_out};

/// One contender.
struct Variant {
    name: &'static str,
    hyper: HyperParams,
    batch_size: BatchSize,
}

fn fixed(size: usize) -> BatchSize {
    BatchSize::fixed(size).unwrap_or(BatchSize::Full)
}

/// Runs the lesson, writing `gd_variants.png` into `dir`.
pub fn run(common: &LessonCommon, dir: &Path) -> Result<()> {
    explain(
        common,
        "Gradient-descent variants (tutorial §7). One problem — a linear model of the diabetes data's ten\n\
         standardised features, trained by mean squared error on standardised targets — and one\n\
         starting point for every method. Batch gradient descent takes one exact step per epoch;\n\
         stochastic gradient descent takes one noisy step per sample; mini-batches (32 samples) sit\n\
         between. Momentum accumulates past gradients to roll through shallow directions; RMSprop\n\
         divides each coordinate's step by a running root-mean-square of its gradients; Adam does\n\
         both, with bias correction. The curves show how far the mean squared error on all training\n\
         samples still is above the least-squares optimum — computed in closed form, so we know\n\
         exactly where every method is heading — after each epoch; the wall-time panel counts\n\
         training steps only.",
    );
    prepare_out(dir)?;
    let source = DataSource::Shipped { name: "diabetes".into() };
    let split =
        SplitConfig { validation_fraction: 0.1, test_fraction: 0.2, seed: common.seed, stratify: false };
    let prepared = prepare(&source, &split)?;
    let train = &prepared.train;
    let epochs = common.epochs.unwrap_or(40).max(1);
    let n_features = train.n_features();
    let Targets::Values(targets) = train.targets() else {
        return Ok(());
    };
    let optimum = {
        let x = Matrix::new(
            train.n_samples(),
            n_features,
            train.features().iter().map(|&v| f64::from(v)).collect(),
        )?;
        let y: Vec<f64> = targets.iter().map(|&v| f64::from(v)).collect();
        let fitted = least_squares(&x, &y, Intercept::Fit)?.predict(&x)?;
        y.iter().zip(&fitted).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / y.len() as f64
    };
    let variants = [
        Variant {
            name: "batch GD (lr 0.1)",
            hyper: HyperParams::Sgd(SgdConfig::new(0.1)),
            batch_size: BatchSize::Full,
        },
        Variant {
            name: "stochastic GD (batch 1, lr 0.002)",
            hyper: HyperParams::Sgd(SgdConfig::new(0.002)),
            batch_size: fixed(1),
        },
        Variant {
            name: "mini-batch GD (32, lr 0.05)",
            hyper: HyperParams::Sgd(SgdConfig::new(0.05)),
            batch_size: fixed(32),
        },
        Variant {
            name: "momentum 0.9 (32, lr 0.01)",
            hyper: HyperParams::Sgd(SgdConfig::new(0.01).momentum(0.9)),
            batch_size: fixed(32),
        },
        Variant {
            name: "RMSprop (32, lr 0.01)",
            hyper: HyperParams::Rmsprop(RmspropConfig::new(0.01)),
            batch_size: fixed(32),
        },
        Variant {
            name: "Adam (32, lr 0.05)",
            hyper: HyperParams::Adam(AdamConfig::new(0.05)),
            batch_size: fixed(32),
        },
    ];
    let spec = ModelSpec {
        inputs: n_features,
        hidden: Vec::new(),
        outputs: 1,
        activation: "identity".into(),
        dropout: 0.0,
        kind: ModelArg::Mlp,
        conv: None,
    };
    let loss = LossSpec { kind: LossArg::Mse, huber_delta: 1.0, label_smoothing: 0.0 };
    let full_loss = |network: &Network| -> Result<f64> {
        let outputs = network.predict(train.features())?;
        Ok(outputs.iter().zip(targets).map(|(p, y)| f64::from(p - y).powi(2)).sum::<f64>()
            / targets.len() as f64)
    };
    let mut by_epoch = Vec::new();
    let mut by_time = Vec::new();
    say!("{:<36} {:>11} {:>12} {:>10}", "method", "steps/epoch", "final MSE", "seconds");
    for (index, variant) in variants.iter().enumerate() {
        let network = Network::new(&spec, common.seed)?;
        let params = network.parameter_list();
        let mut optimizer = optim::build::<f32>(variant.hyper)?;
        let start = full_loss(&network)?;
        let mut epoch_points = vec![(0.0, start)];
        let mut time_points = vec![(0.0, start)];
        let mut seconds = 0.0;
        let mut steps = 0;
        for epoch in 0..epochs {
            let began = Instant::now();
            let order = BatchOrder::Shuffled { seed: common.seed, epoch: epoch as u64 };
            for (step, batch) in train.batches(variant.batch_size, order).enumerate() {
                let x = Tensor::from_vec(batch.features, &[batch.n_samples, n_features])?;
                let key = DropoutKey { seed: common.seed, epoch: epoch as u64, step: step as u64 };
                let value = loss_of(&loss, &network.forward_train(&x, key)?, &batch.targets)?;
                optimizer.step_params(&params, &value.backward()?)?;
                steps += 1;
            }
            seconds += began.elapsed().as_secs_f64();
            let mse = full_loss(&network)?;
            epoch_points.push(((epoch + 1) as f64, mse));
            time_points.push((seconds, mse));
        }
        let last = epoch_points.last().map_or(start, |p| p.1);
        say!("{:<36} {:>11} {:>12.4} {:>10.3}", variant.name, steps / epochs, last, seconds);
        // The gap to the optimum, floored where f32 training meets f64 round-off.
        let excess = |points: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
            points.into_iter().map(|(x, mse)| (x, (mse - optimum).max(1e-7))).collect()
        };
        by_epoch.push(Series {
            name: variant.name.into(),
            points: excess(epoch_points),
            color: color(index),
            style: Style::Line,
        });
        // The start (time 0) cannot go on a log axis; every method starts from the same loss.
        let timed: Vec<(f64, f64)> = excess(time_points).into_iter().filter(|p| p.0 > 0.0).collect();
        by_time.push(Series {
            name: variant.name.into(),
            points: timed,
            color: color(index),
            style: Style::Line,
        });
    }
    say!("least-squares optimum (closed form):  {optimum:.4}");
    let chart = |x_label: &str, title: &str, log_x: bool| Chart {
        title: title.into(),
        x_label: x_label.into(),
        y_label: "training MSE − least-squares optimum".into(),
        log_x,
        log_y: true,
        y_range: None,
        legend: SeriesLabelPosition::UpperRight,
    };
    line_charts(
        &dir.join("gd_variants.png"),
        &[
            (chart("epoch", "Excess loss against epochs", false), by_epoch),
            (
                chart(
                    "wall time of the training steps (s, log scale)",
                    "Excess loss against wall time",
                    true,
                ),
                by_time,
            ),
        ],
    )?;
    say!("Wrote gd_variants.png in {}", dir.display());
    Ok(())
}
