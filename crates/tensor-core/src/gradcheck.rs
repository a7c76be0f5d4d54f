//! Gradient checking: compare the gradients a graph computes with central differences.
//!
//! `numeric = (f(x + ε) − f(x − ε)) / 2ε` (ε = 1e-6 in f64), and a value passes when
//! `|analytic − numeric| ≤ atol + rtol·|numeric|` (atol 1e-5, rtol 1e-3: PyTorch's
//! defaults) **and both are finite**. The checks, none of which a wrong rule can
//! slip past by accident:
//!
//! - **Jacobian**: every entry `∂y[o]/∂x[e]`, one backward per output element with a
//!   one-hot cotangent, against one pair of perturbed forwards per input element.
//! - **Random cotangent (VJP)**: one more backward seeded with a random `w` (normal
//!   entries; for a scalar output a random scale `±[1.5, 3]`, never 1), against
//!   `wᵀ·J_numeric`. A rule that ignores `dy`, or uses `|dy|` or `dy²`, agrees with the
//!   Jacobian at one-hot seeds and fails here.
//! - **Reproducible**: the random-cotangent backward runs twice and must agree to
//!   [`GradcheckOptions::nondet_tol`] (0 by default), as PyTorch checks reentrancy.
//! - **Non-finite values fail** with their own message: a NaN or infinite numeric
//!   derivative (f is singular within ±ε), analytic gradient or forward value is never
//!   compared as if it were a number (`inf − inf` is NaN, and `NaN > tol` is false).
//!
//! The full Jacobian is the default whatever the size; random projections
//! `wᵀJu` (numeric) against `(wᵀJ)·u` are checked only on request
//! ([`Mode::Projections`]), and the report says how many were used. Above
//! [`GradcheckOptions::full_jacobian_limit`] entries the full check is an error that
//! says so, never a silent switch.
//!
//! The report ([`GradcheckReport`]) names the order (first or second), the check, the
//! input and its multi-dimensional index, the input's value there, the output index,
//! the analytic and numeric values and the tolerance; how the output was recorded; and
//! hints (an unrecorded output, an input no gradient reaches, a rule not linear in
//! `dy`).
//!
//! [`gradgradcheck`] checks second derivatives the way PyTorch's `gradgradcheck` does:
//! the gradient `g(x, v) = vᵀJ_f(x)`, built with `create_graph`, is checked with
//! respect to the inputs *and* the cotangent `v`.
//!
//! **Mixed precision.** [`gradcheck_f32`] checks an op written for `f32`: the numeric
//! derivative is a central difference of the f32 forward, taken in f64 around it (the
//! perturbed points are rounded to f32 and the step actually taken is used), with
//! [`GradcheckOptions::f32`]'s tolerances derived from f32's machine epsilon.
//! [`gradcheck_f32_with_reference`] compares the f32 op's gradient with central
//! differences of an f64 evaluation of the same op, at tighter tolerances
//! ([`GradcheckOptions::f32_with_reference`]).
//!
//! The checker never touches the caller's graphs: it differentiates fresh variables
//! made from the inputs' values, keeps every graph it walks, and evaluates perturbed
//! points on constants.

// Crate-root paths only: the graph's modules may move, its public names stay.
use crate::{BackwardOptions, Element, Error, Result, Tensor};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

/// Which comparisons to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every Jacobian entry, plus one random-cotangent VJP per input element (the default).
    Full,
    /// `n` random projections `wᵀJu` only: cheaper (two forwards and one backward each),
    /// but a wrong element may be missed. Only on request; the report says so.
    Projections(usize),
}

/// Tolerances and limits for [`gradcheck`] and friends.
#[derive(Debug, Clone)]
pub struct GradcheckOptions {
    /// Finite-difference step (absolute).
    pub eps: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (relative to the numeric value).
    pub rtol: f64,
    /// Full Jacobian (default) or random projections.
    pub mode: Mode,
    /// In [`Mode::Full`], more than this many Jacobian entries (outputs × checked input
    /// elements) is an error suggesting [`Mode::Projections`], not a silent switch.
    pub full_jacobian_limit: usize,
    /// Seed for the random cotangents and projections (checks are deterministic).
    pub seed: u64,
    /// Inputs not to check (indices into the inputs slice): passed to `f` as constants,
    /// never perturbed, never differentiated — for index, mask or label inputs.
    pub skip_inputs: Vec<usize>,
    /// Two backward passes with the same cotangent may differ by at most this much
    /// (PyTorch's `nondet_tol`; 0: the gradient must be reproducible bit for bit).
    pub nondet_tol: f64,
}

impl Default for GradcheckOptions {
    fn default() -> Self {
        GradcheckOptions {
            eps: 1e-6,
            atol: 1e-5,
            rtol: 1e-3,
            mode: Mode::Full,
            full_jacobian_limit: 1 << 24,
            seed: 0x7a9e,
            skip_inputs: Vec::new(),
            nondet_tol: 0.0,
        }
    }
}

