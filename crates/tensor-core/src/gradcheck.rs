//! Gradient checking: compare the tape's gradients with central differences in f64.
//!
//! `numeric = (f(x + ε) − f(x − ε)) / 2ε` with ε = 1e-6, and an element passes when
//! `|analytic − numeric| ≤ atol + rtol·|numeric|` (atol 1e-5, rtol 1e-3: PyTorch's
//! defaults). Small problems compare the full Jacobian, one output element and one
//! input element at a time; larger ones compare a random projection `vᵀJu` (numeric)
//! with `(vᵀJ)·u` (one backward pass). The report names the worst element, not a
//! bare bool. [`gradgradcheck`] runs the same check on the gradient itself.

use crate::error::Result;
use crate::graph::BackwardOptions;
use crate::tensor::Tensor;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Tolerances and limits for [`gradcheck`].
#[derive(Debug, Clone)]
pub struct GradcheckOptions {
    /// Finite-difference step.
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numeric value).
    pub rtol: f64,
    /// Use the full Jacobian while `outputs × inputs` is at most this; else project.
    pub full_jacobian_limit: usize,
    /// Seed for the random projection vectors.
    pub seed: u64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions { eps: 1e-6, atol: 1e-5, rtol: 1e-3, full_jacobian_limit: 1 << 14, seed: 0x7a9e }
    }
}

/// The element of the comparison that was furthest outside (or least inside) its
/// tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Worst {
    /// Which input (position in the inputs slice); `None` for a projected check.
    pub input: Option<usize>,
    /// Flat index in that input; `None` for a projected check.
    pub index: Option<usize>,
    /// Flat index of the output element; `None` for a projected check.
    pub output_index: Option<usize>,
    /// The tape's value.
    pub analytic: f64,
    /// The central-difference value.
    pub numeric: f64,
    /// `|analytic − numeric|`.
    pub error: f64,
    /// The tolerance at this element, `atol + rtol·|numeric|`.
    pub allowed: f64,
}

/// The outcome of a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Whether every compared value was within tolerance.
    pub passed: bool,
    /// Whether the full Jacobian was compared (else a random projection).
    pub full_jacobian: bool,
    /// How many values were compared.
    pub compared: usize,
    /// The worst element (`None` when nothing was compared, e.g. empty inputs).
    pub worst: Option<Worst>,
}

impl std::fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let mode = if self.full_jacobian { "full Jacobian" } else { "projection vᵀJu" };
        write!(f, "gradcheck {verdict} ({mode}, {} values compared)", self.compared)?;
        if let Some(w) = &self.worst {
            let at = match (w.input, w.index, w.output_index) {
                (Some(i), Some(e), Some(o)) => format!("input {i} element {e}, output element {o}"),
                _ => "projection".to_string(),
            };
            write!(
                f,
                "; worst at {at}: analytic {:.10e}, numeric {:.10e}, error {:.3e} (allowed {:.3e})",
                w.analytic, w.numeric, w.error, w.allowed
            )?;
        }
        Ok(())
    }
}

impl GradcheckReport {
    fn consider(&mut self, candidate: Worst) {
        self.compared += 1;
        let ratio = |w: &Worst| if w.error.is_nan() { f64::INFINITY } else { w.error / w.allowed };
        if ratio(&candidate) > 1.0 {
            self.passed = false;
        }
        if self.worst.as_ref().is_none_or(|w| ratio(&candidate) > ratio(w)) {
            self.worst = Some(candidate);
        }
    }
}

/// Evaluates `f`, returning the output's elements (its graph is dropped with it).
fn evaluate<F>(f: &F, inputs: &[Tensor<f64>]) -> Result<Vec<f64>>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    f(inputs).map(|y| y.to_vec())
}

/// `inputs` with element `index` of input `which` moved by `delta`, as fresh variables.
fn perturbed(
    inputs: &[Tensor<f64>],
    which: usize,
    direction: &[f64],
    delta: f64,
) -> Result<Vec<Tensor<f64>>> {
    inputs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            if i != which {
                return Ok(t.detach().requires_grad());
            }
            let data: Vec<f64> = t.as_slice().iter().zip(direction).map(|(x, d)| x + delta * d).collect();
            Ok(Tensor::from_vec(data, t.shape())?.requires_grad())
        })
        .collect()
}

