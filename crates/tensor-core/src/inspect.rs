//! Seeing inside: print the tape, and export the forward and backward graphs as
//! Graphviz DOT (`dot -Tpng graph.dot -o graph.png`).

use crate::element::Element;
use crate::tape::Node;
use std::fmt::Write;

fn input_label<T: Element>(nodes: &[Node<T>], node: &Node<T>, k: usize) -> String {
    match node.input_refs.get(k).copied().flatten() {
        Some(r) if r.index < nodes.len() => format!("#{}", r.index),
        Some(_) => "stale".to_string(),
        None => format!("const{:?}", node.inputs.get(k).map(|t| t.shape().to_vec()).unwrap_or_default()),
    }
}

fn node_label<T: Element>(node: &Node<T>) -> String {
    match &node.leaf {
        Some(leaf) if !leaf.name.is_empty() => format!("leaf \"{}\"", leaf.name),
        Some(_) => "leaf".to_string(),
        None => node.op.to_string(),
    }
}

/// The tape of this thread for `T`, one node a line: index, op, output shape, inputs.
///
/// ```
/// use tensor_core::{inspect, Tensor};
/// let w = Tensor::<f32>::ones(&[2, 3]).requires_grad_named("w");
/// let y = w.exp().sum_all();
/// let text = inspect::tape_string::<f32>();
/// assert!(text.contains("leaf \"w\" [2, 3]") && text.contains("exp [2, 3] <- #0"));
/// # drop(y);
/// ```
pub fn tape_string<T: Element>() -> String {
    T::with_tape(|tape| {
        let mut out = String::new();
        for (i, node) in tape.nodes.iter().enumerate() {
            let inputs: Vec<String> =
                (0..node.input_refs.len()).map(|k| input_label(&tape.nodes, node, k)).collect();
            let _ = write!(out, "#{i} {} {:?}", node_label(node), node.shape.as_slice());
            if !inputs.is_empty() {
                let _ = write!(out, " <- {}", inputs.join(", "));
            }
            out.push('\n');
        }
        out
    })
}

/// The forward graph as DOT: one box per node (op and shape), edges from inputs to
/// the op that uses them; leaves are shaded.
pub fn forward_dot<T: Element>() -> String {
    T::with_tape(|tape| {
        let mut out =
            String::from("digraph forward {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
        for (i, node) in tape.nodes.iter().enumerate() {
            let style = if node.leaf.is_some() { ", style=filled, fillcolor=\"#dde8ff\"" } else { "" };
            let _ = writeln!(
                out,
                "  n{i} [label=\"#{i} {}\\n{:?}\"{style}];",
                node_label(node).replace('"', "'"),
                node.shape.as_slice()
            );
            for r in node.input_refs.iter().flatten() {
                if r.index < tape.nodes.len() {
                    let _ = writeln!(out, "  n{} -> n{i};", r.index);
                }
            }
        }
        out.push_str("}\n");
        out
    })
}

/// The backward graph as DOT: each op's gradient rule (`d<op>`) receives the
/// gradient of its output and sends one to each recorded input, ending at the
/// leaves' gradients — the order backward walks.
pub fn backward_dot<T: Element>() -> String {
    T::with_tape(|tape| {
        let mut out =
            String::from("digraph backward {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
        for (i, node) in tape.nodes.iter().enumerate().rev() {
            let (label, style) = match &node.leaf {
                Some(_) => (
                    format!("grad {}", node_label(node).replace('"', "'")),
                    ", style=filled, fillcolor=\"#ffe8cc\"",
                ),
                None => (format!("d{}", node.op), ""),
            };
            let _ = writeln!(out, "  g{i} [label=\"#{i} {label}\\n{:?}\"{style}];", node.shape.as_slice());
            for r in node.input_refs.iter().flatten() {
                if r.index < tape.nodes.len() {
                    let _ = writeln!(out, "  g{i} -> g{};", r.index);
                }
            }
        }
        out.push_str("}\n");
        out
    })
}
