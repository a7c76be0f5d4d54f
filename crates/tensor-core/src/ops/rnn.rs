//! A whole LSTM layer over a sequence as one recorded op (as PyTorch's CPU `lstm`
//! and cuDNN run it), instead of some fifteen ops per step.
//!
//! Why one op for the whole sequence and not one per step: a step reads its slice of
//! the input gates `xg[t]`, and a `narrow`'s gradient is a zero-padded tensor of the
//! whole `xg`, so T steps summed T padded copies of (T, N, 4H) in backward — the
//! profile of `lstm-char` had a fifth of its time in that sum and its zero-fill.
//! Here the forward is one loop (a GEMM per step onto the step's gates, then one
//! elementwise pass for the four gates, the cell and the output), and backward is
//! one loop back through time writing each step's gate gradient into its slice of
//! one buffer, with `dW_hh` as a single GEMM at the end.
//!
//! Under `create_graph` the rule instead differentiates the same layer written with
//! ops ([`lstm_sequence_ops`]) with a recorded backward, so the op stays twice
//! differentiable.

use super::linalg::{Operand, gemm_into};
use super::recompute_rule;
use crate::element::Element;
use crate::element::fast::Unary;
use crate::error::{Error, Result};
use crate::graph::{Save, is_grad_enabled};
use crate::shape::shape_of;
use crate::tensor::Tensor;
use std::sync::Arc;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["lstm_sequence"];

/// What the fused forward keeps for the fused backward: the gate activations
/// (σ(i), σ(f), tanh(g), σ(o)) of every step, (T, N, 4H), and tanh(c) of every step,
/// (T, N, H).
struct LstmTape<T> {
    acts: Vec<T>,
    tanh_c: Vec<T>,
}

/// The sizes of one layer: steps T, batch N, hidden H.
#[derive(Clone, Copy)]
struct Dims {
    steps: usize,
    batch: usize,
    hidden: usize,
}

impl Dims {
    /// Elements of one step's state, N·H.
    fn state(self) -> usize {
        self.batch * self.hidden
    }
    /// Elements of one step's gates, N·4H.
    fn gates(self) -> usize {
        4 * self.state()
    }
}

/// The fused forward: returns (2, T, N, H) (every step's h, then every step's c) and
/// the activations backward needs.
fn forward<T: Element>(xg: &[T], w_hh: &[T], h0: &[T], c0: &[T], d: Dims) -> (Vec<T>, LstmTape<T>) {
    let (h, nh, g4) = (d.hidden, d.state(), 4 * d.hidden);
    let mut out = vec![T::zero(); 2 * d.steps * nh];
    // Each step's gates start as its input gates; the GEMM adds h·W_hhᵀ onto them.
    let mut acts = xg.to_vec();
    let mut tanh_c = vec![T::zero(); d.steps * nh];
    let (hs, cs) = out.split_at_mut(d.steps * nh);
    // W_hhᵀ (H × 4H) laid out once: read transposed, the GEMM repacked all of W_hh at
    // every step (its left-operand packing, 7% of lstm-char in perf); read row-major
    // it needs no packing. Only data moves, so the sums (and bits) are the same.
    let mut w_hh_t = vec![T::zero(); w_hh.len()];
    for (r, row) in w_hh.chunks_exact(h.max(1)).enumerate() {
        for (j, &w) in row.iter().enumerate() {
            w_hh_t[j * g4 + r] = w;
        }
    }
    for t in 0..d.steps {
        let gates = &mut acts[t * d.gates()..(t + 1) * d.gates()];
        {
            let h_prev = if t == 0 { h0 } else { &hs[(t - 1) * nh..t * nh] };
            if nh > 0 {
                // gates (N × 4H) += h_prev (N × H) · W_hhᵀ (H × 4H), W_hh stored (4H, H).
                let (lhs, rhs) = (Operand::new(h, false), Operand::new(g4, false));
                gemm_into(gates, d.batch, g4, h, h_prev, lhs, &w_hh_t, rhs, true);
            }
        }
        for row in gates.chunks_exact_mut(g4.max(1)) {
            let (ifg, o) = row.split_at_mut(3 * h);
            let (if_, g) = ifg.split_at_mut(2 * h);
            T::unary_in_place(Unary::Sigmoid, if_);
            T::unary_in_place(Unary::Tanh, g);
            T::unary_in_place(Unary::Sigmoid, o);
        }
        let (done, rest) = cs.split_at_mut(t * nh);
        let c_prev = if t == 0 { c0 } else { &done[(t - 1) * nh..] };
        let c_new = &mut rest[..nh];
        for (r, row) in gates.chunks_exact(g4.max(1)).enumerate() {
            let (cp, cn) = (&c_prev[r * h..(r + 1) * h], &mut c_new[r * h..(r + 1) * h]);
            for j in 0..h {
                cn[j] = row[h + j] * cp[j] + row[j] * row[2 * h + j];
            }
        }
        let tc = &mut tanh_c[t * nh..(t + 1) * nh];
        T::unary(Unary::Tanh, c_new, tc);
        let h_new = &mut hs[t * nh..(t + 1) * nh];
        for (r, row) in gates.chunks_exact(g4.max(1)).enumerate() {
            for j in 0..h {
                h_new[r * h + j] = row[3 * h + j] * tc[r * h + j];
            }
        }
    }
    (out, LstmTape { acts, tanh_c })
}

