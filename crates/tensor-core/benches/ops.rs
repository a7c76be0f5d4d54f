//! Elementwise, broadcast and reduction kernels at a training-step size (64 × 128)
//! and a large one (1024 × 1024, where rayon takes over); softmax-cross-entropy
//! forward + backward; and the engine's per-op overhead on tiny tensors (ns per
//! recorded op, forward alone and forward + backward). One thread unless named.

// criterion_group! generates public functions without doc comments.
#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::Duration;
use tensor_core::Tensor;
use tensor_core::functional::{Reduction, cross_entropy};

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("rayon pool")
}

fn short<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> criterion::BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
    group
}

fn elementwise(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut group = short(c, "elementwise");
    for threads in [1, 2] {
        let pool = pool(threads);
        for (rows, cols) in [(64, 128), (1024, 1024)] {
            if threads == 2 && rows < 1024 {
                continue;
            }
            let a = Tensor::<f32>::rand_uniform(&[rows, cols], -1.0, 1.0, &mut rng).expect("a");
            let b = Tensor::<f32>::rand_uniform(&[rows, cols], -1.0, 1.0, &mut rng).expect("b");
            let bias = Tensor::<f32>::rand_uniform(&[cols], -1.0, 1.0, &mut rng).expect("bias");
            let column = Tensor::<f32>::rand_uniform(&[rows, 1], -1.0, 1.0, &mut rng).expect("column");
            group.throughput(Throughput::Elements((rows * cols) as u64));
            let size = format!("{rows}x{cols}/{threads}t");
            let mut bench = |name: &str, f: &(dyn Fn() -> Tensor<f32> + Sync)| {
                group.bench_function(BenchmarkId::new(name, &size), |bench| pool.install(|| bench.iter(f)));
            };
            bench("add", &|| a.add(&b).expect("add"));
            bench("mul", &|| a.mul(&b).expect("mul"));
            bench("relu", &|| a.relu());
            bench("exp", &|| a.exp());
            bench("add_row_broadcast", &|| a.add(&bias).expect("add"));
            bench("sub_column_broadcast", &|| a.sub(&column).expect("sub"));
        }
    }
    group.finish();
}

fn reductions(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let mut group = short(c, "reduce");
    for threads in [1, 2] {
        let pool = pool(threads);
        for (rows, cols) in [(64, 128), (1024, 1024)] {
            if threads == 2 && rows < 1024 {
                continue;
            }
            let a = Tensor::<f32>::rand_uniform(&[rows, cols], -1.0, 1.0, &mut rng).expect("a");
            group.throughput(Throughput::Elements((rows * cols) as u64));
            let size = format!("{rows}x{cols}/{threads}t");
            let mut bench = |name: &str, f: &(dyn Fn() -> Tensor<f32> + Sync)| {
                group.bench_function(BenchmarkId::new(name, &size), |bench| pool.install(|| bench.iter(f)));
            };
            bench("sum_all", &|| a.sum_all());
            bench("sum_rows(axis0)", &|| a.sum(0, false).expect("sum"));
            bench("sum_cols(axis1)", &|| a.sum(1, false).expect("sum"));
            bench("max_axis1", &|| a.max(1, false).expect("max"));
            bench("logsumexp_axis1", &|| a.logsumexp(1, false).expect("lse"));
        }
    }
    group.finish();
}

fn softmax_cross_entropy(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(3);
    let mut group = short(c, "cross_entropy_fwd_bwd");
    let pool = pool(1);
    for (rows, classes) in [(64, 10), (256, 10), (256, 1000)] {
        let z = Tensor::<f32>::rand_uniform(&[rows, classes], -3.0, 3.0, &mut rng).expect("z");
        let labels: Vec<usize> = (0..rows).map(|i| (i * 7) % classes).collect();
        group.throughput(Throughput::Elements((rows * classes) as u64));
        group.bench_function(BenchmarkId::from_parameter(format!("{rows}x{classes}")), |bench| {
            pool.install(|| {
                bench.iter(|| {
                    let z = z.requires_grad();
                    let loss = cross_entropy(&z, &labels, Reduction::Mean).expect("loss");
                    loss.backward().expect("backward")
                })
            })
        });
    }
    group.finish();
}

/// Ops per chain in the overhead benchmarks.
const CHAIN: usize = 100;

fn per_op_overhead(c: &mut Criterion) {
    let mut group = short(c, "per_op_overhead");
    let pool = pool(1);
    let x = Tensor::<f32>::from_vec(vec![0.5, -0.25, 1.0, 2.0], &[4]).expect("x");
    let other = Tensor::<f32>::from_vec(vec![1.0, 1.0, 1.0, 1.0], &[4]).expect("other");
    // Throughput in recorded ops: criterion's elem/s is ops/s, its time / CHAIN is
    // the cost of one op.
    group.throughput(Throughput::Elements(CHAIN as u64));
    group.bench_function("forward_mul_scalar", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let mut y = x.requires_grad();
                for _ in 0..CHAIN {
                    y = y.mul_scalar(1.0001);
                }
                y
            })
        })
    });
    group.bench_function("forward_backward_mul_scalar", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let x = x.requires_grad();
                let mut y = x.clone();
                for _ in 0..CHAIN {
                    y = y.mul_scalar(1.0001);
                }
                y.sum_all().backward().expect("backward")
            })
        })
    });
    group.bench_function("forward_backward_add", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let x = x.requires_grad();
                let mut y = x.clone();
                for _ in 0..CHAIN {
                    y = y.add(&other).expect("add");
                }
                y.sum_all().backward().expect("backward")
            })
        })
    });
    group.bench_function("forward_backward_mul_var", |bench| {
        pool.install(|| {
            bench.iter(|| {
                let x = x.requires_grad();
                let w = other.requires_grad();
                let mut y = x.clone();
                for _ in 0..CHAIN {
                    y = y.mul(&w).expect("mul");
                }
                y.sum_all().backward().expect("backward")
            })
        })
    });
    group.finish();
}

/// Sizes around the rayon thresholds (`kernels::PARALLEL_THRESHOLD`, 128k elements;
/// 256k for reductions):
/// below it both pools run the same sequential loop; above it, 2 threads should win.
fn parallel_threshold(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(5);
    let mut group = short(c, "parallel_threshold");
    for len in [1 << 15, 1 << 16, 1 << 17, 1 << 18, 1 << 19] {
        let a = Tensor::<f32>::rand_uniform(&[len], -1.0, 1.0, &mut rng).expect("a");
        let b = Tensor::<f32>::rand_uniform(&[len], -1.0, 1.0, &mut rng).expect("b");
        group.throughput(Throughput::Elements(len as u64));
        for threads in [1, 2] {
            let pool = pool(threads);
            group.bench_function(BenchmarkId::new(format!("mul/{threads}t"), len), |bench| {
                pool.install(|| bench.iter(|| a.mul(&b).expect("mul")))
            });
            group.bench_function(BenchmarkId::new(format!("sum_all/{threads}t"), len), |bench| {
                pool.install(|| bench.iter(|| a.sum_all()))
            });
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    elementwise,
    reductions,
    softmax_cross_entropy,
    per_op_overhead,
    parallel_threshold
);
criterion_main!(benches);