impl GradcheckOptions {
    /// Options for [`gradcheck_f32`] (central differences of the f32 forward), derived
    /// from f32's machine epsilon `u = 2⁻²³`: the step `ε = u^⅓ ≈ 4.9e-3` balances the
    /// truncation error (`ε²·|f'''|/6`) against rounding (`u·|f|/ε`), both `≈ u^⅔`; the
    /// tolerances are `atol = rtol = 64·u^⅔ ≈ 1.5e-3`, room for a few dozen ulps of
    /// rounding in the forward.
    pub fn f32() -> Self {
        let u = f64::from(f32::EPSILON);
        let tol = 64.0 * u.powf(2.0 / 3.0);
        GradcheckOptions { eps: u.cbrt(), atol: tol, rtol: tol, ..Default::default() }
    }

    /// Options for [`gradcheck_f32_with_reference`] (central differences of an f64
    /// evaluation, accurate to ~1e-10): ε = 1e-6, and tolerances for the f32 analytic
    /// gradient alone, `rtol = 1024·u ≈ 1.2e-4` and `atol = 128·u ≈ 1.5e-5` with
    /// `u = 2⁻²³` (TESTING.md's f32-vs-f64 rule: rtol 1e-4, atol 1e-5).
    pub fn f32_with_reference() -> Self {
        let u = f64::from(f32::EPSILON);
        GradcheckOptions { eps: 1e-6, atol: 128.0 * u, rtol: 1024.0 * u, ..Default::default() }
    }

    /// These options with `inputs` marked "do not check" (see [`skip_inputs`](Self::skip_inputs)).
    pub fn skip(mut self, inputs: &[usize]) -> Self {
        self.skip_inputs.extend_from_slice(inputs);
        self
    }

    /// These options in [`Mode::Projections`] with `n` projections.
    pub fn projections(mut self, n: usize) -> Self {
        self.mode = Mode::Projections(n);
        self
    }
}

/// First or second derivatives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// [`gradcheck`], [`gradcheck_f32`], [`gradcheck_f32_with_reference`].
    First,
    /// [`gradgradcheck`].
    Second,
}

impl std::fmt::Display for Order {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Order::First => "first-order",
            Order::Second => "second-order",
        })
    }
}

/// Which comparison a value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// One Jacobian entry `∂y[o]/∂x[e]` (one-hot cotangent).
    Jacobian,
    /// `(wᵀJ)[e]` for the random cotangent `w`.
    RandomCotangent,
    /// A random projection `wᵀJu`.
    Projection,
}

/// What was not finite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFiniteKind {
    /// `f`'s own output at the checked point.
    Output,
    /// The central difference: `f` is singular or overflows within ±ε of the point.
    Numeric,
    /// The gradient the graph computed.
    Analytic,
}

/// One compared value and where it was taken.
#[derive(Debug, Clone, PartialEq)]
pub struct Worst {
    /// Which comparison.
    pub check: Check,
    /// Which input (position in the inputs slice; for [`gradgradcheck`], one past the
    /// last input is the cotangent `v`); `None` for a projection.
    pub input: Option<usize>,
    /// The input's name in reports (`x0`, `x1`, …, `v`).
    pub input_name: String,
    /// Multi-dimensional index in that input; `None` for a projection.
    pub index: Option<Vec<usize>>,
    /// The input's value at that index.
    pub value: Option<f64>,
    /// The output's name in reports (`y`; for second order `∂L/∂x0`, … with `L = Σ v·f`).
    pub output_name: String,
    /// Multi-dimensional index of the output element (Jacobian entries only).
    pub output_index: Option<Vec<usize>>,
    /// The graph's value.
    pub analytic: f64,
    /// The central-difference value.
    pub numeric: f64,
    /// `|analytic − numeric|` (infinite when either is not finite).
    pub error: f64,
    /// The tolerance here, `atol + rtol·|numeric|` (for a VJP or projection the same
    /// bound propagated through the sum).
    pub allowed: f64,
}

/// A non-finite value found during the check: always a failure.
#[derive(Debug, Clone, PartialEq)]
pub struct NonFinite {
    /// What was not finite.
    pub kind: NonFiniteKind,
    /// Where (for [`NonFiniteKind::Output`], only the output index is meaningful).
    pub at: Worst,
}

/// The outcome of a gradient check. `Display` gives the whole story on a few lines.
#[derive(Debug, Clone, PartialEq)]
pub struct GradcheckReport {
    /// Whether every compared value was finite and within tolerance.
    pub passed: bool,
    /// First or second derivatives.
    pub order: Order,
    /// The comparisons made.
    pub mode: Mode,
    /// The element type of the checked op and the reference of the numeric
    /// derivative, e.g. `"f64"` or `"f32 (central differences of the f32 forward in f64)"`.
    pub precision: String,
    /// How many values were compared.
    pub compared: usize,
    /// The value furthest outside (or least inside) its tolerance.
    pub worst: Option<Worst>,
    /// The first non-finite value, if any (the check failed).
    pub non_finite: Option<NonFinite>,
    /// The largest difference between two backward passes with the same cotangent,
    /// when it exceeded [`GradcheckOptions::nondet_tol`] (the check failed).
    pub nondeterminism: Option<f64>,
    /// Whether the output was recorded (built by recorded ops from the inputs).
    pub output_recorded: bool,
    /// How the output was recorded, as its `Debug` shows it (its op).
    pub output_origin: String,
    /// What probably went wrong, when something did.
    pub hints: Vec<String>,
}

