//! SGEMM throughput of `matmul_t` on one thread (and two for the larger sizes):
//! square n × n products for n = 64…1024 with each operand plain or transposed.
//! Criterion's "elem/s" here is FLOP/s (2n³ per product).

// criterion_group! generates public functions without doc comments.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;
use tensor_core::Tensor;

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")
}

fn matmul(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("matmul");
    group.sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    for threads in [1, 2] {
        let pool = pool(threads);
        for n in [64, 128, 256, 512, 1024] {
            if threads == 2 && n < 256 {
                continue;
            }
            let a = Tensor::<f32>::rand_uniform(&[n, n], -1.0, 1.0, &mut rng).expect("a");
            let b = Tensor::<f32>::rand_uniform(&[n, n], -1.0, 1.0, &mut rng).expect("b");
            group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
            for (name, ta, tb) in [("nn", false, false), ("tn", true, false), ("nt", false, true)] {
                let id = BenchmarkId::new(format!("{name}/{threads}t"), n);
                group.bench_with_input(id, &n, |bench, _| {
                    pool.install(|| bench.iter(|| a.matmul_t(&b, ta, tb).expect("matmul")))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, matmul);
criterion_main!(benches);
