//! The `char_gpt` task with a recurrent model: an embedding of the 68 characters into 64
//! features, one [`Lstm`] layer of 128 hidden units unrolled over blocks of 64 characters,
//! and a linear head; Adam; batches of 32. It prints the train and held-out losses as they
//! fall, then a generated sample.
//!
//! - CI (`cargo xtask examples`, debug build): `cargo run -p tapegrad --example char_lstm`
//!   runs the short default schedule (60 steps).
//! - A real run: `cargo run --release -p tapegrad --example char_lstm -- --steps 2000`.
//! - The PyTorch check: `cargo run --release -p tapegrad --example char_lstm -- --trace
//!   /tmp/char_lstm`, then `python3 scripts/char_models_torch.py /tmp/char_lstm`.
//!
//! Every sequence starts from a zero state (no state carried between batches), and so does
//! generation, which feeds the model the last 64 characters, as in training.

mod char_common;

use char_common::{AnyResult, Args, CharModel, Corpus, run};
use clap::Parser;
use tapegrad::nn::rand::rngs::StdRng;
use tapegrad::nn::rand::{Rng, SeedableRng};
use tapegrad::nn::{self, Embedding, Init, Linear, Lstm, Module};
use tapegrad::optim::{Adam, AdamConfig};
use tapegrad::tensor_core::{Element, Tensor};

/// Embedding width.
const EMBED: usize = 64;
/// LSTM hidden units.
const HIDDEN: usize = 128;
/// LSTM layers.
const LAYERS: usize = 1;

/// The model. Parameter names (`embedding.weight`, `lstm.weight_ih_l0`, …, `head.bias`) are
/// those of the PyTorch module in `scripts/char_models_torch.py`; the derive lists them.
#[derive(nn::Module)]
struct CharLstm<T: Element> {
    embedding: Embedding<T>,
    lstm: Lstm<T>,
    head: Linear<T>,
}

impl<T: Element> CharLstm<T> {
    fn new(vocab: usize, rng: &mut impl Rng) -> nn::Result<Self> {
        Ok(CharLstm {
            embedding: Embedding::new(vocab, EMBED, None, rng)?,
            lstm: Lstm::new(EMBED, HIDDEN, LAYERS, true, rng)?,
            head: Linear::new(HIDDEN, vocab, Init::xavier_uniform(), rng)?,
        })
    }

    /// Logits (N, T, vocab) for tokens (N, T), from a zero state.
    fn forward(&self, tokens: &Tensor<T>) -> nn::Result<Tensor<T>> {
        self.head.forward(&self.lstm.forward(&self.embedding.forward(tokens)?)?)
    }
}

impl<T: Element> CharModel<T> for CharLstm<T> {
    fn config(&self) -> Vec<(&'static str, String)> {
        vec![
            ("model", "lstm".into()),
            ("layers", LAYERS.to_string()),
            ("embed", EMBED.to_string()),
            ("hidden", HIDDEN.to_string()),
        ]
    }
}

/// Builds the model in `T` from the seed and trains it (or traces it).
fn experiment<T: Element>(args: &Args, corpus: &Corpus) -> AnyResult<()> {
    let model = CharLstm::<T>::new(corpus.vocab_size(), &mut StdRng::seed_from_u64(args.seed))?;
    run(&model, &mut Adam::new(AdamConfig::new(args.lr.unwrap_or(3e-3)))?, corpus, args)
}

fn main() -> AnyResult<()> {
    let args = Args::parse();
    let corpus = Corpus::load(args.data.as_deref())?;
    if args.trace.is_some() { experiment::<f64>(&args, &corpus) } else { experiment::<f32>(&args, &corpus) }
}
