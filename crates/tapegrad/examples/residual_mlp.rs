//! A user-defined model trained end to end: a residual MLP written as custom `nn::Module`s,
//! classifying the breast-cancer data set (569 tumours, 30 features, malignant or benign) with
//! BCE from logits, an L2 penalty on the weights, dropout, plain mini-batch SGD written inline
//! with `Parameter::update`, and early stopping on a validation split.
//!
//! Run: `cargo run --release -p tapegrad --example residual_mlp [path/to/breast_cancer.csv]`.
//! The CSV's first line is `samples,features,class names...`; every other line is the features
//! followed by the class id.

use std::error::Error;
use tapegrad::nn::rand::rngs::StdRng;
use tapegrad::nn::rand::seq::SliceRandom;
use tapegrad::nn::rand::{Rng, SeedableRng};
use tapegrad::nn::regularization::{EarlyStop, EarlyStopping, StopMode};
use tapegrad::nn::{self, Activation, Dropout, Init, Linear, Module, Reduction, loss};
use tapegrad::tensor_core::{Element, Parameter, Tensor, no_grad};

type AnyResult<T> = Result<T, Box<dyn Error>>;

/// `y = x + Dropout(GELU(x·W₁ + b₁)·W₂ + b₂)`: the block learns a correction to its input, so a
/// deep stack starts close to the identity and trains easily.
struct ResidualBlock<T: Element> {
    expand: Linear<T>,
    project: Linear<T>,
    dropout: Dropout,
}

impl<T: Element> ResidualBlock<T> {
    fn new(width: usize, hidden: usize, dropout: f64, rng: &mut impl Rng) -> nn::Result<Self> {
        Ok(ResidualBlock {
            expand: Linear::new(width, hidden, Init::for_activation(Activation::Gelu), rng)?,
            // A small last layer keeps each block near the identity at the start.
            project: Linear::new(hidden, width, Init::XavierUniform { gain: 0.1 }, rng)?,
            dropout: Dropout::new(dropout, rng.random())?,
        })
    }
}

impl<T: Element> Module<T> for ResidualBlock<T> {
    fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let h = nn::activation::gelu(&self.expand.forward(x)?);
        let correction = self.dropout.forward(&self.project.forward(&h)?)?;
        Ok(x.add(&correction)?)
    }

    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        vec![
            ("expand".into(), &self.expand),
            ("project".into(), &self.project),
            ("dropout".into(), &self.dropout),
        ]
    }
}

/// Input projection, a stack of residual blocks, and a one-logit head.
struct ResidualMlp<T: Element> {
    input: Linear<T>,
    blocks: Vec<ResidualBlock<T>>,
    head: Linear<T>,
}

impl<T: Element> ResidualMlp<T> {
    fn new(features: usize, width: usize, depth: usize, rng: &mut impl Rng) -> nn::Result<Self> {
        Ok(ResidualMlp {
            input: Linear::new(features, width, Init::xavier_uniform(), rng)?,
            blocks: (0..depth)
                .map(|_| ResidualBlock::new(width, 2 * width, 0.1, rng))
                .collect::<nn::Result<_>>()?,
            head: Linear::new(width, 1, Init::xavier_uniform(), rng)?,
        })
    }
}

impl<T: Element> Module<T> for ResidualMlp<T> {
    fn forward(&self, x: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let mut h = self.input.forward(x)?;
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        self.head.forward(&h)
    }

    fn children(&self) -> Vec<(String, &dyn Module<T>)> {
        let mut children: Vec<(String, &dyn Module<T>)> = vec![("input".into(), &self.input)];
        for (i, block) in self.blocks.iter().enumerate() {
            children.push((format!("blocks.{i}"), block));
        }
        children.push(("head".into(), &self.head));
        children
    }
}

/// Features (one row per sample) and 0/1 labels.
struct Data {
    features: Vec<Vec<f64>>,
    labels: Vec<f64>,
}

fn load_csv(path: &str) -> AnyResult<Data> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| format!("{path} is empty"))?;
    let mut fields = header.split(',');
    let mut count = |what: &str| -> AnyResult<usize> {
        let field = fields.next().ok_or_else(|| format!("{path}: the header lacks the {what}"))?;
        Ok(field.trim().parse().map_err(|e| format!("{path}: header {what} {field:?}: {e}"))?)
    };
    let (samples, width) = (count("sample count")?, count("feature count")?);
    let mut data = Data { features: Vec::with_capacity(samples), labels: Vec::with_capacity(samples) };
    for (i, line) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let values: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{path} line {}: {e}", i + 2))?;
        if values.len() != width + 1 || values.iter().any(|v| !v.is_finite()) {
            return Err(format!("{path} line {}: expected {} finite numbers", i + 2, width + 1).into());
        }
        data.labels.push(values[width]);
        data.features.push(values[..width].to_vec());
    }
    if data.labels.len() != samples {
        return Err(format!("{path}: the header promises {samples} rows, found {}", data.labels.len()).into());
    }
    Ok(data)
}

