//! Recurrent layers over sequences: [`Lstm`] and [`Gru`], with PyTorch's weight layouts,
//! gate order (i, f, g, o) / (r, z, n) and state-dict names (`weight_ih_l0`, `weight_hh_l0`,
//! `bias_ih_l0`, `bias_hh_l0`, then `…_l1` for a second layer), so a PyTorch model's
//! safetensors file loads unchanged.
//!
//! Inputs are (T, N, features), or (N, T, features) with `batch_first`; states are
//! (layers, N, hidden) and start at zero unless given.

use crate::conv::uniform_fan_in;
use crate::error::{Result, invalid};
use crate::module::Module;
use rand::Rng;
use tensor_core::{Element, Parameter, Tensor};

/// An LSTM's state: (h, c), each (layers, N, H).
pub type LstmState<T> = (Tensor<T>, Tensor<T>);

/// The four parameters of one layer: `weight_ih` (G·H, in), `weight_hh` (G·H, H), and the
/// two biases (G·H), G the number of gates.
struct LayerParams<T: Element> {
    weight_ih: Parameter<T>,
    weight_hh: Parameter<T>,
    bias_ih: Option<Parameter<T>>,
    bias_hh: Option<Parameter<T>>,
}

/// What LSTM and GRU share: sizes, layout and per-layer parameters.
struct Recurrent<T: Element> {
    op: &'static str,
    input_size: usize,
    hidden_size: usize,
    batch_first: bool,
    layers: Vec<LayerParams<T>>,
}

impl<T: Element> Recurrent<T> {
    // The eight settings are PyTorch's constructor arguments, passed through by
    // Lstm::new and Gru::new: a struct would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn new(
        op: &'static str,
        gates: usize,
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        bias: bool,
        batch_first: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if input_size == 0 || hidden_size == 0 || num_layers == 0 {
            return Err(invalid(
                op,
                format!(
                    "input size {input_size}, hidden size {hidden_size} and layers {num_layers} must all be positive"
                ),
            ));
        }
        let g = gates * hidden_size;
        let mut layers = Vec::with_capacity(num_layers);
        for l in 0..num_layers {
            let inputs = if l == 0 { input_size } else { hidden_size };
            // PyTorch draws every parameter from U(−1/√H, 1/√H).
            fn draw<T: Element>(
                name: String,
                shape: &[usize],
                hidden: usize,
                rng: &mut impl Rng,
            ) -> Result<Parameter<T>> {
                Ok(Parameter::new(name, &uniform_fan_in::<T>(shape, hidden, rng)?))
            }
            let h = hidden_size;
            layers.push(LayerParams {
                weight_ih: draw(format!("weight_ih_l{l}"), &[g, inputs], h, rng)?,
                weight_hh: draw(format!("weight_hh_l{l}"), &[g, h], h, rng)?,
                bias_ih: if bias { Some(draw(format!("bias_ih_l{l}"), &[g], h, rng)?) } else { None },
                bias_hh: if bias { Some(draw(format!("bias_hh_l{l}"), &[g], h, rng)?) } else { None },
            });
        }
        Ok(Recurrent { op, input_size, hidden_size, batch_first, layers })
    }

    fn parameters(&self) -> Vec<(String, Parameter<T>)> {
        let mut out = Vec::new();
        for (l, p) in self.layers.iter().enumerate() {
            out.push((format!("weight_ih_l{l}"), p.weight_ih.clone()));
            out.push((format!("weight_hh_l{l}"), p.weight_hh.clone()));
            if let Some(b) = &p.bias_ih {
                out.push((format!("bias_ih_l{l}"), b.clone()));
            }
            if let Some(b) = &p.bias_hh {
                out.push((format!("bias_hh_l{l}"), b.clone()));
            }
        }
        out
    }

    /// The input as (T, N, in), checked.
    fn time_major(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        if x.ndim() != 3 || x.shape()[2] != self.input_size {
            let layout = if self.batch_first { "(N, T, features)" } else { "(T, N, features)" };
            return Err(invalid(
                self.op,
                format!(
                    "expected a {layout} input with {} features, got shape {:?}",
                    self.input_size,
                    x.shape()
                ),
            ));
        }
        Ok(if self.batch_first { x.transpose(0, 1)? } else { x.clone() })
    }

    /// An initial state, given (checked to be (layers, N, H)) or zero.
    fn initial(&self, given: Option<&Tensor<T>>, batch: usize, what: &str) -> Result<Tensor<T>> {
        let want = [self.layers.len(), batch, self.hidden_size];
        match given {
            Some(s) if s.shape() == want => Ok(s.clone()),
            Some(s) => Err(invalid(
                self.op,
                format!("the initial {what} must have shape {want:?}, got {:?}", s.shape()),
            )),
            None => Ok(Tensor::zeros(&want)?),
        }
    }

    /// `x·W_ihᵀ + b_ih` for every step at once: (T, N, G·H).
    fn input_gates(&self, p: &LayerParams<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        let [steps, batch, inputs] = [x.shape()[0], x.shape()[1], x.shape()[2]];
        let mut g = x.reshape(&[steps * batch, inputs])?.matmul_t(&p.weight_ih.tensor(), false, true)?;
        if let Some(b) = &p.bias_ih {
            g = g.add(&b.tensor())?;
        }
        Ok(g.reshape(&[steps, batch, p.weight_ih.shape()[0]])?)
    }

    /// `x·W_ihᵀ + (b_ih + b_hh)` for every step at once, (T, N, 4H): the LSTM's input
    /// gates with both biases, what `lstm_sequence` adds `h·W_hhᵀ` to.
    fn input_gates_lstm(&self, p: &LayerParams<T>, x: &Tensor<T>) -> Result<Tensor<T>> {
        let [steps, batch, inputs] = [x.shape()[0], x.shape()[1], x.shape()[2]];
        let mut g = x.reshape(&[steps * batch, inputs])?.matmul_t(&p.weight_ih.tensor(), false, true)?;
        let bias = match (&p.bias_ih, &p.bias_hh) {
            (Some(a), Some(b)) => Some(a.tensor().add(&b.tensor())?),
            (Some(a), None) | (None, Some(a)) => Some(a.tensor()),
            (None, None) => None,
        };
        if let Some(b) = bias {
            g = g.add(&b)?;
        }
        Ok(g.reshape(&[steps, batch, p.weight_ih.shape()[0]])?)
    }

    /// `h·W_hhᵀ + b_hh`: (N, G·H).
    fn hidden_gates(p: &LayerParams<T>, h: &Tensor<T>) -> Result<Tensor<T>> {
        let g = h.matmul_t(&p.weight_hh.tensor(), false, true)?;
        Ok(match &p.bias_hh {
            Some(b) => g.add(&b.tensor())?,
            None => g,
        })
    }

    /// Stacks per-step outputs to (T, N, H), or (N, T, H) with `batch_first`.
    fn output(&self, steps: &[Tensor<T>]) -> Result<Tensor<T>> {
        let refs: Vec<&Tensor<T>> = steps.iter().collect();
        let y = Tensor::stack(&refs, 0)?;
        Ok(if self.batch_first { y.transpose(0, 1)? } else { y })
    }
}