/// The fused backward from `dy` (2, T, N, H): the gradients of xg (T, N, 4H), W_hh
/// (4H, H) (when `want_w`), h0 and c0 (N, H). One pass back through time; each
/// step's gate gradient goes into its slice of one buffer.
#[allow(clippy::too_many_arguments)]
fn backward<T: Element>(
    dy: &[T],
    out: &[T],
    tape: &LstmTape<T>,
    w_hh: &[T],
    h0: &[T],
    c0: &[T],
    d: Dims,
    want_w: bool,
) -> (Vec<T>, Option<Vec<T>>, Vec<T>, Vec<T>) {
    let (h, nh, g4) = (d.hidden, d.state(), 4 * d.hidden);
    let (dy_h, dy_c) = dy.split_at(d.steps * nh);
    let (hs, cs) = out.split_at(d.steps * nh);
    let mut dxg = vec![T::zero(); d.steps * d.gates()];
    // The gradients flowing back into step t from step t + 1 (zero after the last).
    let mut dh = vec![T::zero(); nh];
    let mut dc = vec![T::zero(); nh];
    let one = T::one();
    for t in (0..d.steps).rev() {
        let acts = &tape.acts[t * d.gates()..(t + 1) * d.gates()];
        let tc = &tape.tanh_c[t * nh..(t + 1) * nh];
        let c_prev = if t == 0 { c0 } else { &cs[(t - 1) * nh..t * nh] };
        let dgates = &mut dxg[t * d.gates()..(t + 1) * d.gates()];
        let (dyh, dyc) = (&dy_h[t * nh..(t + 1) * nh], &dy_c[t * nh..(t + 1) * nh]);
        for (r, (a, dg)) in acts.chunks_exact(g4.max(1)).zip(dgates.chunks_exact_mut(g4.max(1))).enumerate() {
            for j in 0..h {
                let k = r * h + j;
                let (i, f, g, o) = (a[j], a[h + j], a[2 * h + j], a[3 * h + j]);
                // h = o·tanh(c), c = f·c_prev + i·g.
                let dht = dyh[k] + dh[k];
                let dct = dyc[k] + dc[k] + dht * o * (one - tc[k] * tc[k]);
                dg[j] = dct * g * (i * (one - i));
                dg[h + j] = dct * c_prev[k] * (f * (one - f));
                dg[2 * h + j] = dct * i * (one - g * g);
                dg[3 * h + j] = dht * tc[k] * (o * (one - o));
                dc[k] = dct * f;
            }
        }
        if nh > 0 {
            // dh_prev (N × H) = dgates (N × 4H) · W_hh (4H × H).
            let (lhs, rhs) = (Operand::new(g4, false), Operand::new(h, false));
            gemm_into(&mut dh, d.batch, h, g4, dgates, lhs, w_hh, rhs, false);
        }
    }
    // dW_hh (4H × H) = Σ_t dgates_tᵀ · h_{t−1}: the first step against h0, the rest
    // against the stored outputs as one (T−1)·N-row product.
    let dw = (want_w && nh > 0 && d.steps > 0).then(|| {
        let mut dw = vec![T::zero(); g4 * h];
        let (lhs, rhs) = (Operand::new(g4, true), Operand::new(h, false));
        gemm_into(&mut dw, g4, h, d.batch, &dxg, lhs, h0, rhs, false);
        if d.steps > 1 {
            let rows = (d.steps - 1) * d.batch;
            gemm_into(&mut dw, g4, h, rows, &dxg[d.gates()..], lhs, &hs[..(d.steps - 1) * nh], rhs, true);
        }
        dw
    });
    let dw = if want_w && dw.is_none() { Some(vec![T::zero(); g4 * h]) } else { dw };
    (dxg, dw, dh, dc)
}

