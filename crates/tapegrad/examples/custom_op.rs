//! Adding your own op: the forward is any code, the gradient rule is written with
//! tensor ops (so it can itself be differentiated), and the public gradcheck and
//! proptest strategies verify both — over random shapes, first and second order.
//!
//! The op is Swish, `y = x·σ(x)`, with `dy/dx = σ(x)·(1 + x·(1 − σ(x)))`.
//!
//! Run: `cargo run -p tapegrad --example custom_op`

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use tensor_core::gradcheck::{GradcheckOptions, gradcheck, gradgradcheck};
use tensor_core::strategies::any_tensor;
use tensor_core::{GradVec, Result, Tensor};

/// Swish: the value by a plain elementwise map, the gradient by tensor ops.
fn swish(x: &Tensor<f64>) -> Tensor<f64> {
    let y = x.map(|v| v / (1.0 + (-v).exp()));
    Tensor::record("swish", &[x], y, |dy, inputs, _y| {
        let x = &inputs[0];
        let s = x.sigmoid();
        let local = s.mul(&x.mul(&s.rsub_scalar(1.0))?.add_scalar(1.0))?;
        Ok(GradVec::from_iter([Some(dy.mul(&local)?)]))
    })
}

fn main() -> Result<()> {
    // One check by hand, with the report gradcheck prints.
    let x = Tensor::from_vec(vec![-2.0, -0.5, 0.0, 0.7, 3.0], &[5])?;
    let report = gradcheck(|xs| Ok(swish(&xs[0])), &[x], &GradcheckOptions::default())?;
    println!("{report}");

    // Then a property test: random shapes (rank 0–4, size-1 dims), first and second order.
    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let outcome = runner.run(&any_tensor(4, 3, -4.0..4.0), |x| {
        let f = |xs: &[Tensor<f64>]| Ok(swish(&xs[0]));
        let first =
            gradcheck(f, std::slice::from_ref(&x), &GradcheckOptions::default()).expect("gradcheck ran");
        prop_assert!(first.passed, "{first}");
        let second = gradgradcheck(f, std::slice::from_ref(&x), &GradcheckOptions::default())
            .expect("gradgradcheck ran");
        prop_assert!(second.passed, "{second}");
        Ok(())
    });
    match outcome {
        Ok(()) => println!("swish: 64 random shapes pass gradcheck and gradgradcheck"),
        Err(e) => panic!("swish's gradient rule is wrong: {e}"),
    }
    Ok(())
}
