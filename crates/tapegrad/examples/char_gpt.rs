//! A character-level transformer (nanoGPT's shape, small) trained on Shakespeare: token and
//! position embeddings, 2 pre-LayerNorm causal [`TransformerBlock`]s of 4 heads over 64
//! features, a final LayerNorm and a linear head to the 68 characters; AdamW; batches of 32
//! blocks of 64 characters. It prints the train and held-out losses as they fall, then a
//! generated sample.
//!
//! - CI (`cargo xtask examples`, debug build): `cargo run -p tapegrad --example char_gpt`
//!   runs the short default schedule (60 steps).
//! - A real run: `cargo run --release -p tapegrad --example char_gpt -- --steps 2000`.
//! - The PyTorch check: `cargo run --release -p tapegrad --example char_gpt -- --trace
//!   /tmp/char_gpt` writes the first 10 steps in f64, and
//!   `python3 scripts/char_models_torch.py /tmp/char_gpt` replays them in PyTorch.
//!
//! `--help` lists the other options (learning rate, report interval, sample length,
//! temperature, seed, text file).

mod char_common;

use char_common::{AnyResult, Args, BLOCK, CharModel, Corpus, run};
use clap::Parser;
use tapegrad::nn::rand::rngs::StdRng;
use tapegrad::nn::rand::{Rng, SeedableRng};
use tapegrad::nn::{self, Embedding, Init, LayerNorm, Linear, Module, TransformerBlock};
use tapegrad::optim::{AdamW, AdamWConfig};
use tapegrad::tensor_core::{Element, Indices, Tensor};

/// Embedding width.
const EMBED: usize = 64;
/// Attention heads per block.
const HEADS: usize = 4;
/// Transformer blocks.
const LAYERS: usize = 2;

/// The model. Parameter names (`tok_emb.weight`, `blocks.0.attn.in_proj_weight`, …) are
/// those of the PyTorch module in `scripts/char_models_torch.py`; the derive lists them.
#[derive(nn::Module)]
struct CharGpt<T: Element> {
    tok_emb: Embedding<T>,
    pos_emb: Embedding<T>,
    blocks: Vec<TransformerBlock<T>>,
    ln_f: LayerNorm<T>,
    head: Linear<T>,
}

impl<T: Element> CharGpt<T> {
    fn new(vocab: usize, rng: &mut impl Rng) -> nn::Result<Self> {
        Ok(CharGpt {
            tok_emb: Embedding::new(vocab, EMBED, None, rng)?,
            pos_emb: Embedding::new(BLOCK, EMBED, None, rng)?,
            blocks: (0..LAYERS)
                .map(|_| TransformerBlock::new(EMBED, HEADS, rng))
                .collect::<nn::Result<_>>()?,
            ln_f: LayerNorm::new(&[EMBED])?,
            head: Linear::new(EMBED, vocab, Init::xavier_uniform(), rng)?,
        })
    }

    /// Logits (N, T, vocab) for tokens (N, T), T ≤ `BLOCK`: position `t` sees tokens `0..=t`.
    fn forward(&self, tokens: &Tensor<T>) -> nn::Result<Tensor<T>> {
        let steps = tokens.shape().get(1).copied().unwrap_or(0);
        let positions = self.pos_emb.forward_indices(&Indices::from_vec((0..steps).collect()))?;
        let mut x = self.tok_emb.forward(tokens)?.add(&positions)?;
        for block in &self.blocks {
            x = block.forward(&x)?;
        }
        self.head.forward(&self.ln_f.forward(&x)?)
    }
}

impl<T: Element> CharModel<T> for CharGpt<T> {
    fn config(&self) -> Vec<(&'static str, String)> {
        vec![
            ("model", "gpt".into()),
            ("layers", LAYERS.to_string()),
            ("heads", HEADS.to_string()),
            ("embed", EMBED.to_string()),
        ]
    }
}

/// Builds the model in `T` from the seed and trains it (or traces it).
fn experiment<T: Element>(args: &Args, corpus: &Corpus) -> AnyResult<()> {
    let model = CharGpt::<T>::new(corpus.vocab_size(), &mut StdRng::seed_from_u64(args.seed))?;
    let config = AdamWConfig::new(args.lr.unwrap_or(2e-3)).betas(0.9, 0.99).weight_decay(0.01);
    run(&model, &mut AdamW::new(config)?, corpus, args)
}

fn main() -> AnyResult<()> {
    let args = Args::parse();
    let corpus = Corpus::load(args.data.as_deref())?;
    if args.trace.is_some() { experiment::<f64>(&args, &corpus) } else { experiment::<f32>(&args, &corpus) }
}
