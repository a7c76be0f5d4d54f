//! Models beyond the MLP (issue 16): a small MNIST CNN, one large convolution, a
//! character LSTM and a character transformer, built from `nn` modules and trained
//! with `optim`. `bench/torch_models.py` builds the same models in PyTorch under the
//! same parameter names, and [`save_initial_weights`] hands it our initial weights,
//! so both sides start from the same point on the same data.
//!
//! A measurement of a named model is `epochs` timed runs of `model_steps` steps each
//! (after `model_warmup` steps) over a few distinct batches built before timing and
//! cycled; a "sample" is one image, or one sequence of the char models.

use crate::error::BenchError;
use crate::{Job, Measurement, data};
use nn::rand::SeedableRng;
use nn::rand::rngs::StdRng;
use nn::{
    Conv2d, Embedding, Flatten, Init, LayerNorm, Linear, Lstm, MaxPool2d, Module, Reduction, TransformerBlock,
};
use optim::{Adam, AdamConfig, AdamW, AdamWConfig, Optimizer, Sgd, SgdConfig, StepParams};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tensor_core::{ConvOptions, Indices, Parameter, Tensor};

/// Distinct batches each named model cycles through.
const DATA_BATCHES: usize = 8;
/// Characters in the char models' vocabulary.
pub const VOCAB: usize = 65;
/// `lstm-char`: sequence length.
pub const LSTM_SEQ: usize = 32;
/// `lstm-char`: embedding width.
pub const LSTM_EMBED: usize = 64;
/// `lstm-char`: hidden size.
pub const LSTM_HIDDEN: usize = 128;
/// `gpt-char`: block (context) length.
pub const GPT_BLOCK: usize = 64;
/// `gpt-char`: embedding width.
pub const GPT_EMBED: usize = 64;
/// `gpt-char`: attention heads per block.
pub const GPT_HEADS: usize = 4;
/// `gpt-char`: transformer blocks.
pub const GPT_LAYERS: usize = 2;

/// What one configuration trains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Model {
    /// A ReLU MLP with these layer sizes, input first (`[784, 128, 10]`).
    Mlp(Vec<usize>),
    /// `cnn-mnist`: conv 1→32 3×3 → ReLU → max-pool 2 → conv 32→64 3×3 → ReLU →
    /// max-pool 2 → flatten (3136) → linear 128 → ReLU → linear 10; SGD lr 0.05; batch 64.
    CnnMnist,
    /// `conv2d-320`: one conv2d (3→16, 3×3, pad 1) forward and backward on a batch of two
    /// 320×320 images, loss = the sum of its output, no update.
    Conv2d320,
    /// `lstm-char`: embedding 65→64 → 1-layer LSTM (hidden 128) → linear 65; sequences
    /// of 32; Adam lr 3e-3; batch 32.
    LstmChar,
    /// `gpt-char`: the `char_gpt` example's transformer (2 blocks, 4 heads, 64 wide,
    /// block 64); AdamW lr 2e-3, betas (0.9, 0.99), weight decay 0.01; batch 32.
    GptChar,
}

/// The named models with their names, in the order `--models` lists them.
pub const NAMED: [(&str, Model); 4] = [
    ("cnn-mnist", Model::CnnMnist),
    ("conv2d-320", Model::Conv2d320),
    ("lstm-char", Model::LstmChar),
    ("gpt-char", Model::GptChar),
];

impl Model {
    /// The name in reports: `784-128-10` for an MLP, else the model's name (`cnn-mnist`).
    pub fn name(&self) -> String {
        match self {
            Model::Mlp(sizes) => crate::model_name(sizes),
            named => NAMED.iter().find(|(_, m)| m == named).map_or_else(String::new, |(n, _)| n.to_string()),
        }
    }

    /// The batch size a named model always runs with; `None` for an MLP (which runs
    /// with every `--batch-sizes` entry).
    pub fn fixed_batch_size(&self) -> Option<usize> {
        match self {
            Model::Mlp(_) => None,
            Model::CnnMnist => Some(64),
            Model::Conv2d320 => Some(2),
            Model::LstmChar | Model::GptChar => Some(32),
        }
    }
}

/// `cnn-mnist`. Field names are the PyTorch module's in `bench/torch_models.py`.
#[derive(nn::Module)]
#[module(element = f32)]
struct CnnMnist {
    conv1: Conv2d<f32>,
    conv2: Conv2d<f32>,
    pool: MaxPool2d,
    flatten: Flatten,
    fc1: Linear<f32>,
    fc2: Linear<f32>,
}