fn fmt_index(index: &[usize]) -> String {
    let parts: Vec<String> = index.iter().map(|i| i.to_string()).collect();
    format!("[{}]", parts.join(", "))
}

impl Worst {
    fn place(&self) -> String {
        match (self.check, &self.index) {
            (Check::Projection, _) | (_, None) => "a random projection wᵀJu".to_string(),
            (Check::Jacobian, Some(e)) => format!(
                "∂{}{}/∂{}{}",
                self.output_name,
                self.output_index.as_deref().map(fmt_index).unwrap_or_default(),
                self.input_name,
                fmt_index(e)
            ),
            (Check::RandomCotangent, Some(e)) => {
                format!(
                    "(wᵀ∂{}/∂{}){} for a random cotangent w",
                    self.output_name,
                    self.input_name,
                    fmt_index(e)
                )
            }
        }
    }

    fn value_text(&self) -> String {
        match (&self.index, self.value) {
            (Some(e), Some(v)) => format!(" where {}{} = {v:.6e}", self.input_name, fmt_index(e)),
            _ => String::new(),
        }
    }
}

impl std::fmt::Display for GradcheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed { "passed" } else { "FAILED" };
        let mode = match self.mode {
            Mode::Full => "full Jacobian + random-cotangent VJP".to_string(),
            Mode::Projections(n) => {
                format!(
                    "{n} random projection{} wᵀJu only, not the full Jacobian",
                    if n == 1 { "" } else { "s" }
                )
            }
        };
        write!(
            f,
            "{} gradcheck {verdict} ({mode}; {}; {} values compared)",
            self.order, self.precision, self.compared
        )?;
        if let Some(nf) = &self.non_finite {
            let w = &nf.at;
            match nf.kind {
                NonFiniteKind::Output => write!(
                    f,
                    "\n  non-finite output: {}{} = {} at the checked point; nothing can be compared there",
                    w.output_name,
                    w.output_index.as_deref().map(fmt_index).unwrap_or_default(),
                    w.numeric
                )?,
                NonFiniteKind::Numeric => write!(
                    f,
                    "\n  non-finite numeric derivative at {}{}: numeric {}, analytic {:.10e}; f is singular or \
                     overflows within ±ε of this point: keep inputs away from it (strategies::Domain::avoid_near) \
                     — a failure, never a pass",
                    w.place(),
                    w.value_text(),
                    w.numeric,
                    w.analytic
                )?,
                NonFiniteKind::Analytic => write!(
                    f,
                    "\n  non-finite analytic gradient at {}{}: analytic {}, numeric {:.10e}; the gradient rule \
                     produced it",
                    w.place(),
                    w.value_text(),
                    w.analytic,
                    w.numeric
                )?,
            }
        }
        if let Some(d) = self.nondeterminism {
            write!(
                f,
                "\n  non-deterministic backward: two backward passes with the same cotangent differ by up to \
                 {d:.3e}; a rule that keeps state between calls, or an unordered parallel sum"
            )?;
        }
        if let Some(w) = &self.worst {
            write!(
                f,
                "\n  worst: {}{}: analytic {:.10e}, numeric {:.10e}, error {:.3e} (allowed {:.3e})",
                w.place(),
                w.value_text(),
                w.analytic,
                w.numeric,
                w.error,
                w.allowed
            )?;
        }
        let recorded = if self.output_recorded { "" } else { " (NOT recorded)" };
        write!(f, "\n  output: {}{recorded}", self.output_origin)?;
        for h in &self.hints {
            write!(f, "\n  hint: {h}")?;
        }
        Ok(())
    }
}

fn ratio(w: &Worst) -> f64 {
    if w.error.is_nan() { f64::INFINITY } else { w.error / w.allowed }
}

impl GradcheckReport {
    fn consider(&mut self, candidate: Worst) {
        self.compared += 1;
        let kind = if !candidate.numeric.is_finite() {
            Some(NonFiniteKind::Numeric)
        } else if !candidate.analytic.is_finite() {
            Some(NonFiniteKind::Analytic)
        } else {
            None
        };
        if let Some(kind) = kind {
            self.passed = false;
            if self.non_finite.is_none() {
                self.non_finite = Some(NonFinite { kind, at: candidate });
            }
            return;
        }
        if ratio(&candidate).is_nan() || ratio(&candidate) > 1.0 {
            self.passed = false;
        }
        if self.worst.as_ref().is_none_or(|w| ratio(&candidate) > ratio(w)) {
            self.worst = Some(candidate);
        }
    }
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (slot, &d) in index.iter_mut().zip(shape).rev() {
        if d > 0 {
            *slot = flat % d;
            flat /= d;
        }
    }
    index
}

/// The output's `Debug` text without its elements: the op that recorded it.
fn origin_of<T: Element>(y: &Tensor<T>) -> String {
    let text = format!("{y:?}");
    let short = match text.rfind(", [") {
        Some(cut) => format!("{})", &text[..cut]),
        None => text,
    };
    short.chars().take(300).collect()
}

/// A named block of elements of a flat vector (an input, or a part of the output).
#[derive(Clone)]
struct Block {
    name: String,
    shape: Vec<usize>,
}

