//! The tape (a Wengert list): every recorded op appends a node holding its inputs
//! and its gradient rule, so reverse tape order is already a topological order.
//! `backward` walks it from the output down to index 0: no sort, no recursion, so a
//! graph of any depth works.
//!
//! There is one tape per thread and element type. A tensor that is recorded holds a
//! [`NodeRef`] (tape generation + index); a leaf (a variable or [`Parameter`])
//! registers itself on the current tape the first time an op uses it in each
//! generation. Backward without `keep_graph` frees the tape and bumps its generation,
//! so a stale handle is an error ([`Error::GraphFreed`]), never a wrong answer.

use crate::element::Element;
use crate::error::{Error, Phase, Result};
use crate::shape::Shape;
use crate::tensor::{Origin, Tensor};
use smallvec::SmallVec;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Gradients an op's rule returns: one per input, `None` where the input gets none.
pub type GradVec<T> = SmallVec<[Option<Tensor<T>>; 2]>;

/// A gradient rule: given the output's gradient `dy`, the op's inputs and its output,
/// return the gradient of each input. Rules are written with tensor ops, so when
/// backward runs with `create_graph` they are recorded and can be differentiated
/// again. Rules never handle broadcasting: the engine sums each returned gradient
/// back to its input's shape.
pub trait GradRule<T: Element>: Fn(&Tensor<T>, &[Tensor<T>], &Tensor<T>) -> Result<GradVec<T>> {}
impl<T: Element, F> GradRule<T> for F where F: Fn(&Tensor<T>, &[Tensor<T>], &Tensor<T>) -> Result<GradVec<T>> {}

/// Where a recorded tensor sits: which tape generation, which node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRef {
    pub(crate) generation: u64,
    pub(crate) index: usize,
}

impl NodeRef {
    /// The node's index on its tape.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Generations are unique across threads and element types, so a handle from another
/// tape can never be mistaken for one of this tape.
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);
static NEXT_LEAF_ID: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A leaf of the graph: a variable or parameter. It registers itself on the current
/// tape once per generation; `slot` caches (generation, index) of that registration.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) id: u64,
    pub(crate) name: String,
    slot: Mutex<(u64, usize)>,
}

impl Leaf {
    pub(crate) fn new(name: String) -> Arc<Leaf> {
        Arc::new(Leaf { id: NEXT_LEAF_ID.fetch_add(1, Ordering::Relaxed), name, slot: Mutex::new((0, 0)) })
    }
}

pub(crate) struct Node<T: Element> {
    pub(crate) op: &'static str,
    pub(crate) inputs: SmallVec<[Tensor<T>; 2]>,
    pub(crate) input_refs: SmallVec<[Option<NodeRef>; 2]>,
    pub(crate) output: Option<Tensor<T>>,
    pub(crate) shape: Shape,
    pub(crate) rule: Option<Rc<dyn GradRule<T>>>,
    pub(crate) leaf: Option<Arc<Leaf>>,
}

/// One thread's tape for one element type. Reach it with [`Element::with_tape`];
/// users rarely need to: ops record themselves.
pub struct Tape<T: Element> {
    pub(crate) generation: u64,
    pub(crate) nodes: Vec<Node<T>>,
    forward_anomaly: Option<Error>,
}

impl<T: Element> Default for Tape<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Element> Tape<T> {
    /// An empty tape with a fresh generation.
    pub fn new() -> Self {
        Tape { generation: next_generation(), nodes: Vec::new(), forward_anomaly: None }
    }

    /// Number of nodes recorded since the tape was last freed.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether nothing has been recorded since the tape was last freed.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Frees every node and starts a new generation: tensors recorded before become
    /// stale (using them in backward is [`Error::GraphFreed`]); leaves re-register.
    pub fn reset(&mut self) {
        self.nodes.clear();
        self.generation = next_generation();
        self.forward_anomaly = None;
    }

    /// The node a tensor stands for on this tape, registering a leaf if needed.
    pub(crate) fn resolve(&mut self, t: &Tensor<T>) -> Option<NodeRef> {
        match &t.origin {
            Origin::Constant => None,
            Origin::Node(r) => Some(*r),
            Origin::Leaf(leaf) => {
                let mut slot = leaf.slot.lock().unwrap_or_else(|e| e.into_inner());
                if slot.0 == self.generation {
                    return Some(NodeRef { generation: self.generation, index: slot.1 });
                }
                let index = self.nodes.len();
                self.nodes.push(Node {
                    op: "leaf",
                    inputs: SmallVec::new(),
                    input_refs: SmallVec::new(),
                    output: None,
                    shape: t.shape.clone(),
                    rule: None,
                    leaf: Some(leaf.clone()),
                });
                *slot = (self.generation, index);
                Some(NodeRef { generation: self.generation, index })
            }
        }
    }
}