/// The same layer written with ops (per step: `xg[t] + h·W_hhᵀ`, chunks, σ/tanh, the
/// cell and the output), stacked to (2, T, N, H): the form the rule differentiates
/// under `create_graph`, and the reference the fused kernels are tested against.
pub(crate) fn lstm_sequence_ops<T: Element>(
    xg: &Tensor<T>,
    w_hh: &Tensor<T>,
    h0: &Tensor<T>,
    c0: &Tensor<T>,
) -> Result<Tensor<T>> {
    let steps = xg.shape[0];
    let (mut h, mut c) = (h0.clone(), c0.clone());
    let (mut hs, mut cs) = (Vec::with_capacity(steps), Vec::with_capacity(steps));
    for t in 0..steps {
        let gates = xg.narrow(0, t, 1)?.squeeze(0)?.add(&h.matmul_t(w_hh, false, true)?)?;
        let g = gates.chunk(4, -1)?;
        c = g[1].sigmoid().mul(&c)?.add(&g[0].sigmoid().mul(&g[2].tanh())?)?;
        h = g[3].sigmoid().mul(&c.tanh())?;
        hs.push(h.clone());
        cs.push(c.clone());
    }
    if steps == 0 {
        return Tensor::zeros(&[2, 0, h0.shape[0], h0.shape[1]]);
    }
    let stacked = |v: &[Tensor<T>]| Tensor::stack(&v.iter().collect::<Vec<_>>(), 0);
    Tensor::stack(&[&stacked(&hs)?, &stacked(&cs)?], 0)
}