/// Maps a flat index of a concatenation of blocks to (block, multi-index).
fn locate(blocks: &[Block], mut flat: usize) -> (usize, Vec<usize>) {
    for (b, block) in blocks.iter().enumerate() {
        let n: usize = block.shape.iter().product();
        if flat < n {
            return (b, unravel(flat, &block.shape));
        }
        flat -= n;
    }
    (blocks.len().saturating_sub(1), Vec::new())
}

/// A random cotangent: normal entries, or for a single element a random scale
/// `±[1.5, 3]` so that a rule ignoring `dy` cannot agree by accident.
fn random_cotangent(n: usize, rng: &mut StdRng) -> Vec<f64> {
    if n == 1 {
        let s: f64 = rng.random_range(1.5..3.0);
        return vec![if rng.random::<bool>() { s } else { -s }];
    }
    (0..n).map(|_| StandardNormal.sample(&mut *rng)).collect()
}

/// The function whose graph gives the analytic side.
type AnalyticFn<'a, T> = dyn Fn(&[Tensor<T>]) -> Result<Tensor<T>> + 'a;
/// The function evaluated at perturbed points (in f64, on constants).
type NumericFn<'a> = dyn Fn(&[Tensor<f64>]) -> Result<Vec<f64>> + 'a;

/// Everything one check needs; `T` is the element type the analytic side runs in.
struct Problem<'a, T: Element> {
    order: Order,
    precision: String,
    /// Inputs in f64 (exact for f32 inputs), their names, and whether each is checked.
    point: Vec<Tensor<f64>>,
    names: Vec<String>,
    checked: Vec<bool>,
    /// The output's blocks (`None`: one block `y` of the output's shape).
    out_blocks: Option<Vec<Block>>,
    analytic: &'a AnalyticFn<'a, T>,
    /// Evaluates at a point given in f64, on constants; the output in f64.
    numeric: &'a NumericFn<'a>,
    /// Where a perturbed coordinate really lands (identity in f64; rounding for f32).
    round: fn(f64) -> f64,
    /// Scale the step with the value (`ε·max(1, |x|)`), so that `x ± ε` stays apart in
    /// a forward that rounds to f32.
    relative_step: bool,
}

fn to_t<T: Element>(t: &Tensor<f64>) -> Result<Tensor<T>> {
    Tensor::from_vec(t.as_slice().iter().map(|&x| T::from_f64(x)).collect(), t.shape())
}

fn to_f64<T: Element>(t: &Tensor<T>) -> Vec<f64> {
    t.as_slice().iter().map(|x| x.as_f64()).collect()
}

/// `vᵀJ` from the graph of `y`, one vector per input (zeros for an unchecked input or
/// an input no gradient reaches). Keeps the graph, so it can be walked again.
fn vjp<T: Element>(y: &Tensor<T>, vars: &[Tensor<T>], seed: &[f64]) -> Result<Vec<Vec<f64>>> {
    if !y.is_recorded() {
        return Ok(vars.iter().map(|v| vec![0.0; v.numel()]).collect());
    }
    let seed = Tensor::from_vec(seed.iter().map(|&s| T::from_f64(s)).collect(), y.shape())?;
    let g = y.backward_with(BackwardOptions { seed: Some(seed), keep_graph: true, ..Default::default() })?;
    vars.iter()
        .enumerate()
        .map(|(i, v)| match g.get(v) {
            Some(grad) if grad.numel() != v.numel() => Err(Error::InvalidArgument {
                op: "gradcheck",
                reason: format!(
                    "the gradient of input {i} has shape {:?}, the input has shape {:?}",
                    grad.shape(),
                    v.shape()
                ),
            }),
            Some(grad) => Ok(to_f64(grad)),
            None => Ok(vec![0.0; v.numel()]),
        })
        .collect()
}

/// Options that would make the comparison meaningless are errors, not reports.
fn validate(opts: &GradcheckOptions) -> Result<()> {
    let bad = |reason: String| Err(Error::InvalidArgument { op: "gradcheck", reason });
    if !(opts.eps.is_finite() && opts.eps > 0.0) {
        return bad(format!("eps must be finite and positive, got {}", opts.eps));
    }
    if !(opts.atol >= 0.0 && opts.rtol >= 0.0 && opts.nondet_tol >= 0.0) {
        return bad(format!(
            "atol, rtol and nondet_tol must be non-negative, got {}, {} and {}",
            opts.atol, opts.rtol, opts.nondet_tol
        ));
    }
    if opts.mode == Mode::Projections(0) {
        return bad("Mode::Projections(0) would compare nothing; ask for at least one".to_string());
    }
    Ok(())
}

