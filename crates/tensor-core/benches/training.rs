//! One full MLP training step (forward, cross-entropy, backward, SGD update through
//! `Parameter::update`) at the benchmark harness's configurations, one thread.

// criterion_group! generates public functions without doc comments.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;
use tensor_core::functional::{Reduction, cross_entropy};
use tensor_core::{Parameter, Tensor};

struct Mlp {
    layers: Vec<(Parameter<f32>, Parameter<f32>)>,
}

impl Mlp {
    fn new(sizes: &[usize], rng: &mut StdRng) -> Self {
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(l, p)| {
                let bound = 1.0 / (p[0] as f32).sqrt();
                let w = Tensor::rand_uniform(&[p[0], p[1]], -bound, bound, rng).expect("w");
                let b = Tensor::rand_uniform(&[p[1]], -bound, bound, rng).expect("b");
                (Parameter::new(format!("w{l}"), &w), Parameter::new(format!("b{l}"), &b))
            })
            .collect();
        Mlp { layers }
    }

    fn step(&self, x: &Tensor<f32>, labels: &[usize]) -> f32 {
        let last = self.layers.len() - 1;
        let mut h = x.clone();
        for (l, (w, b)) in self.layers.iter().enumerate() {
            h = h.linear(&w.tensor(), &b.tensor()).expect("linear");
            if l < last {
                h = h.relu();
            }
        }
        let loss = cross_entropy(&h, labels, Reduction::Mean).expect("loss");
        let grads = loss.backward().expect("backward");
        for (w, b) in &self.layers {
            for p in [w, b] {
                let g = grads.get_param(p).expect("gradient");
                p.update(|v| v.iter_mut().zip(g.as_slice()).for_each(|(v, &g)| *v -= 0.1 * g));
            }
        }
        loss.item().expect("scalar loss")
    }
}

fn training_step(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(4);
    let mut group = c.benchmark_group("mlp_training_step");
    group.sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    for (sizes, batch) in
        [(&[784, 128, 10][..], 64), (&[784, 128, 10][..], 256), (&[784, 512, 256, 10][..], 256)]
    {
        let model = Mlp::new(sizes, &mut rng);
        let x = Tensor::<f32>::rand_uniform(&[batch, 784], 0.0, 1.0, &mut rng).expect("x");
        let labels: Vec<usize> = (0..batch).map(|i| i % 10).collect();
        let name = sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("-");
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(BenchmarkId::new(name, batch), |bench| {
            pool.install(|| bench.iter(|| model.step(&x, &labels)))
        });
    }
    group.finish();
}

criterion_group!(benches, training_step);
criterion_main!(benches);
