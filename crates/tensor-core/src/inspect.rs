//! Seeing inside: print the graph behind a tensor, and export it as Graphviz DOT
//! (`dot -Tpng graph.dot -o graph.png`). Nodes are numbered in creation order, which
//! is a topological order: every input is numbered before the op that uses it.

use crate::element::Element;
use crate::graph::{Leaf, Node, reachable};
use crate::tensor::{Origin, Tensor};
use std::collections::HashMap;
use std::fmt::Write;
use std::sync::Arc;

/// The graph behind `t` with its entries numbered: leaves and nodes in creation order.
struct Numbered<T: Element> {
    entries: Vec<Entry<T>>,
    number: HashMap<u64, usize>,
}

enum Entry<T: Element> {
    Leaf(Arc<Leaf>, Vec<usize>),
    Node(Arc<Node<T>>),
}

impl<T: Element> Numbered<T> {
    fn of(t: &Tensor<T>) -> Self {
        let (nodes, leaves) = reachable(t);
        let mut ids: Vec<(u64, Entry<T>)> = Vec::with_capacity(nodes.len() + leaves.len());
        // A leaf's shape is known from the edges that point at it.
        let mut leaf_shapes: HashMap<u64, Vec<usize>> = HashMap::new();
        if let Origin::Leaf(l) = &t.origin {
            leaf_shapes.insert(l.id, t.shape().to_vec());
        }
        for n in &nodes {
            for e in &n.edges {
                if let Origin::Leaf(l) = &e.origin {
                    leaf_shapes.entry(l.id).or_insert_with(|| e.shape.to_vec());
                }
            }
        }
        for l in leaves {
            let shape = leaf_shapes.remove(&l.id).unwrap_or_default();
            ids.push((l.id, Entry::Leaf(l, shape)));
        }
        for n in nodes {
            ids.push((n.id, Entry::Node(n)));
        }
        ids.sort_by_key(|(id, _)| *id);
        let number = ids.iter().enumerate().map(|(i, (id, _))| (*id, i)).collect();
        Numbered { entries: ids.into_iter().map(|(_, e)| e).collect(), number }
    }

    fn label(&self, origin: &Origin<T>, shape: &[usize]) -> String {
        match origin {
            Origin::Constant => format!("const{shape:?}"),
            Origin::Leaf(l) => format!("#{}", self.number[&l.id]),
            Origin::Node(n) => format!("#{}", self.number[&n.id]),
        }
    }

    fn inputs(&self, e: &Entry<T>) -> Vec<(Option<usize>, String)> {
        match e {
            Entry::Leaf(..) => Vec::new(),
            Entry::Node(n) => n
                .edges
                .iter()
                .map(|edge| {
                    let at = match &edge.origin {
                        Origin::Leaf(l) => Some(self.number[&l.id]),
                        Origin::Node(m) => Some(self.number[&m.id]),
                        Origin::Constant => None,
                    };
                    (at, self.label(&edge.origin, &edge.shape))
                })
                // A cast's input lives in the other element type's graph, which this
                // listing (of one type) names but does not enter.
                .chain(
                    n.cross
                        .as_deref()
                        .map(|x| (None, format!("{}{:?}", T::Other::DTYPE, x.edge.shape.as_slice()))),
                )
                .collect(),
        }
    }
}

fn leaf_label(l: &Leaf) -> String {
    if l.name.is_empty() { "leaf".to_string() } else { format!("leaf \"{}\"", l.name) }
}

fn describe<T: Element>(e: &Entry<T>) -> (String, Vec<usize>, bool) {
    match e {
        Entry::Leaf(l, shape) => (leaf_label(l), shape.clone(), true),
        Entry::Node(n) => {
            let released = if n.is_released() { " (released)" } else { "" };
            (format!("{}{released}", n.op), n.shape.to_vec(), false)
        }
    }
}