/// Layer `l` of a (layers, N, H) state as (N, H).
fn layer_state<T: Element>(s: &Tensor<T>, l: usize) -> Result<Tensor<T>> {
    let [_, n, h] = [s.shape()[0], s.shape()[1], s.shape()[2]];
    Ok(s.narrow(0, l, 1)?.reshape(&[n, h])?)
}

/// A multi-layer LSTM (PyTorch's `nn.LSTM`): per step
/// `gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh`, chunks (i, f, g, o),
/// `c' = σ(f)·c + σ(i)·tanh(g)`, `h' = σ(o)·tanh(c')`.
///
/// ```
/// use nn::{Lstm, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let lstm = Lstm::<f64>::new(3, 5, 2, true, &mut StdRng::seed_from_u64(0))?;
/// let (y, (h, c)) = lstm.forward_with_state(&Tensor::zeros(&[4, 7, 3])?, None)?;
/// assert_eq!((y.shape(), h.shape(), c.shape()), (&[4, 7, 5][..], &[2, 4, 5][..], &[2, 4, 5][..]));
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Lstm<T: Element>(Recurrent<T>);

impl<T: Element> Lstm<T> {
    /// An LSTM with biases; `batch_first` makes inputs and outputs (N, T, features).
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        batch_first: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Ok(Lstm(Recurrent::new("Lstm", 4, input_size, hidden_size, num_layers, true, batch_first, rng)?))
    }

    /// The hidden size H.
    pub fn hidden_size(&self) -> usize {
        self.0.hidden_size
    }

    /// Runs the sequence from `state` = (h₀, c₀), each (layers, N, H), or zeros. Returns the
    /// last layer's output at every step and the final (h, c) of every layer.
    pub fn forward_with_state(
        &self,
        x: &Tensor<T>,
        state: Option<(&Tensor<T>, &Tensor<T>)>,
    ) -> Result<(Tensor<T>, LstmState<T>)> {
        let r = &self.0;
        let mut input = r.time_major(x)?;
        let (steps, batch) = (input.shape()[0], input.shape()[1]);
        let h0 = r.initial(state.map(|s| s.0), batch, "h")?;
        let c0 = r.initial(state.map(|s| s.1), batch, "c")?;
        let hidden = r.hidden_size;
        let (mut hs, mut cs) = (Vec::new(), Vec::new());
        for (l, p) in r.layers.iter().enumerate() {
            // Both biases go onto the input gates of every step at once; the layer's
            // recurrence is one fused op (tensor-core's `lstm_sequence`).
            let xg = r.input_gates_lstm(p, &input)?;
            let (h, c) = (layer_state(&h0, l)?, layer_state(&c0, l)?);
            let seq = Tensor::lstm_sequence(&xg, &p.weight_hh.tensor(), &h, &c)?;
            input = seq.narrow(0, 0, 1)?.reshape(&[steps, batch, hidden])?;
            if steps == 0 {
                hs.push(h);
                cs.push(c);
            } else {
                let last = seq.narrow(1, steps - 1, 1)?;
                hs.push(last.narrow(0, 0, 1)?.reshape(&[batch, hidden])?);
                cs.push(last.narrow(0, 1, 1)?.reshape(&[batch, hidden])?);
            }
        }
        let y = if r.batch_first { input.transpose(0, 1)? } else { input };
        let h_n = Tensor::stack(&hs.iter().collect::<Vec<_>>(), 0)?;
        let c_n = Tensor::stack(&cs.iter().collect::<Vec<_>>(), 0)?;
        Ok((y, (h_n, c_n)))
    }
}

