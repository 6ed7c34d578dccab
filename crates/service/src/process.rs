//! What this process has used so far, for benchmarks that report CPU time per unit of work:
//! a figure that depends far less than wall time on how much of a shared machine a run got.

/// User + system CPU time of this process, in seconds, from `/proc/self/stat` (0 where that
/// cannot be read: not Linux).
pub fn cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/self/stat").map_or(0.0, |stat| stat_cpu_seconds(&stat))
}

/// User + system CPU time, in seconds, of a `/proc/…/stat` line (a process's or one of its
/// threads' under `/proc/self/task`); 0 for a line that is not one.
pub fn stat_cpu_seconds(stat: &str) -> f64 {
    // The command name (field 2) may contain spaces and parentheses: fields are counted
    // from its closing one.
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 (1-based) are utime and stime; `rest` starts at field 3. 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_utime_plus_stime() {
        let line = "4242 (tokio) rt-worker) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0 4 0";
        assert!((stat_cpu_seconds(line) - 2.0).abs() < 1e-9);
        assert_eq!(stat_cpu_seconds("not a stat line"), 0.0);
    }

    #[test]
    fn cpu_time_grows_with_work() {
        let before = cpu_seconds();
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        assert!(cpu_seconds() > before, "{x}");
    }
}
