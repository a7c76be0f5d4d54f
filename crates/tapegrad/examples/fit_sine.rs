//! A two-layer MLP fit to sin(x) on [−π, π] by full-batch gradient descent, written
//! with tensor-core and optim alone: parameters, a forward pass, `backward`, a step.
//!
//! Run: `cargo run --release -p tapegrad --example fit_sine`

use optim::{Adam, AdamConfig, StepParams};
use rand::SeedableRng;
use tensor_core::functional::{Reduction, mse};
use tensor_core::{Parameter, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let n = 256;
    let xs: Vec<f32> = (0..n)
        .map(|i| -std::f32::consts::PI + 2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32)
        .collect();
    let x = Tensor::from_vec(xs.clone(), &[n, 1])?;
    let y = Tensor::from_vec(xs.iter().map(|v| v.sin()).collect(), &[n, 1])?;

    // y = tanh(x·W1 + b1)·W2 + b2, rows are samples (tutorial §2).
    let hidden = 32;
    let w1 = Parameter::new("w1", &Tensor::rand_normal(&[1, hidden], 0.0, 1.0, &mut rng)?);
    let b1 = Parameter::new("b1", &Tensor::zeros(&[hidden]).unwrap());
    let w2 = Parameter::new(
        "w2",
        &Tensor::rand_normal(&[hidden, 1], 0.0, (1.0 / hidden as f32).sqrt(), &mut rng)?,
    );
    let b2 = Parameter::new("b2", &Tensor::zeros(&[1]).unwrap());
    let params = [w1.clone(), b1.clone(), w2.clone(), b2.clone()];
    let mut adam = Adam::new(AdamConfig::new(0.01))?;

    for step in 0..=2000 {
        let h = x.matmul(&w1.tensor())?.add(&b1.tensor())?.tanh();
        let pred = h.matmul(&w2.tensor())?.add(&b2.tensor())?;
        let loss = mse(&pred, &y, Reduction::Mean)?;
        if step % 250 == 0 {
            println!("step {step:>4}  mse {:.6}", loss.item()?);
        }
        let grads = loss.backward()?;
        adam.step_params(&params, &grads)?;
    }
    Ok(())
}
