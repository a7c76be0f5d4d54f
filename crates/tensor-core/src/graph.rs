//! The recorded graph, owned by the tensors that need it.
//!
//! **The idea** is a Wengert list: every op appends "this output came from these
//! inputs, and here is how to pull a gradient back through me" — its
//! vector-Jacobian product (VJP) rule. Reverse order of that list is a topological
//! order, and walking it backwards is reverse-mode differentiation.
//!
//! **How the engine keeps it** (as PyTorch's engine does): there is no list. A
//! recorded tensor holds an `Arc` of its node; a node holds its inputs' origins
//! (the graph's edges) and what its rule saved, never its own output, so there is no
//! cycle. A graph therefore lives exactly as long as some tensor (or a gradient
//! recorded with `create_graph`) still refers to it: drop the loss and its graph is
//! freed; two losses on one thread are two graphs that never touch each other; a
//! graph built on one thread can be walked on another.
//!
//! **Backward** ([`Tensor::backward_with`]) never sorts and never recurses. An
//! explicit stack finds every node reachable from the output and counts, for each,
//! how many consumers inside this graph will deliver a gradient to it. A ready stack
//! starts at the output; a node's rule runs once all of its consumers have delivered
//! (Kahn's algorithm), then each gradient the rule returns is summed back to its
//! input's shape (the one place broadcasting is undone) and added into that input's
//! slot. Leaves ([`Tensor::requires_grad`], [`Parameter`]) collect their gradients
//! in the returned [`Gradients`], keyed by their stable id — no leaf carries
//! per-graph state, so two threads using one parameter each get exactly their own
//! gradient.
//!
//! Without `keep_graph`, each node releases what its rule saved as soon as the rule
//! has run; walking that part of the graph again is [`Error::GraphFreed`], which
//! names the op. Dropping a graph of any depth is iterative (the node's `Drop`).

use crate::element::Element;
use crate::error::{Error, Phase, Result};
use crate::shape::{Shape, broadcast_shapes, same_shape};
use crate::tensor::{Origin, Tensor};
use smallvec::SmallVec;
use std::cell::Cell;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Gradients a rule returns: one per input, `None` where the input gets none.
pub type GradVec<T> = SmallVec<[Option<Tensor<T>>; 2]>;

/// A gradient rule in the original form: given the output's gradient `dy`, the op's
/// inputs and its output, return the gradient of each input. Ops recorded with
/// [`Tensor::record`] use this form and save their inputs and output.
///
/// Rules are written with tensor ops, so with `create_graph` they are recorded and
/// can be differentiated again. A rule returns, per input, any gradient the engine
/// can sum back to that input's shape (it undoes broadcasting; rules never do).
pub trait GradRule<T: Element>:
    Fn(&Tensor<T>, &[Tensor<T>], &Tensor<T>) -> Result<GradVec<T>> + Send + Sync
{
}
impl<T: Element, F> GradRule<T> for F where
    F: Fn(&Tensor<T>, &[Tensor<T>], &Tensor<T>) -> Result<GradVec<T>> + Send + Sync
{
}

/// A VJP rule that reads what its op saved ([`Saved`]): given `dy`, return the
/// gradient of each input. The form of [`Tensor::record_saving`].
pub trait VjpRule<T: Element>: Fn(&Tensor<T>, &Saved<'_, T>) -> Result<GradVec<T>> + Send + Sync {}
impl<T: Element, F> VjpRule<T> for F where F: Fn(&Tensor<T>, &Saved<'_, T>) -> Result<GradVec<T>> + Send + Sync
{}

type DynRule<T> = dyn Fn(&Tensor<T>, &Saved<'_, T>) -> Result<GradVec<T>> + Send + Sync;

/// Which of an op's values its node keeps for the rule: inputs by position, and the
/// output. Everything else is gone once the forward returns, so a graph holds no
/// more memory than its rules need (`add` keeps nothing; `exp` keeps its output).
///
/// ```
/// use tensor_core::Save;
/// let mul = Save::input(0).and_input(1); // d(a·b) needs both factors
/// let exp = Save::OUTPUT; // d eˣ = dy·y
/// assert_ne!(mul, exp);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Save {
    /// Bit `i` saves input `i`; all bits set saves every input (any count).
    inputs: u32,
    output: bool,
}

impl Save {
    /// Keeps nothing: the rule needs only `dy` (and what its closure captured).
    pub const NOTHING: Save = Save { inputs: 0, output: false };
    /// Keeps the output only.
    pub const OUTPUT: Save = Save { inputs: 0, output: true };
    /// Keeps every input.
    pub const INPUTS: Save = Save { inputs: u32::MAX, output: false };
    /// Keeps every input and the output (what [`Tensor::record`] does).
    pub const ALL: Save = Save { inputs: u32::MAX, output: true };

    /// Keeps input `i` (positions 0–30; use [`Save::INPUTS`] for more).
    pub const fn input(i: usize) -> Save {
        Save::NOTHING.and_input(i)
    }

    /// Also keeps input `i` (positions 0–30).
    pub const fn and_input(self, i: usize) -> Save {
        let bit = if i < 31 { 1u32 << i } else { 0 };
        Save { inputs: self.inputs | bit, output: self.output }
    }

    /// Also keeps the output.
    pub const fn and_output(self) -> Save {
        Save { inputs: self.inputs, output: true }
    }

    fn keeps_input(self, i: usize) -> bool {
        self.inputs == u32::MAX || i < 31 && (self.inputs >> i) & 1 == 1
    }
}

/// What a rule sees during backward: the values its op saved, the inputs' shapes,
/// and which inputs need a gradient at all ([`needs_grad`](Self::needs_grad), the
/// test for skipping an input's product). Under `create_graph` the saved values are
/// part of the graph again, so gradients of gradients go through them; otherwise the
/// rule runs without grad and they are plain constants.
pub struct Saved<'a, T: Element> {
    op: &'static str,
    edges: &'a [Edge<T>],
    inputs: SmallVec<[Option<Tensor<T>>; 2]>,
    output: Option<Tensor<T>>,
    needs: SmallVec<[bool; 4]>,
}

impl<T: Element> Saved<'_, T> {
    /// Input `i` as it was in the forward. An error if the op did not save it (a bug
    /// in the op's [`Save`] declaration, named in the message).
    pub fn input(&self, i: usize) -> Result<&Tensor<T>> {
        self.inputs.get(i).and_then(Option::as_ref).ok_or_else(|| Error::NotSaved {
            op: self.op,
            what: format!("input {i} (of {})", self.edges.len()),
        })
    }

    /// The op's output. An error if the op did not save it.
    pub fn output(&self) -> Result<&Tensor<T>> {
        self.output.as_ref().ok_or_else(|| Error::NotSaved { op: self.op, what: "its output".into() })
    }

    /// The shape of input `i` (always known, saved or not).
    ///
    /// # Panics
    /// If `i` is not an input position of this op (a bug in the rule itself).
    pub fn input_shape(&self, i: usize) -> &[usize] {
        &self.edges[i].shape
    }

    /// Number of inputs.
    pub fn len(&self) -> usize {
        self.edges.len()
    }

    /// Whether the op has no inputs.
    pub fn is_empty(&self) -> bool {
        self.edges.is_empty()
    }

    /// Whether input `i` needs a gradient in this backward (PyTorch's
    /// `needs_input_grad`): false for constants and for inputs that lead to none of
    /// the tensors asked about. A rule may skip computing those (return `None`).
    pub fn needs_grad(&self, i: usize) -> bool {
        self.needs.get(i).copied().unwrap_or(false)
    }
}

