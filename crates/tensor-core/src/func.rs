//! Function transforms in the style of `torch.func` and JAX: [`grad`], [`vjp`],
//! [`jvp`], [`jacobian_rev`], [`jacobian_fwd`], [`hessian`], [`hvp`], and gradient
//! [`checkpoint`]ing.
//!
//! Each takes a function of tensors `f(&[x₀, x₁, …]) → y` and the point to evaluate
//! at; none needs the caller to mark anything as requiring a gradient.
//!
//! **Reverse and forward mode.** For `y = f(x)` with Jacobian `J` (m outputs, n
//! inputs), reverse mode computes a vector-Jacobian product `uᵀJ` (one backward per
//! `u`), forward mode a Jacobian-vector product `J·t`. Training needs the gradient
//! of one scalar loss with respect to millions of parameters — one row of `J`, one
//! backward — which is why the engine is reverse mode. A full Jacobian costs m
//! backwards row by row ([`jacobian_rev`]) or n JVPs column by column
//! ([`jacobian_fwd`]): reverse wins for wide functions (m ≪ n), forward for tall ones.
//!
//! **How [`jvp`] works here: the double-VJP trick**, not dual numbers. `uᵀJ` is
//! linear in `u`; recording it (`create_graph`) and differentiating `⟨uᵀJ, t⟩` with
//! respect to `u` gives `J·t`. It reuses every op's one reverse rule, so every op
//! has forward mode for free and no second rule can disagree with the first; the
//! price is a recorded backward (about twice a plain backward) where dual numbers
//! would carry tangents through the forward once. This project keeps one rule per op
//! (it is what gradcheck verifies), so the trick is the right trade here.
//!
//! **Composition.** Inputs that are already recorded (a variable, or a tensor computed
//! from one) are differentiated through: the result is itself recorded, so transforms
//! nest — [`hessian`] is [`jacobian_rev`] of [`grad`]. Inputs that are plain data
//! become fresh variables, and the results are plain data.
//!
//! ```
//! use tensor_core::{func, Tensor};
//! // f(x) = Σ x³: gradient 3x², Hessian diag(6x).
//! let f = |x: &[Tensor<f64>]| Ok(x[0].powi(3).sum_all());
//! let x = Tensor::from_vec(vec![1.0, 2.0], &[2])?;
//! assert_eq!(func::grad(f, &[x.clone()])?[0].to_vec(), vec![3.0, 12.0]);
//! assert_eq!(func::hessian(f, &x)?.to_vec(), vec![6.0, 0.0, 0.0, 12.0]);
//! # Ok::<(), tensor_core::Error>(())
//! ```

use crate::element::Element;
use crate::error::{Error, Result};
use crate::graph::{BackwardOptions, GradVec, Save, enable_grad, is_grad_enabled, no_grad};
use crate::shape::Shape;
use crate::tensor::Tensor;

/// The ops this file records, by the name their nodes carry: the registry
/// ([`crate::builtin_ops`]) that the gradcheck table is checked against.
pub(crate) const OPS: &[&str] = &["checkpoint"];

/// The inputs as the function will see them: recorded inputs as they are (so the
/// transform is differentiable through them), data as fresh variables. The flag says
/// whether any input was recorded, i.e. whether results must be recorded too.
fn prepare<T: Element>(inputs: &[Tensor<T>]) -> (Vec<Tensor<T>>, bool) {
    let nested = inputs.iter().any(Tensor::is_recorded);
    let vars = inputs.iter().map(|x| if x.is_recorded() { x.clone() } else { x.requires_grad() }).collect();
    (vars, nested)
}

/// `seedᵀ·∂y/∂vars`, one gradient per variable (zeros where `y` does not depend on it).
fn pull_back<T: Element>(
    y: &Tensor<T>,
    vars: &[Tensor<T>],
    seed: &Tensor<T>,
    create_graph: bool,
    keep_graph: bool,
) -> Result<Vec<Tensor<T>>> {
    if seed.shape() != y.shape() {
        return Err(Error::SeedShape { seed: seed.shape.clone(), output: y.shape.clone() });
    }
    if !y.is_recorded() {
        return vars.iter().map(|v| Tensor::zeros(v.shape())).collect();
    }
    let g = y.backward_with(BackwardOptions {
        seed: Some(seed.clone()),
        inputs: vars.to_vec(),
        keep_graph,
        create_graph,
        ..Default::default()
    })?;
    Ok(vars.iter().map(|v| g.get_or_zeros(v)).collect())
}