/// The graph behind `t`, one entry a line: number, op (or leaf), shape, inputs.
///
/// ```
/// use tensor_core::{inspect, Tensor};
/// let w = Tensor::<f32>::ones(&[2, 3])?.requires_grad_named("w");
/// let y = w.exp().sum_all();
/// let text = inspect::graph_string(&y);
/// assert!(text.contains("#0 leaf \"w\" [2, 3]") && text.contains("#1 exp [2, 3] <- #0"));
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn graph_string<T: Element>(t: &Tensor<T>) -> String {
    let g = Numbered::of(t);
    let mut out = String::new();
    for (i, e) in g.entries.iter().enumerate() {
        let (label, shape, _) = describe(e);
        let _ = write!(out, "#{i} {label} {shape:?}");
        let inputs: Vec<String> = g.inputs(e).into_iter().map(|(_, l)| l).collect();
        if !inputs.is_empty() {
            let _ = write!(out, " <- {}", inputs.join(", "));
        }
        out.push('\n');
    }
    out
}

/// The forward graph behind `t` as DOT: one box per entry (op and shape), edges from
/// inputs to the op that uses them; leaves are shaded.
pub fn forward_dot<T: Element>(t: &Tensor<T>) -> String {
    let g = Numbered::of(t);
    let mut out =
        String::from("digraph forward {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, e) in g.entries.iter().enumerate() {
        let (label, shape, leaf) = describe(e);
        let style = if leaf { ", style=filled, fillcolor=\"#dde8ff\"" } else { "" };
        let _ = writeln!(out, "  n{i} [label=\"#{i} {}\\n{shape:?}\"{style}];", label.replace('"', "'"));
        for (at, _) in g.inputs(e) {
            if let Some(at) = at {
                let _ = writeln!(out, "  n{at} -> n{i};");
            }
        }
    }
    out.push_str("}\n");
    out
}

/// The backward graph of `t` as DOT — the real one: `t`'s backward is run with
/// `create_graph` (and `keep_graph`, so `t`'s graph is untouched), which records
/// every op the rules perform, and the graph behind the leaves' gradients is drawn.
/// Boxes are the backward's own ops, including the `sum_to` that undoes a broadcast
/// and the `add` that sums a gradient arriving twice; forward values a rule reads
/// (saved inputs and outputs, parameters) are grey; each leaf's gradient ends in a
/// shaded box. Edges go from an op's inputs to the op, as in [`forward_dot`].
///
/// Errors: those of `backward` (a non-scalar or unrecorded `t`, a released graph).
///
/// ```
/// use tensor_core::{inspect, Tensor};
/// let b = Tensor::<f64>::ones(&[3])?.requires_grad_named("b");
/// let y = Tensor::ones(&[2, 3])?.add(&b)?.exp().sum_all();
/// let dot = inspect::backward_dot(&y)?;
/// // b was broadcast over 2 rows: its gradient passes through sum_to.
/// assert!(dot.contains("sum_to") && dot.contains("d y / d 'b'"));
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn backward_dot<T: Element>(t: &Tensor<T>) -> crate::Result<String> {
    let (forward_nodes, forward_leaves) = reachable(t);
    let forward: std::collections::HashSet<u64> =
        forward_nodes.iter().map(|n| n.id).chain(forward_leaves.iter().map(|l| l.id)).collect();
    let grads = t.backward_with(crate::BackwardOptions {
        create_graph: true,
        keep_graph: true,
        ..Default::default()
    })?;
    // The backward's own nodes: reachable from the gradients, stopping at forward values.
    let mut ops: Vec<Arc<Node<T>>> = Vec::new();
    let mut values: Vec<(u64, String, Vec<usize>)> = Vec::new();
    let mut seen: std::collections::HashSet<u64> = std::collections::HashSet::new();
    let mut stack: Vec<(Origin<T>, Vec<usize>)> = Vec::new();
    let mut outputs: Vec<(String, Origin<T>, Vec<usize>)> = Vec::new();
    for leaf in &forward_leaves {
        if let Some(g) = grads.of_leaf(leaf.id) {
            let name =
                if leaf.name.is_empty() { format!("leaf #{}", leaf.id) } else { format!("'{}'", leaf.name) };
            outputs.push((name, g.origin.clone(), g.shape().to_vec()));
            stack.push((g.origin.clone(), g.shape().to_vec()));
        }
    }
    while let Some((origin, shape)) = stack.pop() {
        match origin {
            Origin::Constant => {}
            Origin::Leaf(l) => {
                if seen.insert(l.id) {
                    values.push((l.id, leaf_label(&l).replace('"', "'"), shape));
                }
            }
            Origin::Node(n) => {
                if !seen.insert(n.id) {
                    continue;
                }
                if forward.contains(&n.id) {
                    values.push((n.id, format!("forward {}", n.op), n.shape.to_vec()));
                } else {
                    stack.extend(n.edges.iter().map(|e| (e.origin.clone(), e.shape.to_vec())));
                    ops.push(n);
                }
            }
        }
    }
    ops.sort_by_key(|n| n.id);
    values.sort_by_key(|v| v.0);
    let mut out =
        String::from("digraph backward {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    let id_of = |origin: &Origin<T>| match origin {
        Origin::Node(n) => Some(n.id),
        Origin::Leaf(l) => Some(l.id),
        Origin::Constant => None,
    };
    for (id, label, shape) in &values {
        let _ =
            writeln!(out, "  v{id} [label=\"{label}\\n{shape:?}\", style=filled, fillcolor=\"#eeeeee\"];");
    }
    for n in &ops {
        let _ = writeln!(out, "  v{} [label=\"{}\\n{:?}\"];", n.id, n.op, n.shape.as_slice());
        for e in &n.edges {
            if let Some(from) = id_of(&e.origin) {
                let _ = writeln!(out, "  v{from} -> v{};", n.id);
            }
        }
    }
    for (k, (name, origin, shape)) in outputs.iter().enumerate() {
        let _ = writeln!(
            out,
            "  out{k} [label=\"d y / d {name}\\n{shape:?}\", style=filled, fillcolor=\"#ffe8cc\"];"
        );
        if let Some(from) = id_of(origin) {
            let _ = writeln!(out, "  v{from} -> out{k};");
        }
    }
    out.push_str("}\n");
    Ok(out)
}