/// Checks the gradients of `f` at `inputs` against central differences.
///
/// ```
/// use tensor_core::gradcheck::{gradcheck, GradcheckOptions};
/// use tensor_core::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3])?;
/// let report = gradcheck(|xs| Ok(xs[0].tanh().sum_all()), &[x], &GradcheckOptions::default())?;
/// assert!(report.passed, "{report}");
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let vars: Vec<Tensor<f64>> = inputs.iter().map(|t| t.detach().requires_grad()).collect();
    let y = f(&vars)?;
    let out_n = y.numel();
    let in_total: usize = vars.iter().map(|v| v.numel()).sum();
    let mut report = GradcheckReport { passed: true, full_jacobian: true, compared: 0, worst: None };
    if out_n == 0 || in_total == 0 {
        return Ok(report);
    }
    let tolerance = |numeric: f64| opts.atol + opts.rtol * numeric.abs();
    // The analytic vᵀJ for a seed v, one vector per input.
    let vjp = |seed: Tensor<f64>| -> Result<Vec<Vec<f64>>> {
        if !y.is_recorded() {
            return Ok(vars.iter().map(|v| vec![0.0; v.numel()]).collect());
        }
        let g =
            y.backward_with(BackwardOptions { seed: Some(seed), keep_graph: true, ..Default::default() })?;
        Ok(vars.iter().map(|v| g.get_or_zeros(v).to_vec()).collect())
    };
    if out_n * in_total <= opts.full_jacobian_limit {
        let mut rows = Vec::with_capacity(out_n);
        for o in 0..out_n {
            let mut seed = vec![0.0; out_n];
            seed[o] = 1.0;
            rows.push(vjp(Tensor::from_vec(seed, y.shape())?)?);
        }
        for (i, v) in vars.iter().enumerate() {
            for e in 0..v.numel() {
                let mut dir = vec![0.0; v.numel()];
                dir[e] = 1.0;
                let plus = evaluate(&f, &perturbed(&vars, i, &dir, opts.eps)?)?;
                let minus = evaluate(&f, &perturbed(&vars, i, &dir, -opts.eps)?)?;
                for o in 0..out_n {
                    let numeric = (plus[o] - minus[o]) / (2.0 * opts.eps);
                    let analytic = rows[o][i][e];
                    report.consider(Worst {
                        input: Some(i),
                        index: Some(e),
                        output_index: Some(o),
                        analytic,
                        numeric,
                        error: (analytic - numeric).abs(),
                        allowed: tolerance(numeric),
                    });
                }
            }
        }
        return Ok(report);
    }
    report.full_jacobian = false;
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let v = Tensor::<f64>::rand_normal(y.shape(), 0.0, 1.0, &mut rng)?;
    let u: Vec<Tensor<f64>> =
        vars.iter().map(|x| Tensor::rand_normal(x.shape(), 0.0, 1.0, &mut rng)).collect::<Result<_>>()?;
    let g = vjp(v.clone())?;
    let analytic: f64 =
        g.iter().zip(&u).map(|(gi, ui)| gi.iter().zip(ui.as_slice()).map(|(a, b)| a * b).sum::<f64>()).sum();
    // Move every input along u at once: f(x + εu) − f(x − εu) ≈ 2ε·Ju.
    let shift = |delta: f64| -> Result<Vec<Tensor<f64>>> {
        vars.iter()
            .zip(&u)
            .map(|(x, d)| {
                let data = x.as_slice().iter().zip(d.as_slice()).map(|(a, b)| a + delta * b).collect();
                Ok(Tensor::from_vec(data, x.shape())?.requires_grad())
            })
            .collect()
    };
    let plus = evaluate(&f, &shift(opts.eps)?)?;
    let minus = evaluate(&f, &shift(-opts.eps)?)?;
    let numeric: f64 =
        plus.iter().zip(&minus).zip(v.as_slice()).map(|((p, m), w)| (p - m) / (2.0 * opts.eps) * w).sum();
    report.consider(Worst {
        input: None,
        index: None,
        output_index: None,
        analytic,
        numeric,
        error: (analytic - numeric).abs(),
        allowed: tolerance(numeric),
    });
    Ok(report)
}

/// Checks second derivatives: runs [`gradcheck`] on `x ↦ vᵀJ_f(x)` (the gradient of
/// `Σ f(x)·v` for a fixed random `v`), computed with `create_graph` so the gradient
/// is itself on the tape.
pub fn gradgradcheck<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let shape = crate::graph::no_grad(|| f(inputs)).map(|y| y.shape().to_vec())?;
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x5eed);
    let v = Tensor::<f64>::rand_normal(&shape, 0.0, 1.0, &mut rng)?;
    let grad_of_f = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> {
        let s = f(xs)?.mul(&v)?.sum_all();
        let parts: Vec<Tensor<f64>> = if s.is_recorded() {
            let g = s.backward_with(BackwardOptions { create_graph: true, ..Default::default() })?;
            xs.iter().map(|x| g.get_or_zeros(x).flatten()).collect()
        } else {
            xs.iter().map(|x| x.zeros_like().flatten()).collect()
        };
        let refs: Vec<&Tensor<f64>> = parts.iter().collect();
        Tensor::concat(&refs, 0)
    };
    gradcheck(grad_of_f, inputs, opts)
}