fn run<T: Element>(p: Problem<'_, T>, opts: &GradcheckOptions) -> Result<GradcheckReport> {
    validate(opts)?;
    let vars: Vec<Tensor<T>> = p
        .point
        .iter()
        .zip(&p.checked)
        .map(|(x, &c)| to_t::<T>(x).map(|t| if c { t.requires_grad() } else { t }))
        .collect::<Result<_>>()?;
    let y = (p.analytic)(&vars)?;
    let out_n = y.numel();
    let y_values = to_f64(&y);
    let out_blocks =
        p.out_blocks.clone().unwrap_or_else(|| vec![Block { name: "y".into(), shape: y.shape().to_vec() }]);
    let mut report = GradcheckReport {
        passed: true,
        order: p.order,
        mode: opts.mode,
        precision: p.precision.clone(),
        compared: 0,
        worst: None,
        non_finite: None,
        nondeterminism: None,
        output_recorded: y.is_recorded(),
        output_origin: origin_of(&y),
        hints: Vec::new(),
    };
    let entry = |check: Check,
                 input: Option<(usize, usize)>,
                 output: Option<usize>,
                 analytic: f64,
                 numeric: f64,
                 allowed: f64| {
        let (input_name, index, value) = match input {
            Some((i, e)) => {
                (p.names[i].clone(), Some(unravel(e, p.point[i].shape())), Some(p.point[i].as_slice()[e]))
            }
            None => ("x".to_string(), None, None),
        };
        let (output_name, output_index) = match output {
            Some(o) => {
                let (b, idx) = locate(&out_blocks, o);
                (out_blocks[b].name.clone(), Some(idx))
            }
            None => (out_blocks.first().map(|b| b.name.clone()).unwrap_or_default(), None),
        };
        let error = if analytic.is_finite() && numeric.is_finite() {
            (analytic - numeric).abs()
        } else {
            f64::INFINITY
        };
        Worst {
            check,
            input: input.map(|(i, _)| i),
            input_name,
            index,
            value,
            output_name,
            output_index,
            analytic,
            numeric,
            error,
            allowed,
        }
    };
    if let Some(o) = y_values.iter().position(|v| !v.is_finite()) {
        report.passed = false;
        report.non_finite = Some(NonFinite {
            kind: NonFiniteKind::Output,
            at: entry(Check::Jacobian, None, Some(o), f64::NAN, y_values[o], 0.0),
        });
        return Ok(report);
    }
    let checked_total: usize =
        p.point.iter().zip(&p.checked).filter(|(_, c)| **c).map(|(x, _)| x.numel()).sum();
    if out_n == 0 || checked_total == 0 {
        return Ok(report);
    }
    let tolerance = |numeric: f64| opts.atol + opts.rtol * numeric.abs();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    // Evaluates f at the point with some inputs replaced by moved values (`Some`), on
    // constants; the output must keep its element count.
    let evaluate_moved = |moves: &[Option<Vec<f64>>]| -> Result<Vec<f64>> {
        let xs: Vec<Tensor<f64>> = p
            .point
            .iter()
            .zip(moves)
            .map(|(x, m)| match m {
                Some(values) => Tensor::from_vec(values.clone(), x.shape()),
                None => Ok(x.clone()),
            })
            .collect::<Result<_>>()?;
        let out = (p.numeric)(&xs)?;
        if out.len() != out_n {
            return Err(Error::InvalidArgument {
                op: "gradcheck",
                reason: format!(
                    "f's output has {} elements at a perturbed point but {out_n} at the input",
                    out.len()
                ),
            });
        }
        Ok(out)
    };
    let mut any_numeric_nonzero = false;
    let mut vjp_only_failures = false;
    match opts.mode {
        Mode::Full => {
            let entries = out_n.saturating_mul(checked_total);
            if entries > opts.full_jacobian_limit {
                return Err(Error::InvalidArgument {
                    op: "gradcheck",
                    reason: format!(
                        "the full Jacobian has {entries} entries ({out_n} outputs × {checked_total} checked input \
                         elements), above full_jacobian_limit {}; check a smaller input, raise the limit, or ask for \
                         random projections with GradcheckOptions::projections(n) (which may miss a wrong element)",
                        opts.full_jacobian_limit
                    ),
                });
            }
            let mut rows = Vec::with_capacity(out_n);
            for o in 0..out_n {
                let mut seed = vec![0.0; out_n];
                seed[o] = 1.0;
                rows.push(vjp(&y, &vars, &seed)?);
            }
            let w = random_cotangent(out_n, &mut rng);
            let w_row = vjp(&y, &vars, &w)?;
            check_reentrant(&mut report, &w_row, &vjp(&y, &vars, &w)?, opts.nondet_tol);
            let mut jacobian_failed = false;
            let mut vjp_failed = false;
            let mut input_dead = vec![true; p.point.len()];
            let mut input_moves = vec![false; p.point.len()];
            for i in (0..p.point.len()).filter(|&i| p.checked[i]) {
                let x = p.point[i].as_slice();
                for e in 0..x.len() {
                    let mut moves: Vec<Option<Vec<f64>>> = vec![None; p.point.len()];
                    let h = if p.relative_step { opts.eps * x[e].abs().max(1.0) } else { opts.eps };
                    let (hi, lo) = ((p.round)(x[e] + h), (p.round)(x[e] - h));
                    let mut up = x.to_vec();
                    up[e] = hi;
                    moves[i] = Some(up);
                    let plus = evaluate_moved(&moves)?;
                    let mut down = x.to_vec();
                    down[e] = lo;
                    moves[i] = Some(down);
                    let minus = evaluate_moved(&moves)?;
                    let step = hi - lo;
                    let mut w_numeric = 0.0;
                    let mut w_scale = 0.0;
                    let mut w_abs = 0.0;
                    for o in 0..out_n {
                        let numeric = (plus[o] - minus[o]) / step;
                        let analytic = rows[o][i][e];
                        if numeric != 0.0 {
                            any_numeric_nonzero = true;
                            input_moves[i] = true;
                        }
                        if analytic != 0.0 {
                            input_dead[i] = false;
                        }
                        let before = report.passed;
                        report.consider(entry(
                            Check::Jacobian,
                            Some((i, e)),
                            Some(o),
                            analytic,
                            numeric,
                            tolerance(numeric),
                        ));
                        jacobian_failed |= before && !report.passed;
                        w_numeric += w[o] * numeric;
                        w_scale += (w[o] * numeric).abs();
                        w_abs += w[o].abs();
                    }
                    let before = report.passed;
                    let allowed = opts.atol * w_abs + opts.rtol * w_scale;
                    report.consider(entry(
                        Check::RandomCotangent,
                        Some((i, e)),
                        None,
                        w_row[i][e],
                        w_numeric,
                        allowed,
                    ));
                    vjp_failed |= before && !report.passed;
                }
            }
            vjp_only_failures = vjp_failed && !jacobian_failed;
            for i in 0..p.point.len() {
                if p.checked[i] && input_dead[i] && input_moves[i] && y.is_recorded() {
                    report.hints.push(match p.order {
                        Order::First => format!(
                            "no gradient reaches {} although the output depends on it: is an op on its path not \
                             recorded (a custom op that forgot Tensor::record, a detach(), a no_grad)?",
                            p.names[i]
                        ),
                        Order::Second => format!(
                            "the gradient has no derivative with respect to {} although it changes with it: a \
                             rule treats part of its result as a constant (built with map(), as_slice() or \
                             detach())",
                            p.names[i]
                        ),
                    });
                }
            }
        }
        Mode::Projections(count) => {
            for k in 0..count {
                let w = random_cotangent(out_n, &mut rng);
                let w_row = vjp(&y, &vars, &w)?;
                if k == 0 {
                    check_reentrant(&mut report, &w_row, &vjp(&y, &vars, &w)?, opts.nondet_tol);
                }
                let mut ups: Vec<Option<Vec<f64>>> = vec![None; p.point.len()];
                let mut downs: Vec<Option<Vec<f64>>> = vec![None; p.point.len()];
                let mut analytic = 0.0;
                for i in (0..p.point.len()).filter(|&i| p.checked[i]) {
                    let x = p.point[i].as_slice();
                    let u: Vec<f64> = (0..x.len()).map(|_| StandardNormal.sample(&mut rng)).collect();
                    let up: Vec<f64> = x.iter().zip(&u).map(|(a, b)| (p.round)(a + opts.eps * b)).collect();
                    let down: Vec<f64> = x.iter().zip(&u).map(|(a, b)| (p.round)(a - opts.eps * b)).collect();
                    // The direction really taken (rounding may shorten a step), per 2ε.
                    for e in 0..x.len() {
                        analytic += w_row[i][e] * (up[e] - down[e]) / (2.0 * opts.eps);
                    }
                    ups[i] = Some(up);
                    downs[i] = Some(down);
                }
                let plus = evaluate_moved(&ups)?;
                let minus = evaluate_moved(&downs)?;
                let mut numeric = 0.0;
                let mut scale = 0.0;
                let mut w_abs = 0.0;
                for o in 0..out_n {
                    let d = (plus[o] - minus[o]) / (2.0 * opts.eps);
                    any_numeric_nonzero |= d != 0.0;
                    numeric += w[o] * d;
                    scale += (w[o] * d).abs();
                    w_abs += w[o].abs();
                }
                report.consider(entry(
                    Check::Projection,
                    None,
                    None,
                    analytic,
                    numeric,
                    opts.atol * w_abs + opts.rtol * scale,
                ));
            }
        }
    }
    if !report.passed {
        if !y.is_recorded() && any_numeric_nonzero {
            report.hints.insert(
                0,
                "the output is not recorded, yet it changes with the inputs: the gradient is missing, not wrong. \
                 A custom op must return the tensor Tensor::record gives back (a forward built with map() alone \
                 records nothing); also look for detach() and no_grad"
                    .to_string(),
            );
        }
        if vjp_only_failures {
            report.hints.push(
                "every Jacobian entry matches with one-hot cotangents, but the VJP with a random cotangent does \
                 not: the rule is not linear in dy (it ignores dy, or uses |dy|, dy², …)"
                    .to_string(),
            );
        }
        if p.order == Order::Second {
            report.hints.push(
                "second order checks the gradient g = vᵀJ (L = Σ v·f) against central differences of g, with \
                 respect to each input and to v: a rule must be written with differentiable tensor ops (not \
                 map() or as_slice()) and use dy linearly for its own gradient to be right"
                    .to_string(),
            );
        }
    }
    Ok(report)
}

