//! What the machine is and what a child process cost.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One line describing the machine: CPU model, cores, memory, kernel.
pub fn describe() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem_kb: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("MemTotal"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {:.1} GiB, Linux {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim()
    )
}

/// Wall time, CPU time (user + system) and peak RSS of one child run.
#[derive(Debug, Clone, Copy)]
pub struct Cost {
    /// Elapsed time.
    pub wall: Duration,
    /// User plus system CPU time.
    pub cpu: Duration,
    /// Peak resident set size in KiB.
    pub max_rss_kib: u64,
}

fn children_usage() -> libc::rusage {
    // SAFETY: getrusage writes a plain C struct that we zero-initialise first.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u
    }
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// Runs `cmd` to completion and measures it. Peak RSS is the largest of all children waited
/// for so far, so run the biggest case last or one case per process.
pub fn measure(cmd: &mut Command) -> std::io::Result<(Output, Cost)> {
    let before = children_usage();
    let start = Instant::now();
    let out = cmd.output()?;
    let wall = start.elapsed();
    let after = children_usage();
    let cpu = (tv(after.ru_utime) + tv(after.ru_stime))
        .saturating_sub(tv(before.ru_utime) + tv(before.ru_stime));
    Ok((
        out,
        Cost {
            wall,
            cpu,
            max_rss_kib: after.ru_maxrss as u64,
        },
    ))
}

/// CPU time (user + system) and current and peak RSS of a running process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcUsage {
    /// CPU time used so far.
    pub cpu: Duration,
    /// Resident set size now, KiB.
    pub rss_kib: u64,
    /// Peak resident set size, KiB.
    pub peak_rss_kib: u64,
}

/// Reads a process's usage from /proc/PID/stat and /proc/PID/status.
pub fn proc_usage(pid: u32) -> std::io::Result<ProcUsage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // fields after the command name (which is in parentheses and may hold spaces)
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ")"
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcUsage {
        cpu: Duration::from_millis(ticks * 1000 / hz),
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

/// Raises this process's open-file limit to its hard limit (children inherit it): thousands
/// of simulated proxies need more descriptors than the usual soft limit of 1024.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a plain C struct.
    unsafe {
        let mut r: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return 0;
        }
        r.rlim_cur = r.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        r.rlim_cur as u64
    }
}