thread_local! {
    static GRAD_DISABLED: Cell<u32> = const { Cell::new(0) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
}

/// Whether ops on this thread record themselves (false inside [`no_grad`]).
pub fn is_grad_enabled() -> bool {
    GRAD_DISABLED.with(|d| d.get() == 0)
}

/// While alive, nothing is recorded on this thread's tapes. Prefer [`no_grad`].
#[must_use = "recording resumes when the guard is dropped"]
pub struct NoGradGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl NoGradGuard {
    /// Stops recording until the guard is dropped (guards nest).
    pub fn new() -> Self {
        GRAD_DISABLED.with(|d| d.set(d.get() + 1));
        NoGradGuard { _not_send: std::marker::PhantomData }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_DISABLED.with(|d| d.set(d.get() - 1));
    }
}

/// Runs `f` without recording anything (inference, optimizer updates, metrics).
///
/// ```
/// use tensor_core::{no_grad, Tensor};
/// let w = Tensor::<f64>::scalar(3.0).requires_grad();
/// let y = no_grad(|| w.exp());
/// assert!(!y.is_recorded());
/// ```
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

/// Turns anomaly detection on or off for this thread. When on, every op checks its
/// output for NaN/inf, and every gradient rule its results; the first bad one is
/// reported as [`Error::Anomaly`] naming the op (forward anomalies surface at the
/// next `backward`, or from [`take_forward_anomaly`]). Costs a scan per op.
pub fn set_detect_anomaly(on: bool) {
    ANOMALY.with(|a| a.set(on));
}

/// Whether anomaly detection is on for this thread.
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// Returns (and clears) the first forward anomaly recorded on this thread's tape.
pub fn take_forward_anomaly<T: Element>() -> Option<Error> {
    T::with_tape(|t| t.forward_anomaly.take())
}

/// Frees this thread's tape for `T` (as backward does), making recorded tensors stale.
pub fn reset_tape<T: Element>() {
    T::with_tape(|t| t.reset());
}

/// Number of nodes on this thread's tape for `T`.
pub fn tape_len<T: Element>() -> usize {
    T::with_tape(|t| t.len())
}

fn first_non_finite<T: Element>(data: &[T]) -> Option<(usize, f64)> {
    data.iter().position(|x| !x.is_finite()).map(|i| (i, data[i].as_f64()))
}

impl<T: Element> Tensor<T> {
    /// Records an op on the tape: `output` was computed from `inputs`; `rule` maps the
    /// output's gradient to the inputs' gradients. This is how every built-in op is
    /// written, and how users add their own (a custom op): compute the value with any
    /// code, then state its gradient with tensor ops.
    ///
    /// Nothing is recorded under [`no_grad`] or when no input is recorded (constants
    /// cost nothing). The returned tensor is `output`, recorded.
    ///
    /// ```
    /// use tensor_core::{GradVec, Tensor, Result};
    /// // A custom op: cube(x) = x³, gradient 3x²·dy.
    /// fn cube(x: &Tensor<f64>) -> Tensor<f64> {
    ///     let y = x.map(|v| v * v * v);
    ///     Tensor::record("cube", &[x], y, |dy, inputs, _y| {
    ///         let x = &inputs[0];
    ///         Ok(GradVec::from_iter([Some(dy.mul(&x.mul(x)?.mul_scalar(3.0))?)]))
    ///     })
    /// }
    /// let x = Tensor::scalar(2.0).requires_grad();
    /// let g = cube(&x).backward()?;
    /// assert_eq!(g.wrt(&x)?.item()?, 12.0); // d/dx x³ = 3x² = 12 at x = 2
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn record(
        op: &'static str,
        inputs: &[&Tensor<T>],
        output: Tensor<T>,
        rule: impl GradRule<T> + 'static,
    ) -> Tensor<T> {
        // The output is ours: drop any graph identity it had without cloning it.
        let mut output = output;
        output.origin = Origin::Constant;
        if is_anomaly_enabled()
            && let Some((index, value)) = first_non_finite(output.as_slice())
        {
            let shape = output.shape.clone();
            T::with_tape(|t| {
                t.forward_anomaly.get_or_insert(Error::Anomaly {
                    op,
                    phase: Phase::Forward,
                    index,
                    value,
                    shape,
                });
            });
        }
        if !is_grad_enabled() || inputs.iter().all(|t| matches!(t.origin, Origin::Constant)) {
            return output;
        }
        T::with_tape(|tape| {
            let input_refs = inputs.iter().map(|t| tape.resolve(t)).collect();
            let node = NodeRef { generation: tape.generation, index: tape.nodes.len() };
            output.origin = Origin::Node(node);
            tape.nodes.push(Node {
                op,
                inputs: inputs.iter().map(|&t| t.clone()).collect(),
                input_refs,
                output: Some(output.clone()),
                shape: output.shape.clone(),
                rule: Some(Rc::new(rule)),
                leaf: None,
            });
        });
        output
    }

    /// Records a one-input op whose rule needs only `dy`, the input and the output.
    pub(crate) fn record_unary(
        &self,
        op: &'static str,
        output: Tensor<T>,
        rule: impl Fn(&Tensor<T>, &Tensor<T>, &Tensor<T>) -> Result<Tensor<T>> + 'static,
    ) -> Tensor<T> {
        Tensor::record(op, &[self], output, move |dy, inputs, y| {
            Ok(smallvec::smallvec![Some(rule(dy, &inputs[0], y)?)])
        })
    }

    /// Backward from a scalar output with default options: gradients of every leaf
    /// (variable or parameter) this output depends on. Frees the tape.
    pub fn backward(&self) -> Result<Gradients<T>> {
        self.backward_with(BackwardOptions::default())
    }

    /// Backward with options: a seed gradient for non-scalar outputs, keeping the
    /// graph, recording the gradients themselves (`create_graph`) for higher-order
    /// derivatives, keeping intermediate gradients.
    pub fn backward_with(&self, opts: BackwardOptions<T>) -> Result<Gradients<T>> {
        if let Some(e) = take_forward_anomaly::<T>() {
            return Err(e);
        }
        let root = match &self.origin {
            Origin::Constant => return Err(Error::NotRecorded),
            Origin::Node(r) => *r,
            Origin::Leaf(_) => T::with_tape(|t| t.resolve(self)).ok_or(Error::NotRecorded)?,
        };
        let generation = T::with_tape(|t| t.generation);
        if root.generation != generation {
            return Err(Error::GraphFreed);
        }
        let seed = match opts.seed {
            Some(s) if s.shape != self.shape => {
                return Err(Error::SeedShape { seed: s.shape.clone(), output: self.shape.clone() });
            }
            Some(s) => s,
            None if self.numel() != 1 => return Err(Error::NonScalarBackward { shape: self.shape.clone() }),
            None => Tensor::ones(&self.shape),
        };
        let keep_graph = opts.keep_graph || opts.create_graph;
        let result =
            walk_backward(root, seed, keep_graph, opts.create_graph, opts.retain_intermediate, generation);
        if !keep_graph || result.is_err() && !opts.keep_graph {
            T::with_tape(|t| {
                if t.generation == generation {
                    t.reset()
                }
            });
        }
        result
    }
}

/// Runs the reverse walk. Separate from `backward_with` so the tape is freed on every
/// exit path.
fn walk_backward<T: Element>(
    root: NodeRef,
    seed: Tensor<T>,
    keep_graph: bool,
    create_graph: bool,
    retain_intermediate: bool,
    generation: u64,
) -> Result<Gradients<T>> {
    let mut grads: Vec<Option<Tensor<T>>> = vec![None; root.index + 1];
    grads[root.index] = Some(seed);
    let mut store = Gradients { generation, leaves: Vec::new(), intermediate: Vec::new() };
    let _no_grad = (!create_graph).then(NoGradGuard::new);
    let anomaly = is_anomaly_enabled();
    for i in (0..=root.index).rev() {
        let Some(dy) = grads[i].take() else { continue };
        // Take what the rule needs out of the tape (or clone it when the graph is
        // kept), so the tape is not borrowed while the rule runs ops.
        let taken = T::with_tape(|t| {
            let node = &mut t.nodes[i];
            if let Some(leaf) = &node.leaf {
                return Err(leaf.id);
            }
            Ok(if keep_graph {
                (
                    node.op,
                    node.rule.clone(),
                    node.inputs.clone(),
                    node.input_refs.clone(),
                    node.output.clone(),
                )
            } else {
                (
                    node.op,
                    node.rule.take(),
                    std::mem::take(&mut node.inputs),
                    std::mem::take(&mut node.input_refs),
                    node.output.take(),
                )
            })
        });
        let (op, rule, inputs, input_refs, output) = match taken {
            Err(leaf_id) => {
                store.leaves.push((leaf_id, dy));
                continue;
            }
            Ok(parts) => parts,
        };
        let (Some(rule), Some(output)) = (rule, output) else {
            // Only a freed node lacks its rule; reaching one means the graph was freed.
            return Err(Error::GraphFreed);
        };
        let input_grads = rule(&dy, &inputs, &output)?;
        if retain_intermediate {
            store.intermediate.push((i, dy));
        }
        for ((g, r), input) in input_grads.into_iter().zip(&input_refs).zip(&inputs) {
            let (Some(g), Some(r)) = (g, r) else { continue };
            if r.generation != generation {
                return Err(Error::GraphFreed);
            }
            // The one place broadcasting is undone: sum back to the input's shape.
            let g = if g.shape != input.shape { g.sum_to(&input.shape)? } else { g };
            if anomaly && let Some((index, value)) = first_non_finite(g.as_slice()) {
                return Err(Error::Anomaly {
                    op,
                    phase: Phase::Backward,
                    index,
                    value,
                    shape: g.shape.clone(),
                });
            }
            let slot = &mut grads[r.index];
            *slot = Some(match slot.take() {
                Some(acc) => accumulate(acc, &g, create_graph)?,
                None => g,
            });
        }
    }
    Ok(store)
}

/// `acc + g` for a gradient used more than once. When the backward is not recorded
/// and no one else holds the accumulator's buffer, the sum is taken in place (no
/// new buffer); otherwise, and always under `create_graph`, it is the `add` op.
fn accumulate<T: Element>(mut acc: Tensor<T>, g: &Tensor<T>, create_graph: bool) -> Result<Tensor<T>> {
    if !create_graph
        && acc.shape == g.shape
        && let Some(values) = std::sync::Arc::get_mut(&mut acc.data)
    {
        values.iter_mut().zip(g.as_slice()).for_each(|(a, &b)| *a += b);
        return Ok(acc);
    }
    acc.add(g)
}

/// Options for [`Tensor::backward_with`].
#[derive(Clone)]
pub struct BackwardOptions<T: Element> {
    /// Gradient of the output; required when the output is not a scalar.
    pub seed: Option<Tensor<T>>,
    /// Keep the tape so backward can run through it again (PyTorch's `retain_graph`).
    pub keep_graph: bool,
    /// Record the gradient computation itself, so gradients can be differentiated
    /// again (Hessian-vector products, gradient penalties). Implies `keep_graph`.
    pub create_graph: bool,
    /// Keep the gradients of intermediate (non-leaf) tensors in the store.
    pub retain_intermediate: bool,
}

impl<T: Element> Default for BackwardOptions<T> {
    fn default() -> Self {
        BackwardOptions { seed: None, keep_graph: false, create_graph: false, retain_intermediate: false }
    }
}

/// The gradients from one backward, keyed by tensor: `grads.get(&w)`. Each backward
/// returns a fresh store, so running backward twice on a kept graph gives the same
/// gradients, never a silent sum.
#[derive(Clone)]
pub struct Gradients<T: Element> {
    generation: u64,
    leaves: Vec<(u64, Tensor<T>)>,
    intermediate: Vec<(usize, Tensor<T>)>,
}

impl<T: Element> Gradients<T> {
    /// The gradient with respect to `t` (a variable, a parameter's tensor, or with
    /// `retain_intermediate` an intermediate), or `None` if there is none.
    pub fn get(&self, t: &Tensor<T>) -> Option<&Tensor<T>> {
        match &t.origin {
            Origin::Leaf(leaf) => self.leaf(leaf.id),
            Origin::Node(r) if r.generation == self.generation => {
                self.intermediate.iter().find(|(i, _)| *i == r.index).map(|(_, g)| g)
            }
            _ => None,
        }
    }

    /// The gradient with respect to a parameter.
    pub fn get_param(&self, p: &Parameter<T>) -> Option<&Tensor<T>> {
        self.leaf(p.inner.leaf.id)
    }

    fn leaf(&self, id: u64) -> Option<&Tensor<T>> {
        self.leaves.iter().find(|(l, _)| *l == id).map(|(_, g)| g)
    }

    /// Like [`get`](Self::get), but an error that says why there is no gradient.
    pub fn wrt(&self, t: &Tensor<T>) -> Result<&Tensor<T>> {
        self.get(t).ok_or(Error::NoGradient {
            reason: match &t.origin {
                Origin::Constant => {
                    "the tensor is a constant (detached, made under no_grad, or never marked requires_grad)"
                }
                Origin::Leaf(_) => "the output does not depend on this variable",
                Origin::Node(_) => {
                    "it is an intermediate tensor: pass retain_intermediate in BackwardOptions, or it is not on the path to the output"
                }
            },
        })
    }

    /// The gradient with respect to `t`, or zeros of `t`'s shape when the output does
    /// not depend on it.
    pub fn get_or_zeros(&self, t: &Tensor<T>) -> Tensor<T> {
        self.get(t).cloned().unwrap_or_else(|| Tensor::zeros(t.shape()))
    }

    /// Number of leaf gradients held.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the store holds no leaf gradient.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }
}

/// A named, trainable tensor whose value an optimizer replaces between steps.
///
/// Using [`Parameter::tensor`] in a forward pass registers it as a leaf on the
/// current tape; after backward, `grads.get_param(&p)` is its gradient. Clones share
/// the same value (like a reference to a PyTorch `nn.Parameter`); it is
/// `Send + Sync`, so a trained model can move to another thread.
#[derive(Clone)]
pub struct Parameter<T: Element> {
    inner: Arc<ParamInner<T>>,
}

struct ParamInner<T: Element> {
    leaf: Arc<Leaf>,
    value: RwLock<Arc<Vec<T>>>,
    shape: Shape,
}

impl<T: Element> std::fmt::Debug for Parameter<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Parameter({:?}, shape {:?})", self.inner.leaf.name, self.inner.shape)
    }
}

