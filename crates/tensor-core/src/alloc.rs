//! The one process-wide setting the library makes: glibc's malloc keeps freed
//! tensor buffers for reuse instead of returning them to the kernel.
//!
//! **Why.** Every op writes a fresh output buffer, and a training step frees and
//! allocates the same sizes again (a 512 KiB GELU output, a 2 MiB attention-score
//! tensor). By default glibc serves large requests with `mmap` (the threshold adapts
//! up to 32 MiB, but only after a free of that size) and gives the top of the heap
//! back above a 128 KiB–64 MiB trim threshold, so those buffers are unmapped and
//! faulted in again, page by page, every step; the `gpt-char` profile had ~15% of its
//! time in the kernel's fault, zeroing and unmap paths. Measured (`perf stat`,
//! `tapegrad-bench --models gpt-char,lstm-char --threads 1 --no-torch --in-process
//! --model-steps 10`): 165,800 page faults and 2.03 s of CPU time with glibc's
//! defaults, 12,060 and 1.69 s with the setting below.
//!
//! **What.** On the first tensor made: `M_MMAP_THRESHOLD` = 32 MiB (the largest value
//! glibc accepts; larger buffers are still mapped and unmapped) and
//! `M_TRIM_THRESHOLD` = 256 MiB (the free top of the heap is returned to the kernel
//! only above that). The cost is that up to that much freed memory stays in the
//! process between steps; peak memory is unchanged.
//!
//! **Opting out.** Nothing is set when `TAPEGRAD_MALLOC_DEFAULTS` is set in the
//! environment, or when the user already tunes malloc themselves (`GLIBC_TUNABLES`
//! naming `glibc.malloc`, or `MALLOC_MMAP_THRESHOLD_` / `MALLOC_TRIM_THRESHOLD_`).
//! On other platforms and C libraries this is a no-op.

/// Applies the setting once per process (see the module's doc).
#[inline]
pub(crate) fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(glibc::apply);
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// 32 MiB, glibc's maximum for `M_MMAP_THRESHOLD` on 64-bit targets.
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    /// 256 MiB.
    const TRIM_THRESHOLD: libc::c_int = 256 << 20;

    /// Whether the user asked for glibc's defaults or set malloc options themselves.
    fn left_to_the_user() -> bool {
        let set = |name: &str| std::env::var_os(name).is_some();
        let tunables = std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc"));
        set("TAPEGRAD_MALLOC_DEFAULTS")
            || set("MALLOC_MMAP_THRESHOLD_")
            || set("MALLOC_TRIM_THRESHOLD_")
            || tunables
    }

    pub(super) fn apply() {
        if left_to_the_user() {
            return;
        }
        // SAFETY: mallopt only changes malloc's parameters (under malloc's own lock);
        // it is safe to call at any time from any thread, and both values are within
        // the ranges glibc documents (it would reject others and return 0, which
        // leaves the defaults: nothing to handle).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        }
    }
}
