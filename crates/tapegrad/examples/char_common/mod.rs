//! What the two character-level examples (`char_gpt`, `char_lstm`) share: the Shakespeare
//! slice as character tokens, seeded batches, the training loop with its held-out loss,
//! sampling, and the f64 trace that `scripts/char_models_torch.py` replays in PyTorch.
//!
//! It is a module of each example (`mod char_common;`), not an example of its own: Cargo
//! builds `examples/*.rs` and `examples/*/main.rs`, and this folder has no `main.rs`.

use std::collections::BTreeMap;
use std::error::Error;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use tapegrad::nn::rand::rngs::StdRng;
use tapegrad::nn::rand::{Rng, SeedableRng};
use tapegrad::nn::weights_file::{self, NamedTensor, TensorData};
use tapegrad::nn::{self, Module, Reduction, loss};
use tapegrad::optim::{Optimizer, StepParams};
use tapegrad::tensor_core::{Element, Parameter, Tensor, no_grad};

/// The examples' error type: any error, with its message.
pub type AnyResult<T> = Result<T, Box<dyn Error>>;

/// Characters of context the models see (the transformer's block size; the LSTM is
/// unrolled over as many steps).
pub const BLOCK: usize = 64;
/// Sequences per optimizer step.
pub const BATCH: usize = 32;
/// Steps a trace (`--trace`) records: the PyTorch replay compares this many losses.
pub const TRACE_STEPS: usize = 10;

/// The command line both examples take. The defaults are the short schedule CI runs in a
/// debug build (`cargo xtask examples`); a real run passes `--steps`.
#[derive(Parser, Debug)]
pub struct Args {
    /// Optimizer steps (default: the short schedule CI runs).
    #[arg(long, default_value_t = 60)]
    pub steps: usize,
    /// Steps between two loss reports (default: a quarter of the run).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Batches of each split averaged in every loss report.
    #[arg(long, default_value_t = 4)]
    pub eval_batches: usize,
    /// Learning rate (default: the example's own).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Characters to generate after training.
    #[arg(long, default_value_t = 200)]
    pub sample: usize,
    /// Sampling temperature: the logits are divided by it before the softmax.
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f64,
    /// Seed of the initial weights; the batches, reports and sample use seeds derived from it.
    #[arg(long, default_value_t = 17)]
    pub seed: u64,
    /// The text, plain or gzipped (default: `shakespeare/shakespeare_1mb.txt.gz` in the data
    /// folder, which `TAPEGRAD_DATA` can name).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Instead of training in f32: run the first 10 steps in f64 and write the initial weights
    /// (`init.safetensors`), the token batches and the losses (`trace.safetensors`) to this
    /// folder, for `python3 scripts/char_models_torch.py DIR`.
    #[arg(long)]
    pub trace: Option<PathBuf>,
}

/// A character model the loop can train: a module from (N, T) tokens, held as whole numbers
/// in a float tensor, to (N, T, vocabulary) logits.
pub trait CharModel<T: Element>: Module<T> {
    /// What the PyTorch replay needs to build the same model: `model` (its kind) and its
    /// sizes, as (key, value) pairs stored in the trace's metadata.
    fn config(&self) -> Vec<(&'static str, String)>;
}

/// The text as tokens (indices into the sorted distinct bytes), split into the first 90%
/// for training and the last 10% held out.
pub struct Corpus {
    /// The distinct bytes, sorted: token `i` is `vocab[i]`.
    pub vocab: Vec<u8>,
    /// Training tokens.
    pub train: Vec<usize>,
    /// Held-out tokens.
    pub held_out: Vec<usize>,
    /// Where the text came from.
    pub path: PathBuf,
}

impl Corpus {
    /// Reads the text at `path`, or the shipped slice, decompressing gzip (found by its
    /// magic bytes).
    pub fn load(path: Option<&Path>) -> AnyResult<Corpus> {
        let path = path.map_or_else(
            || tapegrad::data::data_dir(None).join("shakespeare").join("shakespeare_1mb.txt.gz"),
            Path::to_path_buf,
        );
        let raw = std::fs::read(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw.as_slice())
                .read_to_end(&mut out)
                .map_err(|e| format!("decompressing {}: {e}", path.display()))?;
            out
        } else {
            raw
        };
        let mut vocab = bytes.clone();
        vocab.sort_unstable();
        vocab.dedup();
        let mut index = [0usize; 256];
        for (i, &b) in vocab.iter().enumerate() {
            index[usize::from(b)] = i;
        }
        let tokens: Vec<usize> = bytes.iter().map(|&b| index[usize::from(b)]).collect();
        let cut = tokens.len() * 9 / 10;
        if cut <= BLOCK || tokens.len() - cut <= BLOCK {
            return Err(format!(
                "{}: {} characters is too short for blocks of {BLOCK}",
                path.display(),
                tokens.len()
            )
            .into());
        }
        Ok(Corpus { vocab, held_out: tokens[cut..].to_vec(), train: tokens[..cut].to_vec(), path })
    }

