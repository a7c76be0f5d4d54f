//! Forward + backward of the elementwise and fused ops at the shapes of the
//! `char_gpt` model (issue 16): batch 32, block 64, width 64 → activations
//! [32, 64, 64], attention scores [32, 4, 64, 64]. f32, one thread. Each iteration
//! makes the input a fresh leaf, runs the op and backward from a fixed random
//! upstream gradient `dy` (as `y.backward(dy)` in PyTorch). PyTorch's side is
//! `bench/torch_model_ops.py`; `bench/compare_model_ops.py` runs both alternately
//! and prints the ratios.

// criterion_group! generates public functions without doc comments.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;
use tensor_core::{BackwardOptions, Gradients, Tensor};

const ACT: [usize; 3] = [32, 64, 64];
const SCORES: [usize; 4] = [32, 4, 64, 64];

fn backward(y: &Tensor<f32>, dy: &Tensor<f32>) -> Gradients<f32> {
    y.backward_with(BackwardOptions { seed: Some(dy.clone()), ..Default::default() }).expect("backward")
}

fn model_ops(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("rayon pool");
    let mut rng = StdRng::seed_from_u64(16);
    let act = Tensor::<f32>::rand_normal(&ACT, 0.0, 1.0, &mut rng).expect("act");
    let dact = Tensor::<f32>::rand_normal(&ACT, 0.0, 1.0, &mut rng).expect("dact");
    let scores = Tensor::<f32>::rand_normal(&SCORES, 0.0, 1.0, &mut rng).expect("scores");
    let dscores = Tensor::<f32>::rand_normal(&SCORES, 0.0, 1.0, &mut rng).expect("dscores");
    let gamma = Tensor::<f32>::rand_normal(&[64], 1.0, 0.1, &mut rng).expect("gamma");
    let beta = Tensor::<f32>::rand_normal(&[64], 0.0, 0.1, &mut rng).expect("beta");
    // The causal mask: 1 above the diagonal (keys after the query), broadcast over
    // batch and heads.
    let causal: Vec<f32> = (0..64 * 64).map(|i| if i % 64 > i / 64 { 1.0 } else { 0.0 }).collect();
    let causal = Tensor::from_vec(causal, &[64, 64]).expect("mask");

    let mut group = c.benchmark_group("model_ops");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let mut unary =
        |name: &str, x: &Tensor<f32>, dy: &Tensor<f32>, f: &(dyn Fn(&Tensor<f32>) -> Tensor<f32> + Sync)| {
            group.bench_function(name, |bench| {
                pool.install(|| {
                    bench.iter(|| {
                        let x = x.requires_grad();
                        backward(&f(&x), dy)
                    })
                })
            });
        };
    unary("tanh", &act, &dact, &|x| x.tanh());
    unary("sigmoid", &act, &dact, &|x| x.sigmoid());
    unary("exp", &act, &dact, &|x| x.exp());
    unary("gelu", &act, &dact, &|x| x.gelu());
    unary("square", &act, &dact, &|x| x.square());
    unary("softmax", &scores, &dscores, &|x| x.softmax(-1).expect("softmax"));
    unary("masked_fill", &scores, &dscores, &|x| x.masked_fill(&causal, f32::NEG_INFINITY).expect("fill"));
    group.bench_function("layer_norm", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let (x, g, b) = (act.requires_grad(), gamma.requires_grad(), beta.requires_grad());
                backward(&x.layer_norm(&[64], Some(&g), Some(&b), 1e-5).expect("layer_norm"), &dact)
            })
        })
    });
    group.finish();
}

criterion_group!(benches, model_ops);
criterion_main!(benches);