/// One input of a node: where it came from (the graph's edge) and its shape.
pub(crate) struct Edge<T: Element> {
    pub(crate) origin: Origin<T>,
    pub(crate) shape: Shape,
}

/// The one input of a dtype cast ([`Tensor::cast`]): an edge into a graph of the
/// other element type, and the VJP that carries `dy` across (the cast back). A graph
/// is one graph whatever its element types: backward walks both sides in one pass, so
/// a node on either side waits for all of its consumers, whichever side they are on.
pub(crate) struct CrossEdge<T: Element> {
    pub(crate) edge: Edge<T::Other>,
    pub(crate) vjp: fn(&Tensor<T>) -> Result<Tensor<T::Other>>,
}

/// The values a node keeps for its rule until the graph is released.
#[derive(Clone)]
struct NodeState<T: Element> {
    inputs: SmallVec<[Option<Arc<Vec<T>>>; 2]>,
    output: Option<Arc<Vec<T>>>,
}

/// A recorded op: its name, a creation number, its inputs' edges, its output's
/// shape, what its rule saved (until released), and the rule itself.
///
/// The rule is the last field and unsized in `Node<T>` (= `Node<T, DynRule<T>>`):
/// recording builds a `Node<T, F>` for the closure's own type `F` and the `Arc`
/// coerces, so a node and its rule are one allocation, and calling the rule needs no
/// lock. What the closure captures lives as long as the node; the values it saved
/// through [`Save`] are released by backward.
pub(crate) struct Node<T: Element, R: ?Sized = DynRule<T>> {
    pub(crate) op: &'static str,
    pub(crate) id: u64,
    pub(crate) edges: SmallVec<[Edge<T>; 2]>,
    /// A cast's input, in a graph of the other element type (`None` for every other op).
    pub(crate) cross: Option<Box<CrossEdge<T>>>,
    pub(crate) shape: Shape,
    state: Mutex<Option<NodeState<T>>>,
    released: AtomicBool,
    anomaly: Option<Box<Error>>,
    rule: R,
}

impl<T: Element> Node<T> {
    /// The buffers this node keeps for its rule, each as (address, bytes, whether it
    /// is a leaf's value): for measuring what a graph holds.
    pub(crate) fn saved_buffers(&self) -> Vec<(usize, usize, bool)> {
        let guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = guard.as_ref() else { return Vec::new() };
        let bytes = |d: &Arc<Vec<T>>| d.len() * std::mem::size_of::<T>();
        let mut out: Vec<(usize, usize, bool)> = state
            .inputs
            .iter()
            .zip(&self.edges)
            .filter_map(|(d, e)| {
                let d = d.as_ref()?;
                Some((Arc::as_ptr(d) as usize, bytes(d), matches!(e.origin, Origin::Leaf(_))))
            })
            .collect();
        if let Some(d) = &state.output {
            out.push((Arc::as_ptr(d) as usize, bytes(d), false));
        }
        out
    }

    pub(crate) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// The saved values: shared when the graph is kept, taken otherwise.
    fn take_state(&self, keep: bool) -> Option<NodeState<T>> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if keep {
            guard.clone()
        } else {
            self.released.store(true, Ordering::Release);
            guard.take()
        }
    }
}

impl<T: Element, R: ?Sized> Drop for Node<T, R> {
    /// Frees a chain of any depth without recursion: each node whose last handle is
    /// ours hands its edges to a local stack (one per element type, since a chain may
    /// cross a cast any number of times) instead of dropping them in place.
    fn drop(&mut self) {
        live_count_add(-1);
        let mut own: Vec<Arc<Node<T>>> = Vec::new();
        let mut far: Vec<Arc<Node<T::Other>>> = Vec::new();
        take_edges(&mut self.edges, &mut self.cross, &mut own, &mut far);
        loop {
            // Ours alone: empty it here, so dropping the handle below frees only the
            // node itself. If another thread drops its handle in between, that last
            // drop runs this loop on its own stack — still no deep recursion.
            if let Some(mut node) = own.pop() {
                if let Some(node) = Arc::get_mut(&mut node) {
                    take_edges(&mut node.edges, &mut node.cross, &mut own, &mut far);
                }
            } else if let Some(mut node) = far.pop() {
                if let Some(node) = Arc::get_mut(&mut node) {
                    take_edges(&mut node.edges, &mut node.cross, &mut far, &mut own);
                }
            } else {
                break;
            }
        }
    }
}

/// Moves a node's input nodes onto the drop stacks: `mine` for its own element type,
/// `theirs` for a cast's input.
fn take_edges<A: Element>(
    edges: &mut SmallVec<[Edge<A>; 2]>,
    cross: &mut Option<Box<CrossEdge<A>>>,
    mine: &mut Vec<Arc<Node<A>>>,
    theirs: &mut Vec<Arc<Node<A::Other>>>,
) {
    // Swap each origin out in place (the edges themselves stay, now constants):
    // cheaper than moving the whole SmallVec out and iterating it by value.
    for edge in edges.iter_mut() {
        if let Origin::Node(n) = std::mem::replace(&mut edge.origin, Origin::Constant) {
            mine.push(n);
        }
    }
    if let Some(cross) = cross.take()
        && let Origin::Node(n) = cross.edge.origin
    {
        theirs.push(n);
    }
}

impl<T: Element> std::fmt::Debug for Node<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Node(#{} {} {:?})", self.id, self.op, self.shape.as_slice())
    }
}

/// Ids of nodes and leaves: unique in the process, and increasing on each thread,
/// so within a graph built on one thread they give creation order. Each thread takes
/// a block of ids at a time from the global counter, so recording an op costs no
/// shared atomic.
static NEXT_ID_BLOCK: AtomicU64 = AtomicU64::new(1);
const ID_BLOCK: u64 = 4096;

thread_local! {
    /// This thread's next id and the end of its block.
    static IDS: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
}

