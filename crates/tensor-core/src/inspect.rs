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

/// The backward graph behind `t` as DOT: each op's rule (`d<op>`) receives the
/// gradient of its output and sends one to each recorded input, ending at the
/// leaves' gradients — the edges backward walks, from the output down.
pub fn backward_dot<T: Element>(t: &Tensor<T>) -> String {
    let g = Numbered::of(t);
    let mut out =
        String::from("digraph backward {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
    for (i, e) in g.entries.iter().enumerate().rev() {
        let (label, shape, leaf) = describe(e);
        let (label, style) = if leaf {
            (format!("grad {}", label.replace('"', "'")), ", style=filled, fillcolor=\"#ffe8cc\"")
        } else {
            (format!("d{label}"), "")
        };
        let _ = writeln!(out, "  g{i} [label=\"#{i} {label}\\n{shape:?}\"{style}];");
        for (at, _) in g.inputs(e) {
            if let Some(at) = at {
                let _ = writeln!(out, "  g{i} -> g{at};");
            }
        }
    }
    out.push_str("}\n");
    out
}
