//! Default training settings per shipped data set, chosen on validation splits (the mean
//! validation loss over split seeds 0–4), never on a test split: MNIST gets a wide two-layer
//! MLP with dropout for a dozen epochs; the small sets get one small hidden layer, dropout and
//! many epochs; the regression sets also stop early on their validation loss. A CNN
//! (`--model cnn`) gets two convolution blocks of 32 and 64 channels and one hidden layer of
//! 128 units (the shape of the `cnn-mnist` benchmark) with the data set's other settings, and
//! on MNIST dropout 0.25 and 5 epochs — set beforehand, not tuned on any split (they reached
//! 99.27% on the official test set: README).

use tapegrad_data::{BatchSize, Shipped, Task};

use super::args::{ModelArg, OptimizerArg, ScheduleArg};

/// The settings `tapegrad train` uses for whatever the user does not give.
#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    /// A CNN's convolution channels per block (unused by an MLP).
    pub channels: Vec<usize>,
    /// Hidden layer widths.
    pub hidden: Vec<usize>,
    /// Hidden activation name.
    pub activation: &'static str,
    /// The optimizer.
    pub optimizer: OptimizerArg,
    /// Its learning rate.
    pub lr: f64,
    /// The learning-rate schedule.
    pub schedule: ScheduleArg,
    /// Samples per step.
    pub batch_size: BatchSize,
    /// Epochs.
    pub epochs: usize,
    /// Weight decay.
    pub weight_decay: f64,
    /// Dropout probability.
    pub dropout: f64,
    /// Early-stopping patience (0: off).
    pub patience: usize,
    /// Validation fraction of the split.
    pub validation_fraction: f64,
    /// Test fraction of the split.
    pub test_fraction: f64,
}

/// A batch size known to be non-zero.
fn fixed(size: usize) -> BatchSize {
    BatchSize::fixed(size).unwrap_or(BatchSize::Full)
}

/// The defaults of a `model` for a shipped set, or for a user's data of the given task.
pub fn defaults(model: ModelArg, dataset: Option<Shipped>, task: Task) -> Defaults {
    let mlp = mlp_defaults(dataset, task);
    match (model, dataset) {
        (ModelArg::Mlp, _) => mlp,
        (ModelArg::Cnn, Some(Shipped::Mnist)) => Defaults {
            channels: vec![32, 64],
            hidden: vec![128],
            epochs: CNN_MNIST_EPOCHS,
            dropout: 0.25,
            ..mlp
        },
        (ModelArg::Cnn, _) => Defaults { channels: vec![32, 64], hidden: vec![128], ..mlp },
    }
}

/// The CNN's epochs on MNIST.
const CNN_MNIST_EPOCHS: usize = 5;

/// An MLP's defaults for a shipped set, or for a user's data of the given task.
fn mlp_defaults(dataset: Option<Shipped>, task: Task) -> Defaults {
    let base = Defaults {
        channels: Vec::new(),
        hidden: vec![64],
        activation: "relu",
        optimizer: OptimizerArg::Adam,
        lr: 1e-3,
        schedule: ScheduleArg::Cosine,
        batch_size: fixed(32),
        epochs: 50,
        weight_decay: 0.0,
        dropout: 0.0,
        patience: 10,
        validation_fraction: 0.1,
        test_fraction: 0.2,
    };
    match dataset {
        Some(Shipped::Mnist) => Defaults {
            hidden: vec![512, 256],
            batch_size: fixed(128),
            epochs: 12,
            dropout: 0.2,
            patience: 0,
            ..base
        },
        Some(Shipped::Digits) => {
            Defaults { hidden: vec![256], lr: 2e-3, epochs: 100, dropout: 0.2, patience: 0, ..base }
        }
        Some(Shipped::Iris) => Defaults {
            hidden: vec![16],
            activation: "tanh",
            lr: 1e-2,
            batch_size: fixed(16),
            epochs: 100,
            patience: 0,
            ..base
        },
        Some(Shipped::BreastCancer) => Defaults {
            hidden: vec![64],
            lr: 3e-3,
            epochs: 80,
            weight_decay: 1e-4,
            dropout: 0.3,
            patience: 0,
            ..base
        },
        Some(Shipped::Wine) => Defaults {
            hidden: vec![64],
            batch_size: fixed(16),
            epochs: 80,
            dropout: 0.2,
            patience: 0,
            ..base
        },
        Some(Shipped::Diabetes) => Defaults {
            hidden: vec![16],
            epochs: 300,
            weight_decay: 1e-3,
            dropout: 0.3,
            patience: 30,
            validation_fraction: 0.15,
            ..base
        },
        Some(Shipped::WineQuality) => {
            Defaults { hidden: vec![128, 64], epochs: 100, dropout: 0.1, patience: 20, ..base }
        }
        None => match task {
            Task::Classification | Task::Regression => base,
        },
    }
}

/// The usual learning rate of an optimizer when the user picks one other than the data set's
/// default and gives no --lr.
pub fn lr_for(optimizer: OptimizerArg) -> f64 {
    match optimizer {
        OptimizerArg::Sgd => 0.1,
        OptimizerArg::Momentum | OptimizerArg::Nesterov => 0.05,
        OptimizerArg::Rmsprop | OptimizerArg::Adam | OptimizerArg::Adamw => 1e-3,
        OptimizerArg::Adagrad => 1e-2,
    }
}
