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

/// The products of one 784-128-10 (batch 64) and 784-512-256-10 (batch 256)
/// training step: forward `x·W`, weight gradient `xᵀ·dy`, input gradient `dy·Wᵀ`.
fn mlp_shapes(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut group = c.benchmark_group("matmul_mlp_shapes");
    group.sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(1));
    let pools = [pool(1), pool(2)];
    // (name, rows of A as stored, cols of A, rows of B, cols of B, transpose A, transpose B)
    let shapes: [(&str, [usize; 4], bool, bool); 6] = [
        ("fwd_64x784x128", [64, 784, 784, 128], false, false),
        ("dw_784x64x128", [64, 784, 64, 128], true, false),
        ("fwd_256x784x512", [256, 784, 784, 512], false, false),
        ("dw_784x256x512", [256, 784, 256, 512], true, false),
        ("fwd_256x512x256", [256, 512, 512, 256], false, false),
        ("dx_256x256x512", [256, 256, 512, 256], false, true),
    ];
    for (name, [ra, ca, rb, cb], ta, tb) in shapes {
        let a = Tensor::<f32>::rand_uniform(&[ra, ca], -1.0, 1.0, &mut rng).expect("a");
        let b = Tensor::<f32>::rand_uniform(&[rb, cb], -1.0, 1.0, &mut rng).expect("b");
        let (m, k) = if ta { (ca, ra) } else { (ra, ca) };
        let n = if tb { rb } else { cb };
        group.throughput(Throughput::Elements(2 * (m * n * k) as u64));
        for (threads, pool) in [1, 2].into_iter().zip(&pools) {
            group.bench_function(format!("{name}/{threads}t"), |bench| {
                pool.install(|| bench.iter(|| a.matmul_t(&b, ta, tb).expect("matmul")))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, matmul, mlp_shapes);
criterion_main!(benches);
