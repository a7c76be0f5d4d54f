//! The spinners that keep rayon's workers awake between parallel regions give
//! their cores back once regions stop (a test binary of its own, so no other test's
//! regions keep them alive).

use tensor_core::Tensor;

/// CPU time of this process (user + system), in clock ticks, from /proc.
#[cfg(target_os = "linux")]
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[cfg(target_os = "linux")]
#[test]
fn an_idle_program_stops_spinning() {
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("pool");
    let x = Tensor::<f32>::ones(&[1 << 20]).expect("shape");
    // A parallel elementwise pass starts a spinner on the other worker.
    let y = pool.install(|| x.exp());
    assert_eq!(y.numel(), 1 << 20);
    std::thread::sleep(std::time::Duration::from_millis(100));
    let before = cpu_ticks();
    std::thread::sleep(std::time::Duration::from_millis(400));
    let spent = cpu_ticks() - before;
    // A spinner left running would burn the whole 400 ms (40 ticks at 100 Hz).
    assert!(spent < 10, "{spent} ticks of CPU in 400 ms of idling");
}
