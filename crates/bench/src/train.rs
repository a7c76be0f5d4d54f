//! tapegrad's side of the protocol: a ReLU MLP trained with cross-entropy and plain
//! SGD on full batches in order, timed per epoch after a warm-up.

use crate::data;
use crate::error::BenchError;
use crate::{Job, Measurement, Model};
use rayon::prelude::*;
use std::time::Instant;
use tensor_core::functional::{Reduction, cross_entropy};
use tensor_core::{Parameter, Tensor};

/// The SGD learning rate of the protocol.
pub const LEARNING_RATE: f32 = 0.1;

/// A ReLU MLP: `Linear → ReLU → … → Linear`, weights stored `inputs × outputs`.
pub struct Mlp {
    layers: Vec<(Parameter<f32>, Parameter<f32>)>,
}

impl Mlp {
    /// The model with layer sizes `sizes` (input first), initialised from `seed`
    /// exactly as `bench/torch_mlp.py` initialises its copy.
    pub fn new(sizes: &[usize], seed: u64) -> Result<Self, BenchError> {
        let mut layers = Vec::with_capacity(sizes.len().saturating_sub(1));
        for (l, pair) in sizes.windows(2).enumerate() {
            let (inputs, outputs) = (pair[0], pair[1]);
            let (w, b) = data::layer_init(seed, l, inputs, outputs);
            let w = Tensor::from_vec(w, &[inputs, outputs])?;
            let b = Tensor::from_vec(b, &[outputs])?;
            layers.push((Parameter::new(format!("w{l}"), &w), Parameter::new(format!("b{l}"), &b)));
        }
        Ok(Mlp { layers })
    }

    /// The logits for a batch `x` (`batch × inputs`), recorded on the tape.
    pub fn forward(&self, x: &Tensor<f32>) -> Result<Tensor<f32>, BenchError> {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (l, (w, b)) in self.layers.iter().enumerate() {
            h = h.linear(&w.tensor(), &b.tensor())?;
            if l < last {
                h = h.relu();
            }
        }
        Ok(h)
    }

    /// One SGD step on a batch; returns the batch's mean loss.
    pub fn train_step(&self, x: &Tensor<f32>, labels: &[usize]) -> Result<f32, BenchError> {
        let loss = cross_entropy(&self.forward(x)?, labels, Reduction::Mean)?;
        let grads = loss.backward()?;
        for (w, b) in &self.layers {
            for p in [w, b] {
                let g =
                    grads.get_param(p).ok_or(BenchError::MissingGradient { parameter: p.name().into() })?;
                p.update(|values| sgd(values, g.as_slice()));
            }
        }
        Ok(loss.item()?)
    }
}

/// A batch's inputs and labels.
type Batch = (Tensor<f32>, Vec<usize>);

/// `v −= lr·g`, on the rayon pool for large parameters (fixed-size chunks, so the
/// result does not depend on the thread count; each element is updated once).
fn sgd(values: &mut [f32], grads: &[f32]) {
    const CHUNK: usize = 1 << 14;
    let step = |v: &mut [f32], g: &[f32]| v.iter_mut().zip(g).for_each(|(v, &g)| *v -= LEARNING_RATE * g);
    if values.len() >= 1 << 17 {
        values.par_chunks_mut(CHUNK).zip(grads.par_chunks(CHUNK)).for_each(|(v, g)| step(v, g));
    } else {
        step(values, grads);
    }
}

/// Full batches of the data set, in order, each its own tensor (built before timing,
/// as PyTorch's slices are views: neither side copies a batch inside the loop).
fn batches(job: &Job, sizes: &[usize]) -> Result<Vec<Batch>, BenchError> {
    let features = sizes[0];
    let classes = sizes[sizes.len() - 1];
    let y = data::labels(job.protocol.seed, job.protocol.samples, classes);
    let b = job.batch_size;
    (0..job.protocol.samples / b)
        .map(|i| {
            let rows = data::pixel_rows(job.protocol.seed, i * b, b, features);
            Ok((Tensor::from_vec(rows, &[b, features])?, y[i * b..(i + 1) * b].to_vec()))
        })
        .collect()
}

/// Runs the protocol for one job (an MLP here, a named model through
/// [`crate::models`]) in this process, on a rayon pool of `job.threads` threads
/// (which also bounds the GEMM's parallelism).
pub fn measure(job: &Job) -> Result<Measurement, BenchError> {
    job.validate()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(job.threads)
        .build()
        .map_err(|e| BenchError::ThreadPool { threads: job.threads, reason: e.to_string() })?;
    pool.install(|| {
        let Model::Mlp(sizes) = &job.model else {
            return crate::models::measure(job);
        };
        let batches = batches(job, sizes)?;
        let model = Mlp::new(sizes, job.protocol.seed)?;
        for (x, y) in batches.iter().cycle().take(job.protocol.warmup) {
            model.train_step(x, y)?;
        }
        let mut per_epoch = Vec::with_capacity(job.protocol.epochs);
        let mut loss = f32::NAN;
        for _ in 0..job.protocol.epochs {
            let start = Instant::now();
            for (x, y) in &batches {
                loss = model.train_step(x, y)?;
            }
            let seconds = start.elapsed().as_secs_f64();
            per_epoch.push((batches.len() * job.batch_size) as f64 / seconds);
        }
        Ok(Measurement::new(per_epoch, crate::rss::peak_rss_bytes(), f64::from(loss)))
    })
}
