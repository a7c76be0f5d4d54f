//! Peak resident memory of this process, for the memory column of the report.

/// The process's peak resident set size (`VmHWM` in `/proc/self/status`), or `None`
/// where that file does not exist (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.trim_start_matches("VmHWM:").trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn peak_rss_is_positive_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(super::peak_rss_bytes().is_some_and(|b| b > 0));
        }
    }
}
