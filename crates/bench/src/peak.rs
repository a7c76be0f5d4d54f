//! The machine's single-core FMA peak and tapegrad's SGEMM against it: the yardstick
//! for issue 7's "SGEMM ≥ 90 % of peak" target, measured in the same invocation.

use std::time::Instant;
use tensor_core::Tensor;

/// Independent FMA chains: enough to cover the FMA latency on both pipes.
const CHAINS: usize = 12;

/// GFLOP/s of `iterations` rounds of `CHAINS` independent 512-bit FMAs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_avx512(iterations: usize) -> f64 {
    use std::arch::x86_64::*;
    let x = _mm512_set1_ps(std::hint::black_box(1.000_000_1));
    let y = _mm512_set1_ps(std::hint::black_box(0.999_999_9));
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let start = Instant::now();
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = _mm512_fmadd_ps(*a, x, y);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(&acc);
    (iterations * CHAINS * 16 * 2) as f64 / seconds / 1e9
}

/// GFLOP/s of `iterations` rounds of `CHAINS` independent 256-bit FMAs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_avx2(iterations: usize) -> f64 {
    use std::arch::x86_64::*;
    let x = _mm256_set1_ps(std::hint::black_box(1.000_000_1));
    let y = _mm256_set1_ps(std::hint::black_box(0.999_999_9));
    let mut acc = [_mm256_set1_ps(0.0); CHAINS];
    let start = Instant::now();
    for _ in 0..iterations {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(&acc);
    (iterations * CHAINS * 8 * 2) as f64 / seconds / 1e9
}

/// One core's f32 FMA peak in GFLOP/s (the best of three runs of about 0.2 s), with
/// the widest vectors this CPU has; `None` on a CPU without AVX2 + FMA.
pub fn fma_peak_gflops() -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        let iterations = 20_000_000;
        let best = |f: &dyn Fn() -> f64| (0..3).map(|_| f()).fold(0.0, f64::max);
        if is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just checked to support AVX-512F and FMA, the
            // features `fma_avx512` is compiled for.
            return Some(best(&|| unsafe { fma_avx512(iterations) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU was just checked to support AVX2 and FMA.
            return Some(best(&|| unsafe { fma_avx2(iterations) }));
        }
        None
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// tapegrad's single-thread SGEMM (`n × n` by `n × n`, no transposes) in GFLOP/s:
/// the best of a few products after one warm-up.
pub fn sgemm_gflops(n: usize) -> Result<f64, tensor_core::Error> {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().map_err(|e| {
        tensor_core::Error::InvalidArgument { op: "sgemm_gflops", reason: format!("rayon pool: {e}") }
    })?;
    pool.install(|| {
        let values: Vec<f32> = (0..n * n).map(|i| ((i % 17) as f32 - 8.0) / 8.0).collect();
        let a = Tensor::from_vec(values, &[n, n])?;
        a.matmul(&a)?;
        let reps = (1usize << 30) / (n * n * n).max(1) + 1;
        let mut best = 0.0f64;
        for _ in 0..reps.clamp(5, 20) {
            let start = Instant::now();
            std::hint::black_box(a.matmul(&a)?);
            best = best.max(2.0 * (n * n * n) as f64 / start.elapsed().as_secs_f64() / 1e9);
        }
        Ok(best)
    })
}
