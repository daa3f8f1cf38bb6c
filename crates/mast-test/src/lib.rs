//! The harness Mast's end-to-end tests share: free ports, child processes that are killed when
//! dropped (with their output kept for failure reports), readiness waits, a minimal HTTP
//! client for admin and debug endpoints, and network namespaces for capture ([`netns`]).

pub mod bins;
pub mod netns;
pub use mast_xds::http;
pub mod ports;
pub mod process;

use std::time::{Duration, Instant};

/// Polls `check` every 50 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