/// Fails the report when two backward passes with the same cotangent differ by more
/// than `tolerance` (PyTorch's reentrancy check).
fn check_reentrant(report: &mut GradcheckReport, a: &[Vec<f64>], b: &[Vec<f64>], tolerance: f64) {
    let worst = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| if x == y || x.is_nan() && y.is_nan() { 0.0 } else { (x - y).abs() })
        .fold(0.0, |m: f64, d| if d.is_nan() || d > m { d } else { m });
    if worst.is_nan() || worst > tolerance {
        report.passed = false;
        report.nondeterminism = Some(worst);
    }
}

fn check_skip(skip: &[usize], n: usize) -> Result<Vec<bool>> {
    if let Some(&bad) = skip.iter().find(|&&s| s >= n) {
        return Err(Error::InvalidArgument {
            op: "gradcheck",
            reason: format!("skip_inputs names input {bad}, but there are only {n} inputs"),
        });
    }
    Ok((0..n).map(|i| !skip.contains(&i)).collect())
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("x{i}")).collect()
}

/// Evaluates `f` on constants and returns the output's elements.
fn evaluate_f64<F>(f: &F, xs: &[Tensor<f64>]) -> Result<Vec<f64>>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let constants: Vec<Tensor<f64>> = xs.iter().map(|x| x.detach()).collect();
    f(&constants).map(|y| y.to_vec())
}