    /// Number of distinct characters.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The token of byte `b` (token 0 when the text has no such byte).
    pub fn token(&self, b: u8) -> usize {
        self.vocab.iter().position(|&v| v == b).unwrap_or(0)
    }

    /// Tokens back to text.
    pub fn decode(&self, tokens: &[usize]) -> String {
        tokens.iter().map(|&t| char::from(self.vocab[t])).collect()
    }
}

/// `count` random start positions of a block (and its next character) in `tokens`.
fn offsets(tokens: &[usize], count: usize, rng: &mut impl Rng) -> Vec<usize> {
    (0..count).map(|_| rng.random_range(0..tokens.len() - BLOCK)).collect()
}

/// The blocks starting at `starts` as (N, BLOCK) inputs, and their targets (each input's
/// next character), row by row.
fn batch<T: Element>(tokens: &[usize], starts: &[usize]) -> AnyResult<(Tensor<T>, Vec<usize>)> {
    let inputs: Vec<T> =
        starts.iter().flat_map(|&s| &tokens[s..s + BLOCK]).map(|&t| T::from_usize(t)).collect();
    let targets: Vec<usize> =
        starts.iter().flat_map(|&s| tokens[s + 1..=s + BLOCK].iter().copied()).collect();
    Ok((Tensor::from_vec(inputs, &[starts.len(), BLOCK])?, targets))
}

/// Mean cross-entropy of the next character over a batch.
fn batch_loss<T: Element, M: CharModel<T>>(
    model: &M,
    inputs: &Tensor<T>,
    targets: &[usize],
) -> nn::Result<Tensor<T>> {
    let logits = model.forward(inputs)?;
    let classes = logits.shape()[2];
    loss::cross_entropy(&logits.reshape(&[targets.len(), classes])?, targets, Reduction::Mean)
}

/// Mean loss over fixed batches, without a tape.
fn evaluate<T: Element, M: CharModel<T>>(
    model: &M,
    tokens: &[usize],
    batches: &[Vec<usize>],
) -> AnyResult<f64> {
    let mut total = 0.0;
    for starts in batches {
        let (x, y) = batch::<T>(tokens, starts)?;
        total += no_grad(|| batch_loss(model, &x, &y))?.item()?.as_f64();
    }
    Ok(total / batches.len() as f64)
}

/// One line of the loss report.
fn report<T: Element, M: CharModel<T>>(
    model: &M,
    corpus: &Corpus,
    eval: &(Vec<Vec<usize>>, Vec<Vec<usize>>),
    step: usize,
    start: Instant,
) -> AnyResult<f64> {
    let train = evaluate(model, &corpus.train, &eval.0)?;
    let held_out = evaluate(model, &corpus.held_out, &eval.1)?;
    println!(
        "step {step:>5}  train loss {train:.4}  held-out loss {held_out:.4}  ({:.1} s)",
        start.elapsed().as_secs_f64()
    );
    Ok(held_out)
}

/// Trains `model` with `optimizer` as `args` say (or writes a trace with `--trace`), prints
/// the losses, checks that the held-out loss fell, and prints a sample.
pub fn run<T: Element, M: CharModel<T>>(
    model: &M,
    optimizer: &mut dyn Optimizer<T>,
    corpus: &Corpus,
    args: &Args,
) -> AnyResult<()> {
    let params: Vec<Parameter<T>> = model.parameters().into_iter().map(|(_, p)| p).collect();
    let config = model.config();
    let described: Vec<String> = config.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "{}: {} parameters in {} tensors; batch {BATCH}, block {BLOCK}, {:?} lr {}",
        described.join(", "),
        model.num_parameters(),
        params.len(),
        optimizer.kind(),
        optimizer.lr()
    );
    println!(
        "data: {} train / {} held-out characters, {} distinct, from {}",
        corpus.train.len(),
        corpus.held_out.len(),
        corpus.vocab_size(),
        corpus.path.display()
    );
    let mut batch_rng = StdRng::seed_from_u64(args.seed.wrapping_add(1));
    if let Some(dir) = &args.trace {
        return trace(model, optimizer, corpus, &params, &config, dir, &mut batch_rng);
    }

    // The reports average fixed batches, so two reports differ only by the training between.
    let mut eval_rng = StdRng::seed_from_u64(args.seed.wrapping_add(2));
    let n = args.eval_batches.max(1);
    let eval = (
        (0..n).map(|_| offsets(&corpus.train, BATCH, &mut eval_rng)).collect::<Vec<_>>(),
        (0..n).map(|_| offsets(&corpus.held_out, BATCH, &mut eval_rng)).collect::<Vec<_>>(),
    );
    let every = args.eval_every.unwrap_or((args.steps / 4).max(1)).max(1);
    let start = Instant::now();
    let first = report(model, corpus, &eval, 0, start)?;
    let mut last = first;
    for step in 1..=args.steps {
        let (x, y) = batch::<T>(&corpus.train, &offsets(&corpus.train, BATCH, &mut batch_rng))?;
        let loss = batch_loss(model, &x, &y)?;
        let grads = loss.backward()?;
        optimizer.step_params(&params, &grads)?;
        if step % every == 0 || step == args.steps {
            last = report(model, corpus, &eval, step, start)?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "{} steps in {seconds:.1} s ({:.0} ms a step, reports included); held-out loss {first:.4} -> {last:.4}",
        args.steps,
        1e3 * seconds / args.steps.max(1) as f64
    );
    // A NaN loss counts as not falling.
    if args.steps > 0 && last.partial_cmp(&first) != Some(std::cmp::Ordering::Less) {
        return Err(format!("the held-out loss did not fall: {first:.4} -> {last:.4}").into());
    }

    let mut sample_rng = StdRng::seed_from_u64(args.seed.wrapping_add(3));
    let text = sample(model, corpus, args.sample, args.temperature, &mut sample_rng)?;
    println!("sample ({} characters, temperature {}):\n{text}", args.sample, args.temperature);
    Ok(())
}