impl<T: Element> Parameter<T> {
    /// A parameter named `name` holding `value`'s data (its graph history is dropped).
    pub fn new(name: impl Into<String>, value: &Tensor<T>) -> Self {
        Parameter {
            inner: Arc::new(ParamInner {
                leaf: Leaf::new(name.into()),
                value: RwLock::new(value.data.clone()),
                shape: value.shape.clone(),
            }),
        }
    }

    /// The name given at construction.
    pub fn name(&self) -> &str {
        &self.inner.leaf.name
    }

    /// The parameter's shape.
    pub fn shape(&self) -> &[usize] {
        &self.inner.shape
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        crate::shape::numel(&self.inner.shape)
    }

    /// The current value as a tensor that records into the graph (a leaf).
    pub fn tensor(&self) -> Tensor<T> {
        let data = self.inner.value.read().unwrap_or_else(|e| e.into_inner()).clone();
        Tensor { data, shape: self.inner.shape.clone(), origin: Origin::Leaf(self.inner.leaf.clone()) }
    }

    /// The current value as a constant (not recorded).
    pub fn value(&self) -> Tensor<T> {
        self.tensor().detach()
    }

    /// Replaces the value; the shape must stay the same.
    pub fn set(&self, value: &Tensor<T>) -> Result<()> {
        if value.shape != self.inner.shape {
            return Err(Error::ShapeMismatch {
                op: "Parameter::set",
                lhs: self.inner.shape.clone(),
                rhs: value.shape.clone(),
                reason: "a parameter keeps its shape",
            });
        }
        *self.inner.value.write().unwrap_or_else(|e| e.into_inner()) = value.data.clone();
        Ok(())
    }