/// Checks the first derivatives of `f` at `inputs` against central differences in f64:
/// the full Jacobian and a random-cotangent VJP (see the module docs).
///
/// ```
/// use tensor_core::gradcheck::{gradcheck, GradcheckOptions};
/// use tensor_core::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -1.2, 2.0], &[3])?;
/// let report = gradcheck(|xs| Ok(xs[0].tanh().sum_all()), &[x], &GradcheckOptions::default())?;
/// assert!(report.passed, "{report}");
/// # Ok::<(), tensor_core::Error>(())
/// ```
///
/// # Errors
/// What `f` returns; an out-of-range [`skip_inputs`](GradcheckOptions::skip_inputs);
/// a Jacobian above [`full_jacobian_limit`](GradcheckOptions::full_jacobian_limit).
pub fn gradcheck<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let checked = check_skip(&opts.skip_inputs, inputs.len())?;
    let numeric = |xs: &[Tensor<f64>]| evaluate_f64(&f, xs);
    let problem = Problem {
        order: Order::First,
        precision: "f64".to_string(),
        point: inputs.iter().map(|x| x.detach()).collect(),
        names: names(inputs.len()),
        checked,
        out_blocks: None,
        analytic: &f,
        numeric: &numeric,
        round: |x| x,
        relative_step: false,
    };
    run(problem, opts)
}

/// Checks an op written for f32: its f32 gradient against central differences of its
/// own f32 forward, taken in f64 around it (each perturbed point is rounded to f32
/// and the step really taken is the divisor; the step is `ε·max(1, |x|)`, so large
/// values stay apart after rounding). Use [`GradcheckOptions::f32`], whose step and
/// tolerances come from f32's machine epsilon.
///
/// ```
/// use tensor_core::gradcheck::{gradcheck_f32, GradcheckOptions};
/// use tensor_core::Tensor;
/// let x = Tensor::<f32>::from_vec(vec![0.3, -1.2, 2.0], &[3])?;
/// let report = gradcheck_f32(|xs| Ok(xs[0].tanh().sum_all()), &[x], &GradcheckOptions::f32())?;
/// assert!(report.passed, "{report}");
/// # Ok::<(), tensor_core::Error>(())
/// ```
///
/// # Errors
/// As [`gradcheck`].
pub fn gradcheck_f32<F>(f: F, inputs: &[Tensor<f32>], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f32>]) -> Result<Tensor<f32>>,
{
    let checked = check_skip(&opts.skip_inputs, inputs.len())?;
    let numeric = |xs: &[Tensor<f64>]| -> Result<Vec<f64>> {
        let xs32: Vec<Tensor<f32>> = xs.iter().map(to_t::<f32>).collect::<Result<_>>()?;
        f(&xs32).map(|y| to_f64(&y))
    };
    let problem = Problem {
        order: Order::First,
        precision: "f32 (central differences of the f32 forward, in f64)".to_string(),
        point: inputs.iter().map(|x| Tensor::from_vec(to_f64(x), x.shape())).collect::<Result<_>>()?,
        names: names(inputs.len()),
        checked,
        out_blocks: None,
        analytic: &f,
        numeric: &numeric,
        round: |x| f64::from(x as f32),
        relative_step: true,
    };
    run(problem, opts)
}

/// Checks an op written for f32 against an f64 evaluation of the same op: the f32
/// gradient at `inputs` against central differences of `reference` (in f64, at the
/// same point). Use [`GradcheckOptions::f32_with_reference`].
///
/// ```
/// use tensor_core::gradcheck::{gradcheck_f32_with_reference, GradcheckOptions};
/// use tensor_core::{Element, Tensor};
/// fn op<T: Element>(x: &Tensor<T>) -> Tensor<T> { x.sigmoid().sum_all() }
/// let x = Tensor::<f32>::from_vec(vec![0.3, -1.2, 2.0], &[3])?;
/// let report = gradcheck_f32_with_reference(
///     |xs| Ok(op(&xs[0])),
///     |xs| Ok(op(&xs[0])),
///     &[x],
///     &GradcheckOptions::f32_with_reference(),
/// )?;
/// assert!(report.passed, "{report}");
/// # Ok::<(), tensor_core::Error>(())
/// ```
///
/// # Errors
/// As [`gradcheck`].
pub fn gradcheck_f32_with_reference<F, G>(
    f: F,
    reference: G,
    inputs: &[Tensor<f32>],
    opts: &GradcheckOptions,
) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f32>]) -> Result<Tensor<f32>>,
    G: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let checked = check_skip(&opts.skip_inputs, inputs.len())?;
    let numeric = |xs: &[Tensor<f64>]| evaluate_f64(&reference, xs);
    let problem = Problem {
        order: Order::First,
        precision: "f32 (central differences of the f64 reference)".to_string(),
        point: inputs.iter().map(|x| Tensor::from_vec(to_f64(x), x.shape())).collect::<Result<_>>()?,
        names: names(inputs.len()),
        checked,
        out_blocks: None,
        analytic: &f,
        numeric: &numeric,
        round: |x| x,
        relative_step: false,
    };
    run(problem, opts)
}