/// Generates `count` characters after a newline, one at a time: the model sees the last
/// `BLOCK` characters, and the next is drawn from `softmax(logits / temperature)` at the
/// last position with `Tensor::sample_categorical`.
fn sample<T: Element, M: CharModel<T>>(
    model: &M,
    corpus: &Corpus,
    count: usize,
    temperature: f64,
    rng: &mut impl Rng,
) -> AnyResult<String> {
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(format!("the temperature must be positive, got {temperature}").into());
    }
    model.eval();
    let mut tokens = vec![corpus.token(b'\n')];
    for _ in 0..count {
        let context = &tokens[tokens.len().saturating_sub(BLOCK)..];
        let x = Tensor::from_vec(context.iter().map(|&t| T::from_usize(t)).collect(), &[1, context.len()])?;
        let next = no_grad(|| -> AnyResult<usize> {
            let logits = model.forward(&x)?;
            let last = logits.narrow(1, context.len() - 1, 1)?.reshape(&[corpus.vocab_size()])?;
            let p = last.mul_scalar(T::from_f64(1.0 / temperature)).softmax(-1)?;
            Ok(p.sample_categorical(rng)?.as_slice()[0])
        })?;
        tokens.push(next);
    }
    model.train(true);
    Ok(corpus.decode(&tokens[1..]))
}

/// The first [`TRACE_STEPS`] steps, recorded for the PyTorch replay: `init.safetensors` (the
/// weights before the first step, under the module's names) and `trace.safetensors`
/// (`inputs` and `targets`, (steps, N, BLOCK) as f64, and `losses`, (steps)), with the model's
/// config and the optimizer's hyper-parameters (JSON) as metadata.
fn trace<T: Element, M: CharModel<T>>(
    model: &M,
    optimizer: &mut dyn Optimizer<T>,
    corpus: &Corpus,
    params: &[Parameter<T>],
    config: &[(&'static str, String)],
    dir: &Path,
    batch_rng: &mut impl Rng,
) -> AnyResult<()> {
    if T::DTYPE != "F64" {
        return Err("a trace is written in f64".into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    nn::save_module(dir.join("init.safetensors"), model)?;
    let (mut inputs, mut targets, mut losses) = (Vec::new(), Vec::new(), Vec::new());
    for step in 1..=TRACE_STEPS {
        let (x, y) = batch::<T>(&corpus.train, &offsets(&corpus.train, BATCH, batch_rng))?;
        let loss = batch_loss(model, &x, &y)?;
        let grads = loss.backward()?;
        optimizer.step_params(params, &grads)?;
        let value = loss.item()?.as_f64();
        println!("step {step:>2}  loss {value:.17e}");
        inputs.extend(x.as_slice().iter().map(|v| v.as_f64()));
        targets.extend(y.iter().map(|&t| t as f64));
        losses.push(value);
    }
    let shape = vec![TRACE_STEPS, BATCH, BLOCK];
    let tensors = [
        NamedTensor::new("inputs", shape.clone(), TensorData::F64(inputs))?,
        NamedTensor::new("targets", shape, TensorData::F64(targets))?,
        NamedTensor::new("losses", vec![TRACE_STEPS], TensorData::F64(losses))?,
    ];
    let mut metadata: BTreeMap<String, String> =
        config.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    metadata.insert("vocab".into(), corpus.vocab_size().to_string());
    metadata.insert("block".into(), BLOCK.to_string());
    metadata.insert("optimizer".into(), serde_json::to_string(&optimizer.state().hyper)?);
    weights_file::save_with_metadata(dir.join("trace.safetensors"), &tensors, &metadata)?;
    println!("wrote {}/init.safetensors and trace.safetensors", dir.display());
    Ok(())
}