impl<T: Element> Tensor<T> {
    /// One LSTM layer over a whole sequence, fused (PyTorch's `nn.LSTM` per layer, gate
    /// order i, f, g, o): `xg` (T, N, 4H) holds the input's gate pre-activations
    /// `x·W_ihᵀ + b_ih + b_hh` for every step, `w_hh` is (4H, H), `h0` and `c0` are
    /// (N, H). Per step `gates = xg[t] + h·W_hhᵀ`, `c = σ(f)·c + σ(i)·tanh(g)`,
    /// `h = σ(o)·tanh(c)`. Returns (2, T, N, H): every step's h, then every step's c.
    ///
    /// Gradient: backpropagation through time in one fused pass (the gate gradients
    /// `dc·tanh(g)·σ'(i)`, `dc·c_prev·σ'(f)`, `dc·σ(i)·tanh'(g)`, `dh·tanh(c)·σ'(o)`
    /// with `dc` collecting `dh·σ(o)·tanh'(c)` and `σ(f)·dc` of the next step), and
    /// `dW_hh = Σ_t dgates_tᵀ·h_{t−1}`; under `create_graph` the same layer written with
    /// ops is differentiated, so it is twice differentiable.
    ///
    /// Errors when the shapes do not fit together.
    ///
    /// ```
    /// use tensor_core::Tensor;
    /// // Zero gates: i = f = o = ½, g = 0, so c stays c0/2ⁿ and h = ½·tanh(c).
    /// let xg = Tensor::<f64>::zeros(&[2, 1, 4])?;
    /// let w = Tensor::zeros(&[4, 1])?;
    /// let c0 = Tensor::from_vec(vec![4.0], &[1, 1])?;
    /// let y = Tensor::lstm_sequence(&xg, &w, &Tensor::zeros(&[1, 1])?, &c0)?;
    /// assert_eq!(y.shape(), &[2, 2, 1, 1]);
    /// let v = y.to_vec();
    /// assert_eq!((v[2], v[3]), (2.0, 1.0)); // c after each step
    /// assert!((v[1] - 0.5 * 1f64.tanh()).abs() < 1e-15);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn lstm_sequence(
        xg: &Tensor<T>,
        w_hh: &Tensor<T>,
        h0: &Tensor<T>,
        c0: &Tensor<T>,
    ) -> Result<Tensor<T>> {
        let op = "lstm_sequence";
        let mismatch = |lhs: &Tensor<T>, rhs: &Tensor<T>, reason| Error::ShapeMismatch {
            op,
            lhs: lhs.shape.clone(),
            rhs: rhs.shape.clone(),
            reason,
        };
        if w_hh.ndim() != 2 || w_hh.shape[0] != 4 * w_hh.shape[1] {
            return Err(mismatch(w_hh, xg, "W_hh must be (4H, H)"));
        }
        let hidden = w_hh.shape[1];
        if xg.ndim() != 3 || xg.shape[2] != 4 * hidden {
            return Err(mismatch(xg, w_hh, "the input gates must be (T, N, 4H) with W_hh (4H, H)"));
        }
        let (steps, batch) = (xg.shape[0], xg.shape[1]);
        for s in [h0, c0] {
            if s.shape.as_slice() != [batch, hidden] {
                return Err(mismatch(s, xg, "h0 and c0 must be (N, H) for input gates (T, N, 4H)"));
            }
        }
        let d = Dims { steps, batch, hidden };
        let (out, tape) = forward(xg.as_slice(), w_hh.as_slice(), h0.as_slice(), c0.as_slice(), d);
        let y = Tensor::from_parts(out, shape_of(&[2, steps, batch, hidden]));
        let tape = Arc::new(tape);
        let inputs = [xg, w_hh, h0, c0];
        Ok(Tensor::record_builtin(op, &inputs, y, Save::INPUTS.and_output(), move |dy, s| {
            if is_grad_enabled() {
                return recompute_rule(dy, s, |x| lstm_sequence_ops(&x[0], &x[1], &x[2], &x[3]));
            }
            let (w_hh, h0, c0) = (s.input(1)?, s.input(2)?, s.input(3)?);
            let (dxg, dw, dh0, dc0) = backward(
                dy.as_slice(),
                s.output()?.as_slice(),
                &tape,
                w_hh.as_slice(),
                h0.as_slice(),
                c0.as_slice(),
                d,
                s.needs_grad(1),
            );
            let state = |v: Vec<T>| Tensor::from_parts(v, shape_of(&[batch, hidden]));
            Ok(smallvec::smallvec![
                s.needs_grad(0).then(|| Tensor::from_parts(dxg, shape_of(&[steps, batch, 4 * hidden]))),
                dw.map(|w| Tensor::from_parts(w, shape_of(&[4 * hidden, hidden]))),
                s.needs_grad(2).then(|| state(dh0)),
                s.needs_grad(3).then(|| state(dc0)),
            ])
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn random(shape: &[usize], rng: &mut StdRng) -> Tensor<f64> {
        Tensor::rand_uniform(shape, -1.0, 1.0, rng).expect("shape")
    }

    /// The fused forward and backward agree with the layer written with ops.
    #[test]
    fn fused_layer_matches_the_composition() -> Result<()> {
        let mut rng = StdRng::seed_from_u64(7);
        for (steps, batch, hidden) in [(1, 1, 1), (3, 2, 5), (5, 3, 4), (0, 2, 3)] {
            let xg = random(&[steps, batch, 4 * hidden], &mut rng).requires_grad();
            let w = random(&[4 * hidden, hidden], &mut rng).requires_grad();
            let h0 = random(&[batch, hidden], &mut rng).requires_grad();
            let c0 = random(&[batch, hidden], &mut rng).requires_grad();
            let weights = random(&[2, steps, batch, hidden], &mut rng);
            let fused = Tensor::lstm_sequence(&xg, &w, &h0, &c0)?;
            let ops = lstm_sequence_ops(&xg, &w, &h0, &c0)?;
            assert_eq!(fused.shape(), ops.shape());
            if steps == 0 {
                continue;
            }
            for (a, b) in fused.to_vec().iter().zip(ops.to_vec()) {
                assert!((a - b).abs() < 1e-14, "forward {a} vs {b}");
            }
            let gf = fused.mul(&weights)?.sum_all().backward()?;
            let go = ops.mul(&weights)?.sum_all().backward()?;
            for v in [&xg, &w, &h0, &c0] {
                let (a, b) = (gf.get_or_zeros(v).to_vec(), go.get_or_zeros(v).to_vec());
                for (a, b) in a.iter().zip(&b) {
                    assert!((a - b).abs() < 1e-13, "gradient {a} vs {b} ({steps}, {batch}, {hidden})");
                }
            }
        }
        Ok(())
    }
}
