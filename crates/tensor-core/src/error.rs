//! The one error type of tensor-core. Every message names the op and the shapes
//! involved, so a failure deep in a model says where it happened.

use crate::shape::Shape;

/// `Result` with tensor-core's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Which half of an op produced a non-finite value (see anomaly detection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The op's forward computation.
    Forward,
    /// The op's gradient rule, during backward.
    Backward,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Forward => "forward",
            Phase::Backward => "backward",
        })
    }
}

/// Everything that can go wrong in tensor-core.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two shapes do not follow NumPy's broadcasting rules.
    #[error("{op}: shapes {lhs:?} and {rhs:?} cannot be broadcast together")]
    Broadcast {
        /// The op.
        op: &'static str,
        /// Left operand's shape.
        lhs: Shape,
        /// Right operand's shape.
        rhs: Shape,
    },
    /// Two shapes that must be equal (or otherwise agree) do not.
    #[error("{op}: shapes {lhs:?} and {rhs:?} do not match ({reason})")]
    ShapeMismatch {
        /// The op.
        op: &'static str,
        /// First shape.
        lhs: Shape,
        /// Second shape.
        rhs: Shape,
        /// What had to agree.
        reason: &'static str,
    },
    /// Matrix multiplication with an inner-dimension or batch mismatch.
    #[error("matmul: cannot multiply {lhs:?} by {rhs:?} ({reason})")]
    Matmul {
        /// Left operand's shape.
        lhs: Shape,
        /// Right operand's shape.
        rhs: Shape,
        /// What is wrong.
        reason: &'static str,
    },
    /// An axis outside `-ndim..ndim`.
    #[error("{op}: axis {axis} is out of range for a tensor of shape {shape:?}")]
    AxisOutOfRange {
        /// The op.
        op: &'static str,
        /// The axis as given (negative counts from the end).
        axis: isize,
        /// The tensor's shape.
        shape: Shape,
    },
    /// A buffer's length does not fill a shape.
    #[error("{op}: {len} elements cannot have shape {shape:?} ({expected} elements)")]
    ElementCount {
        /// The op.
        op: &'static str,
        /// The requested shape.
        shape: Shape,
        /// Elements given.
        len: usize,
        /// Elements the shape needs.
        expected: usize,
    },
    /// An index (or class label) outside its axis.
    #[error("{op}: index {index} is out of range for axis {axis} of size {size} (shape {shape:?})")]
    IndexOutOfRange {
        /// The op.
        op: &'static str,
        /// The bad index.
        index: usize,
        /// The axis it indexes.
        axis: usize,
        /// The axis' length.
        size: usize,
        /// The indexed tensor's shape.
        shape: Shape,
    },
    /// An op that needs at least one element got none.
    #[error("{op}: the tensor of shape {shape:?} is empty, and {op} of nothing is undefined")]
    Empty {
        /// The op.
        op: &'static str,
        /// The empty shape.
        shape: Shape,
    },
    /// An argument outside what the op accepts.
    #[error("{op}: {reason}")]
    InvalidArgument {
        /// The op.
        op: &'static str,
        /// What is wrong, with the values.
        reason: String,
    },
    /// Backward reached a node whose saved values an earlier backward released.
    #[error("{}", graph_freed_message(op, *carried_over))]
    GraphFreed {
        /// The op whose node was released.
        op: &'static str,
        /// Whether the released node lies inside a newer graph (a tensor carried over
        /// from an earlier iteration) rather than being the output itself.
        carried_over: bool,
    },
    /// A rule asked for a value its op did not save (see `Save`).
    #[error("backward of `{op}`: the rule reads {what}, which the op did not save (a bug in the op's Save)")]
    NotSaved {
        /// The op.
        op: &'static str,
        /// What the rule asked for.
        what: String,
    },
    /// A rule returned the wrong number of gradients.
    #[error(
        "backward of `{op}`: the rule returned {got} gradients for {expected} inputs (one entry per input, None for none)"
    )]
    RuleArity {
        /// The op.
        op: &'static str,
        /// Number of inputs.
        expected: usize,
        /// Number of gradients returned.
        got: usize,
    },
    /// A rule returned a gradient that does not sum back to its input's shape.
    #[error(
        "backward of `{op}`: the gradient for input {input} has shape {gradient_shape:?}, which cannot be \
         summed back to the input's shape {input_shape:?}"
    )]
    RuleGradientShape {
        /// The op.
        op: &'static str,
        /// Which input.
        input: usize,
        /// The input's shape.
        input_shape: Shape,
        /// The returned gradient's shape.
        gradient_shape: Shape,
    },
    /// A backward, started from inside a rule, reached the node whose rule is running.
    #[error(
        "backward of `{op}`: a backward started inside this op's rule walks back into the op itself, \
         which would never end; a rule may run backward only over other graphs"
    )]
    ReentrantBackward {
        /// The op whose rule started the backward.
        op: &'static str,
    },
    /// A size beyond what can be allocated or counted.
    #[error("{op}: {reason}")]
    TooLarge {
        /// The op.
        op: &'static str,
        /// The size, and why it is too large.
        reason: String,
    },
    /// Backward from a non-scalar output without a seed gradient.
    #[error(
        "backward: a gradient can be implicitly created only for a scalar output, but the output \
         has shape {shape:?}; pass a seed of that shape with backward_with"
    )]
    NonScalarBackward {
        /// The output's shape.
        shape: Shape,
    },
    /// The seed gradient's shape differs from the output's.
    #[error("backward: the seed's shape {seed:?} differs from the output's shape {output:?}")]
    SeedShape {
        /// The seed's shape.
        seed: Shape,
        /// The output's shape.
        output: Shape,
    },
    /// Backward from a tensor that is not recorded.
    #[error(
        "backward: the tensor is not recorded in a graph: it is a constant, was detached, or was \
         computed under no_grad; make its inputs variables (Tensor::requires_grad)"
    )]
    NotRecorded,
    /// No gradient exists for the tensor asked about.
    #[error("no gradient for this tensor: {reason}")]
    NoGradient {
        /// Why.
        reason: &'static str,
    },
    /// Anomaly detection found a NaN or infinity.
    #[error(
        "anomaly detected: the {phase} of `{op}` produced {value} at flat index {index} (output shape {shape:?})"
    )]
    Anomaly {
        /// The first op that produced it.
        op: &'static str,
        /// Forward or backward.
        phase: Phase,
        /// Flat index of the first bad element.
        index: usize,
        /// The bad value.
        value: f64,
        /// Shape of the tensor it appeared in.
        shape: Shape,
    },
    /// A value outside the op's mathematical domain (e.g. BCE probability above 1).
    #[error("{op}: value out of domain: {reason}")]
    Domain {
        /// The op.
        op: &'static str,
        /// Which value, and the allowed range.
        reason: String,
    },
}

fn graph_freed_message(op: &str, carried_over: bool) -> String {
    if carried_over {
        format!(
            "backward: this graph reaches `{op}`, part of an older graph that an earlier backward already \
             released — usually a tensor carried over from an earlier iteration (a hidden state in truncated \
             BPTT, a running total). The usual fix is to call detach() on it where one iteration ends; pass \
             BackwardOptions {{ keep_graph: true, .. }} to the earlier backward only if that graph is meant \
             to be walked again"
        )
    } else {
        format!(
            "backward: the graph of `{op}` was already released by an earlier backward; to run backward \
             through the same graph again, pass BackwardOptions {{ keep_graph: true, .. }} to the first one"
        )
    }
}