/// Rows `rows` of the data as an `[n, features]` tensor standardised with `(mean, std)`, and
/// their labels as `[n, 1]`.
fn batch(data: &Data, rows: &[usize], scale: &[(f64, f64)]) -> AnyResult<(Tensor<f32>, Tensor<f32>)> {
    let x: Vec<f32> = rows
        .iter()
        .flat_map(|&r| data.features[r].iter().zip(scale).map(|(v, (m, s))| ((v - m) / s) as f32))
        .collect();
    let y: Vec<f32> = rows.iter().map(|&r| data.labels[r] as f32).collect();
    Ok((Tensor::from_vec(x, &[rows.len(), scale.len()])?, Tensor::from_vec(y, &[rows.len(), 1])?))
}

/// Mean loss and accuracy of the model on `rows`, in evaluation mode and without a tape.
fn evaluate(
    model: &ResidualMlp<f32>,
    data: &Data,
    rows: &[usize],
    scale: &[(f64, f64)],
) -> AnyResult<(f64, f64)> {
    model.eval();
    let (x, y) = batch(data, rows, scale)?;
    let (loss, correct) = no_grad(|| -> nn::Result<(f32, usize)> {
        let logits = model.forward(&x)?;
        let loss = loss::bce_with_logits(&logits, &y, Reduction::Mean)?.item()?;
        let correct =
            logits.as_slice().iter().zip(y.as_slice()).filter(|&(&z, &t)| (z > 0.0) == (t > 0.5)).count();
        Ok((loss, correct))
    })?;
    model.train(true);
    Ok((f64::from(loss), correct as f64 / rows.len() as f64))
}

fn main() -> AnyResult<()> {
    let default_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/sklearn/breast_cancer.csv");
    let path = std::env::args().nth(1).unwrap_or_else(|| default_path.to_string());
    let data = load_csv(&path)?;
    let features = data.features.first().map_or(0, Vec::len);

    // A seeded 60/20/20 split, and standardisation from the training rows only.
    let mut rng = StdRng::seed_from_u64(2024);
    let mut order: Vec<usize> = (0..data.labels.len()).collect();
    order.shuffle(&mut rng);
    let (n_train, n_val) = (order.len() * 6 / 10, order.len() * 2 / 10);
    let (train, rest) = order.split_at(n_train);
    let (val, test) = rest.split_at(n_val);
    let scale: Vec<(f64, f64)> = (0..features)
        .map(|j| {
            let n = train.len() as f64;
            let mean = train.iter().map(|&r| data.features[r][j]).sum::<f64>() / n;
            let var = train.iter().map(|&r| (data.features[r][j] - mean).powi(2)).sum::<f64>() / n;
            (mean, var.sqrt().max(1e-12))
        })
        .collect();

    let model = ResidualMlp::<f32>::new(features, 16, 2, &mut rng)?;
    let params: Vec<(String, Parameter<f32>)> = model.parameters();
    println!("residual MLP, {} parameters in {} tensors:", model.num_parameters(), params.len());
    for (name, p) in &params {
        println!("  {name:<24} {:?}", p.shape());
    }
    println!("data: {} train / {} validation / {} test rows from {path}", train.len(), val.len(), test.len());

    let (lr, weight_decay, batch_size, epochs) = (0.01f32, 1e-4, 32, 200);
    let mut stopper = EarlyStopping::new(15, 1e-4, StopMode::Min)?;
    let mut order = train.to_vec();
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for rows in order.chunks(batch_size) {
            let (x, y) = batch(&data, rows, &scale)?;
            let fit = loss::bce_with_logits(&model.forward(&x)?, &y, Reduction::Mean)?;
            let weights = params.iter().filter(|(n, _)| n.ends_with("weight")).map(|(_, p)| p);
            let objective = fit.add(&nn::l2_penalty(weights, weight_decay)?)?;
            let grads = objective.backward()?;
            // Plain SGD: θ ← θ − η·g, in place.
            for (_, p) in &params {
                if let Some(g) = grads.get_param(p) {
                    let g = g.as_slice();
                    p.update(|w| w.iter_mut().zip(g).for_each(|(w, g)| *w -= lr * g));
                }
            }
            total += f64::from(fit.item()?) * rows.len() as f64;
        }
        let train_loss = total / order.len() as f64;
        let (val_loss, val_acc) = evaluate(&model, &data, val, &scale)?;
        let decision = stopper.step(val_loss, &model)?;
        if epoch % 5 == 0 || decision == EarlyStop::Stop {
            println!(
                "epoch {epoch:>3}  train loss {train_loss:.4}  validation loss {val_loss:.4}  accuracy {:.1}%",
                100.0 * val_acc
            );
        }
        if decision == EarlyStop::Stop {
            println!("no validation improvement for 15 epochs: stopping");
            break;
        }
    }
    stopper.restore_best(&model)?;
    let (test_loss, test_acc) = evaluate(&model, &data, test, &scale)?;
    println!(
        "best epoch {:?} (validation loss {:.4}); test loss {test_loss:.4}, test accuracy {:.1}%",
        stopper.best_epoch(),
        stopper.best().unwrap_or(f64::NAN),
        100.0 * test_acc
    );
    Ok(())
}