fn next_id() -> u64 {
    IDS.try_with(|ids| {
        let (next, end) = ids.get();
        if next < end {
            ids.set((next + 1, end));
            next
        } else {
            let start = NEXT_ID_BLOCK.fetch_add(ID_BLOCK, Ordering::Relaxed);
            ids.set((start + 1, start + ID_BLOCK));
            start
        }
    })
    // During thread teardown the block is gone: take a single id.
    .unwrap_or_else(|_| NEXT_ID_BLOCK.fetch_add(1, Ordering::Relaxed))
}

/// Live-node counts: one per thread, written only by its thread (a plain load and
/// store, no locked instruction), summed on demand. A node dropped on another
/// thread than it was made on makes one count go up and another down; only the sum
/// means anything. A thread's count moves into `RETIRED` when the thread ends.
static LIVE_COUNTS: Mutex<Vec<Arc<AtomicIsize>>> = Mutex::new(Vec::new());
static RETIRED: AtomicIsize = AtomicIsize::new(0);

struct LiveCount(Arc<AtomicIsize>);

impl LiveCount {
    fn register() -> LiveCount {
        let count = Arc::new(AtomicIsize::new(0));
        LIVE_COUNTS.lock().unwrap_or_else(|e| e.into_inner()).push(count.clone());
        LiveCount(count)
    }
}