/// The function's value at the prepared inputs, recorded whatever the caller's mode.
fn evaluate<T: Element, F>(f: F, vars: &[Tensor<T>]) -> Result<Tensor<T>>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    enable_grad(|| f(vars))
}

/// What a transform returns for a value: recorded when nested, plain data otherwise.
fn result<T: Element>(t: Tensor<T>, nested: bool) -> Tensor<T> {
    if nested { t } else { t.detach() }
}

fn require_scalar<T: Element>(y: &Tensor<T>) -> Result<()> {
    if y.numel() == 1 { Ok(()) } else { Err(Error::NonScalarBackward { shape: y.shape.clone() }) }
}

fn check_like<T: Element>(op: &'static str, given: &[Tensor<T>], inputs: &[Tensor<T>]) -> Result<()> {
    if given.len() != inputs.len() {
        return Err(Error::InvalidArgument {
            op,
            reason: format!("{} vectors given for {} inputs", given.len(), inputs.len()),
        });
    }
    for (g, x) in given.iter().zip(inputs) {
        if g.shape() != x.shape() {
            return Err(Error::ShapeMismatch {
                op,
                lhs: g.shape.clone(),
                rhs: x.shape.clone(),
                reason: "each vector must have its input's shape",
            });
        }
    }
    Ok(())
}

/// `Σᵢ ⟨aᵢ, bᵢ⟩`, recorded when its arguments are.
fn inner<T: Element>(a: &[Tensor<T>], b: &[Tensor<T>]) -> Result<Tensor<T>> {
    let mut total = Tensor::scalar(T::zero());
    for (a, b) in a.iter().zip(b) {
        total = total.add(&a.mul(b)?.sum_all())?;
    }
    Ok(total)
}

/// The gradient of a scalar function with respect to each input (`torch.func.grad`).
pub fn grad<T: Element, F>(f: F, inputs: &[Tensor<T>]) -> Result<Vec<Tensor<T>>>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    require_scalar(&y)?;
    let grads = pull_back(&y, &vars, &Tensor::ones(y.shape())?, nested, false)?;
    Ok(grads.into_iter().map(|g| result(g, nested)).collect())
}

/// The value `y = f(inputs)` and the vector-Jacobian product `cotangentᵀ·∂y/∂xᵢ` for
/// each input (`torch.func.vjp`, evaluated at one cotangent). One forward, one
/// backward.
pub fn vjp<T: Element, F>(
    f: F,
    inputs: &[Tensor<T>],
    cotangent: &Tensor<T>,
) -> Result<(Tensor<T>, Vec<Tensor<T>>)>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    let grads = pull_back(&y, &vars, cotangent, nested, false)?;
    Ok((result(y, nested), grads.into_iter().map(|g| result(g, nested)).collect()))
}

/// The value `y = f(inputs)` and the Jacobian-vector product `Σᵢ ∂y/∂xᵢ·tᵢ`
/// (`torch.func.jvp`), by the double-VJP trick (see the module docs): one forward,
/// one recorded backward, one backward through that.
pub fn jvp<T: Element, F>(
    f: F,
    inputs: &[Tensor<T>],
    tangents: &[Tensor<T>],
) -> Result<(Tensor<T>, Tensor<T>)>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    check_like("jvp", tangents, inputs)?;
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    let u = Tensor::zeros(y.shape())?.requires_grad();
    let ut_j = enable_grad(|| pull_back(&y, &vars, &u, true, nested))?;
    let product = enable_grad(|| inner(&ut_j, tangents))?;
    let jt = pull_back(&product, std::slice::from_ref(&u), &Tensor::scalar(T::one()), nested, false)?;
    let jt = jt.into_iter().next().map_or_else(|| Tensor::zeros(y.shape()), Ok)?;
    Ok((result(y, nested), result(jt, nested)))
}