impl CnnMnist {
    fn new(rng: &mut StdRng) -> nn::Result<Self> {
        let pad = ConvOptions { padding: [1, 1], ..ConvOptions::default() };
        Ok(CnnMnist {
            conv1: Conv2d::new(1, 32, [3, 3], pad, true, rng)?,
            conv2: Conv2d::new(32, 64, [3, 3], pad, true, rng)?,
            pool: MaxPool2d::new([2, 2]),
            flatten: Flatten::default(),
            fc1: Linear::with_init(64 * 7 * 7, 128, Init::xavier_uniform(), Some(Init::Zeros), rng)?,
            fc2: Linear::with_init(128, 10, Init::xavier_uniform(), Some(Init::Zeros), rng)?,
        })
    }

    /// Logits (N, 10) for images (N, 1, 28, 28).
    fn logits(&self, x: &Tensor<f32>) -> nn::Result<Tensor<f32>> {
        let h = self.pool.forward(&self.conv1.forward(x)?.relu())?;
        let h = self.pool.forward(&self.conv2.forward(&h)?.relu())?;
        let h = self.fc1.forward(&self.flatten.forward(&h)?)?.relu();
        self.fc2.forward(&h)
    }
}

/// `conv2d-320`.
#[derive(nn::Module)]
#[module(element = f32)]
struct OneConv {
    conv: Conv2d<f32>,
}

/// `lstm-char`, as the `char_lstm` example builds it.
#[derive(nn::Module)]
#[module(element = f32)]
struct CharLstm {
    embedding: Embedding<f32>,
    lstm: Lstm<f32>,
    head: Linear<f32>,
}

/// `gpt-char`, as the `char_gpt` example builds it.
#[derive(nn::Module)]
#[module(element = f32)]
struct CharGpt {
    tok_emb: Embedding<f32>,
    pos_emb: Embedding<f32>,
    blocks: Vec<TransformerBlock<f32>>,
    ln_f: LayerNorm<f32>,
    head: Linear<f32>,
}

impl CharGpt {
    fn logits(&self, tokens: &Tensor<f32>) -> nn::Result<Tensor<f32>> {
        let steps = tokens.shape()[1];
        let positions = self.pos_emb.forward_indices(&Indices::from_vec((0..steps).collect()))?;
        let mut x = self.tok_emb.forward(tokens)?.add(&positions)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        self.head.forward(&self.ln_f.forward(&x)?)
    }
}

/// A built named model: its module, its optimizer (none for `conv2d-320`) and a loss.
enum Built {
    Cnn(CnnMnist),
    Conv(OneConv),
    Lstm(CharLstm),
    Gpt(CharGpt),
}

impl Built {
    fn new(model: &Model, seed: u64) -> Result<Self, BenchError> {
        let rng = &mut StdRng::seed_from_u64(seed);
        Ok(match model {
            Model::Mlp(_) => {
                return Err(BenchError::InvalidConfig { reason: "an MLP is not a named model".into() });
            }
            Model::CnnMnist => Built::Cnn(CnnMnist::new(rng)?),
            Model::Conv2d320 => Built::Conv(OneConv {
                conv: Conv2d::new(
                    3,
                    16,
                    [3, 3],
                    ConvOptions { padding: [1, 1], ..ConvOptions::default() },
                    true,
                    rng,
                )?,
            }),
            Model::LstmChar => Built::Lstm(CharLstm {
                embedding: Embedding::new(VOCAB, LSTM_EMBED, None, rng)?,
                lstm: Lstm::new(LSTM_EMBED, LSTM_HIDDEN, 1, true, rng)?,
                head: Linear::new(LSTM_HIDDEN, VOCAB, Init::xavier_uniform(), rng)?,
            }),
            Model::GptChar => Built::Gpt(CharGpt {
                tok_emb: Embedding::new(VOCAB, GPT_EMBED, None, rng)?,
                pos_emb: Embedding::new(GPT_BLOCK, GPT_EMBED, None, rng)?,
                blocks: (0..GPT_LAYERS)
                    .map(|_| TransformerBlock::new(GPT_EMBED, GPT_HEADS, rng))
                    .collect::<nn::Result<_>>()?,
                ln_f: LayerNorm::new(&[GPT_EMBED])?,
                head: Linear::new(GPT_EMBED, VOCAB, Init::xavier_uniform(), rng)?,
            }),
        })
    }

    fn module(&self) -> &dyn Module<f32> {
        match self {
            Built::Cnn(m) => m,
            Built::Conv(m) => m,
            Built::Lstm(m) => m,
            Built::Gpt(m) => m,
        }
    }

    fn optimizer(&self) -> Result<Option<Box<dyn Optimizer<f32>>>, BenchError> {
        Ok(match self {
            Built::Cnn(_) => Some(Box::new(Sgd::new(SgdConfig::new(0.05))?)),
            Built::Conv(_) => None,
            Built::Lstm(_) => Some(Box::new(Adam::new(AdamConfig::new(3e-3))?)),
            Built::Gpt(_) => {
                Some(Box::new(AdamW::new(AdamWConfig::new(2e-3).betas(0.9, 0.99).weight_decay(0.01))?))
            }
        })
    }