impl Drop for LiveCount {
    fn drop(&mut self) {
        let mut counts = LIVE_COUNTS.lock().unwrap_or_else(|e| e.into_inner());
        counts.retain(|c| !Arc::ptr_eq(c, &self.0));
        RETIRED.fetch_add(self.0.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

thread_local! {
    static LIVE: LiveCount = LiveCount::register();
}

fn live_count_add(delta: isize) {
    let local = LIVE.try_with(|c| {
        let count = &c.0;
        count.store(count.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    });
    if local.is_err() {
        RETIRED.fetch_add(delta, Ordering::Relaxed);
    }
}

/// Number of recorded nodes alive in this process, across threads and element types.
/// A cheap counter for tests and inspection: after every tensor of a graph is dropped,
/// its nodes are gone.
///
/// ```
/// use tensor_core::{live_nodes, Tensor};
/// let before = live_nodes();
/// let x = Tensor::<f64>::scalar(2.0).requires_grad();
/// let y = x.exp().ln();
/// assert_eq!(live_nodes(), before + 2);
/// drop(y);
/// assert_eq!(live_nodes(), before);
/// ```
pub fn live_nodes() -> usize {
    let counts = LIVE_COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let sum: isize =
        RETIRED.load(Ordering::Relaxed) + counts.iter().map(|c| c.load(Ordering::Relaxed)).sum::<isize>();
    usize::try_from(sum).unwrap_or(0)
}

/// A leaf of the graph: a variable or a parameter, with a stable id and a name.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) id: u64,
    pub(crate) name: String,
}

impl Leaf {
    pub(crate) fn new(name: String) -> Arc<Leaf> {
        Arc::new(Leaf { id: next_id(), name })
    }
}

thread_local! {
    static GRAD_DISABLED: Cell<u32> = const { Cell::new(0) };
    static ANOMALY: Cell<bool> = const { Cell::new(false) };
    /// Ids of the nodes whose rules are running on this thread (innermost last): a
    /// backward started inside a rule must not walk back into them.
    static RUNNING_RULES: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Marks a node's rule as running on this thread until dropped (also on error).
struct RunningRule;

impl RunningRule {
    fn enter(id: u64) -> RunningRule {
        RUNNING_RULES.with(|r| r.borrow_mut().push(id));
        RunningRule
    }
}

impl Drop for RunningRule {
    fn drop(&mut self) {
        RUNNING_RULES.with(|r| {
            r.borrow_mut().pop();
        });
    }
}

/// The op of the first of `nodes` whose rule is running on this thread, if any.
fn reentered<'a, T: Element>(mut nodes: impl Iterator<Item = &'a Arc<Node<T>>>) -> Option<&'static str> {
    RUNNING_RULES.with(|r| {
        let running = r.borrow();
        if running.is_empty() {
            return None;
        }
        nodes.find(|n| running.contains(&n.id)).map(|n| n.op)
    })
}

/// Whether ops on this thread record themselves (false inside [`no_grad`]).
pub fn is_grad_enabled() -> bool {
    GRAD_DISABLED.with(|d| d.get() == 0)
}

/// While alive, nothing is recorded on this thread. Prefer [`no_grad`].
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

/// Runs `f` with recording on, even inside [`no_grad`] or a gradient rule that runs
/// without `create_graph` (PyTorch's `torch.enable_grad`): how a rule that
/// recomputes a forward (checkpointing) records it.
///
/// ```
/// use tensor_core::{enable_grad, no_grad, Tensor};
/// let w = Tensor::<f64>::scalar(3.0).requires_grad();
/// let y = no_grad(|| enable_grad(|| w.exp()));
/// assert!(y.is_recorded());
/// ```
pub fn enable_grad<R>(f: impl FnOnce() -> R) -> R {
    let saved = GRAD_DISABLED.with(|d| d.replace(0));
    // Restored on unwind too, so a panicking `f` cannot leave recording on.
    struct Restore(u32);
    impl Drop for Restore {
        fn drop(&mut self) {
            GRAD_DISABLED.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(saved);
    f()
}

/// Runs `f` without recording anything (inference, optimizer updates, metrics).
/// Outside it, a forward pass whose outputs are dropped frees its graph anyway; this
/// saves the cost of recording it.
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
/// output for NaN/inf and every rule its results; the first bad one is reported as
/// [`Error::Anomaly`] naming the op (a forward anomaly surfaces when backward walks a
/// graph that contains it). Costs a scan per op.
pub fn set_detect_anomaly(on: bool) {
    ANOMALY.with(|a| a.set(on));
}

/// Whether anomaly detection is on for this thread.
pub fn is_anomaly_enabled() -> bool {
    ANOMALY.with(|a| a.get())
}

/// With anomaly detection on, the error for a forward output holding NaN or ±∞ (kept
/// in the node and raised by a backward through it).
fn forward_anomaly<T: Element>(op: &'static str, output: &Tensor<T>) -> Option<Box<Error>> {
    if !is_anomaly_enabled() {
        return None;
    }
    let (index, value) = first_non_finite(output.as_slice())?;
    Some(Box::new(Error::Anomaly { op, phase: Phase::Forward, index, value, shape: output.shape.clone() }))
}

/// A copy of a shape by one `memcpy` (`Shape::clone` goes through the generic
/// iterator path, several times the cost): recording and walking copy shapes per node.
#[inline]
fn copy_shape(shape: &[usize]) -> Shape {
    Shape::from_slice(shape)
}

fn first_non_finite<T: Element>(data: &[T]) -> Option<(usize, f64)> {
    data.iter().position(|x| !x.is_finite()).map(|i| (i, data[i].as_f64()))
}

/// A multiplicative hasher for keys that are already unique integers (node
/// addresses, leaf ids): one multiply per lookup instead of SipHash.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_right(29);
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

impl<T: Element> Tensor<T> {
    /// Records an op: `output` was computed from `inputs`; `rule` maps the output's
    /// gradient to the inputs' gradients. This is how users add their own op: compute
    /// the value with any code, then state its gradient with tensor ops. The node
    /// keeps the inputs and the output for the rule; use
    /// [`record_saving`](Self::record_saving) to keep less.
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
        Tensor::record_saving(op, inputs, output, Save::ALL, move |dy, saved| {
            let inputs: SmallVec<[Tensor<T>; 4]> =
                (0..saved.len()).map(|i| saved.input(i).cloned()).collect::<Result<_>>()?;
            rule(dy, &inputs, saved.output()?)
        })
    }

    /// Records an op whose node keeps only what `save` names; the rule reads it from
    /// [`Saved`]. Every built-in op is written this way.
    ///
    /// ```
    /// use tensor_core::{GradVec, Save, Tensor};
    /// // e^x keeps its output only: d eˣ = dy·y.
    /// fn my_exp(x: &Tensor<f64>) -> Tensor<f64> {
    ///     let y = x.map(f64::exp);
    ///     Tensor::record_saving("my_exp", &[x], y, Save::OUTPUT, |dy, saved| {
    ///         Ok(GradVec::from_iter([Some(dy.mul(saved.output()?)?)]))
    ///     })
    /// }
    /// let x = Tensor::scalar(0.0).requires_grad();
    /// assert_eq!(my_exp(&x).backward()?.wrt(&x)?.item()?, 1.0);
    /// # Ok::<(), tensor_core::Error>(())
    /// ```
    pub fn record_saving(
        op: &'static str,
        inputs: &[&Tensor<T>],
        output: Tensor<T>,
        save: Save,
        rule: impl VjpRule<T> + 'static,
    ) -> Tensor<T> {
        // The output is ours: drop any graph identity it had without cloning it.
        let mut output = output;
        output.origin = Origin::Constant;
        if !is_grad_enabled() || inputs.iter().all(|t| matches!(t.origin, Origin::Constant)) {
            return output;
        }
        let anomaly = forward_anomaly(op, &output);
        // Pushes, not `collect`: see `Walk::apply`.
        let mut edges = SmallVec::new();
        let mut saved_inputs = SmallVec::new();
        for (i, t) in inputs.iter().enumerate() {
            edges.push(Edge { origin: t.origin.clone(), shape: copy_shape(&t.shape) });
            saved_inputs.push(save.keeps_input(i).then(|| t.data.clone()));
        }
        let state = NodeState { inputs: saved_inputs, output: save.output.then(|| output.data.clone()) };
        live_count_add(1);
        let node: Arc<Node<T>> = Arc::new(Node {
            op,
            id: next_id(),
            edges,
            cross: None,
            shape: copy_shape(&output.shape),
            state: Mutex::new(Some(state)),
            released: AtomicBool::new(false),
            anomaly,
            rule,
        });
        output.origin = Origin::Node(node);
        output
    }

    /// Records a built-in op: [`record_saving`](Self::record_saving), after checking
    /// (in debug builds) that the op's name is in the registry,
    /// [`builtin_ops`](crate::builtin_ops).
    pub(crate) fn record_builtin(
        op: &'static str,
        inputs: &[&Tensor<T>],
        output: Tensor<T>,
        save: Save,
        rule: impl VjpRule<T> + 'static,
    ) -> Tensor<T> {
        debug_assert!(
            crate::ops::builtin_ops().any(|name| name == op),
            "op `{op}` is recorded but not declared in its file's OPS list"
        );
        Tensor::record_saving(op, inputs, output, save, rule)
    }

    /// Records a dtype cast: `output` (of this element type) was computed from `input`
    /// (of the other one); `vjp` carries the output's gradient back across. The node
    /// has no ordinary edges, only the cross edge, and saves nothing.
    pub(crate) fn record_cast(
        op: &'static str,
        input: &Tensor<T::Other>,
        output: Tensor<T>,
        vjp: fn(&Tensor<T>) -> Result<Tensor<T::Other>>,
    ) -> Tensor<T> {
        debug_assert!(
            crate::ops::builtin_ops().any(|name| name == op),
            "op `{op}` is recorded but not declared in its file's OPS list"
        );
        let mut output = output;
        output.origin = Origin::Constant;
        if !is_grad_enabled() || matches!(input.origin, Origin::Constant) {
            return output;
        }
        let anomaly = forward_anomaly(op, &output);
        let cross =
            CrossEdge { edge: Edge { origin: input.origin.clone(), shape: input.shape.clone() }, vjp };
        live_count_add(1);
        let no_rule = |_: &Tensor<T>, _: &Saved<'_, T>| -> Result<GradVec<T>> { Ok(GradVec::new()) };
        let node: Arc<Node<T>> = Arc::new(Node {
            op,
            id: next_id(),
            edges: SmallVec::new(),
            cross: Some(Box::new(cross)),
            shape: output.shape.clone(),
            state: Mutex::new(Some(NodeState { inputs: SmallVec::new(), output: None })),
            released: AtomicBool::new(false),
            anomaly,
            rule: no_rule,
        });
        output.origin = Origin::Node(node);
        output
    }

    /// Records a one-input op whose rule returns one gradient.
    pub(crate) fn record_unary(
        &self,
        op: &'static str,
        output: Tensor<T>,
        save: Save,
        rule: impl Fn(&Tensor<T>, &Saved<'_, T>) -> Result<Tensor<T>> + Send + Sync + 'static,
    ) -> Tensor<T> {
        Tensor::record_builtin(op, &[self], output, save, move |dy, saved| {
            Ok(smallvec::smallvec![Some(rule(dy, saved)?)])
        })
    }

    /// Backward from a scalar output with default options: gradients of every leaf
    /// (variable or parameter) this output depends on. Releases what this graph saved.
    pub fn backward(&self) -> Result<Gradients<T>> {
        self.backward_with(BackwardOptions::default())
    }

    /// Backward with options: a seed gradient for non-scalar outputs, only some
    /// inputs' gradients (`inputs`, as `torch.autograd.grad`), keeping the graph,
    /// recording the gradients themselves (`create_graph`) for higher-order
    /// derivatives, keeping intermediate gradients.
    pub fn backward_with(&self, opts: BackwardOptions<T>) -> Result<Gradients<T>> {
        let seed = match opts.seed {
            Some(s) if s.shape != self.shape => {
                return Err(Error::SeedShape { seed: s.shape.clone(), output: self.shape.clone() });
            }
            // Under create_graph a recorded seed stays recorded, as in PyTorch: the
            // gradients are then differentiable in the seed too (the double-VJP trick
            // behind `func::jvp`).
            Some(s) if opts.create_graph => s,
            Some(s) => s.detach(),
            None if self.numel() != 1 => return Err(Error::NonScalarBackward { shape: self.shape.clone() }),
            None => Tensor::ones(&self.shape)?,
        };
        let targets = Targets::new(&opts.inputs, &opts.other_inputs);
        let root = match &self.origin {
            Origin::Constant => return Err(Error::NotRecorded),
            Origin::Leaf(leaf) => {
                let mut store = Gradients { own: GradMaps::default(), other: GradMaps::default() };
                if targets.wants_leaf(leaf.id) {
                    store.own.leaves.insert(leaf.id, seed);
                }
                return Ok(store);
            }
            Origin::Node(node) => node,
        };
        let walk = Walk {
            keep_graph: opts.keep_graph || opts.create_graph,
            create_graph: opts.create_graph,
            retain_intermediate: opts.retain_intermediate,
            targets,
        };
        walk.run(root, seed)
    }
}

/// The tensors a backward was asked about (empty: every leaf). Ids are unique across
/// element types, so one set serves both sides of a cast.
struct Targets {
    all: bool,
    leaves: IdMap<()>,
    nodes: IdMap<()>,
}

impl Targets {
    fn new<T: Element>(inputs: &[Tensor<T>], other_inputs: &[Tensor<T::Other>]) -> Targets {
        let mut targets = Targets {
            all: inputs.is_empty() && other_inputs.is_empty(),
            leaves: IdMap::default(),
            nodes: IdMap::default(),
        };
        targets.add(inputs);
        targets.add(other_inputs);
        targets
    }

    fn add<T: Element>(&mut self, inputs: &[Tensor<T>]) {
        for t in inputs {
            match &t.origin {
                Origin::Leaf(l) => {
                    self.leaves.insert(l.id, ());
                }
                Origin::Node(n) => {
                    self.nodes.insert(n.id, ());
                }
                Origin::Constant => {}
            }
        }
    }

    fn wants_leaf(&self, id: u64) -> bool {
        self.all || self.leaves.contains_key(&id)
    }

    fn wants_node(&self, id: u64) -> bool {
        // Most backwards ask about no intermediate tensor: skip the hashing then.
        !self.nodes.is_empty() && self.nodes.contains_key(&id)
    }
}

/// Marks an edge that is not a node (a leaf or a constant) in [`Slot::children`].
const NOT_A_NODE: u32 = u32::MAX;

/// Per node reachable from the root, during one backward. Slots borrow their nodes
/// from the root's graph (which the walk's caller keeps alive), so walking costs no
/// reference-count traffic.
struct Slot<'g, T: Element> {
    node: &'g Arc<Node<T>>,
    /// The slot of each edge's node, [`NOT_A_NODE`] for leaves and constants: found
    /// once in discovery, so the walk itself never looks a node up.
    children: SmallVec<[u32; 2]>,
    /// For a cast, the slot of its input's node on the other side (or [`NOT_A_NODE`]).
    cross: u32,
    /// Consumers (inside this graph, on either side) that have yet to deliver a
    /// gradient.
    pending: usize,
    grad: Option<Tensor<T>>,
    /// Whether the node leads to a tensor asked about (always, without `inputs`).
    needed: bool,
}

/// One element type's part of a backward: the slots of its reachable nodes, the
/// index from node id to slot, and the gradients collected for the caller. A graph
/// without a cast leaves the other half empty (and unallocated).
struct Half<'g, T: Element> {
    slots: Vec<Slot<'g, T>>,
    index: IdMap<u32>,
    grads: GradMaps<T>,
}

impl<'g, T: Element> Half<'g, T> {
    fn new() -> Self {
        Half { slots: Vec::new(), index: IdMap::default(), grads: GradMaps::default() }
    }

    /// The slot of `node`, added on its first sighting (then `true`).
    ///
    /// A node whose only handle is the edge it was reached through (strong count 1)
    /// has exactly one consumer in the whole process, so this is its first and only
    /// sighting: it gets a slot without entering the index. The graph below the root
    /// cannot change during the walk (the caller holds the root), so no second path to
    /// it can appear; in a chain whose intermediate tensors were dropped — the usual
    /// training step — discovery then hashes nothing.
    fn slot_of(&mut self, node: &'g Arc<Node<T>>, needed: bool) -> Result<(u32, bool)> {
        if Arc::strong_count(node) == 1 {
            return Ok((self.push_slot(node, needed)?, true));
        }
        match self.index.get(&node.id) {
            Some(&at) => Ok((at, false)),
            None => {
                let at = self.push_slot(node, needed)?;
                self.index.insert(node.id, at);
                Ok((at, true))
            }
        }
    }

    /// Adds a slot for `node`, returning its index.
    fn push_slot(&mut self, node: &'g Arc<Node<T>>, needed: bool) -> Result<u32> {
        let at = u32::try_from(self.slots.len()).ok().filter(|&at| at != NOT_A_NODE).ok_or_else(|| {
            Error::TooLarge { op: "backward", reason: format!("a graph of more than {} nodes", u32::MAX - 1) }
        })?;
        self.slots.push(Slot {
            node,
            children: SmallVec::new(),
            cross: NOT_A_NODE,
            pending: 0,
            grad: None,
            needed,
        });
        Ok(at)
    }
}

/// A slot's place in a walk: which half (`far`: the element type other than the
/// root's) and its index there.
#[derive(Clone, Copy)]
struct Place {
    far: bool,
    at: u32,
}

/// What discovery does next at a node.
enum Visit {
    /// Look at the node's next edge.
    Next,
    /// Descend into a newly found child (on the other side if `cross`).
    Descend { cross: bool, at: u32 },
    /// All edges seen: the node is finished.
    Finished,
}

/// The walk's ready stack (nodes whose consumers have all delivered), and whether
/// anomaly detection checks each gradient.
struct Ready {
    stack: Vec<Place>,
    anomaly: bool,
}

struct Walk {
    keep_graph: bool,
    create_graph: bool,
    retain_intermediate: bool,
    targets: Targets,
}

impl Walk {
    /// Finds the reachable nodes on both sides of any cast (iterative depth-first),
    /// marks those that lead to a target, and counts each needed node's consumers
    /// among needed nodes.
    #[allow(clippy::type_complexity)]
    fn discover<'g, T: Element>(&self, root: &'g Arc<Node<T>>) -> Result<(Half<'g, T>, Half<'g, T::Other>)> {
        let mut own: Half<'g, T> = Half::new();
        let mut far: Half<'g, T::Other> = Half::new();
        own.slot_of(root, self.targets.all)?;
        // (place, next edge to look at): a node is finished once all its edges are.
        let mut stack: Vec<(Place, usize)> = vec![(Place { far: false, at: 0 }, 0)];
        while let Some(top) = stack.last_mut() {
            let (place, edge) = *top;
            let visit = if place.far {
                self.visit(&mut far, &mut own, place.at as usize, edge)?
            } else {
                self.visit(&mut own, &mut far, place.at as usize, edge)?
            };
            match visit {
                Visit::Next => top.1 += 1,
                Visit::Descend { cross, at } => {
                    top.1 += 1;
                    stack.push((Place { far: place.far ^ cross, at }, 0));
                }
                Visit::Finished => {
                    stack.pop();
                }
            }
        }
        let mut first_anomaly: Option<(u64, Error)> = None;
        self.count_consumers(&mut own, &mut far, false, &mut first_anomaly)?;
        self.count_consumers(&mut far, &mut own, true, &mut first_anomaly)?;
        if let Some((_, e)) = first_anomaly {
            return Err(e);
        }
        fn needed<'a, 'g: 'a, A: Element>(
            slots: &'a [Slot<'g, A>],
        ) -> impl Iterator<Item = &'g Arc<Node<A>>> + 'a {
            slots.iter().filter(|s| s.needed).map(|s| s.node)
        }
        if let Some(op) = reentered(needed(&own.slots)).or_else(|| reentered(needed(&far.slots))) {
            return Err(Error::ReentrantBackward { op });
        }
        Ok((own, far))
    }

    /// One discovery step at `mine.slots[at]`, looking at edge `edge` (its cross edge,
    /// if any, comes after the ordinary ones).
    fn visit<'g, A: Element>(
        &self,
        mine: &mut Half<'g, A>,
        theirs: &mut Half<'g, A::Other>,
        at: usize,
        edge: usize,
    ) -> Result<Visit> {
        let node: &'g Arc<Node<A>> = mine.slots[at].node;
        if let Some(e) = node.edges.get(edge) {
            let (child, new) = match &e.origin {
                Origin::Node(child) => mine.slot_of(child, self.targets.all)?,
                _ => (NOT_A_NODE, false),
            };
            mine.slots[at].children.push(child);
            return Ok(if new { Visit::Descend { cross: false, at: child } } else { Visit::Next });
        }
        if edge == node.edges.len()
            && let Some(cross) = node.cross.as_deref()
        {
            if let Origin::Node(child) = &cross.edge.origin {
                let (child, new) = theirs.slot_of(child, self.targets.all)?;
                mine.slots[at].cross = child;
                if new {
                    return Ok(Visit::Descend { cross: true, at: child });
                }
            }
            return Ok(Visit::Next);
        }
        if !self.targets.all {
            let slot = &mine.slots[at];
            let leads = self.targets.wants_node(node.id)
                || node
                    .edges
                    .iter()
                    .zip(&slot.children)
                    .any(|(e, &c)| self.needs_grad(&e.origin, c, &mine.slots))
                || node
                    .cross
                    .as_deref()
                    .is_some_and(|x| self.needs_grad(&x.edge.origin, slot.cross, &theirs.slots));
            mine.slots[at].needed = leads;
        }
        Ok(Visit::Finished)
    }

    /// Whether the input at `origin` (slot `child` if it is a node) gets a gradient in
    /// this backward.
    fn needs_grad<A: Element>(&self, origin: &Origin<A>, child: u32, slots: &[Slot<'_, A>]) -> bool {
        match origin {
            Origin::Constant => false,
            Origin::Leaf(l) => self.targets.wants_leaf(l.id),
            Origin::Node(_) => slots[child as usize].needed,
        }
    }

    /// For each needed node of `mine`: refuses a released one, notes the earliest
    /// forward anomaly, and counts it as a consumer of its needed inputs.
    fn count_consumers<A: Element>(
        &self,
        mine: &mut Half<'_, A>,
        theirs: &mut Half<'_, A::Other>,
        far: bool,
        first_anomaly: &mut Option<(u64, Error)>,
    ) -> Result<()> {
        for s in 0..mine.slots.len() {
            if !mine.slots[s].needed {
                continue;
            }
            let node = mine.slots[s].node;
            if node.is_released() {
                return Err(Error::GraphFreed { op: node.op, carried_over: far || s != 0 });
            }
            if let Some(a) = node.anomaly.as_deref()
                && first_anomaly.as_ref().is_none_or(|(id, _)| node.id < *id)
            {
                *first_anomaly = Some((node.id, a.clone()));
            }
            for k in 0..mine.slots[s].children.len() {
                let c = mine.slots[s].children[k];
                if c != NOT_A_NODE && mine.slots[c as usize].needed {
                    mine.slots[c as usize].pending += 1;
                }
            }
            let c = mine.slots[s].cross;
            if c != NOT_A_NODE && theirs.slots[c as usize].needed {
                theirs.slots[c as usize].pending += 1;
            }
        }
        Ok(())
    }

    fn run<T: Element>(&self, root: &Arc<Node<T>>, seed: Tensor<T>) -> Result<Gradients<T>> {
        let (mut own, mut far) = self.discover(root)?;
        if own.slots[0].needed {
            own.slots[0].grad = Some(seed);
            let _no_grad = (!self.create_graph).then(NoGradGuard::new);
            let mut ready = Ready { stack: vec![Place { far: false, at: 0 }], anomaly: is_anomaly_enabled() };
            while let Some(place) = ready.stack.pop() {
                if place.far {
                    self.step(&mut far, &mut own, place, &mut ready)?;
                } else {
                    self.step(&mut own, &mut far, place, &mut ready)?;
                }
            }
        }
        Ok(Gradients { own: own.grads, other: far.grads })
    }

    /// Runs the node at `place` (in `mine`), whose consumers have all delivered, and
    /// delivers its inputs' gradients — to `theirs` for a cast's input.
    fn step<A: Element>(
        &self,
        mine: &mut Half<'_, A>,
        theirs: &mut Half<'_, A::Other>,
        place: Place,
        ready: &mut Ready,
    ) -> Result<()> {
        let at = place.at as usize;
        let node = mine.slots[at].node;
        let dy = mine.slots[at].grad.take();
        if (self.retain_intermediate || self.targets.wants_node(node.id))
            && let Some(g) = &dy
        {
            mine.grads.intermediate.insert(node.id, g.clone());
        }
        let state = node.take_state(self.keep_graph);
        let (mut grads, cross_grad) = match (&dy, state) {
            (Some(dy), Some(state)) => {
                let grads = self.apply(node, dy, state, &mine.slots[at], &mine.slots)?;
                let cross_grad = match node.cross.as_deref() {
                    Some(x) if self.needs_grad(&x.edge.origin, mine.slots[at].cross, &theirs.slots) => {
                        Some((x.vjp)(dy)?)
                    }
                    _ => None,
                };
                (Some(grads), cross_grad)
            }
            (Some(_), None) => {
                return Err(Error::GraphFreed { op: node.op, carried_over: place.far || at != 0 });
            }
            // No gradient reached this node: nothing to run, but its inputs'
            // consumer counts still drop.
            (None, _) => (None, None),
        };
        drop(dy);
        // Taken out in place: turning the vector into an iterator would move it
        // (a `memcpy` call per node at these sizes).
        for (i, e) in node.edges.iter().enumerate() {
            let g = grads.as_mut().and_then(|g| g.get_mut(i)).and_then(Option::take);
            let child = Place { far: place.far, at: mine.slots[at].children[i] };
            self.deliver(mine, &e.origin, child, g, node.op, ready)?;
        }
        if let Some(x) = node.cross.as_deref() {
            let child = Place { far: !place.far, at: mine.slots[at].cross };
            self.deliver(theirs, &x.edge.origin, child, cross_grad, node.op, ready)?;
        }
        Ok(())
    }

    /// Adds gradient `g` (from op `op`; `None`: none) into the input at `origin`: a
    /// leaf's entry in the store, or the slot `to`, which is then ready if this was
    /// its last consumer.
    fn deliver<A: Element>(
        &self,
        half: &mut Half<'_, A>,
        origin: &Origin<A>,
        to: Place,
        g: Option<Tensor<A>>,
        op: &'static str,
        ready: &mut Ready,
    ) -> Result<()> {
        if ready.anomaly
            && let Some(g) = &g
            && let Some((index, value)) = first_non_finite(g.as_slice())
        {
            return Err(Error::Anomaly { op, phase: Phase::Backward, index, value, shape: g.shape.clone() });
        }
        match origin {
            Origin::Constant => {}
            Origin::Leaf(leaf) => {
                if let Some(g) = g
                    && self.targets.wants_leaf(leaf.id)
                {
                    match half.grads.leaves.entry(leaf.id) {
                        Entry::Occupied(mut slot) => accumulate(slot.get_mut(), g, self.create_graph)?,
                        Entry::Vacant(slot) => {
                            slot.insert(g);
                        }
                    }
                }
            }
            Origin::Node(_) => {
                let slot = &mut half.slots[to.at as usize];
                if !slot.needed {
                    return Ok(());
                }
                if let Some(g) = g {
                    match &mut slot.grad {
                        Some(acc) => accumulate(acc, g, self.create_graph)?,
                        empty => *empty = Some(g),
                    }
                }
                slot.pending -= 1;
                if slot.pending == 0 {
                    ready.stack.push(to);
                }
            }
        }
        Ok(())
    }

    /// Runs one node's rule and checks its result: one entry per input, each
    /// reducible to its input's shape, then summed back to it.
    fn apply<T: Element>(
        &self,
        node: &Arc<Node<T>>,
        dy: &Tensor<T>,
        state: NodeState<T>,
        slot: &Slot<'_, T>,
        slots: &[Slot<'_, T>],
    ) -> Result<GradVec<T>> {
        // Built with pushes into inline storage: `collect` into a SmallVec goes through
        // its generic reserve-and-extend path, several times the cost for two entries.
        let mut needs: SmallVec<[bool; 4]> = SmallVec::new();
        let mut inputs: SmallVec<[Option<Tensor<T>>; 2]> = SmallVec::new();
        for ((e, &child), data) in node.edges.iter().zip(&slot.children).zip(state.inputs) {
            let needed = self.needs_grad(&e.origin, child, slots);
            needs.push(needed);
            inputs.push(data.map(|data| Tensor {
                data,
                shape: copy_shape(&e.shape),
                // Only a recorded backward (`create_graph`) needs the saved values to
                // be part of the graph again; otherwise the rule runs without grad and
                // nothing it computes records, so the origin would be two reference
                // counts per input per node spent on nothing.
                origin: if self.create_graph { e.origin.clone() } else { Origin::Constant },
            }));
        }
        let output = state.output.map(|data| Tensor {
            data,
            shape: copy_shape(&node.shape),
            origin: if self.create_graph { Origin::Node(node.clone()) } else { Origin::Constant },
        });
        let saved = Saved { op: node.op, edges: &node.edges, inputs, output, needs };
        let mut grads = {
            let _running = RunningRule::enter(node.id);
            (node.rule)(dy, &saved)?
        };
        if grads.len() != node.edges.len() {
            return Err(Error::RuleArity { op: node.op, expected: node.edges.len(), got: grads.len() });
        }
        for (i, (slot, e)) in grads.iter_mut().zip(&node.edges).enumerate() {
            let Some(g) = slot else { continue };
            if same_shape(&g.shape, &e.shape) {
                continue;
            }
            let reducible = broadcast_shapes(node.op, &e.shape, &g.shape).is_ok_and(|s| s == g.shape);
            if !reducible {
                return Err(Error::RuleGradientShape {
                    op: node.op,
                    input: i,
                    input_shape: e.shape.clone(),
                    gradient_shape: g.shape.clone(),
                });
            }
            // The one place broadcasting is undone: sum back to the input's shape.
            *g = g.sum_to(&e.shape)?;
        }
        Ok(grads)
    }
}

/// `acc += g` for a gradient that arrives more than once. When the backward is not
/// recorded and no one else holds the accumulator's buffer, the sum is taken in
/// place (no new buffer); otherwise, and always under `create_graph`, it is `add`.
fn accumulate<T: Element>(acc: &mut Tensor<T>, g: Tensor<T>, create_graph: bool) -> Result<()> {
    if !create_graph
        && same_shape(&acc.shape, &g.shape)
        && let Some(values) = Arc::get_mut(&mut acc.data)
    {
        values.iter_mut().zip(g.as_slice()).for_each(|(a, &b)| *a += b);
        return Ok(());
    }
    *acc = acc.add(&g)?;
    Ok(())
}

/// Options for [`Tensor::backward_with`].
#[derive(Clone)]
pub struct BackwardOptions<T: Element> {
    /// Gradient of the output; required when the output is not a scalar. Detached,
    /// unless `create_graph` is set: then a recorded seed stays recorded, so the
    /// gradients are differentiable with respect to it as well.
    pub seed: Option<Tensor<T>>,
    /// Only these tensors' gradients (leaves or intermediate tensors), as
    /// `torch.autograd.grad(y, inputs)`: the parts of the graph that lead to none of
    /// them are not walked, and products for other inputs are skipped. Empty: every
    /// leaf the output depends on.
    pub inputs: Vec<Tensor<T>>,
    /// Like `inputs`, for tensors of the other element type that the output reaches
    /// through a [`cast`](Tensor::cast) (an f32 parameter under an f64 loss). When both
    /// lists are empty, every leaf's gradient is collected, on either side.
    pub other_inputs: Vec<Tensor<T::Other>>,
    /// Keep what the graph saved, so backward can run through it again (PyTorch's
    /// `retain_graph`).
    pub keep_graph: bool,
    /// Record the gradient computation itself, so gradients can be differentiated
    /// again (Hessian-vector products, gradient penalties). Implies `keep_graph`.
    pub create_graph: bool,
    /// Keep the gradients of intermediate (non-leaf) tensors in the store.
    pub retain_intermediate: bool,
}

impl<T: Element> Default for BackwardOptions<T> {
    fn default() -> Self {
        BackwardOptions {
            seed: None,
            inputs: Vec::new(),
            other_inputs: Vec::new(),
            keep_graph: false,
            create_graph: false,
            retain_intermediate: false,
        }
    }
}

/// One element type's gradients from a backward: leaves' and (when asked for)
/// intermediate tensors', by id.
struct GradMaps<T: Element> {
    leaves: IdMap<Tensor<T>>,
    intermediate: IdMap<Tensor<T>>,
}

impl<T: Element> Default for GradMaps<T> {
    fn default() -> Self {
        GradMaps { leaves: IdMap::default(), intermediate: IdMap::default() }
    }
}

impl<T: Element> Clone for GradMaps<T> {
    fn clone(&self) -> Self {
        GradMaps { leaves: self.leaves.clone(), intermediate: self.intermediate.clone() }
    }
}

/// The gradients from one backward, keyed by tensor: `grads.get(&w)`. Each backward
/// returns a fresh store, so running backward twice on a kept graph gives the same
/// gradients, never a silent sum.
///
/// The lookups are generic in the element type: a graph that crosses a
/// [`cast`](Tensor::cast) has gradients of both types (an f64 loss over f32
/// parameters), and `grads.get(&w)` finds `w`'s whichever it is.
pub struct Gradients<T: Element> {
    own: GradMaps<T>,
    other: GradMaps<T::Other>,
}

impl<T: Element> Clone for Gradients<T> {
    fn clone(&self) -> Self {
        Gradients { own: self.own.clone(), other: self.other.clone() }
    }
}

impl<T: Element> std::fmt::Debug for Gradients<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn shapes<A: Element>(maps: &GradMaps<A>) -> Vec<(u64, &[usize])> {
            let mut shapes: Vec<(u64, &[usize])> =
                maps.leaves.iter().map(|(id, g)| (*id, g.shape())).collect();
            shapes.sort_by_key(|(id, _)| *id);
            shapes
        }
        write!(f, "Gradients({} leaves {:?}", self.own.leaves.len(), shapes(&self.own))?;
        if !self.other.leaves.is_empty() {
            write!(f, ", {} {} leaves {:?}", self.other.leaves.len(), T::Other::DTYPE, shapes(&self.other))?;
        }
        write!(f, ", {} intermediate)", self.own.intermediate.len() + self.other.intermediate.len())
    }
}