/// The Jacobian of `f` with respect to each input, row by row in reverse mode: one
/// forward and one backward per output element. Input `i`'s Jacobian has shape
/// `y.shape ++ xᵢ.shape` (as `torch.func.jacrev`).
pub fn jacobian_rev<T: Element, F>(f: F, inputs: &[Tensor<T>]) -> Result<Vec<Tensor<T>>>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    let m = y.numel();
    let mut rows: Vec<Vec<Tensor<T>>> = vec![Vec::with_capacity(m); vars.len()];
    for o in 0..m {
        let mut seed = vec![T::zero(); m];
        seed[o] = T::one();
        let seed = Tensor::from_vec(seed, y.shape())?;
        for (i, g) in pull_back(&y, &vars, &seed, nested, true)?.into_iter().enumerate() {
            rows[i].push(g.reshape(&[1, g.numel()])?);
        }
    }
    vars.iter().zip(rows).map(|(x, rows)| assemble(&rows, y.shape(), x.shape(), false, nested)).collect()
}

/// The Jacobian of `f` with respect to each input, column by column in forward mode:
/// one forward, one recorded backward, then one backward per input element. Same
/// shapes as [`jacobian_rev`] (as `torch.func.jacfwd`).
pub fn jacobian_fwd<T: Element, F>(f: F, inputs: &[Tensor<T>]) -> Result<Vec<Tensor<T>>>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    let u = Tensor::zeros(y.shape())?.requires_grad();
    let ut_j = enable_grad(|| pull_back(&y, &vars, &u, true, true))?;
    let one = Tensor::scalar(T::one());
    let mut jacobians = Vec::with_capacity(vars.len());
    for (x, w) in vars.iter().zip(&ut_j) {
        let flat = w.reshape(&[w.numel()])?;
        let mut columns = Vec::with_capacity(x.numel());
        for j in 0..x.numel() {
            // (uᵀJ)ⱼ = Σₒ uₒ Jₒⱼ, so its gradient with respect to u is column j of J.
            let entry = enable_grad(|| flat.narrow(0, j, 1).map(|e| e.sum_all()))?;
            let column = pull_back(&entry, std::slice::from_ref(&u), &one, nested, true)?;
            let column = column.into_iter().next().map_or_else(|| Tensor::zeros(y.shape()), Ok)?;
            columns.push(column.reshape(&[1, y.numel()])?);
        }
        jacobians.push(assemble(&columns, y.shape(), x.shape(), true, nested)?);
    }
    Ok(jacobians)
}

/// Stacks rows (or columns, transposed) of a Jacobian into `y_shape ++ x_shape`.
fn assemble<T: Element>(
    pieces: &[Tensor<T>],
    y_shape: &[usize],
    x_shape: &[usize],
    columns: bool,
    nested: bool,
) -> Result<Tensor<T>> {
    let m: usize = y_shape.iter().product();
    let n: usize = x_shape.iter().product();
    let mut shape: Shape = Shape::from_slice(y_shape);
    shape.extend_from_slice(x_shape);
    if pieces.is_empty() || m == 0 || n == 0 {
        return Tensor::zeros(&shape);
    }
    let refs: Vec<&Tensor<T>> = pieces.iter().collect();
    let mut matrix = Tensor::concat(&refs, 0)?;
    if columns {
        matrix = matrix.transpose(0, 1)?;
    }
    Ok(result(matrix.reshape(&shape)?, nested))
}

/// The Hessian of a scalar function of one tensor, shape `x.shape ++ x.shape`: the
/// reverse-mode Jacobian of its gradient (as `torch.func.hessian` composes
/// `jacfwd(jacrev)`; here both levels are reverse mode).
pub fn hessian<T: Element, F>(f: F, x: &Tensor<T>) -> Result<Tensor<T>>
where
    F: Fn(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    let h = jacobian_rev(
        |xs: &[Tensor<T>]| grad(&f, xs)?.into_iter().next().ok_or(Error::NotRecorded),
        std::slice::from_ref(x),
    )?;
    h.into_iter().next().ok_or(Error::NotRecorded)
}

