//! CPU time of a process from `/proc/PID/stat` (Linux): user + system time, both threads and
//! the process itself, sampled before and after the measured window.
//!
//! The kernel reports clock ticks. Reading the real tick rate needs `sysconf(_SC_CLK_TCK)`
//! (libc, unsafe is forbidden here); it is 100 on every mainstream Linux build, so the tool
//! assumes [`ASSUMED_CLK_TCK`] and says so in its report. The resolution is therefore 10 ms.

use std::time::Duration;

/// Clock ticks per second assumed for `/proc/PID/stat` (`getconf CLK_TCK` on Linux).
pub const ASSUMED_CLK_TCK: u64 = 100;

/// Which process to sample.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    /// The load generator itself.
    Own,
    Pid(u32),
}

/// User + system CPU time consumed so far, or `None` when `/proc` cannot be read or parsed.
pub fn cpu_time(process: Process) -> Option<Duration> {
    let path = match process {
        Process::Own => "/proc/self/stat".to_owned(),
        Process::Pid(pid) => format!("/proc/{pid}/stat"),
    };
    let text = std::fs::read_to_string(path).ok()?;
    let ticks = stat_ticks(&text)?;
    Some(Duration::from_millis(
        ticks.saturating_mul(1000) / ASSUMED_CLK_TCK,
    ))
}

/// utime + stime (fields 14 and 15 of proc(5)) in clock ticks. The command name (field 2) is in
/// parentheses and may hold spaces and `)`, so fields are counted after its last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let after_comm = stat.get(stat.rfind(')')? + 1..)?;
    // After the name: field 3 (state) is the first, so utime (14) is the 12th.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime.saturating_add(stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_a_name_with_spaces() {
        let line = "4242 (open kms) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 731 269 0 0 20 0 9 0 100 0 0";
        assert_eq!(stat_ticks(line), Some(1000));
    }

    #[test]
    fn rejects_a_truncated_line() {
        assert_eq!(stat_ticks("4242 (openkms) S 1 2 3"), None);
        assert_eq!(stat_ticks("no parenthesis"), None);
    }

    #[test]
    fn samples_its_own_process() {
        assert!(cpu_time(Process::Own).is_some());
    }
}