impl<T: Element> Gradients<T> {
    /// This store's gradients of element type `U` (`T` or `T::Other`).
    fn maps<U: Element>(&self) -> Option<&GradMaps<U>> {
        let own: &dyn std::any::Any = &self.own;
        let other: &dyn std::any::Any = &self.other;
        own.downcast_ref().or_else(|| other.downcast_ref())
    }

    /// The gradient with respect to `t` (a variable, a parameter's tensor, or with
    /// `retain_intermediate` or `inputs` an intermediate), or `None` if there is none.
    /// `t` may be of either element type (see the type's docs).
    pub fn get<U: Element>(&self, t: &Tensor<U>) -> Option<&Tensor<U>> {
        let maps = self.maps::<U>()?;
        match &t.origin {
            Origin::Leaf(leaf) => maps.leaves.get(&leaf.id),
            Origin::Node(node) => maps.intermediate.get(&node.id),
            Origin::Constant => None,
        }
    }

    /// The gradient of the leaf with this id (for `inspect`).
    pub(crate) fn of_leaf(&self, id: u64) -> Option<&Tensor<T>> {
        self.own.leaves.get(&id)
    }

    /// The gradient with respect to a parameter (of either element type).
    pub fn get_param<U: Element>(&self, p: &Parameter<U>) -> Option<&Tensor<U>> {
        self.maps::<U>()?.leaves.get(&p.inner.leaf.id)
    }

