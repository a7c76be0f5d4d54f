//! Attention layers: [`MultiHeadAttention`] (self-attention with PyTorch's parameter layout
//! and names, `in_proj_weight` (3E, E), `in_proj_bias`, `out_proj.weight` (E, E) stored as
//! (out, in), `out_proj.bias`) and a pre-LayerNorm [`TransformerBlock`].

use crate::conv::uniform_fan_in;
use crate::error::{Result, invalid};
use crate::linear::Linear;
use crate::module::Module;
use crate::norm::LayerNorm;
use crate::{Init, activation};
use rand::Rng;
use tensor_core::{AttentionMask, Element, Parameter, Tensor};

/// Multi-head self-attention (PyTorch's `nn.MultiheadAttention` with `q = k = v = x`):
/// `qkv = x·in_proj_weightᵀ + in_proj_bias`, split into q, k, v, each split into `heads`
/// along the features, scaled dot-product attention per head, heads merged, then
/// `y = a·out_proj.weightᵀ + out_proj.bias`.
///
/// Inputs are (T, N, E), or (N, T, E) with `batch_first`. [`Module::forward`] uses the
/// layer's `causal` setting; [`forward_masked`](Self::forward_masked) takes any mask.
///
/// ```
/// use nn::{Module, MultiHeadAttention};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let mha = MultiHeadAttention::<f64>::new(8, 2, true, true, &mut StdRng::seed_from_u64(0))?;
/// assert_eq!(mha.forward(&Tensor::zeros(&[3, 5, 8])?)?.shape(), &[3, 5, 8]);
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct MultiHeadAttention<T: Element> {
    in_proj_weight: Parameter<T>,
    in_proj_bias: Parameter<T>,
    out_proj_weight: Parameter<T>,
    out_proj_bias: Parameter<T>,
    embed_dim: usize,
    heads: usize,
    batch_first: bool,
    causal: bool,
}

impl<T: Element> MultiHeadAttention<T> {
    /// Self-attention over `embed_dim` features in `heads` heads (which must divide it);
    /// `causal` masks keys after each query. PyTorch's init: Xavier-uniform `in_proj_weight`,
    /// zero biases, `out_proj.weight` `U(±1/√E)`.
    pub fn new(
        embed_dim: usize,
        heads: usize,
        batch_first: bool,
        causal: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if embed_dim == 0 || heads == 0 || !embed_dim.is_multiple_of(heads) {
            return Err(invalid(
                "MultiHeadAttention::new",
                format!("{heads} heads must divide the embedding size {embed_dim} (both positive)"),
            ));
        }
        let e = embed_dim;
        let in_w = Init::xavier_uniform().tensor_with_fans::<T>(&[3 * e, e], e, 3 * e, rng)?;
        Ok(MultiHeadAttention {
            in_proj_weight: Parameter::new("in_proj_weight", &in_w),
            in_proj_bias: Parameter::new("in_proj_bias", &Tensor::zeros(&[3 * e])?),
            out_proj_weight: Parameter::new("out_proj.weight", &uniform_fan_in::<T>(&[e, e], e, rng)?),
            out_proj_bias: Parameter::new("out_proj.bias", &Tensor::zeros(&[e])?),
            embed_dim,
            heads,
            batch_first,
            causal,
        })
    }

    /// Self-attention of `x` with `mask` over (…, T, T) scores (see [`AttentionMask`]; an
    /// `Allow` mask broadcasts to (N, heads, T, T)).
    pub fn forward_masked(&self, x: &Tensor<T>, mask: AttentionMask<'_, T>) -> Result<Tensor<T>> {
        let e = self.embed_dim;
        if x.ndim() != 3 || x.shape()[2] != e {
            return Err(invalid(
                "MultiHeadAttention",
                format!("expected a rank-3 input with {e} features last, got shape {:?}", x.shape()),
            ));
        }
        let x = if self.batch_first { x.clone() } else { x.transpose(0, 1)? };
        let (n, t) = (x.shape()[0], x.shape()[1]);
        let h = self.heads;
        let qkv = x
            .reshape(&[n * t, e])?
            .matmul_t(&self.in_proj_weight.tensor(), false, true)?
            .add(&self.in_proj_bias.tensor())?;
        // The fused op reads q, k and v from the packed projection and writes the
        // heads merged, as chunking and permuting into heads and back would.
        let merged = qkv.reshape(&[n, t, 3 * e])?.multi_head_self_attention(h, mask)?.reshape(&[n * t, e])?;
        let y = merged
            .matmul_t(&self.out_proj_weight.tensor(), false, true)?
            .add(&self.out_proj_bias.tensor())?
            .reshape(&[n, t, e])?;
        Ok(if self.batch_first { y } else { y.transpose(0, 1)? })
    }
}

impl<T: Element> Module<T> for MultiHeadAttention<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        self.forward_masked(x, if self.causal { AttentionMask::Causal } else { AttentionMask::None })
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        vec![
            ("in_proj_weight".to_string(), self.in_proj_weight.clone()),
            ("in_proj_bias".to_string(), self.in_proj_bias.clone()),
            ("out_proj.weight".to_string(), self.out_proj_weight.clone()),
            ("out_proj.bias".to_string(), self.out_proj_bias.clone()),
        ]
    }
}

/// A pre-LayerNorm transformer block (GPT-2's):
/// `x = x + attn(ln_1(x))`, then `x = x + fc2(gelu(fc1(ln_2(x))))` with a hidden width of
/// `4·E`. Its `Module` impl is derived: parameters are `ln_1.weight`, `attn.in_proj_weight`,
/// …, `fc1.weight` (nn's [`Linear`] layout, inputs × outputs), `fc2.bias`.
///
/// ```
/// use nn::{Module, TransformerBlock};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let block = TransformerBlock::<f64>::new(8, 2, &mut StdRng::seed_from_u64(0))?;
/// assert_eq!(block.forward(&Tensor::zeros(&[1, 4, 8])?)?.shape(), &[1, 4, 8]);
/// assert_eq!(block.parameters()[0].0, "ln_1.weight");
/// # Ok::<(), nn::NnError>(())
/// ```
#[derive(crate::Module)]
pub struct TransformerBlock<T: Element> {
    ln_1: LayerNorm<T>,
    attn: MultiHeadAttention<T>,
    ln_2: LayerNorm<T>,
    fc1: Linear<T>,
    fc2: Linear<T>,
}

impl<T: Element> TransformerBlock<T> {
    /// A causal, batch-first block over `embed_dim` features with `heads` heads.
    pub fn new(embed_dim: usize, heads: usize, rng: &mut impl Rng) -> Result<Self> {
        let e = embed_dim;
        Ok(TransformerBlock {
            ln_1: LayerNorm::new(&[e])?,
            attn: MultiHeadAttention::new(e, heads, true, true, rng)?,
            ln_2: LayerNorm::new(&[e])?,
            fc1: Linear::new(e, 4 * e, Init::for_activation(crate::Activation::Gelu), rng)?,
            fc2: Linear::new(4 * e, e, Init::xavier_uniform(), rng)?,
        })
    }

    /// The block on a (N, T, E) batch.
    pub fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let x = x.add(&self.attn.forward(&self.ln_1.forward(x)?)?)?;
        let hidden = activation::gelu(&self.fc1.forward(&self.ln_2.forward(&x)?)?);
        Ok(x.add(&self.fc2.forward(&hidden)?)?)
    }
}
