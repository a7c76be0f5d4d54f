//! Keeping rayon's workers awake between the parallel regions of a training step.
//!
//! **Why.** A training step alternates parallel regions (a large GEMM, an
//! elementwise pass over a big tensor) with serial work (small ops, the graph's
//! bookkeeping). Between regions rayon's idle workers spin briefly and then sleep,
//! and waking a sleeping worker is slow on a virtual machine: measured here (2 vCPUs,
//! `rayon::join` of two 100 µs tasks after a serial gap), the join took 108 µs after
//! no gap but 175–215 µs after gaps of 50 µs–2 ms — about 80 µs of wake-up, the size
//! of the very regions worth splitting. The 784-128-10 MLP at batch 64 trained at
//! 0.66× its one-thread speed on two threads for that reason. OpenMP runtimes (and
//! so PyTorch) avoid it by spinning a while before sleeping (`GOMP_SPINCOUNT`).
//!
//! **What.** Every parallel region first calls [`keep_workers_awake`]. It notes the
//! time and, unless enough workers already wait, spawns a task that keeps one worker
//! polling for rayon work ([`rayon::yield_now`], which runs a pending job) until
//! nothing has started for [`SPIN_WINDOW_US`] µs. A region's jobs are then picked up
//! at once; after the last region of a burst the spinner gives its core back within
//! the window. The spinner only ever runs jobs rayon would have run anyway, so
//! results do not change. With one thread nothing is spawned.
//!
//! **Tuning.** `TAPEGRAD_SPIN_US` sets the window in microseconds; `0` turns the
//! spinning off (rayon's own sleep then applies).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// How long a spinner waits for the next region, in µs, unless `TAPEGRAD_SPIN_US`
/// says otherwise: longer than the serial gaps inside a step (tens to hundreds of
/// µs), short enough that an idle program gives its cores back at once.
pub(crate) const SPIN_WINDOW_US: u64 = 1000;

/// Spinners alive (across pools; a spinner of another pool only delays a spawn).
static SPINNERS: AtomicUsize = AtomicUsize::new(0);
/// When the latest parallel region started, in [`clock`] nanoseconds.
static LAST_REGION: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since the first call: a monotonic clock that fits an atomic.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// The spin window in nanoseconds (0: no spinning), read from the environment once.
fn window() -> u64 {
    static WINDOW: OnceLock<u64> = OnceLock::new();
    *WINDOW.get_or_init(|| {
        let us = std::env::var("TAPEGRAD_SPIN_US").ok().and_then(|v| v.trim().parse().ok());
        us.unwrap_or(SPIN_WINDOW_US).saturating_mul(1000)
    })
}

/// Called by every parallel region before it hands out work (see the module's doc).
#[inline]
pub(crate) fn keep_workers_awake() {
    let threads = rayon::current_num_threads();
    if threads < 2 {
        return;
    }
    let window = window();
    if window == 0 {
        return;
    }
    LAST_REGION.store(clock(), Ordering::Relaxed);
    // One spinner for each worker besides the calling thread.
    let spawner = rayon::current_thread_index();
    let mut alive = SPINNERS.load(Ordering::Relaxed);
    while alive + 1 < threads {
        match SPINNERS.compare_exchange_weak(alive, alive + 1, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => {
                rayon::spawn(move || spin(spawner, window));
                alive += 1;
            }
            Err(now) => alive = now,
        }
    }
}

/// A spinner's body: run pending rayon jobs as they come, until none has come and no
/// region has started for `window` ns. Never on the thread that spawned it, which has
/// its own work to return to (it would otherwise spin inside its own join).
fn spin(spawner: Option<usize>, window: u64) {
    if rayon::current_thread_index() != spawner {
        let mut last_job = clock();
        loop {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => last_job = clock(),
                // Not every poll: a steal attempt reads the other workers' queues.
                _ => (0..64).for_each(|_| std::hint::spin_loop()),
            }
            let busy = last_job.max(LAST_REGION.load(Ordering::Relaxed));
            if clock().saturating_sub(busy) > window {
                break;
            }
        }
    }
    SPINNERS.fetch_sub(1, Ordering::AcqRel);
}