/// Checks second derivatives as PyTorch's `gradgradcheck` does: with a fixed random
/// cotangent `v` (for a scalar output a random scale), the gradient
/// `g(x, v) = ∂(Σ v·f(x))/∂x`, built with `create_graph`, is checked like any function
/// with [`gradcheck`]'s checks — with respect to every checked input and to `v`. The
/// report's outputs are named `∂L/∂x0`, … and its inputs `x0`, …, `v`.
///
/// ```
/// use tensor_core::gradcheck::{gradgradcheck, GradcheckOptions, Order};
/// use tensor_core::Tensor;
/// let x = Tensor::from_vec(vec![0.3, -1.2], &[2])?;
/// let report = gradgradcheck(|xs| Ok(xs[0].tanh()), &[x], &GradcheckOptions::default())?;
/// assert!(report.passed && report.order == Order::Second, "{report}");
/// # Ok::<(), tensor_core::Error>(())
/// ```
///
/// # Errors
/// As [`gradcheck`].
pub fn gradgradcheck<F>(f: F, inputs: &[Tensor<f64>], opts: &GradcheckOptions) -> Result<GradcheckReport>
where
    F: Fn(&[Tensor<f64>]) -> Result<Tensor<f64>>,
{
    let n = inputs.len();
    let mut checked = check_skip(&opts.skip_inputs, n)?;
    let y_shape = f(&inputs.iter().map(|x| x.detach()).collect::<Vec<_>>())?.shape().to_vec();
    let mut rng = StdRng::seed_from_u64(opts.seed ^ 0x5eed);
    let v = random_cotangent(y_shape.iter().product(), &mut rng);
    let mut point: Vec<Tensor<f64>> = inputs.iter().map(|x| x.detach()).collect();
    point.push(Tensor::from_vec(v, &y_shape)?);
    checked.push(true);
    let mut input_names = names(n);
    input_names.push("v".to_string());
    let out_blocks: Vec<Block> = (0..n)
        .filter(|&i| checked[i])
        .map(|i| Block { name: format!("(∂L/∂x{i})"), shape: inputs[i].shape().to_vec() })
        .collect();
    let differentiable = checked.clone();
    // g(x, v): recorded when the checker passes variables (the analytic side), plain
    // values when it passes constants (perturbed points: no graph kept for them).
    let grad_of_f = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> {
        let record = xs.iter().any(|x| x.is_recorded());
        let vars: Vec<Tensor<f64>> = xs
            .iter()
            .zip(&differentiable)
            .map(|(x, &d)| if d && !x.is_recorded() { x.requires_grad() } else { x.clone() })
            .collect();
        let s = f(&vars[..n])?.mul(&vars[n])?.sum_all();
        let parts: Vec<Tensor<f64>> = if s.is_recorded() {
            let g = s.backward_with(BackwardOptions {
                create_graph: record,
                keep_graph: true,
                ..Default::default()
            })?;
            (0..n).filter(|&i| differentiable[i]).map(|i| g.get_or_zeros(&vars[i]).flatten()).collect()
        } else {
            (0..n).filter(|&i| differentiable[i]).map(|i| vars[i].zeros_like().flatten()).collect()
        };
        if parts.is_empty() {
            return Tensor::from_vec(Vec::new(), &[0]);
        }
        let refs: Vec<&Tensor<f64>> = parts.iter().collect();
        Tensor::concat(&refs, 0)
    };
    let numeric = |xs: &[Tensor<f64>]| grad_of_f(xs).map(|t| t.to_vec());
    let problem = Problem {
        order: Order::Second,
        precision: "f64".to_string(),
        point,
        names: input_names,
        checked,
        out_blocks: Some(out_blocks),
        analytic: &grad_of_f,
        numeric: &numeric,
        round: |x| x,
        relative_step: false,
    };
    run(problem, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unravel_is_row_major() {
        assert_eq!(unravel(5, &[2, 3]), vec![1, 2]);
        assert_eq!(unravel(0, &[]), Vec::<usize>::new());
        assert_eq!(unravel(7, &[2, 2, 2]), vec![1, 1, 1]);
    }

    #[test]
    fn locate_maps_into_blocks() {
        let blocks =
            vec![Block { name: "a".into(), shape: vec![2] }, Block { name: "b".into(), shape: vec![2, 2] }];
        assert_eq!(locate(&blocks, 1), (0, vec![1]));
        assert_eq!(locate(&blocks, 4), (1, vec![1, 0]));
    }
}
