//! Rotation: the first certificate at start, then a new one at half the lifetime (minus up to
//! `jitter` of the lifetime, so proxies started together do not all call at once), retried with
//! exponential backoff. Each new certificate goes into the [`CertSource`] for new handshakes;
//! open connections keep the one they were made with.

use std::sync::Arc;
use std::time::Duration;

use super::Store;
use super::client::CaOptions;
use crate::drain::Drain;
use crate::tls::CertSource;

/// Rotation settings.
#[derive(Debug, Clone)]
pub struct RotateOptions {
    /// The fraction of the lifetime after which to renew (Istio's `SECRET_GRACE_PERIOD_RATIO`).
    pub ratio: f64,
    /// Up to this fraction of the lifetime earlier, at random.
    pub jitter: f64,
    /// First retry delay.
    pub retry_initial: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
}

impl Default for RotateOptions {
    fn default() -> RotateOptions {
        RotateOptions {
            ratio: 0.5,
            jitter: 0.05,
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}

/// How long after `not_before` to renew a certificate living `lifetime`.
pub fn renew_after(lifetime: Duration, opts: &RotateOptions, rand01: f64) -> Duration {
    let f = (opts.ratio - opts.jitter * rand01).clamp(0.05, 1.0);
    lifetime.mul_f64(f)
}

/// Fetches until it succeeds (backing off), installs, and sleeps until the next renewal, until
/// the drain.
pub async fn run(
    ca: CaOptions,
    opts: RotateOptions,
    store: Arc<Store>,
    certs: Arc<CertSource>,
    drain: Drain,
) {
    let mut delay = opts.retry_initial;
    loop {
        let current = store.current();
        let got = tokio::select! {
            r = ca.fetch(current.as_deref()) => r,
            _ = drain.signaled() => return,
        };
        let wait = match got {
            Ok(issued) => match store.install(&certs, issued) {
                Ok(()) => {
                    delay = opts.retry_initial;
                    let i = store.current().expect("just installed");
                    let at = i.leaf().not_before as f64
                        + renew_after(i.lifetime(), &opts, fastrand::f64()).as_secs_f64();
                    let now = super::now_secs() as f64;
                    Duration::from_secs_f64((at - now).max(0.5))
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?delay, "the CA's certificate is unusable");
                    backoff(&mut delay, &opts)
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "no workload certificate from the CA");
                backoff(&mut delay, &opts)
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = drain.signaled() => return,
        }
    }
}

fn backoff(delay: &mut Duration, opts: &RotateOptions) -> Duration {
    let now = *delay;
    *delay = (*delay * 2).min(opts.retry_max);
    // ±20% so that proxies retrying together spread out
    now.mul_f64(0.8 + 0.4 * fastrand::f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_half_minus_jitter() {
        let o = RotateOptions::default();
        let day = Duration::from_secs(86400);
        assert_eq!(renew_after(day, &o, 0.0), Duration::from_secs(43200));
        let early = renew_after(day, &o, 1.0);
        assert!(early < Duration::from_secs(43200) && early >= Duration::from_secs(38880));
        let mut d = Duration::from_secs(1);
        let o = RotateOptions {
            retry_max: Duration::from_secs(3),
            ..o
        };
        for _ in 0..5 {
            backoff(&mut d, &o);
        }
        assert_eq!(d, Duration::from_secs(3));
    }
}