/// What the graph behind a tensor holds in memory for backward (see [`graph_memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphMemory {
    /// Recorded nodes reachable from the tensor.
    pub nodes: usize,
    /// Distinct buffers the nodes saved for their rules.
    pub saved_buffers: usize,
    /// Bytes of those buffers (a buffer saved by several nodes counts once).
    pub saved_bytes: usize,
    /// Of those, the bytes of leaves' values (parameters and variables), which the
    /// model holds anyway: the rest is activation memory.
    pub leaf_bytes: usize,
}

/// Counts the nodes behind `t` and the distinct buffers they saved: the memory that
/// recording costs, comparable to the tensors PyTorch's autograd saves
/// (`torch.autograd.graph.saved_tensors_hooks`). Values captured by a rule's closure
/// (e.g. the softmax a fused cross-entropy keeps) are not seen.
///
/// ```
/// use tensor_core::{inspect, Tensor};
/// let x = Tensor::<f32>::ones(&[1000])?.requires_grad();
/// // add keeps nothing; exp keeps its output: 4,000 bytes.
/// let y = x.add(&x)?.exp();
/// let m = inspect::graph_memory(&y);
/// assert_eq!((m.nodes, m.saved_bytes), (2, 4000));
/// # Ok::<(), tensor_core::Error>(())
/// ```
pub fn graph_memory<T: Element>(t: &Tensor<T>) -> GraphMemory {
    let (nodes, _) = reachable(t);
    let mut seen: HashMap<usize, ()> = HashMap::new();
    let mut m = GraphMemory { nodes: nodes.len(), saved_buffers: 0, saved_bytes: 0, leaf_bytes: 0 };
    for n in &nodes {
        for (address, bytes, leaf) in n.saved_buffers() {
            if seen.insert(address, ()).is_none() {
                m.saved_buffers += 1;
                m.saved_bytes += bytes;
                if leaf {
                    m.leaf_bytes += bytes;
                }
            }
        }
    }
    m
}
