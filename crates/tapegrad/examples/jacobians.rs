//! Reverse- and forward-mode Jacobians on a tall and a wide function, with their
//! costs, then gradient checkpointing's memory on a deep block.
//! `docs/autodiff.md` §7 walks through this output.
//!
//! Run: `cargo run --release -p tapegrad --example jacobians`

use std::time::Instant;
use tensor_core::{Result, Tensor, func, inspect};

/// R^n → R^m: `tanh(A·x)` for a fixed m×n matrix A.
fn layer(m: usize, n: usize) -> impl Fn(&[Tensor<f64>]) -> Result<Tensor<f64>> {
    let a: Vec<f64> = (0..m * n).map(|k| ((k * 7919 % 1000) as f64 / 1000.0) - 0.5).collect();
    let a = Tensor::from_vec(a, &[m, n]).expect("matrix");
    move |x: &[Tensor<f64>]| {
        Ok(a.matmul(&x[0].reshape(&[n, 1])?)?.reshape(&[m])?.tanh().mul_scalar(2.0).exp())
    }
}

fn main() -> Result<()> {
    for (name, m, n) in [("tall", 400, 4), ("wide", 4, 400)] {
        let f = layer(m, n);
        let x = Tensor::from_vec((0..n).map(|i| (i as f64 * 0.37).sin()).collect(), &[n])?;
        let start = Instant::now();
        let rev = func::jacobian_rev(&f, std::slice::from_ref(&x))?.remove(0);
        let rev_time = start.elapsed();
        let start = Instant::now();
        let fwd = func::jacobian_fwd(&f, std::slice::from_ref(&x))?.remove(0);
        let fwd_time = start.elapsed();
        let worst = rev.as_slice().iter().zip(fwd.as_slice()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-12, "jacrev and jacfwd disagree by {worst}");
        println!("{name} f: R^{n} -> R^{m}, Jacobian {:?}", rev.shape());
        println!("  jacobian_rev: {m} backwards (one per output)");
        println!("  jacobian_fwd: 1 recorded backward + {n} backwards (one per input)");
        println!("  they agree to 1e-12");
        eprintln!(
            "  time: jacobian_rev {:.2} ms, jacobian_fwd {:.2} ms",
            rev_time.as_secs_f64() * 1e3,
            fwd_time.as_secs_f64() * 1e3
        );
    }

    // Checkpointing: a 16-layer tanh block on a 256×64 batch.
    let x =
        Tensor::<f64>::from_vec((0..256 * 64).map(|k| ((k % 97) as f64 / 97.0) - 0.5).collect(), &[256, 64])?;
    let weights: Vec<Tensor<f64>> = (0..16)
        .map(|l| {
            let w: Vec<f64> = (0..64 * 64).map(|k| (((k + l * 31) % 61) as f64 / 61.0 - 0.5) * 0.3).collect();
            Tensor::from_vec(w, &[64, 64]).map(|w| w.requires_grad())
        })
        .collect::<Result<_>>()?;
    let block = |xs: &[Tensor<f64>]| -> Result<Tensor<f64>> {
        let mut h = xs[0].clone();
        for w in &xs[1..] {
            h = h.matmul(w)?.tanh();
        }
        Ok(h)
    };
    let mut inputs = vec![x];
    inputs.extend(weights.iter().cloned());
    let plain = block(&inputs)?.sum_all();
    let checkpointed = func::checkpoint(block, &inputs)?.sum_all();
    let activations = |t: &Tensor<f64>| {
        let m = inspect::graph_memory(t);
        (m.saved_bytes - m.leaf_bytes) as f64 / 1024.0
    };
    println!("\n16-layer tanh block, batch 256 x 64, f64:");
    println!(
        "  activations held for backward: plain {:.0} KiB, checkpointed {:.0} KiB",
        activations(&plain),
        activations(&checkpointed)
    );
    let (gp, gc) = (plain.backward()?, checkpointed.backward()?);
    let same = weights.iter().all(|w| gp.get(w).map(Tensor::to_vec) == gc.get(w).map(Tensor::to_vec));
    println!("  gradients identical: {same}");
    assert!(same);
    Ok(())
}
