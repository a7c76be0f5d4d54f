//! The tutorial's feed-forward network, `ŷ = f(f(x·W₁ + b₁)·W₂ + b₂)` with f = σ (tutorial §2),
//! and a squared-error loss: print the graph the forward pass records, export the
//! forward and backward graphs as Graphviz DOT, then run backward and show each
//! parameter's gradient. `docs/autodiff.md` walks through this output.
//!
//! Run: `cargo run -p tapegrad --example inspect_tape -- [OUT_DIR]` (DOT files go to
//! OUT_DIR, default `target/inspect_tape`; render with `dot -Tpng forward.dot -o forward.png`).

use rand::SeedableRng;
use tensor_core::functional::{Reduction, mse};
use tensor_core::{Parameter, Result, Tensor, inspect};

fn main() -> Result<()> {
    let out_dir = std::env::args().nth(1).unwrap_or_else(|| "target/inspect_tape".to_string());
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    // 4 samples (rows) of 3 features; 3 → 4 → 2.
    let x = Tensor::<f64>::rand_uniform(&[4, 3], -1.0, 1.0, &mut rng)?;
    let y = Tensor::<f64>::rand_uniform(&[4, 2], 0.0, 1.0, &mut rng)?;
    let w1 = Parameter::new("W1", &Tensor::rand_normal(&[3, 4], 0.0, 0.5, &mut rng)?);
    let b1 = Parameter::new("b1", &Tensor::zeros(&[4])?);
    let w2 = Parameter::new("W2", &Tensor::rand_normal(&[4, 2], 0.0, 0.5, &mut rng)?);
    let b2 = Parameter::new("b2", &Tensor::zeros(&[2])?);

    let hidden = x.matmul(&w1.tensor())?.add(&b1.tensor())?.sigmoid();
    let y_hat = hidden.matmul(&w2.tensor())?.add(&b2.tensor())?.sigmoid();
    let loss = mse(&y_hat, &y, Reduction::Mean)?;
    println!("loss = {:.6}\n", loss.item()?);
    println!("The graph (entry, op, output shape <- inputs):\n{}", inspect::graph_string(&loss));

    std::fs::create_dir_all(&out_dir).map_err(|e| tensor_core::Error::InvalidArgument {
        op: "inspect_tape",
        reason: format!("cannot create {out_dir}: {e}"),
    })?;
    for (name, dot) in
        [("forward.dot", inspect::forward_dot(&loss)), ("backward.dot", inspect::backward_dot(&loss)?)]
    {
        let path = std::path::Path::new(&out_dir).join(name);
        std::fs::write(&path, dot).map_err(|e| tensor_core::Error::InvalidArgument {
            op: "inspect_tape",
            reason: format!("cannot write {}: {e}", path.display()),
        })?;
        println!("wrote {}", path.display());
    }

    let live = tensor_core::live_nodes();
    let grads = loss.backward()?;
    println!("\nGradients (each has its parameter's shape):");
    for p in [&w1, &w2, &b1, &b2] {
        let g = grads.get_param(p).expect("every parameter reaches the loss");
        let shown: Vec<String> = g.as_slice().iter().take(4).map(|v| format!("{v:+.5}")).collect();
        println!(
            "  d loss / d {:<2} {:?}: [{}{}]",
            p.name(),
            g.shape(),
            shown.join(", "),
            if g.numel() > 4 { ", …" } else { "" }
        );
    }
    drop(loss);
    let held = tensor_core::live_nodes();
    drop((hidden, y_hat));
    println!(
        "\nRecorded nodes alive: {live} before backward; {held} after dropping the loss (held by \
         `hidden` and `y_hat`); {} once those are dropped too",
        tensor_core::live_nodes()
    );
    Ok(())
}
