//! Batch, mini-batch and stochastic gradient descent (tutorial §7.1–7.3) are one
//! update — `Sgd` on the mean-squared-error gradient of a batch — with batch
//! sizes N, B and 1. Shown on a real problem: linear regression on the
//! diabetes data (442 patients, 10 standardised features; `tests/data/`).
//!
//! What the tutorial describes, measured: all three approach the least-squares
//! optimum; batch GD's loss falls smoothly (monotonically, for this convex
//! problem), while the smaller the batch, the more the loss fluctuates from
//! step to step — measured as the standard deviation of step-to-step changes.

use optim::{Optimizer, Schedule, Sgd, SgdConfig};

const DATA_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

/// Standardised features (rows = samples) and standardised target.
struct Data {
    x: Vec<Vec<f64>>,
    y: Vec<f64>,
}

fn read_rows(file: &str) -> Vec<Vec<f64>> {
    let path = format!("{DATA_DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split_whitespace()
                .map(|field| field.parse().unwrap_or_else(|e| panic!("{path}: bad number {field:?}: {e}")))
                .collect()
        })
        .collect()
}

/// z-scores each column, so one learning rate suits every feature.
fn standardise(columns: &mut [Vec<f64>]) {
    for column in columns {
        let n = column.len() as f64;
        let mean = column.iter().sum::<f64>() / n;
        let std = (column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        column.iter_mut().for_each(|v| *v = (*v - mean) / std);
    }
}

fn load_diabetes() -> Data {
    let rows = read_rows("diabetes_data_raw.csv");
    let target: Vec<f64> = read_rows("diabetes_target.csv").into_iter().map(|row| row[0]).collect();
    assert_eq!(rows.len(), target.len(), "one target per sample");
    let features = rows[0].len();
    assert!(rows.iter().all(|row| row.len() == features), "ragged rows");
    let mut columns: Vec<Vec<f64>> = (0..features).map(|j| rows.iter().map(|row| row[j]).collect()).collect();
    standardise(&mut columns);
    let mut y = vec![target];
    standardise(&mut y);
    let x = (0..rows.len()).map(|i| columns.iter().map(|column| column[i]).collect()).collect();
    Data { x, y: y.remove(0) }
}

/// Mean squared error of `ŷ = x·w + b` over the samples `batch`.
fn loss(data: &Data, w: &[f64], b: f64, batch: &[usize]) -> f64 {
    let sum: f64 = batch.iter().map(|&i| (dot(&data.x[i], w) + b - data.y[i]).powi(2)).sum();
    sum / batch.len() as f64
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gradient of [`loss`]: `(2/B)·Σ r·x` and `(2/B)·Σ r`, `r = ŷ − y`.
fn gradient(data: &Data, w: &[f64], b: f64, batch: &[usize]) -> (Vec<f64>, f64) {
    let mut grad_w = vec![0.0; w.len()];
    let mut grad_b = 0.0;
    let scale = 2.0 / batch.len() as f64;
    for &i in batch {
        let residual = dot(&data.x[i], w) + b - data.y[i];
        for (g, x) in grad_w.iter_mut().zip(&data.x[i]) {
            *g += scale * residual * x;
        }
        grad_b += scale * residual;
    }
    (grad_w, grad_b)
}

/// A seeded permutation (SplitMix64 driving Fisher–Yates), so the test needs
/// no RNG crate and is the same on every platform.
fn shuffle(indices: &mut [usize], state: &mut u64) {
    for i in (1..indices.len()).rev() {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        indices.swap(i, (z % (i as u64 + 1)) as usize);
    }
}

/// What one run recorded.
struct Trace {
    /// Full-data loss after each update.
    full_loss: Vec<f64>,
    /// Loss of each update's own batch, before the update (a training loop's loss curve).
    batch_loss: Vec<f64>,
}

/// The one training loop for all three variants: shuffle, cut into batches of
/// `batch_size`, and take an `Sgd` step on each batch's gradient, with the
/// learning rate `schedule` gives each epoch.
fn train(data: &Data, batch_size: usize, epochs: usize, schedule: &Schedule) -> Trace {
    let mut sgd = Sgd::<f64>::new(SgdConfig::new(schedule.lr_at(0))).expect("valid config");
    let mut w = vec![0.0; data.x[0].len()];
    let mut b = [0.0];
    let mut order: Vec<usize> = (0..data.y.len()).collect();
    let mut rng = 2024;
    let mut trace = Trace { full_loss: Vec::new(), batch_loss: Vec::new() };
    for epoch in 0..epochs {
        schedule.apply(epoch, &mut sgd).expect("valid lr");
        shuffle(&mut order, &mut rng);
        for batch in order.chunks(batch_size) {
            trace.batch_loss.push(loss(data, &w, b[0], batch));
            let (grad_w, grad_b) = gradient(data, &w, b[0], batch);
            sgd.step_slices(&mut [&mut w, &mut b], &[Some(&grad_w), Some(&[grad_b])]).expect("valid step");
            trace.full_loss.push(loss(data, &w, b[0], &order));
        }
    }
    trace
}

/// Standard deviation of the changes between consecutive values.
fn std_of_changes(values: &[f64]) -> f64 {
    let changes: Vec<f64> = values.windows(2).map(|pair| pair[1] - pair[0]).collect();
    let mean = changes.iter().sum::<f64>() / changes.len() as f64;
    (changes.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / changes.len() as f64).sqrt()
}

/// The least-squares optimum's loss, from the normal equations `AᵀA β = Aᵀy`
/// (A = [X, 1]) by Cholesky — the reference the descents should approach.
fn least_squares_loss(data: &Data) -> f64 {
    let rows: Vec<Vec<f64>> = data.x.iter().map(|x| x.iter().copied().chain([1.0]).collect()).collect();
    let k = rows[0].len();
    let mut gram = vec![vec![0.0; k]; k];
    let mut rhs = vec![0.0; k];
    for (row, y) in rows.iter().zip(&data.y) {
        for i in 0..k {
            rhs[i] += row[i] * y;
            for j in 0..k {
                gram[i][j] += row[i] * row[j];
            }
        }
    }
    // Cholesky gram = L·Lᵀ, then two triangular solves.
    let mut l = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in 0..=i {
            let s = gram[i][j] - (0..j).map(|m| l[i][m] * l[j][m]).sum::<f64>();
            l[i][j] = if i == j { s.sqrt() } else { s / l[j][j] };
        }
    }
    let mut z = vec![0.0; k];
    for i in 0..k {
        z[i] = (rhs[i] - (0..i).map(|m| l[i][m] * z[m]).sum::<f64>()) / l[i][i];
    }
    let mut beta = vec![0.0; k];
    for i in (0..k).rev() {
        beta[i] = (z[i] - (i + 1..k).map(|m| l[m][i] * beta[m]).sum::<f64>()) / l[i][i];
    }
    let all: Vec<usize> = (0..data.y.len()).collect();
    loss(data, &beta[..k - 1], beta[k - 1], &all)
}

/// With batch size N, one step is exactly full-batch gradient descent
/// `θ ← θ − η·∇L(θ)`; and the full gradient is the mean of the per-sample
/// (batch size 1) gradients — so the three variants are one update rule on
/// estimates of the same gradient.
#[test]
fn the_three_variants_are_one_update_rule() {
    let data = load_diabetes();
    let n = data.y.len();
    let all: Vec<usize> = (0..n).collect();
    let w0: Vec<f64> = (0..data.x[0].len()).map(|j| 0.1 * j as f64 - 0.3).collect();
    let b0 = 0.2;

    let (full_w, full_b) = gradient(&data, &w0, b0, &all);
    let mut mean_w = vec![0.0; w0.len()];
    let mut mean_b = 0.0;
    for i in 0..n {
        let (g_w, g_b) = gradient(&data, &w0, b0, &[i]);
        mean_w.iter_mut().zip(&g_w).for_each(|(m, g)| *m += g / n as f64);
        mean_b += g_b / n as f64;
    }
    for (a, b) in full_w.iter().chain([&full_b]).zip(mean_w.iter().chain([&mean_b])) {
        assert!((a - b).abs() < 1e-12, "full gradient {a} vs mean of per-sample gradients {b}");
    }

    let lr = 0.05;
    let mut sgd = Sgd::<f64>::new(SgdConfig::new(lr)).expect("valid config");
    let (mut w, mut b) = (w0.clone(), [b0]);
    sgd.step_slices(&mut [&mut w, &mut b], &[Some(&full_w), Some(&[full_b])]).expect("valid step");
    // Equal up to rounding: the optimizer fuses the multiply-add, as PyTorch does.
    let close = |after: f64, expected: f64| (after - expected).abs() <= 1e-15 * expected.abs().max(1.0);
    for ((after, before), g) in w.iter().zip(&w0).zip(&full_w) {
        assert!(close(*after, before - lr * g), "{after} vs {}", before - lr * g);
    }
    assert!(close(b[0], b0 - lr * full_b));
}

#[test]
fn batch_minibatch_and_stochastic_gd_on_diabetes() {
    let data = load_diabetes();
    let n = data.y.len();
    let optimum = least_squares_loss(&data);
    let epochs = 60;
    let constant = Schedule::constant(0.01).expect("valid");
    // Seed §7.2: SGD converges once the learning rate is slowly reduced.
    let decaying = Schedule::exponential(0.01, 0.93).expect("valid");
    let runs = [
        ("batch (B = N)", n, &constant),
        ("mini-batch (B = 32)", 32, &constant),
        ("stochastic (B = 1)", 1, &constant),
        ("stochastic, lr decay", 1, &decaying),
    ];
    println!("least-squares optimum: MSE {optimum:.5} (standardised target); lr 0.01, {epochs} epochs");
    let mut results = Vec::new();
    for (name, batch_size, schedule) in runs {
        let trace = train(&data, batch_size, epochs, schedule);
        let steps = trace.full_loss.len();
        let full_noise = std_of_changes(&trace.full_loss[steps / 2..]);
        let batch_noise = std_of_changes(&trace.batch_loss[steps / 2..]);
        let last = *trace.full_loss.last().expect("trained");
        let increases = trace.full_loss.windows(2).filter(|pair| pair[1] > pair[0]).count();
        println!(
            "{name:>21}: {steps:>5} steps, final MSE {last:.5}, full loss rose on {increases:>5} steps; \
             std of step-to-step change over the 2nd half: batch loss {batch_noise:.2e}, full loss {full_noise:.2e}"
        );
        results.push((batch_noise, full_noise, last, increases, steps));
    }
    let [batch, mini, sgd, sgd_decay] = results[..] else { unreachable!("four runs") };

    // The loss curve a training loop shows (each step's batch loss) is the
    // noisier the smaller the batch, by orders of magnitude.
    assert!(sgd.0 > 3.0 * mini.0 && mini.0 > 100.0 * batch.0, "batch-loss noise: {sgd:?} {mini:?} {batch:?}");
    // So is the loss on all the data after each update.
    assert!(sgd.1 > 10.0 * mini.1 && sgd.1 > 10.0 * batch.1, "full-loss noise: {sgd:?} {mini:?} {batch:?}");
    // Batch GD on this convex quadratic, with lr well below 2/λ_max, never
    // increases the loss; stochastic GD's loss goes up on a large share of steps.
    assert_eq!(batch.3, 0, "batch GD's loss should fall monotonically");
    assert!(sgd.3 > sgd.4 / 4, "SGD's loss should fluctuate");

    // Per epoch, more frequent updates get further: mini-batch ends near the
    // optimum while batch GD (only 60 updates) is still on its way down.
    assert!(mini.2 < optimum * 1.02, "mini-batch final {} vs optimum {optimum}", mini.2);
    assert!(batch.2 > mini.2 && batch.2 < 1.0, "batch GD final {}", batch.2);
    // At a constant lr, SGD hovers well above the optimum; decaying the lr
    // lets it settle close to it.
    assert!(sgd.2 > optimum * 1.05, "constant-lr SGD final {} vs optimum {optimum}", sgd.2);
    assert!(sgd_decay.2 < optimum * 1.01, "decayed-lr SGD final {} vs optimum {optimum}", sgd_decay.2);
}