/// The value of a scalar function and its Hessian-vector products `H·v`, with
/// respect to all inputs together (`Σⱼ ∂²f/∂xᵢ∂xⱼ·vⱼ` for each `i`): two backwards,
/// no Hessian formed.
pub fn hvp<T: Element, F>(
    f: F,
    inputs: &[Tensor<T>],
    vectors: &[Tensor<T>],
) -> Result<(Tensor<T>, Vec<Tensor<T>>)>
where
    F: FnOnce(&[Tensor<T>]) -> Result<Tensor<T>>,
{
    check_like("hvp", vectors, inputs)?;
    let (vars, nested) = prepare(inputs);
    let y = evaluate(f, &vars)?;
    require_scalar(&y)?;
    let g = enable_grad(|| pull_back(&y, &vars, &Tensor::ones(y.shape())?, true, true))?;
    let gv = enable_grad(|| inner(&g, vectors))?;
    let hv = pull_back(&gv, &vars, &Tensor::scalar(T::one()), nested, false)?;
    Ok((result(y, nested), hv.into_iter().map(|t| result(t, nested)).collect()))
}

/// Gradient checkpointing: `f(inputs)` recorded as one node that keeps only the
/// inputs, not `f`'s intermediate values; backward runs `f` again (recording it) to
/// get them. Memory for compute: a deep block's activations are not held between
/// the forward and the backward (`torch.utils.checkpoint`).
///
/// `f` must be a function of `inputs` alone: pass every recorded tensor it uses —
/// parameters included — as an input. Backward reports an error if the recomputation
/// reaches a variable that is not one of them (its gradient would otherwise be
/// lost). `f` must be deterministic (dropout inside must take its mask as an input or
/// from a fixed seed), since it runs twice.
///
/// ```
/// use tensor_core::{func, Tensor};
/// let x = Tensor::<f64>::from_vec(vec![0.5, -1.0], &[2])?.requires_grad();
/// let w = Tensor::<f64>::from_vec(vec![2.0, 3.0], &[2])?.requires_grad();
/// let block = |xs: &[Tensor<f64>]| Ok(xs[0].mul(&xs[1])?.tanh().exp());
/// let y = func::checkpoint(block, &[x.clone(), w.clone()])?.sum_all();
/// let g = y.backward()?;
/// let expected = block(&[x.clone(), w.clone()])?.sum_all().backward()?;
/// assert_eq!(g.wrt(&w)?.to_vec(), expected.wrt(&w)?.to_vec());
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn checkpoint<T: Element, F>(f: F, inputs: &[Tensor<T>]) -> Result<Tensor<T>>
where
    F: Fn(&[Tensor<T>]) -> Result<Tensor<T>> + Send + Sync + 'static,
{
    if !is_grad_enabled() || !inputs.iter().any(Tensor::is_recorded) {
        return f(inputs);
    }
    let constants: Vec<Tensor<T>> = inputs.iter().map(Tensor::detach).collect();
    let y = no_grad(|| f(&constants))?;
    let refs: Vec<&Tensor<T>> = inputs.iter().collect();
    Ok(Tensor::record_builtin("checkpoint", &refs, y, Save::INPUTS, move |dy, saved| {
        // Under create_graph the saved inputs are recorded (part of the outer graph)
        // and the recomputation differentiates through them; otherwise fresh
        // variables stand in for the inputs that need a gradient.
        let recorded = is_grad_enabled();
        let mut vars = Vec::with_capacity(saved.len());
        for i in 0..saved.len() {
            let x = saved.input(i)?;
            vars.push(if recorded && x.is_recorded() {
                x.clone()
            } else if saved.needs_grad(i) {
                x.detach().requires_grad()
            } else {
                x.detach()
            });
        }
        let y = enable_grad(|| f(&vars))?;
        if !y.is_recorded() {
            return Ok((0..vars.len()).map(|_| None).collect());
        }
        let targets: Vec<Tensor<T>> = vars.iter().filter(|v| v.is_recorded()).cloned().collect();
        let g = y.backward_with(BackwardOptions {
            seed: Some(dy.clone()),
            inputs: if recorded { targets.clone() } else { Vec::new() },
            create_graph: recorded,
            ..Default::default()
        })?;
        if !recorded && g.len() > targets.iter().filter(|v| g.get(v).is_some()).count() {
            return Err(Error::InvalidArgument {
                op: "checkpoint",
                reason:
                    "the recomputed function uses a variable or parameter that is not among checkpoint's \
                         inputs, so its gradient would be lost; pass it as an input"
                        .into(),
            });
        }
        Ok(vars
            .iter()
            .map(|v| if v.is_recorded() { g.get(v).cloned() } else { None })
            .collect::<GradVec<T>>())
    }))
}