    /// The batch's loss, recorded on the tape.
    fn loss(&self, batch: &Batch) -> Result<Tensor<f32>, BenchError> {
        let char_loss = |logits: Tensor<f32>| -> Result<Tensor<f32>, BenchError> {
            let flat = logits.reshape(&[batch.labels.len(), VOCAB])?;
            Ok(nn::loss::cross_entropy(&flat, &batch.labels, Reduction::Mean)?)
        };
        match self {
            Built::Cnn(m) => {
                Ok(nn::loss::cross_entropy(&m.logits(&batch.x)?, &batch.labels, Reduction::Mean)?)
            }
            Built::Conv(m) => Ok(m.conv.forward(&batch.x)?.sum_all()),
            Built::Lstm(m) => char_loss(m.head.forward(&m.lstm.forward(&m.embedding.forward(&batch.x)?)?)?),
            Built::Gpt(m) => char_loss(m.logits(&batch.x)?),
        }
    }
}

/// Writes a named model's initial weights for `seed` (the ones `measure` starts
/// from) as safetensors under the module's parameter names, for PyTorch's side.
pub fn save_initial_weights(model: &Model, seed: u64, path: &Path) -> Result<(), BenchError> {
    Ok(nn::save_module(path, Built::new(model, seed)?.module())?)
}

/// One batch: inputs and, except for `conv2d-320`, class labels (row-major over
/// positions for the char models).
struct Batch {
    x: Tensor<f32>,
    labels: Vec<usize>,
}

/// The batches a named model cycles through, from the same generator as
/// `bench/torch_models.py`: images from the pixel stream, labels and characters from
/// the label stream (a char batch is `batch × (seq + 1)` characters; inputs are the
/// first `seq` columns, targets the last `seq`).
fn batches(model: &Model, batch: usize, seed: u64) -> Result<Vec<Batch>, BenchError> {
    let chars = |seq: usize| -> Result<Vec<Batch>, BenchError> {
        let row = seq + 1;
        let all = data::labels(seed, DATA_BATCHES * batch * row, VOCAB);
        (0..DATA_BATCHES)
            .map(|i| {
                let rows = all[i * batch * row..(i + 1) * batch * row].chunks(row);
                let x: Vec<f32> = rows.clone().flat_map(|r| r[..seq].iter().map(|&t| t as f32)).collect();
                let labels = rows.flat_map(|r| r[1..].iter().copied()).collect();
                Ok(Batch { x: Tensor::from_vec(x, &[batch, seq])?, labels })
            })
            .collect()
    };
    match model {
        Model::Mlp(_) => Err(BenchError::InvalidConfig { reason: "an MLP is not a named model".into() }),
        Model::CnnMnist => {
            let y = data::labels(seed, DATA_BATCHES * batch, data::CLASSES);
            (0..DATA_BATCHES)
                .map(|i| {
                    let x = data::pixel_rows(seed, i * batch, batch, data::FEATURES);
                    Ok(Batch {
                        x: Tensor::from_vec(x, &[batch, 1, 28, 28])?,
                        labels: y[i * batch..(i + 1) * batch].to_vec(),
                    })
                })
                .collect()
        }
        Model::Conv2d320 => {
            let x = data::pixel_rows(seed, 0, batch, 3 * 320 * 320);
            Ok(vec![Batch { x: Tensor::from_vec(x, &[batch, 3, 320, 320])?, labels: Vec::new() }])
        }
        Model::LstmChar => chars(LSTM_SEQ),
        Model::GptChar => chars(GPT_BLOCK),
    }
}

/// Runs a named model's protocol for `job` in this process, on the current rayon pool.
pub(crate) fn measure(job: &Job) -> Result<Measurement, BenchError> {
    let p = &job.protocol;
    let built = Built::new(&job.model, p.seed)?;
    let params: Vec<Parameter<f32>> = built.module().parameters().into_iter().map(|(_, p)| p).collect();
    let mut optimizer = built.optimizer()?;
    let batches = batches(&job.model, job.batch_size, p.seed)?;
    let mut step = |batch: &Batch| -> Result<f32, BenchError> {
        let loss = built.loss(batch)?;
        let grads = loss.backward()?;
        if let Some(opt) = optimizer.as_mut() {
            opt.step_params(&params, &grads)?;
        }
        Ok(loss.item()?)
    };
    let mut cycle = batches.iter().cycle();
    for batch in cycle.by_ref().take(p.model_warmup) {
        step(batch)?;
    }
    let mut per_epoch = Vec::with_capacity(p.epochs);
    let mut loss = f32::NAN;
    for _ in 0..p.epochs {
        let start = Instant::now();
        for batch in cycle.by_ref().take(p.model_steps) {
            loss = step(batch)?;
        }
        per_epoch.push((p.model_steps * job.batch_size) as f64 / start.elapsed().as_secs_f64());
    }
    Ok(Measurement::new(per_epoch, crate::rss::peak_rss_bytes(), f64::from(loss)))
}