    /// Updates the value in place (copy-on-write if a tensor still shares the data),
    /// as optimizers do.
    pub fn update<R>(&self, f: impl FnOnce(&mut [T]) -> R) -> R {
        let mut guard = self.inner.value.write().unwrap_or_else(|e| e.into_inner());
        f(Arc::make_mut(&mut guard).as_mut_slice())
    }

    /// Gives `f` mutable access to the values of several parameters at once (how
    /// optimizers update a whole model in one call). Values shared with a live tensor
    /// are copied first (copy-on-write). Listing one parameter twice is an error.
    pub fn update_all<R>(params: &[Parameter<T>], f: impl FnOnce(&mut [&mut [T]]) -> R) -> Result<R> {
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.same(p)) {
                return Err(Error::InvalidArgument {
                    op: "Parameter::update_all",
                    reason: format!("parameter {:?} is listed twice", p.name()),
                });
            }
        }
        let mut guards: Vec<_> =
            params.iter().map(|p| p.inner.value.write().unwrap_or_else(|e| e.into_inner())).collect();
        let mut slices: Vec<&mut [T]> =
            guards.iter_mut().map(|g| Arc::make_mut(&mut **g).as_mut_slice()).collect();
        Ok(f(&mut slices))
    }

    /// Whether two handles are the same parameter.
    pub fn same(&self, other: &Parameter<T>) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}