impl<T: Element> Module<T> for Lstm<T> {
    /// The output sequence (the final states are in [`forward_with_state`](Lstm::forward_with_state)).
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        Ok(self.forward_with_state(x, None)?.0)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        self.0.parameters()
    }
}

/// A multi-layer GRU (PyTorch's `nn.GRU`): chunks (r, z, n) of `x·W_ihᵀ + b_ih` and
/// `h·W_hhᵀ + b_hh`; `r = σ(·)`, `z = σ(·)`, `n = tanh(gi_n + r·gh_n)`, `h' = (1 − z)·n + z·h`.
///
/// ```
/// use nn::{Gru, Module};
/// use rand::{SeedableRng, rngs::StdRng};
/// use tensor_core::Tensor;
/// let gru = Gru::<f64>::new(3, 5, 1, false, &mut StdRng::seed_from_u64(0))?;
/// let (y, h) = gru.forward_with_state(&Tensor::zeros(&[7, 4, 3])?, None)?;
/// assert_eq!((y.shape(), h.shape()), (&[7, 4, 5][..], &[1, 4, 5][..]));
/// # Ok::<(), nn::NnError>(())
/// ```
pub struct Gru<T: Element>(Recurrent<T>);

impl<T: Element> Gru<T> {
    /// A GRU with biases; `batch_first` makes inputs and outputs (N, T, features).
    pub fn new(
        input_size: usize,
        hidden_size: usize,
        num_layers: usize,
        batch_first: bool,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        Ok(Gru(Recurrent::new("Gru", 3, input_size, hidden_size, num_layers, true, batch_first, rng)?))
    }

    /// The hidden size H.
    pub fn hidden_size(&self) -> usize {
        self.0.hidden_size
    }

    /// Runs the sequence from `h0` (layers, N, H) or zeros; returns the last layer's output
    /// at every step and the final h of every layer.
    pub fn forward_with_state(
        &self,
        x: &Tensor<T>,
        h0: Option<&Tensor<T>>,
    ) -> Result<(Tensor<T>, Tensor<T>)> {
        let r = &self.0;
        let mut input = r.time_major(x)?;
        let (steps, batch) = (input.shape()[0], input.shape()[1]);
        let h0 = r.initial(h0, batch, "h")?;
        let mut hs = Vec::new();
        let mut y = None;
        for (l, p) in r.layers.iter().enumerate() {
            let xg = r.input_gates(p, &input)?;
            let mut h = layer_state(&h0, l)?;
            let mut outs = Vec::with_capacity(steps);
            for t in 0..steps {
                let gi = xg.narrow(0, t, 1)?.squeeze(0)?.chunk(3, -1)?;
                let gh = Recurrent::hidden_gates(p, &h)?.chunk(3, -1)?;
                let reset = gi[0].add(&gh[0])?.sigmoid();
                let update = gi[1].add(&gh[1])?.sigmoid();
                let n = gi[2].add(&reset.mul(&gh[2])?)?.tanh();
                h = n.add(&update.mul(&h.sub(&n)?)?)?;
                outs.push(h.clone());
            }
            input = Tensor::stack(&outs.iter().collect::<Vec<_>>(), 0)?;
            y = Some(r.output(&outs)?);
            hs.push(h);
        }
        let h_n = Tensor::stack(&hs.iter().collect::<Vec<_>>(), 0)?;
        y.map(|y| (y, h_n)).ok_or_else(|| invalid("Gru", "the layer list is empty"))
    }
}

impl<T: Element> Module<T> for Gru<T> {
    /// The output sequence (the final state is in [`forward_with_state`](Gru::forward_with_state)).
    fn forward(&self, x: &Tensor<T>) -> Result<Tensor<T>> {
        Ok(self.forward_with_state(x, None)?.0)
    }
    fn own_parameters(&self) -> Vec<(String, Parameter<T>)> {
        self.0.parameters()
    }
}
