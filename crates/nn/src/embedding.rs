//! [`Embedding`]: rows of a learnt (V, D) table by integer index, PyTorch's `nn.Embedding`
//! (parameter `weight`, N(0, 1) init, optional `padding_idx` whose row starts at zero and gets
//! no gradient).

use crate::error::{Result, invalid};
use crate::module::Module;
use rand::Rng;
use tensor_core::{Element, Indices, Parameter, Tensor};

/// A lookup table of `num_embeddings` rows of `dim` values.
///
/// [`forward_indices`](Embedding::forward_indices) takes [`Indices`]; the [`Module`] forward
/// takes a float tensor holding whole numbers (as a token batch read from a data set), and
/// errors on anything else.
///
/// ```
/// use nn::{Embedding, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let emb = Embedding::<f64>::new(10, 4, None, &mut StdRng::seed_from_u64(0))?;
/// let tokens = Tensor::from_vec(vec![1.0, 2.0, 9.0], &[1, 3])?;
/// assert_eq!(emb.forward(&tokens)?.shape(), &[1, 3, 4]);
/// assert!(emb.forward(&Tensor::from_vec(vec![10.0], &[1])?).is_err());
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Embedding<T: Element> {
    weight: Parameter<T>,
    padding_idx: Option<usize>,
}

impl<T: Element> Embedding<T> {
    /// A table with N(0, 1) rows (the padding row zero). Errors when a size is zero or
    /// `padding_idx ≥ num_embeddings`.
    pub fn new(
        num_embeddings: usize,
        dim: usize,
        padding_idx: Option<usize>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if num_embeddings == 0 || dim == 0 {
            return Err(invalid("Embedding::new", format!("table size {num_embeddings} × {dim} has a zero")));
        }
        if let Some(p) = padding_idx
            && p >= num_embeddings
        {
            return Err(invalid("Embedding::new", format!("padding_idx {p} is not below {num_embeddings}")));
        }
        let mut table = Tensor::<T>::rand_normal(&[num_embeddings, dim], T::zero(), T::one(), rng)?.to_vec();
        if let Some(p) = padding_idx {
            table[p * dim..(p + 1) * dim].iter_mut().for_each(|v| *v = T::zero());
        }
        let weight = Parameter::new("weight", &Tensor::from_vec(table, &[num_embeddings, dim])?);
        Ok(Embedding { weight, padding_idx })
    }

    /// The table (V, D).
    pub fn weight(&self) -> &Parameter<T> {
        &self.weight
    }

    /// Rows for `indices`: shape `indices.shape() + [D]`.
    pub fn forward_indices(&self, indices: &Indices) -> Result<Tensor<T>> {
        Ok(self.weight.tensor().embedding(indices, self.padding_idx)?)
    }
}

impl<T: Element> Module<T> for Embedding<T> {
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        let rows = self.weight.shape()[0];
        let mut data = Vec::with_capacity(x.numel());
        for &v in x.as_slice() {
            let f = v.as_f64();
            if !(f >= 0.0 && f.fract() == 0.0 && f < rows as f64) {
                return Err(invalid(
                    "Embedding",
                    format!(
                        "index {f} in an input of shape {:?} is not a whole number below {rows}",
                        x.shape()
                    ),
                ));
            }
            data.push(f as usize);
        }
        self.forward_indices(&Indices::new(data, x.shape())?)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        vec![("weight".to_string(), self.weight.clone())]
    }
}