    /// Like [`get`](Self::get), but an error that says why there is no gradient.
    pub fn wrt<U: Element>(&self, t: &Tensor<U>) -> Result<&Tensor<U>> {
        self.get(t).ok_or(Error::NoGradient {
            reason: match &t.origin {
                Origin::Constant => {
                    "the tensor is a constant (detached, made under no_grad, or never marked requires_grad)"
                }
                Origin::Leaf(_) => "the output does not depend on this variable (or it was not among `inputs`)",
                Origin::Node(_) => {
                    "it is an intermediate tensor: pass retain_intermediate or list it in `inputs`, or it is not on the path to the output"
                }
            },
        })
    }

    /// The gradient with respect to `t`, or zeros of `t`'s shape when the output does
    /// not depend on it.
    pub fn get_or_zeros<U: Element>(&self, t: &Tensor<U>) -> Tensor<U> {
        self.get(t).cloned().unwrap_or_else(|| t.zeros_like())
    }

    /// Number of leaf gradients held (of both element types).
    pub fn len(&self) -> usize {
        self.own.leaves.len() + self.other.leaves.len()
    }

    /// Whether the store holds no leaf gradient.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A named, trainable tensor whose value an optimizer replaces between steps.
///
/// [`Parameter::tensor`] gives the current value as a leaf of whatever graph it is
/// used in; after backward, `grads.get_param(&p)` is its gradient. The parameter
/// holds no per-graph state, so threads may record with it at once and each gets
/// exactly its own gradient. Clones share the same value (like a reference to a
/// PyTorch `nn.Parameter`); it is `Send + Sync`.
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
        self.inner.shape.iter().product()
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

/// The nodes and leaves reachable from `t`, in creation order: for printing and
/// exporting a graph ([`crate::inspect`]).
pub(crate) fn reachable<T: Element>(t: &Tensor<T>) -> (Vec<Arc<Node<T>>>, Vec<Arc<Leaf>>) {
    let mut nodes: Vec<Arc<Node<T>>> = Vec::new();
    let mut leaves: Vec<Arc<Leaf>> = Vec::new();
    let mut seen: IdMap<()> = IdMap::default();
    let mut stack: Vec<Origin<T>> = vec![t.origin.clone()];
    while let Some(origin) = stack.pop() {
        match origin {
            Origin::Constant => {}
            Origin::Leaf(l) => {
                if seen.insert(l.id, ()).is_none() {
                    leaves.push(l);
                }
            }
            Origin::Node(n) => {
                if seen.insert(n.id, ()).is_none() {
                    stack.extend(n.edges.iter().map(|e| e.origin.clone()));
                    nodes.push(n);
                }
            }
        }
    }
    nodes.sort_by_key(|n| n.id);
    leaves.sort_by_key(|l| l.id);
    (nodes, leaves)
}
